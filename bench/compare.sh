#!/usr/bin/env bash
# bench/compare.sh: gatehouse beside nginx and the bare upstream, in one run.
#
# Starts a local upstream (bench/upstream), gatehouse (bench/gatehouse.yaml) and
# nginx (upstream keepalive), then runs wrk on loopback against each target,
# interleaved and repeated, and prints the medians of req/s, p50 and p99 and
# the ratios gatehouse/nginx and gatehouse/direct.
# Only ratios within one run mean anything: the machine is shared and noisy.
#
# How the ratios are taken: the throughput of a shared 2-core machine drifts
# by ±20% over minutes, more than the differences measured. So rounds run in
# ABBA order (A B C, then C B A, ...: a linear drift hits every target alike)
# and every ratio is paired: computed within each round between targets run
# back to back, then the median over rounds is printed. The medians of the
# absolute req/s are printed too, for reference.
#
# Targets: the bare upstream; nginx as a plain proxy; gatehouse as a plain
# proxy; gatehouse answering from its cache; gatehouse with rate_limit +
# headers; and an authenticated GET (session cookie → Bearer token) through a
# gatehouse with the memory store and through one with the Redis store.
#
# Env: DURATION (default 5s), ROUNDS (9), CONNS (64), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-9}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
UP_PORT=${UP_PORT:-19300}
GH_PORT=${GH_PORT:-19301}
NGX_PORT=${NGX_PORT:-19302}
GH_REDIS_PORT=${GH_REDIS_PORT:-19303}
REDIS_PORT=${REDIS_PORT:-19304}
OP_PORT=${OP_PORT:-19310}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || ! need bc || ! need curl || ! need redis-server; then
  echo "installing wrk, nginx, redis-server, bc and curl with apt-get" >&2
  apt-get update -qq && apt-get install -y -qq wrk nginx redis-server bc curl >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building upstream, OP and gatehouse" >&2
go build -o "$work/upstream" ./bench/upstream
go build -o "$work/oplogin" ./bench/oplogin
go build -o "$work/gatehouse" ./cmd/gatehouse

"$work/upstream" -listen "127.0.0.1:$UP_PORT" & pids+=($!); up_pid=$!
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 & pids+=($!); redis_pid=$!
"$work/oplogin" op -listen "127.0.0.1:$OP_PORT" \
  -gateway "http://127.0.0.1:$GH_PORT" -gateway "http://127.0.0.1:$GH_REDIS_PORT" & pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export UP_PORT ISSUER="http://127.0.0.1:$OP_PORT"
GH_PORT=$GH_PORT STORE=memory "$work/gatehouse" -config bench/gatehouse.yaml -log-level error >"$work/gh.log" 2>&1 & pids+=($!); gh_pid=$!
GH_PORT=$GH_REDIS_PORT STORE="redis://127.0.0.1:$REDIS_PORT/0" \
  "$work/gatehouse" -config bench/gatehouse.yaml -log-level error >"$work/gh-redis.log" 2>&1 & pids+=($!); ghr_pid=$!

cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream origin { server 127.0.0.1:$UP_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"

wait_port() {
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1$2"; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2; cat "$work/gh.log" >&2; exit 1
}
wait_port "$UP_PORT" /; wait_port "$NGX_PORT" /
wait_ready() { # discovery at the OP must have succeeded before a login
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
    sleep 0.1
  done
  echo "gatehouse on port $1 never became ready" >&2; cat "$work"/gh*.log >&2; exit 1
}
wait_ready "$GH_PORT"; wait_ready "$GH_REDIS_PORT"
cookie_mem=$("$work/oplogin" login -gateway "http://127.0.0.1:$GH_PORT")
cookie_redis=$("$work/oplogin" login -gateway "http://127.0.0.1:$GH_REDIS_PORT")

# target name → URL; the order is the interleaving order within a round.
# Targets compared with each other sit next to each other.
names=(direct nginx gatehouse gatehouse-ratelimit-headers gatehouse-cache-hit gatehouse-session-memory gatehouse-session-redis)
declare -A url=(
  [direct]="http://127.0.0.1:$UP_PORT/plain/users/7"
  [nginx]="http://127.0.0.1:$NGX_PORT/plain/users/7"
  [gatehouse]="http://127.0.0.1:$GH_PORT/plain/users/7"
  [gatehouse-cache-hit]="http://127.0.0.1:$GH_PORT/cached/users/7"
  [gatehouse-ratelimit-headers]="http://127.0.0.1:$GH_PORT/limited/users/7"
  [gatehouse-session-memory]="http://127.0.0.1:$GH_PORT/session/users/7"
  [gatehouse-session-redis]="http://127.0.0.1:$GH_REDIS_PORT/session/users/7"
)
# The headers a logged-in SPA sends: the session cookie and the CSRF header.
declare -A hdrs=(
  [gatehouse-session-memory]="Cookie: $cookie_mem"
  [gatehouse-session-redis]="Cookie: $cookie_redis"
)
# run_wrk NAME DURATION [wrk args...]: wrk against the target, with its headers.
run_wrk() {
  local n=$1 d=$2; shift 2
  if [ -n "${hdrs[$n]:-}" ]; then
    wrk -t"$THREADS" -c"$CONNS" -d"$d" -H "${hdrs[$n]}" -H "X-CSRF: 1" "$@" "${url[$n]}"
  else
    wrk -t"$THREADS" -c"$CONNS" -d"$d" "$@" "${url[$n]}"
  fi
}

# wrk prints latency percentiles with --latency; turn its units into ms.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f\n", v}'; }

for n in "${names[@]}"; do # every target must answer 200 before it is measured
  code=$(curl -s -o /dev/null -w '%{http_code}' ${hdrs[$n]:+-H "${hdrs[$n]}" -H "X-CSRF: 1"} "${url[$n]}")
  [ "$code" = 200 ] || { echo "$n answered $code, not 200" >&2; exit 1; }
done
for n in "${names[@]}"; do run_wrk "$n" 2s >/dev/null; done # warm pools and the cache

# CPU per request of the proxy under test (user + system time of its
# processes, read from /proc around each run): steadier than req/s on a shared
# machine, because it does not depend on who else got the cores. "direct" is
# the upstream itself; the Redis target counts redis-server too.
ngx_pids=$(pgrep -f "nginx: worker process" | tr '\n' ' ')
declare -A cpu_pids=(
  [direct]="$up_pid" [nginx]="$ngx_pids" [gatehouse]="$gh_pid" [gatehouse-cache-hit]="$gh_pid"
  [gatehouse-ratelimit-headers]="$gh_pid" [gatehouse-session-memory]="$gh_pid"
  [gatehouse-session-redis]="$ghr_pid $redis_pid"
)
tick=$(getconf CLK_TCK)
cpu_ticks() { # sum of utime+stime over every thread of the given processes
  local t=0 p f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/stat; do
      t=$((t + $(sed 's/.*) //' "$f" 2>/dev/null | awk '{print $12 + $13}')))
    done
  done
  echo "$t"
}

for r in $(seq 1 "$ROUNDS"); do
  order=("${names[@]}")
  if ((r % 2 == 0)); then # ABBA: every other round runs backwards
    order=()
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do order+=("${names[$i]}"); done
  fi
  for n in "${order[@]}"; do
    # shellcheck disable=SC2086 # pid lists split on purpose
    t0=$(cpu_ticks ${cpu_pids[$n]})
    out=$(run_wrk "$n" "$DURATION" --latency)
    # shellcheck disable=SC2086
    t1=$(cpu_ticks ${cpu_pids[$n]})
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    cpu_us=$(echo "($t1 - $t0) * 1000000 / $tick / $reqs" | bc -l)
    p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
    p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
    if [ -n "$non2xx" ]; then echo "warning: $n answered $non2xx non-2xx responses in round $r" >&2; fi
    echo "$r $n $rps $p50 $p99 $cpu_us" >>"$work/results"
    echo "round $r $n: $rps req/s, $(printf '%.1f' "$cpu_us") us CPU/request" >&2
  done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# col NAME FIELD: that field of every round of NAME (fields: 3 req/s, 4 p50,
# 5 p99, 6 CPU), one per line in round order.
col() { awk -v n="$1" -v f="$2" '$2==n {print $f}' "$work/results"; }
# paired A B FIELD: the median over rounds of A/B, each ratio within a round.
paired() { paste <(col "$1" "$3") <(col "$2" "$3") | awk '{print $1 / $2}' | median; }
declare -A RPS P50 P99 CPU
for n in "${names[@]}"; do
  RPS[$n]=$(col "$n" 3 | median)
  P50[$n]=$(col "$n" 4 | median)
  P99[$n]=$(col "$n" 5 | median)
  CPU[$n]=$(col "$n" 6 | median)
done

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds in ABBA order ($(nproc) cores, loopback)"
echo "req/s, p50, p99, cpu: medians over rounds; vs_nginx, vs_direct: medians of per-round (paired) req/s ratios"
printf '%-30s %10s %9s %9s %9s %10s %12s\n' target req/s p50_ms p99_ms vs_nginx vs_direct cpu_us/req
for n in "${names[@]}"; do
  printf '%-30s %10.0f %9.3f %9.3f %9.2f %10.2f %12.1f\n' "$n" "${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" \
    "$(paired "$n" nginx 3)" "$(paired "$n" direct 3)" "${CPU[$n]}"
done
echo
echo "Paired ratios (median over rounds of each round's ratio):"
printf '  gatehouse vs nginx plain proxy: %.2fx req/s (per round: %s), %.2fx CPU per request\n' \
  "$(paired gatehouse nginx 3)" \
  "$(paste <(col gatehouse 3) <(col nginx 3) | awk '{printf "%s%.2f", (NR>1?" ":""), $1/$2}')" \
  "$(paired gatehouse nginx 6)"
printf '  rate_limit+headers vs plain gatehouse: %.1f%% fewer req/s, %.1f%% more CPU per request\n' \
  "$(echo "(1 - $(paired gatehouse-ratelimit-headers gatehouse 3)) * 100" | bc -l)" \
  "$(echo "($(paired gatehouse-ratelimit-headers gatehouse 6) - 1) * 100" | bc -l)"
printf '  cache hit vs nginx plain proxy: %.2fx req/s\n' "$(paired gatehouse-cache-hit nginx 3)"
printf '  authenticated GET, redis store vs memory store: %.2fx req/s\n' \
  "$(paired gatehouse-session-redis gatehouse-session-memory 3)"
