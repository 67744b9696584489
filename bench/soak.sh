#!/usr/bin/env bash
# bench/soak.sh [DURATION]: gatehouse under mixed load for a while (default
# 10m; 2m for a quick look), with reloads and restarts, watching for growth.
# Not CI: it takes minutes and wants redis-server.
#
# On loopback it starts redis-server (session store, rate-limit and cache
# backends), the development OP with 30 s access tokens (bench/oplogin op),
# the bench upstream and gatehouse on bench/soak.yaml, then the load driver
# (bench/soakload): 20 virtual users looping login → authenticated GETs with
# the CSRF header (~5/s each, 25–65 s per session, so every session
# refreshes its token) → logout, and ~100 public GETs/s on a cached route.
# Meanwhile it sends gatehouse SIGHUP every 15 s, restarts Redis at ~40% of
# the run (SHUTDOWN SAVE, 3 s down, started again on the same port and file:
# sessions survive) and the upstream at ~60% (killed, 3 s down, started
# again). The driver prints one row a minute (gatehouse's RSS, live heap
# after a forced GC, goroutines, open fds, requests and non-2xx so far), then
# the totals and PASS/FAIL lines (bench/README.md: the criteria). gatehouse is
# built from bench/soakgw: cmd/gatehouse's main plus net/http/pprof on a
# loopback port (PPROF_PORT, printed at the start), e.g.
# curl http://127.0.0.1:$PPROF_PORT/debug/pprof/goroutine?debug=2 while it runs.
#
# Env: USERS (20), USER_RPS (5), PUBLIC_RPS (100), GRACE (5s: a restart
# window closes this long after the process is back), DUMP_GOROUTINES=1 (at
# the end, SIGQUIT gatehouse so that its log holds every goroutine's stack).
# Exit status: 0 when every criterion passed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10m}
USERS=${USERS:-20}
USER_RPS=${USER_RPS:-5}
PUBLIC_RPS=${PUBLIC_RPS:-100}
GRACE=${GRACE:-5s}

# seconds DURATION: a duration such as 90s, 2m, 1h or 1m30s in seconds.
seconds() {
  local d=$1 total=0 n u
  [[ $d =~ ^([0-9]+[hms])+$ ]] || { echo "bad duration $d: want e.g. 10m, 90s, 1m30s" >&2; exit 2; }
  while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
    n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
    case $u in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
  done
  echo "$total"
}
secs=$(seconds "$DURATION")
((secs >= 30)) || { echo "DURATION must be at least 30s" >&2; exit 2; }

command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
  { echo "soak.sh needs redis-server and redis-cli (apt-get install redis-server)" >&2; exit 2; }

