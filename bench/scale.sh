#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/scale.sh — curfew holding a million sessions: memory per session,
# start-up time, and the longest event-loop stall while a dashboard polls and
# purges run (issue 10, "Scale of the index").
#
# The SQLite file is written directly in curfew's schema (src/store/sqlite.c:
# curfew creates it on a first start, the script fills it), then curfew starts
# on it. A sample is also created through POST /v1/sessions to measure that
# path's memory. During the run a client pings /healthz once a millisecond on
# one keep-alive connection and records every answer's latency; a poller asks
# for GET /v1/stats, /metrics and /v1/sessions?limit=100 every 2 s; one
# revocation by client ends a tenth of the sessions; the purge sweep runs every
# PURGE_INTERVAL over sessions whose idle deadlines are spread across the run.
#
# Usage:  bash bench/scale.sh
# Environment (all optional):
#   SESSIONS=1000000   sessions written to the store
#   API_SAMPLE=20000   sessions created through the API (memory of that path)
#   DURATION=300       seconds of the stall run (the issue's 5 minutes)
#   PURGE_INTERVAL=5s  store.purge_interval during the run
#   PERF=<file>        record `perf record -g` of curfew during the stall run
#   CURFEW_BIN, BUILD_DIR, SKIP_BUILD=1, KEEP_TMP=1   as in bench/lib.sh
# Prints one table; exit 1 when curfew fails to start or answers an error.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SESSIONS=${SESSIONS:-1000000}
API_SAMPLE=${API_SAMPLE:-20000}
DURATION=${DURATION:-300}
DURATION=${DURATION%s}
PURGE_INTERVAL=${PURGE_INTERVAL:-5s}

BENCH_NAME=bench/scale.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

require_tools curl "$PY"
build_curfew
bench_tmp curfew-scale

PORT=$(free_port)
ADMIN_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
D="$TMP/curfew"
mkdir -p "$D"
cat > "$D/curfew.yaml" <<EOF
log_level: warn
session: { idle_timeout: 2h, absolute_timeout: 12h }
store: { purge_interval: $PURGE_INTERVAL, purge_after: 0s, activity_flush: 1s }
EOF

