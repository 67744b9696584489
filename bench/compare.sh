#!/usr/bin/env bash
# bench/compare.sh: gatehouse beside nginx, its own floor and the bare upstream, in one run.
#
# Starts a local upstream (bench/upstream), the development OP (bench/oplogin
# op), redis-server, two gatehouse instances on bench/gatehouse.yaml (memory
# and Redis store), the calibration floor (bench/floor: a bare Fiber v2 +
# fasthttp forwarder, the least any Fiber gateway costs) and nginx (upstream
# keepalive), then runs wrk on loopback against each target, interleaved and
# repeated, and prints medians of req/s, p50, p99 and CPU per request, with
# paired ratios to nginx.
#
# Two modes, chosen by the core count (MODE=shared|pinned overrides):
#
#   shared (under 8 cores): everything shares the machine's cores, as on the
#     2-core development VM. req/s there mostly measure who got the CPU, so the
#     figure to quote is CPU per request, and its ratio to nginx's (cpu_vs_ngx:
#     nginx's µs per request ÷ the target's, paired within each round).
#   pinned (8 cores or more): every process gets cores of its own (taskset).
#     The proxies under test (nginx with N workers, gatehouse and the floor with
#     GOMAXPROCS=N) share cores 0..N-1 for N = 1, 2 and 4 (4 only with 12 cores
#     or more); the upstream and wrk get up to four cores each at the top of
#     the machine; redis-server and the OP get cores of their own when there
#     are spare ones. There req/s ratios to nginx are the figure.
#
# How the ratios are taken: throughput drifts over minutes, more than the
# differences measured. So rounds run in ABBA order (A B C, then C B A, ...: a
# linear drift hits every target alike) and every ratio is paired: computed
# within each round between targets run back to back, then the median over
# rounds is printed. CPU per request of the proxy under test is user + system
# time of its processes (every thread) from /proc around each run, divided by
# the requests wrk counted; the Redis-store target counts redis-server's too.
#
#   bench/compare.sh                      run (needs go, wrk, nginx, redis-server, curl;
#                                         installs the last four with apt-get if missing)
#   DRY_RUN=1 CORES=16 bench/compare.sh   print the mode, the core layout and the pinned
#                                         commands for a pretend core count; runs nothing
#   bench/compare.sh bundle DIR           build DIR/bundle.tar.xz: static Go builds of this
#                                         checkout plus wrk, nginx, redis-server, redis-cli,
#                                         taskset and curl with their libraries and loader,
#                                         for a machine with no packages and no network
#   BUNDLE=DIR/bundle.tar.xz bench/compare.sh   run from such a bundle (no go, no apt)
#
# Env: MODE (auto), ROUNDS (shared 9, pinned 5), DURATION (shared 5s, pinned
# 4s), CONNS (64), THREADS (wrk threads; shared 2, pinned one per wrk core),
# SIZES (pinned core counts, default "2 1 4"), SMALL_TARGETS (targets at sizes
# other than 2; default nginx floor gatehouse gatehouse-session-plugins),
# TARGETS (every target, in interleaving order), OUT (a folder for the tables
# and raw rows), CORES (pretend core count, with DRY_RUN), PIN_ALL (a cpu
# list every pinned process is put on instead of its own cores: a smoke test of
# the pinned mode on a small machine, e.g. MODE=pinned CORES=16 PIN_ALL=0-1
# SIZES="2 1" ROUNDS=1 DURATION=1s; its figures mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

UP_PORT=${UP_PORT:-19300}
GH_PORT=${GH_PORT:-19301}
NGX_PORT=${NGX_PORT:-19302}
GH_REDIS_PORT=${GH_REDIS_PORT:-19303}
REDIS_PORT=${REDIS_PORT:-19304}
FLOOR_PORT=${FLOOR_PORT:-19305}
OP_PORT=${OP_PORT:-19310}
CONNS=${CONNS:-64}

