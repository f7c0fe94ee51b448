#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/check_policy.sh — the cost of route policies on curfew's hot path.
# Runs two curfew processes from the same binary in the same run:
#   base    no `routes:` at all
#   policy  POLICY_ROUTES routes (default 50); the benchmarked request matches
#           the last one (MATCH=last, the worst case for first-match-wins) or
#           none of them (MATCH=none: every route is tried and rejected)
# and drives both with wrk, the same request (GET /v1/check with a valid
# Bearer token plus nginx's X-Original-URI / X-Original-Method /
# X-Forwarded-Host headers), interleaved rounds; prints the throughput ratio
# policy/base. The goal (issue 3) is >= 0.9.
#
# Usage:  bash bench/check_policy.sh
# Environment (all optional):
#   POLICY_ROUTES=50  number of routes in the policy config (>= 1)
#   MATCH=last        last | none
#   WRK_THREADS=1  WRK_CONNS=50  DURATION=10s  WARMUP=2s  ROUNDS=3   as in check.sh
#   CURFEW_BIN, BUILD_DIR, SKIP_BUILD=1, PIN=1, KEEP_TMP=1           as in check.sh
#   MIN_RATIO=0.9     exit 1 when policy/base requests/s is below it (default: report only)
# Exit status: 0 on a valid run; 1 when a precondition fails (a server does not
# answer 200 to the benchmarked check, wrk saw non-2xx responses) or MIN_RATIO
# is missed.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POLICY_ROUTES=${POLICY_ROUTES:-50}
MATCH=${MATCH:-last}
MIN_RATIO=${MIN_RATIO:-}

BENCH_NAME=bench/check_policy.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[[ "$POLICY_ROUTES" =~ ^[1-9][0-9]*$ ]] || die "POLICY_ROUTES must be a positive integer"
[[ "$MATCH" == last || "$MATCH" == none ]] || die "MATCH must be last or none"
require_tools wrk curl "$PY"
build_curfew
bench_tmp curfew-bench-policy

# ---- configs ---------------------------------------------------------------------
# The benchmarked request, identical for both servers.
REQ_URI='/api/v2/shop/orders/42?page=2'
REQ_METHOD=GET
REQ_HOST=app.example.com
[[ "$MATCH" == none ]] && REQ_URI='/nothing/matches/this?page=2'

COMMON='log_level: warn
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }'

mkdir -p "$TMP/base" "$TMP/policy"
printf '%s\n' "$COMMON" > "$TMP/base/curfew.yaml"

# POLICY_ROUTES - 1 routes that do not match the request, cycling through every
# kind of matcher and rule, then one that does (a glob with roles, scopes and
# methods: the most work a match can cost).
"$PY" - "$POLICY_ROUTES" > "$TMP/policy/routes.yaml" <<'EOF'
import sys
n = int(sys.argv[1])
out = ["roles: { admin: {}, ops: {}, bench: {} }", "routes:"]
for i in range(n - 1):
    k = i % 6
    if k == 0:
        out += [f"  - path_prefix: /svc{i}/", "    require_roles: [admin]"]
    elif k == 1:
        out += [f"  - path_glob: /svc{i}/*/items/**", "    methods: [POST, PUT]",
                "    require_scopes: [write]"]
    elif k == 2:
        out += [f"  - path: /svc{i}/exact", "    max_auth_age: 5m"]
    elif k == 3:
        out += [f"  - host: h{i}.example.com", "    path_prefix: /", "    deny: true"]
    elif k == 4:
        out += [f"  - path_prefix: /svc{i}", "    methods: [DELETE]", "    idle_timeout: 10m"]
    else:
        out += [f"  - path_glob: /api/*/svc{i}/**", "    require_roles: [ops, admin]"]
out += ["  - path_glob: /api/**/orders/*", "    methods: [GET, HEAD]",
        "    require_roles: [bench]", "    require_scopes: [read]"]
print("\n".join(out))
EOF
{ printf '%s\n' "$COMMON"; cat "$TMP/policy/routes.yaml"; } > "$TMP/policy/curfew.yaml"
"$CURFEW_BIN" config check "$TMP/policy/curfew.yaml" > "$TMP/policy/config-check.txt" 2>&1 \
    || { cat "$TMP/policy/config-check.txt" >&2; die "curfew rejected the generated policy config"; }

