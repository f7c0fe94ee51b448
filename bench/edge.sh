#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end forward auth through the shipped nginx configs, against the same curfew
# in the same run, alternating rounds (curfew has check.cache_max_age: 2s):
#   cached         deploy/nginx/curfew.conf as shipped (proxy_cache of the auth subrequest)
#   cached (lua)   deploy/nginx/curfew-lua-cache.conf (lua_shared_dict: a hit runs no
#                  subrequest; needs libnginx-mod-http-lua)
#   uncached       curfew.conf with its proxy_cache lines removed
#   no check       curfew.conf without auth_request: the ceiling no cache can pass.
# Prints requests/s of each and the ratios (issue 15's goal: cached >= 2x uncached).
#
# Two topologies, each in the same run (TOPOLOGIES="app static" by default):
#   app     the protected location proxies to an application (its own nginx process
#           answering 204, shared by all three front ends) - the shipped config as is;
#   static  the protected location is served by the front nginx itself (a static file,
#           `root` instead of `proxy_pass http://app;`), as when nginx protects files.
# The cache saves the check subrequest only, so its gain is bounded by the share of a
# request's cost the check is: small when an application answers behind nginx, large
# when nginx serves the content itself.
# Each round also prints the front nginx workers' CPU per request (from /proc), which other load
# on the machine disturbs much less than requests/s.
#   bench/edge.sh [SECONDS_PER_ROUND=5] [ROUNDS=3]   env: CURFEW_BIN, NGINX, CONNS=32, TOPOLOGIES,
#                                                    LUA_MODULES (dir of ngx_http_lua_module.so)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CURFEW_BIN:-$ROOT/build/curfew}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
DUR=${1:-5}; ROUNDS=${2:-3}; CONNS=${CONNS:-32}; TOPOLOGIES=${TOPOLOGIES:-app static}
LUA_MODULES=${LUA_MODULES:-/usr/lib/nginx/modules}
[[ -f $LUA_MODULES/ngx_http_lua_module.so ]] || { echo "edge.sh: no $LUA_MODULES/ngx_http_lua_module.so (apt-get install libnginx-mod-http-lua)" >&2; exit 1; }
WORKERS=${NGINX_WORKERS:-1}   # worker_processes of every nginx (Debian's stock nginx.conf says auto)
command -v wrk >/dev/null || { echo "edge.sh: wrk is not installed" >&2; exit 1; }
TMP=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(port); APORT=$(port); KEY=bench-$RANDOM$RANDOM
printf 'check:\n  cache_max_age: 2s\nsession: { idle_timeout: 1h }\n' > "$TMP/curfew.yaml"
CURFEW_ADMIN_KEY=$KEY "$BIN" serve --config "$TMP/curfew.yaml" --listen 127.0.0.1:$CPORT \
    --data-dir "$TMP/data" --log-level warn 2>"$TMP/curfew.log" & PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$CPORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"sub":"bench"}' "http://127.0.0.1:$CPORT/v1/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
start_nginx() {  # name mode(0 uncached|1 cached|2 no check|3 lua cache) topology(app|static) -> sets NPORT
    local d=$TMP/$1 p conf=curfew.conf modules=""; p=$(port); mkdir -p "$d/www"; : > "$d/www/app"
    if [[ $2 == 3 ]]; then
        conf=curfew-lua-cache.conf
        modules="load_module $LUA_MODULES/ndk_http_module.so; load_module $LUA_MODULES/ngx_http_lua_module.so;"
    fi
    sed -e "s/127.0.0.1:7070/127.0.0.1:$CPORT/" -e "s/127.0.0.1:8080/127.0.0.1:$APORT/" \
        -e "s/listen 8000;/listen 127.0.0.1:$p;/" -e "s#/var/lib/nginx/curfew-checks#$d/cache#" \
        "$ROOT/deploy/nginx/$conf" > "$d/site.conf"
    [[ $2 == 1 ]] || sed -i -e '/^\s*proxy_cache /d' -e '/^\s*proxy_cache_key /d' "$d/site.conf"
    [[ $2 != 2 ]] || sed -i -e '/^\s*auth_request /d' "$d/site.conf"   # no check at all: the ceiling
    # static: the content phase serves a file (the access phase, auth_request, still runs first)
    [[ $3 != static ]] || sed -i -e "s#^\(\s*\)proxy_pass http://app;#\1root $d/www; open_file_cache max=16;#" "$d/site.conf"
    grep -q "proxy_pass http://app;\|root $d/www;" "$d/site.conf" || { echo "edge.sh: could not set up topology $3" >&2; exit 1; }
    local user=""; [[ $(id -u) == 0 ]] && user="user root;"
    cat > "$d/nginx.conf" <<CONF
$user
$modules
worker_processes $WORKERS;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc; uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
    include $d/site.conf;
}
CONF
    "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g "daemon off; pid $d/nginx.pid;" \
        </dev/null >/dev/null 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.05; done
    NPORT=$p
}
# The application: its own nginx process, the same for every front end.
mkdir -p "$TMP/app"
cat > "$TMP/app/nginx.conf" <<CONF
$( [[ $(id -u) == 0 ]] && echo "user root;" )
worker_processes $WORKERS;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/app/cb; proxy_temp_path $TMP/app/px;
       fastcgi_temp_path $TMP/app/fc; uwsgi_temp_path $TMP/app/uw; scgi_temp_path $TMP/app/sc;
       server { listen 127.0.0.1:$APORT; location / { return 204; } } }