# ---- bundle: everything a bare many-core machine needs ------------------------
if [ "${1:-}" = bundle ]; then
  out=$(mkdir -p "${2:?usage: bench/compare.sh bundle DIR}" && cd "$2" && pwd)
  t=$(mktemp -d)
  mkdir -p "$t/bin" "$t/lib"
  for p in cmd/gatehouse bench/upstream bench/oplogin bench/floor; do
    CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$t/bin/$(basename "$p")" "./$p"
  done
  for b in wrk nginx redis-server redis-cli taskset curl; do
    p=$(command -v "$b" || echo "/usr/sbin/$b")
    cp "$p" "$t/bin/"
    ldd "$p" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r l; do
      if [ -f "$l" ]; then cp -L "$l" "$t/lib/"; fi
    done
  done
  git rev-parse --short HEAD >"$t/SOURCE"
  tar -cJf "$out/bundle.tar.xz" -C "$t" bin lib SOURCE
  rm -rf "$t"
  ls -la "$out"
  exit 0
fi

# ---- mode and core layout -----------------------------------------------------
NCORES=${CORES:-$(nproc)}
MODE=${MODE:-auto}
if [ "$MODE" = auto ]; then
  if ((NCORES >= 8)); then MODE=pinned; else MODE=shared; fi
fi
# cores FROM COUNT: the cpu list FROM..FROM+COUNT-1 ("3" or "3-6").
cores() { if (($2 == 1)); then echo "$1"; else echo "$1-$(($1 + $2 - 1))"; fi; }
if [ "$MODE" = pinned ]; then
  ((NCORES >= 8)) || { echo "pinned mode needs 8 cores or more, this machine has $NCORES" >&2; exit 1; }
  # The proxies under test get cores 0..MAXN-1; wrk the top EACH cores, the
  # upstream the EACH below them; redis-server and the OP one core each from the
  # spare ones below the upstream, else they share the upstream's (they are idle
  # during the measured runs, except redis-server for the Redis target).
  if ((NCORES >= 12)); then MAXN=4; else MAXN=2; fi
  avail=$((NCORES - MAXN))
  AUX=0
  if ((avail >= 10)); then AUX=2; elif ((avail >= 9)); then AUX=1; fi
  EACH=$(((avail - AUX) / 2))
  ((EACH > 4)) && EACH=4
  WRK_CORES=$(cores $((NCORES - EACH)) "$EACH")
  UP_CORES=$(cores $((NCORES - 2 * EACH)) "$EACH")
  case $AUX in
    2) RD_CORES=$((NCORES - 2 * EACH - 2)) OP_CORES=$((NCORES - 2 * EACH - 1)) ;;
    1) RD_CORES=$((NCORES - 2 * EACH - 1)) OP_CORES=$RD_CORES ;;
    *) RD_CORES=$UP_CORES OP_CORES=$UP_CORES ;;
  esac
  UP_PROCS=$EACH
  if [ -n "${PIN_ALL:-}" ]; then WRK_CORES=$PIN_ALL UP_CORES=$PIN_ALL RD_CORES=$PIN_ALL OP_CORES=$PIN_ALL; fi
  THREADS=${THREADS:-$EACH}
  ROUNDS=${ROUNDS:-5}
  DURATION=${DURATION:-4s}
  SIZES=${SIZES:-2 1 4}
  sizes=()
  for n in $SIZES; do
    if ((n > MAXN)); then echo "skipping $n proxy cores: $NCORES cores leave room for $MAXN" >&2; continue; fi
    sizes+=("$n")
  done
else
  THREADS=${THREADS:-2}
  ROUNDS=${ROUNDS:-9}
  DURATION=${DURATION:-5s}
  sizes=(shared)