# ---- servers ---------------------------------------------------------------------
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
declare -A PORT TOKEN
for t in base policy; do
    PORT[$t]=$(free_port)
    CURFEW_ADMIN_KEY=$ADMIN_KEY "${server_prefix[@]}" "$CURFEW_BIN" serve \
        --config "$TMP/$t/curfew.yaml" --listen "127.0.0.1:${PORT[$t]}" --data-dir "$TMP/$t/data" \
        >"$TMP/$t/stdout.log" 2>"$TMP/$t/stderr.log" &
    track_pid $!
    wait_http "http://127.0.0.1:${PORT[$t]}/healthz" "$!" \
        || { cat "$TMP/$t/stderr.log" >&2; die "curfew ($t) did not become ready"; }
    session=$(curl -s --max-time 5 -X POST "http://127.0.0.1:${PORT[$t]}/v1/sessions" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        -d '{"sub":"bench","client_id":"bench","roles":["bench"],"scope":"read write"}')
    TOKEN[$t]=$(printf '%s' "$session" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
        || die "POST /v1/sessions ($t) did not return an access token: $session"
done

check_status() {  # target [extra curl args] -> HTTP status of the benchmarked check
    local t=$1; shift
    curl -s -o "$TMP/check-body" -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer ${TOKEN[$t]}" -H "X-Original-URI: $REQ_URI" \
        -H "X-Original-Method: $REQ_METHOD" -H "X-Forwarded-Host: $REQ_HOST" "$@" \
        "http://127.0.0.1:${PORT[$t]}/v1/check"
}
for t in base policy; do
    status=$(check_status "$t")
    [[ "$status" == 200 ]] || die "curfew ($t) answered $status (not 200) to the check: $(cat "$TMP/check-body")"
done
# Prove the policy server really evaluates its routes: the last route refuses
# a token without the role (403), and a deny route is honoured.
if [[ "$MATCH" == last ]]; then
    norole=$(curl -s --max-time 5 -X POST "http://127.0.0.1:${PORT[policy]}/v1/sessions" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        -d '{"sub":"other","roles":["user"],"scope":"read"}' \
        | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    status=$(curl -s -o "$TMP/check-body" -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $norole" -H "X-Original-URI: $REQ_URI" \
        -H "X-Original-Method: $REQ_METHOD" "http://127.0.0.1:${PORT[policy]}/v1/check")
    [[ "$status" == 403 ]] || die "the policy server did not apply its last route (got $status, want 403): $(cat "$TMP/check-body")"
fi
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer ${TOKEN[policy]}" \
    -H 'X-Original-URI: /x' -H 'X-Forwarded-Host: h3.example.com' "http://127.0.0.1:${PORT[policy]}/v1/check")
[[ "$POLICY_ROUTES" -lt 5 || "$status" == 403 ]] || die "the policy server did not apply a deny route (got $status)"

# ---- wrk -------------------------------------------------------------------------
run_wrk() {  # name target duration
    "${wrk_prefix[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" --latency -d"$3" \
        -H "Authorization: Bearer ${TOKEN[$2]}" -H "X-Original-URI: $REQ_URI" \
        -H "X-Original-Method: $REQ_METHOD" -H "X-Forwarded-Host: $REQ_HOST" \
        "http://127.0.0.1:${PORT[$2]}/v1/check" > "$TMP/wrk-$1.txt" 2>&1 \
        || { cat "$TMP/wrk-$1.txt" >&2; die "wrk against $2 failed"; }
}


run_rounds base policy
for t in base policy; do
    status=$(check_status "$t")
    if [[ "$status" != 200 ]]; then
        echo "FAIL: after the run curfew ($t) answered $status: $(cat "$TMP/check-body")" >&2
        fail=1
    fi
done

RATIO=$(ratio "$RPS_policy" "$RPS_base")

echo
echo "curfew GET /v1/check: $POLICY_ROUTES routes (request matches: $MATCH) vs no routes, keep-alive"
echo "request: $REQ_METHOD $REQ_URI (X-Original-URI/-Method, X-Forwarded-Host: $REQ_HOST), valid Bearer token"
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$DURATION --latency (same for both), $ROUNDS interleaved rounds; $(nproc) CPUs; pin=$PIN"
echo "load average before the run: $LOAD_BEFORE"
echo "curfew: $("$CURFEW_BIN" version 2>/dev/null || echo '?') ($CURFEW_BIN)"
echo
cat "$TMP/rounds.txt"
echo
echo "median over $ROUNDS rounds:"
printf '%-8s %12s %10s %10s\n' target 'requests/s' 'p50 ms' 'p99 ms'
printf '%-8s %12.0f %10.3f %10.3f\n' base "$RPS_base" "$P50_base" "$P99_base"
printf '%-8s %12.0f %10.3f %10.3f\n' policy "$RPS_policy" "$P50_policy" "$P99_policy"
printf '%-8s %12s %10s %10s\n' ratio "$RATIO" "$(ratio "$P50_policy" "$P50_base")" \
    "$(ratio "$P99_policy" "$P99_base")"
echo
echo "ratio = policy / base (throughput: higher is better, goal >= 0.9; latency: lower is better)"

if [[ -n "$MIN_RATIO" ]] && awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: throughput ratio $RATIO below MIN_RATIO=$MIN_RATIO" >&2
    fail=1
fi
exit $fail