work=$(mktemp -d /tmp/gatehouse-soak.XXXXXX)
pids=()
redis_pid= up_pid= gh_pid= op_pid= load_pid=
cleanup() {
  local p
  for p in "$load_pid" "$gh_pid" "$up_pid" "$op_pid" "$redis_pid" "${pids[@]}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "logs: $work (gatehouse.log, soakload.log, errors.log, op.log, redis.log, upstream.log)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building gatehouse, the upstream, the OP and the load driver into $work" >&2
# gatehouse: cmd/gatehouse's main plus net/http/pprof on loopback (bench/soakgw).
go build -o "$work/gatehouse" ./bench/soakgw
go build -o "$work/upstream" ./bench/upstream
go build -o "$work/oplogin" ./bench/oplogin
go build -o "$work/soakload" ./bench/soakload

# free_port: a loopback port nothing listens on (and no other call returned),
# below the kernel's ephemeral range so that no outgoing connection takes it.
taken=" "
free_port() {
  local p lo
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  ((lo > 21000)) || lo=32768
  while :; do
    p=$((20000 + RANDOM % (lo - 20000)))
    [[ $taken == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then taken+="$p "; echo "$p"; return; fi
  done
}

UP_PORT=$(free_port)
GH_PORT=$(free_port)
OP_PORT=$(free_port)
REDIS_PORT=$(free_port)
PPROF_PORT=$(free_port)

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --dbfilename soak.rdb >>"$work/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start" >&2; exit 1
}
start_upstream() {
  "$work/upstream" -listen "127.0.0.1:$UP_PORT" >>"$work/upstream.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/" && return 0; sleep 0.1; done
  echo "the upstream did not start" >&2; exit 1
}

start_redis
start_upstream
"$work/oplogin" op -listen "127.0.0.1:$OP_PORT" -gateway "http://127.0.0.1:$GH_PORT" \
  -access-ttl 30s -count-grants >"$work/op.log" 2>&1 &
op_pid=$!
# Its log at info level, less the access-log lines of 2xx and 3xx responses
# (~200 a second): reloads, logins, errors and every failed request stay.
GH_PORT=$GH_PORT UP_PORT=$UP_PORT ISSUER="http://127.0.0.1:$OP_PORT" STORE="redis://127.0.0.1:$REDIS_PORT/0" \
  GATEHOUSE_PPROF="127.0.0.1:$PPROF_PORT" "$work/gatehouse" -config bench/soak.yaml -log-level info \
  > >(grep --line-buffered -v '"msg":"request".*"status":[23][0-9][0-9],' >"$work/gatehouse.log") 2>&1 &
gh_pid=$!
for i in $(seq 1 150); do # discovery at the OP must have succeeded before a login
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GH_PORT/readyz")" = 200 ] && break
  ((i < 150)) || { echo "gatehouse never became ready" >&2; cat "$work/gatehouse.log" >&2; exit 1; }
  sleep 0.1
done

echo "soak: gatehouse pprof at http://127.0.0.1:$PPROF_PORT/debug/pprof/" >&2
echo "soak: $DURATION on $(nproc) cores ($(uptime | sed 's/.*load average/load average/')); the machine may be shared:" \
  "other work on it shows up as noise in the figures"
"$work/soakload" -gateway "http://127.0.0.1:$GH_PORT" -pid "$gh_pid" -pprof "http://127.0.0.1:$PPROF_PORT" -duration "$DURATION" -grace "$GRACE" \
  -users "$USERS" -user-rps "$USER_RPS" -public-rps "$PUBLIC_RPS" -errlog "$work/errors.log" \
  > >(tee "$work/soakload.log") 2>&1 &
load_pid=$!

# The script's own clock: SIGHUP every 15 s, Redis restarted at 40%, the
# upstream at 60%. Each restart is announced to the driver (SIGUSR1 before
# the stop, SIGUSR2 once the process answers again).
redis_at=$((secs * 40 / 100)) up_at=$((secs * 60 / 100))
t0=$SECONDS next_hup=15 reloads=0
while kill -0 "$load_pid" 2>/dev/null; do
  now=$((SECONDS - t0))
  if ((now >= next_hup)); then
    kill -HUP "$gh_pid"; reloads=$((reloads + 1)); next_hup=$((next_hup + 15))
  fi
  if ((redis_at > 0 && now >= redis_at)); then
    redis_at=0
    echo "soak: $(date +%T) restarting Redis" >&2
    kill -USR1 "$load_pid"
    redis-cli -p "$REDIS_PORT" shutdown save >/dev/null 2>&1 || true
    wait "$redis_pid" 2>/dev/null || true
    sleep 3
    start_redis
    kill -USR2 "$load_pid"
  fi
  if ((up_at > 0 && now >= up_at)); then
    up_at=0
    echo "soak: $(date +%T) restarting the upstream" >&2
    kill -USR1 "$load_pid"
    kill "$up_pid"; wait "$up_pid" 2>/dev/null || true
    sleep 3
    start_upstream
    kill -USR2 "$load_pid"
  fi
  sleep 1
done
rc=0
wait "$load_pid" || rc=$?
load_pid=

kill "$op_pid"; wait "$op_pid" 2>/dev/null || true; op_pid=
refreshes=$(sed -n 's/.*refresh_token=\([0-9]*\).*/\1/p' "$work/op.log")
codes=$(sed -n 's/.*authorization_code=\([0-9]*\).*/\1/p' "$work/op.log")
reloaded=$(grep -c '"config reloaded"' "$work/gatehouse.log" || true)
refused=$(grep -c '"reload refused' "$work/gatehouse.log" || true)
echo "OP token grants: authorization_code=${codes:-0} refresh_token=${refreshes:-0}"
echo "SIGHUPs sent: $reloads; gatehouse logged $reloaded reloads and $refused refusals"
if [ "${refreshes:-0}" -gt 0 ]; then
  echo "PASS refreshes: ${refreshes} refresh_token grants at the OP"
else
  echo "FAIL refreshes: no refresh_token grant reached the OP"; rc=1
fi
if [ "$reloaded" -ge "$reloads" ] && [ "$refused" -eq 0 ]; then
  echo "PASS reloads: every SIGHUP reloaded the config"
else
  echo "FAIL reloads: $reloads SIGHUPs, $reloaded reloads, $refused refusals"; rc=1
fi
if [ "${DUMP_GOROUTINES:-0}" = 1 ]; then
  kill -QUIT "$gh_pid"; wait "$gh_pid" 2>/dev/null || true; gh_pid=
  echo "goroutine dump: the end of $work/gatehouse.log"
fi
exit "$rc"