fi
TARGETS=${TARGETS:-direct nginx floor gatehouse gatehouse-ratelimit-headers gatehouse-cache-hit gatehouse-session-memory gatehouse-session-plugins gatehouse-session-redis}
SMALL_TARGETS=${SMALL_TARGETS:-nginx floor gatehouse gatehouse-session-plugins}
# proxy_cores SIZE: the cores of the proxies under test ("" when shared).
proxy_cores() {
  if [ "$1" = shared ]; then echo ""; elif [ -n "${PIN_ALL:-}" ]; then echo "$PIN_ALL"; else cores 0 "$1"; fi
}
# targets_of SIZE: the targets measured at that size.
targets_of() { if [ "$1" = shared ] || [ "$1" = 2 ]; then echo "$TARGETS"; else echo "$SMALL_TARGETS"; fi; }

layout() {
  echo "mode: $MODE ($NCORES cores); wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS ABBA rounds"
  if [ "$MODE" = pinned ]; then
    echo "  proxies under test: cores 0..N-1 for N in ${sizes[*]} (nginx N workers; gatehouse and floor GOMAXPROCS=N)"
    echo "  upstream: cores $UP_CORES (GOMAXPROCS=$UP_PROCS); wrk: cores $WRK_CORES (-t$THREADS)"
    echo "  redis-server: core(s) $RD_CORES; OP: core(s) $OP_CORES"
    local s=/sys/devices/system/cpu/cpu0/topology/thread_siblings_list
    if [ -r "$s" ] && [ -z "${DRY_RUN:-}" ]; then echo "  cpu0's hardware threads: $(cat "$s") (SMT siblings share a core)"; fi
    for n in "${sizes[@]}"; do echo "  size $n: cores $(proxy_cores "$n"), targets: $(targets_of "$n")"; done
  else
    echo "  every process on every core (no taskset); targets: $TARGETS"
  fi
}

# ---- tools: the machine's, or a bundle's through its own loader ---------------
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
bin=$work/bin
WRK=(wrk) NGINX=(nginx) REDIS=(redis-server) REDIS_CLI=(redis-cli) TASKSET=(taskset) CURL=(curl)
if [ -n "${DRY_RUN:-}" ]; then
  :
elif [ -n "${BUNDLE:-}" ]; then
  tar -xJf "$BUNDLE" -C "$work"
  echo "bundle of $(cat "$work/SOURCE")" >&2
  ld=("$work/lib/ld-linux-x86-64.so.2" --library-path "$work/lib")
  WRK=("${ld[@]}" "$bin/wrk") NGINX=("${ld[@]}" "$bin/nginx") REDIS=("${ld[@]}" "$bin/redis-server")
  REDIS_CLI=("${ld[@]}" "$bin/redis-cli") CURL=("${ld[@]}" "$bin/curl")
  command -v taskset >/dev/null || TASKSET=("${ld[@]}" "$bin/taskset")
else
  need() { command -v "$1" >/dev/null 2>&1; }
  if ! need wrk || ! need nginx || ! need curl || ! need redis-server; then
    echo "installing wrk, nginx, redis-server and curl with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq wrk nginx redis-server curl >/dev/null
  fi
  echo "building upstream, OP, floor and gatehouse" >&2
  mkdir -p "$bin"
  for p in cmd/gatehouse bench/upstream bench/oplogin bench/floor; do go build -o "$bin/$(basename "$p")" "./$p"; done
fi

# pin CORES CMD...: CMD on those cores ("" = anywhere); with DRY_RUN, print it.
pin() {
  local c=$1; shift
  if [ -n "${DRY_RUN:-}" ]; then
    echo "    ${c:+taskset -c $c }$*"
  elif [ -n "$c" ]; then
    "${TASKSET[@]}" -c "$c" "$@"
  else
    "$@"
  fi
}
# bg LOG CORES CMD...: start CMD in the background, pinned, its output in LOG;
# sets $last to its pid.
last=
bg() {
  local log=$1 c=$2; shift 2
  if [ -n "${DRY_RUN:-}" ]; then pin "$c" "$@"; last=0; return; fi
  # exec: the pid is the command's own (taskset, env and the loader exec too),
  # not a subshell's, so that /proc/PID/task has its threads.
  if [ -n "$c" ]; then exec "${TASKSET[@]}" -c "$c" "$@" >"$log" 2>&1 & else exec "$@" >"$log" 2>&1 & fi
  last=$!
  pids+=("$last")
}