start_curfew() {  # -> CURFEW_PID, START_MS (exec to /healthz answering)
    local t0
    t0=$(date +%s%N)
    CURFEW_ADMIN_KEY=$ADMIN_KEY "$CURFEW_BIN" serve --config "$D/curfew.yaml" \
        --listen "127.0.0.1:$PORT" --data-dir "$D/data" >>"$D/stdout.log" 2>>"$D/stderr.log" &
    CURFEW_PID=$!
    track_pid "$CURFEW_PID"
    until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz"; do
        kill -0 "$CURFEW_PID" 2>/dev/null || { cat "$D/stderr.log" >&2; die "curfew exited"; }
        (( $(date +%s%N) - t0 < 300000000000 )) || die "curfew not ready after 300 s"
        sleep 0.02
    done
    START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop_curfew() { kill -TERM "$CURFEW_PID"; wait "$CURFEW_PID" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$CURFEW_PID/status"; }

# ---- an empty curfew: schema and baseline memory ------------------------------
start_curfew
BASE_KB=$(rss_kb)
stop_curfew

# ---- the store, written directly ------------------------------------------------
echo "writing $SESSIONS sessions into $D/data/curfew.db ..." >&2
"$PY" - "$D/data/curfew.db" "$SESSIONS" "$DURATION" <<'EOF'
import hashlib, os, sqlite3, sys, time
db, n, dur = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time() * 1000)
c = sqlite3.connect(db)
c.execute("PRAGMA synchronous=OFF")
clients = ["web", "mobile", "cli", "partner", "tv", "desk", "kiosk", "svc", "b2b", "iot"]
roles = ["user", "user,admin", "user,support", ""]
def rows():
    for i in range(n):
        sid = os.urandom(18).hex()[:24].replace("0", "A", 1)  # 24 chars, base64url alphabet
        created = now - 3600_000 + (i % 3600_000)
        # A steady trickle of idle deadlines lands inside the run: purges have real work.
        idle_dl = now + 5_000 + (i * 7919 % (dur * 4 * 1000)) if i % 4 == 0 else now + 2 * 3600_000
        yield (sid, "user%d" % (i % (n // 3 + 1)), clients[i % 10], "read write", roles[i % 4],
               created, created, created, 7200_000, 43200_000, 600_000, idle_dl,
               created + 43200_000, 0, "", 0, 0, "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), "", "")
def tokens(sids):
    for sid in sids:
        yield (hashlib.sha256(sid.encode()).digest(), sid, 0)
t = time.time()
sids = []
def keep(it):
    for r in it:
        sids.append(r[0])
        yield r
c.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", keep(rows()))
c.executemany("INSERT INTO refresh_tokens VALUES (?,?,?)", tokens(sids))
c.commit()
# Written in one transaction, all of it sits in the WAL; curfew's writer
# checkpoints after every commit past 1,000 frames, so a store it left has a
# short WAL. Start from the same state (reading 300 MB through the WAL index
# doubled the start-up time measured).
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print("wrote %d sessions in %.1f s" % (n, time.time() - t), file=sys.stderr)
EOF

# ---- start on it -------------------------------------------------------------------
start_curfew
LOAD_KB=$(rss_kb)
LOADED_PER=$(( (LOAD_KB - BASE_KB) * 1024 / SESSIONS ))

# ---- the API path: a sample created through POST /v1/sessions ----------------------
"$PY" - "$PORT" "$ADMIN_KEY" "$API_SAMPLE" <<'EOF'
import http.client, json, sys, threading
port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(k, n, 16):
        c.request("POST", "/v1/sessions", json.dumps({"sub": "api%d" % i, "client_id": "web"}),
                  {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 201 or r.status == 200, r.status
ts = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
sleep 2 # activity flush and store acknowledgements settle
API_KB=$(rss_kb)
API_PER=$(( (API_KB - LOAD_KB) * 1024 / API_SAMPLE ))

# ---- the stall run -------------------------------------------------------------------
echo "stall run: ${DURATION}s ..." >&2
if [[ -n ${PERF:-} ]]; then
    perf record -g -o "$PERF" -p "$CURFEW_PID" >/dev/null 2>&1 &
    PERF_PID=$!
fi
read -r MAX_STALL P999 PINGS POLL_MAX REVOKE_MS < <("$PY" - "$PORT" "$ADMIN_KEY" "$DURATION" <<'EOF'
import http.client, socket, sys, threading, time
port, key, dur = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
H = {"Authorization": "Bearer " + key}
stop = time.monotonic() + dur
lat, poll = [], [0.0]
def pinger():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    while time.monotonic() < stop:
        t = time.perf_counter()
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, _, body = buf.partition(b"\r\n\r\n")
        clen = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(body) < clen:
            body += s.recv(4096)
        lat.append(time.perf_counter() - t)
        time.sleep(max(0.0, 0.001 - (time.perf_counter() - t)))
def get(c, path):
    t = time.perf_counter()
    c.request("GET", path, headers=H); r = c.getresponse(); r.read()
    assert r.status == 200, (path, r.status)
    return time.perf_counter() - t
def poller():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < stop:
        t = time.monotonic()
        for p in ("/v1/stats", "/metrics", "/v1/sessions?limit=100"):
            poll[0] = max(poll[0], get(c, p))
        time.sleep(max(0.0, 2 - (time.monotonic() - t)))
th = [threading.Thread(target=pinger), threading.Thread(target=poller)]
[t.start() for t in th]
time.sleep(min(10, dur / 3))
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)  # a loaded machine: report the time, do not die
t = time.perf_counter()
c.request("POST", "/v1/revocations", '{"client_id": "partner"}', dict(H, **{"Content-Type": "application/json"}))
r = c.getresponse(); r.read(); assert r.status == 200, r.status
rev = time.perf_counter() - t
[t.join() for t in th]
lat.sort()
print("%.1f %.1f %d %.1f %.1f" % (lat[-1] * 1e3, lat[int(len(lat) * 0.999)] * 1e3, len(lat), poll[0] * 1e3, rev * 1e3))
EOF
)
if [[ -n ${PERF:-} ]]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
END_KB=$(rss_kb)
PURGED=$(curl -s "http://127.0.0.1:$PORT/metrics" -H "Authorization: Bearer $ADMIN_KEY" | awk '/^curfew_sessions_purged_total/ {print $2}')

printf '\n%-48s %s\n' "sessions loaded from the store" "$SESSIONS"
printf '%-48s %s ms (goal < 3000)\n' "start-up, exec to /healthz answering" "$START_MS"
printf '%-48s %s B (goal <= 256)\n' "RSS per session loaded from the store" "$LOADED_PER"
printf '%-48s %s B\n' "RSS per session created through the API" "$API_PER"
printf '%-48s %s MB -> %s MB\n' "RSS empty -> loaded" "$((BASE_KB / 1024))" "$((LOAD_KB / 1024))"
printf '%-48s %s ms over %s s, %s pings (goal < 10)\n' "longest /healthz answer (loop stall)" "$MAX_STALL" "$DURATION" "$PINGS"
printf '%-48s %s ms\n' "/healthz p99.9" "$P999"
printf '%-48s %s ms\n' "slowest dashboard poll request" "$POLL_MAX"
printf '%-48s %s ms\n' "revocation by client (a tenth of the sessions)" "$REVOKE_MS"
printf '%-48s %s\n' "sessions purged during the run" "${PURGED:-?}"
printf '%-48s %s MB\n' "RSS at the end" "$((END_KB / 1024))"