CONF
"$NGINX" -p "$TMP/app" -c "$TMP/app/nginx.conf" -e "$TMP/app/error.log" -g "daemon off; pid $TMP/app/nginx.pid;" \
    </dev/null >/dev/null 2>&1 & PIDS+=($!)
declare -A PORTS
for t in $TOPOLOGIES; do
    [[ $t == app || $t == static ]] || { echo "edge.sh: unknown topology $t (app, static)" >&2; exit 2; }
    start_nginx "$t-cached" 1 "$t"; PORTS[$t-cached]=$NPORT
    start_nginx "$t-lua" 3 "$t"; PORTS[$t-lua]=$NPORT
    start_nginx "$t-plain" 0 "$t"; PORTS[$t-plain]=$NPORT
    start_nginx "$t-none" 2 "$t"; PORTS[$t-none]=$NPORT
    for m in cached lua plain; do
        curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${PORTS[$t-$m]}/app" \
            || { cat "$TMP"/*/error.log >&2; echo "edge.sh: $t $m: nginx -> curfew -> app does not answer 2xx" >&2; exit 1; }
        # and refuses without a token: the check really runs in front of the content
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORTS[$t-$m]}/app")
        [[ $code == 401 ]] || { echo "edge.sh: $t $m: no token gave $code, not 401" >&2; exit 1; }
    done
done
# CPU seconds (user + system, in clock ticks) the workers of the front nginx NAME have used.
ticks() { local w t=0; for w in $(pgrep -P "$(cat "$TMP/$1/nginx.pid")"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$w/stat"))); done; echo "$t"; }
# rps NAME: requests/s through front end NAME; sets CPU to its workers' CPU microseconds per
# request in that run (robust to other load on the machine, unlike requests/s).
rps() { local t0 t1 out n; t0=$(ticks "$1")
    out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${PORTS[$1]}/app")
    t1=$(ticks "$1"); n=$(awk '/requests in/ {print $1}' <<<"$out")
    grep -q Non-2xx <<<"$out" && echo "non2xx $1: $(grep Non-2xx <<<"$out")" >&2
    CPU=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')
    awk '/Requests\/sec/ {print $2}' <<<"$out"; }
# Checks curfew answered so far: a cached round must reach curfew only on a miss.
checks() { curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$CPORT/metrics" \
    | awk '/^curfew_checks_total\{result="allow"/ {n += $2} END {printf "%d", n}'; }
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "nginx ($WORKERS worker(s)) -> curfew forward auth, $CONNS connections, ${DUR}s x $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $TOPOLOGIES; do
    C=(); L=(); P=(); N=()
    for r in $(seq "$ROUNDS"); do
        before=$(checks); rps "$t-cached" > "$TMP/r"; C+=("$(<"$TMP/r")"); CC=$CPU; after=$(checks)
        HITS="$(awk -v c="${C[-1]}" -v d="$DUR" -v n="$((after - before))" 'BEGIN{printf "%.4f", n/(c*d)}')"
        before=$(checks); rps "$t-lua" > "$TMP/r"; L+=("$(<"$TMP/r")"); LC=$CPU; after=$(checks)
        LHITS="$(awk -v c="${L[-1]}" -v d="$DUR" -v n="$((after - before))" 'BEGIN{printf "%.4f", n/(c*d)}')"
        rps "$t-plain" > "$TMP/r"; P+=("$(<"$TMP/r")"); PC=$CPU
        rps "$t-none" > "$TMP/r"; N+=("$(<"$TMP/r")"); NC=$CPU
        echo "$t round $r: cached ${C[-1]} req/s, cached (lua) ${L[-1]} req/s, uncached ${P[-1]} req/s, no check ${N[-1]} req/s (checks reaching curfew per request: cached $HITS, lua $LHITS)"
        echo "$t round $r: front nginx worker CPU per request: cached $CC us, cached (lua) $LC us, uncached $PC us (curfew's share not included), no check $NC us"
    done
    MC=$(med "${C[@]}"); ML=$(med "${L[@]}"); MP=$(med "${P[@]}"); MN=$(med "${N[@]}")
    echo "$t median: cached $MC req/s, uncached $MP req/s, ratio $(awk -v a="$MC" -v b="$MP" 'BEGIN{printf "%.2f", a/b}') (goal >= 2)"
    echo "$t median: cached (lua) $ML req/s, uncached $MP req/s, ratio $(awk -v a="$ML" -v b="$MP" 'BEGIN{printf "%.2f", a/b}') (goal >= 2)"
    echo "$t ceiling: no check at all $MN req/s, $(awk -v a="$MN" -v b="$MP" 'BEGIN{printf "%.2f", a/b}')x uncached (no cache can beat this)"
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