layout >&2
if [ -n "${DRY_RUN:-}" ]; then
  echo "commands:"
else # a leftover on a port would be measured instead of what this run starts
  for p in "$UP_PORT" "$GH_PORT" "$NGX_PORT" "$GH_REDIS_PORT" "$REDIS_PORT" "$FLOOR_PORT" "$OP_PORT"; do
    if (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is taken: stop what listens there first" >&2; exit 1; fi
  done
fi

# ---- the processes that stay for the whole run --------------------------------
upc=${UP_CORES:-} rdc=${RD_CORES:-} opc=${OP_CORES:-}
bg "$work/upstream.log" "$upc" env GOMAXPROCS="${UP_PROCS:-$NCORES}" "$bin/upstream" -listen "127.0.0.1:$UP_PORT"
up_pid=$last
bg "$work/redis.log" "$rdc" "${REDIS[@]}" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work"
redis_pid=$last
bg "$work/op.log" "$opc" "$bin/oplogin" op -listen "127.0.0.1:$OP_PORT" \
  -gateway "http://127.0.0.1:$GH_PORT" -gateway "http://127.0.0.1:$GH_REDIS_PORT"
export UP_PORT ISSUER="http://127.0.0.1:$OP_PORT"

code_of() { "${CURL[@]}" -s -o /dev/null -w '%{http_code}' "$@" || true; }
# wait_code URL [CODE]: until URL answers CODE (200).
wait_code() {
  for _ in $(seq 1 200); do
    [ "$(code_of "$1")" = "${2:-200}" ] && return 0
    sleep 0.05
  done
  echo "no ${2:-200} from $1" >&2
  cat "$work"/*.log >&2
  exit 1
}
if [ -z "${DRY_RUN:-}" ]; then
  for _ in $(seq 1 100); do "${REDIS_CLI[@]}" -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  wait_code "http://127.0.0.1:$UP_PORT/"
fi

tick=$(getconf CLK_TCK)
cpu_ticks() { # sum of utime+stime over every thread of the given processes
  local t=0 p f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/stat; do
      [ -r "$f" ] || continue
      t=$((t + $(sed 's/.*) //' "$f" 2>/dev/null | awk '{print $12 + $13}')))
    done
  done
  echo "$t"
}
# wrk prints latency percentiles with --latency; turn its units into ms.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f\n", v}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# nginx_conf WORKERS: nginx as a plain proxy with upstream keepalive.
nginx_conf() {
  cat <<NGINX
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes $1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/ngx-cb; proxy_temp_path $work/ngx-pt; fastcgi_temp_path $work/ngx-ft;
  uwsgi_temp_path $work/ngx-ut; scgi_temp_path $work/ngx-st;
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
}

# measure SIZE: start the proxies under test on their cores, measure every
# target of that size in ABBA rounds into $work/raw-SIZE, stop the proxies.
measure() {
  local size=$1 pc procs workers
  pc=$(proxy_cores "$size")
  if [ "$size" = shared ]; then procs=$NCORES workers=auto; else procs=$size workers=$size; fi
  local names
  read -r -a names <<<"$(targets_of "$size")"
  if [ -n "${DRY_RUN:-}" ]; then echo "  size $size:"; fi
  local lp=() gh ghr fl
  bg "$work/gh.log" "$pc" env GOMAXPROCS="$procs" GH_PORT="$GH_PORT" STORE=memory \
    "$bin/gatehouse" -config bench/gatehouse.yaml -log-level error
  gh=$last lp+=("$last")
  bg "$work/gh-redis.log" "$pc" env GOMAXPROCS="$procs" GH_PORT="$GH_REDIS_PORT" STORE="redis://127.0.0.1:$REDIS_PORT/0" \
    "$bin/gatehouse" -config bench/gatehouse.yaml -log-level error
  ghr=$last lp+=("$last")
  bg "$work/floor.log" "$pc" env GOMAXPROCS="$procs" "$bin/floor" -addr "127.0.0.1:$FLOOR_PORT" -upstream "127.0.0.1:$UP_PORT"
  fl=$last lp+=("$last")
  nginx_conf "$workers" >"$work/nginx.conf"
  pin "$pc" "${NGINX[@]}" -e "$work/nginx-error.log" -c "$work/nginx.conf" -p "$work"
  if [ -n "${DRY_RUN:-}" ]; then
    echo "    ${WRK_CORES:+taskset -c $WRK_CORES }wrk -t$THREADS -c$CONNS -d$DURATION TARGET   # ${#names[@]} targets x $ROUNDS rounds"
    return
  fi
  wait_code "http://127.0.0.1:$NGX_PORT/"
  wait_code "http://127.0.0.1:$FLOOR_PORT/"
  # discovery at the OP must have succeeded before a login
  wait_code "http://127.0.0.1:$GH_PORT/readyz"
  wait_code "http://127.0.0.1:$GH_REDIS_PORT/readyz"
  local cookie_mem cookie_redis ngx_pids
  cookie_mem=$(pin "${OP_CORES:-}" "$bin/oplogin" login -gateway "http://127.0.0.1:$GH_PORT")
  cookie_redis=$(pin "${OP_CORES:-}" "$bin/oplogin" login -gateway "http://127.0.0.1:$GH_REDIS_PORT")
  ngx_pids=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')

  # target name → URL; the order of names is the interleaving order.
  local -A url=(
    [direct]="http://127.0.0.1:$UP_PORT/plain/users/7"
    [nginx]="http://127.0.0.1:$NGX_PORT/plain/users/7"
    [floor]="http://127.0.0.1:$FLOOR_PORT/plain/users/7"
    [gatehouse]="http://127.0.0.1:$GH_PORT/plain/users/7"
    [gatehouse-cache-hit]="http://127.0.0.1:$GH_PORT/cached/users/7"
    [gatehouse-ratelimit-headers]="http://127.0.0.1:$GH_PORT/limited/users/7"
    [gatehouse-session-memory]="http://127.0.0.1:$GH_PORT/session/users/7"
    [gatehouse-session-plugins]="http://127.0.0.1:$GH_PORT/sessplug/users/7"
    [gatehouse-session-redis]="http://127.0.0.1:$GH_REDIS_PORT/session/users/7"
  )
  # The cookie a logged-in SPA sends (with the CSRF header).
  local -A cookie=(
    [gatehouse-session-memory]="$cookie_mem" [gatehouse-session-plugins]="$cookie_mem"
    [gatehouse-session-redis]="$cookie_redis"
  )
  local -A cpu_pids=(
    [direct]="$up_pid" [nginx]="$ngx_pids" [floor]="$fl" [gatehouse]="$gh" [gatehouse-cache-hit]="$gh"
    [gatehouse-ratelimit-headers]="$gh" [gatehouse-session-memory]="$gh" [gatehouse-session-plugins]="$gh"
    [gatehouse-session-redis]="$ghr $redis_pid"
  )
  # run_wrk NAME DURATION [wrk args...]: wrk against the target, with its headers.
  run_wrk() {
    local n=$1 d=$2; shift 2
    local h=()
    if [ -n "${cookie[$n]:-}" ]; then h=(-H "Cookie: ${cookie[$n]}" -H "X-CSRF: 1"); fi
    pin "${WRK_CORES:-}" "${WRK[@]}" -t"$THREADS" -c"$CONNS" -d"$d" "${h[@]}" "$@" "${url[$n]}"
  }
  local n code
  for n in "${names[@]}"; do # every target must answer 200 before it is measured
    [ -n "${url[$n]:-}" ] || { echo "unknown target $n" >&2; exit 1; }
    local h=()
    if [ -n "${cookie[$n]:-}" ]; then h=(-H "Cookie: ${cookie[$n]}" -H "X-CSRF: 1"); fi
    code=$(code_of "${h[@]}" "${url[$n]}")
    [ "$code" = 200 ] || { echo "$n answered $code, not 200" >&2; exit 1; }
  done
  for n in "${names[@]}"; do run_wrk "$n" 2s >/dev/null; done # warm pools and the cache

  local r i order t0 t1 out rps reqs p50 p99 non2xx cpu_us
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
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      cpu_us=$(awk -v a="$t0" -v b="$t1" -v k="$tick" -v q="$reqs" 'BEGIN {printf "%.2f", (b - a) * 1e6 / k / q}')
      p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
      p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
      non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
      if [ -n "$non2xx" ]; then echo "warning: $n answered $non2xx non-2xx responses in round $r" >&2; fi
      echo "$r $n $rps $p50 $p99 $cpu_us" >>"$work/raw-$size"
      echo "size $size round $r $n: $rps req/s, $cpu_us us CPU/request" >&2
    done
  done
  for p in "${lp[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for p in "${lp[@]}"; do wait "$p" 2>/dev/null || true; done
  for _ in $(seq 1 100); do [ -f "$work/nginx.pid" ] || break; sleep 0.05; done
}

# report SIZE: the table of one size from $work/raw-SIZE.
report() {
  local size=$1 res=$work/raw-$1 names n
  read -r -a names <<<"$(targets_of "$size")"
  # col NAME FIELD: that field of every round of NAME (fields: 3 req/s, 4 p50,
  # 5 p99, 6 CPU), one per line in round order.
  col() { awk -v n="$1" -v f="$2" '$2==n {print $f}' "$res"; }
  # paired A B FIELD: the median over rounds of A/B, each ratio within a round.
  paired() { paste <(col "$1" "$3") <(col "$2" "$3") | awk '{print $1 / $2}' | median; }
  echo
  if [ "$size" = shared ]; then
    echo "shared: every process on all $NCORES cores; wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds in ABBA order"
  else
    echo "pinned: proxies on $size core(s) [$(proxy_cores "$size")], upstream on $UP_CORES, wrk -t$THREADS -c$CONNS -d$DURATION on $WRK_CORES, $ROUNDS ABBA rounds"
  fi
  echo "medians over rounds; vs_nginx: req/s ÷ nginx's, cpu_vs_ngx: nginx's CPU/request ÷ this one's (both paired per round)"
  printf '%-28s %9s %8s %8s %9s %11s %11s\n' target req/s p50_ms p99_ms vs_nginx cpu_us/req cpu_vs_ngx
  for n in "${names[@]}"; do
    printf '%-28s %9.0f %8.3f %8.3f %9.2f %11.1f %11.2f\n' "$n" "$(col "$n" 3 | median)" "$(col "$n" 4 | median)" \
      "$(col "$n" 5 | median)" "$(paired "$n" nginx 3)" "$(col "$n" 6 | median)" "$(paired nginx "$n" 6)"
  done
}

for s in "${sizes[@]}"; do measure "$s"; done
[ -n "${DRY_RUN:-}" ] && exit 0

{
  for s in "${sizes[@]}"; do report "$s"; done
  # Scaling from 2 to 4 cores: req/s at 4 ÷ req/s at 2, medians, per target.
  if [ -f "$work/raw-2" ] && [ -f "$work/raw-4" ]; then
    echo
    echo "scaling, req/s at 4 cores ÷ req/s at 2 (medians):"
    for n in $SMALL_TARGETS; do
      a=$(awk -v n="$n" '$2==n {print $3}' "$work/raw-4" | median)
      b=$(awk -v n="$n" '$2==n {print $3}' "$work/raw-2" | median)
      if [ -n "$a" ] && [ -n "$b" ]; then printf '  %-28s %.2f\n' "$n" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')"; fi
    done
  fi
} | tee "$work/tables"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$work"/raw-* "$work/tables" "$OUT/"; fi
