"""The store: group commit and purging, observed on the real binary."""
import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def _raw_create(port, key, sub):
    body = json.dumps({"sub": sub}).encode()
    head = (f"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return head + body


def _read_status(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_concurrent_changes_share_fsyncs(start_curfew):
    """Group commit: 200 session creations arriving together are each
    acknowledged only when durable, yet need far fewer commits than batches.
    Requests go out on 50 sockets before any answer is read, so the server
    sees them at once, as it would under real concurrency."""
    srv = start_curfew()
    codes = []
    for wave in range(4):
        socks = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(_raw_create(srv.port, srv.admin_key, f"user{wave}-{i}"))
            socks.append(s)
        for s in socks:
            codes.append(_read_status(s))
            s.close()
    assert codes == [201] * 200
    srv.stop()
    m = re.search(r"event=store_closed batches=(\d+) commits=(\d+) events=(\d+) failures=(\d+)",
                  srv.stderr_text())
    assert m, srv.stderr_text()
    batches, commits, events, failures = map(int, m.groups())
    assert failures == 0
    assert batches >= 200
    assert events >= 200
    # Every batch waited for a commit; if each had its own fsync, commits == batches.
    assert commits <= batches // 2, (batches, commits)

    # And every acknowledged session survived the stop.
    srv.start()
    r = srv.admin("GET", "/v1/sessions?limit=1000")
    assert r.status_code == 200
    assert r.json()["total"] == 200


def test_ended_sessions_are_purged_after_purge_after(start_curfew):
    srv = start_curfew("store: { purge_interval: 200ms, purge_after: 1s }\n")
    ended = srv.new_session(sub="gone", idle_timeout="1s")
    live = srv.new_session(sub="stays")
    # Unobserved idle expiry: the sweep marks it ended with its reason...
    time.sleep(1.5)
    r = srv.admin("GET", "/v1/sessions/" + ended["session_id"])
    assert r.status_code == 200
    assert r.json()["state"] == "ended" and r.json()["end_reason"] == "idle_timeout"
    # ...and purges it purge_after later, with its refresh token.
    deadline = time.time() + 5
    while time.time() < deadline and srv.admin("GET", "/v1/sessions/" + ended["session_id"]).status_code == 200:
        time.sleep(0.2)
    assert srv.admin("GET", "/v1/sessions/" + ended["session_id"]).status_code == 404
    r = srv.refresh(ended["refresh_token"])
    assert r.status_code == 400 and r.json()["reason"] == "unknown_refresh_token"
    assert srv.check(live["access_token"]).status_code == 200
    assert "event=purge sessions_purged=1" in srv.stderr_text()
    # Purged from disk too: a restart does not bring it back.
    srv.restart()
    assert srv.admin("GET", "/v1/sessions/" + ended["session_id"]).status_code == 404
    assert srv.admin("GET", "/v1/sessions/" + live["session_id"]).status_code == 200


V1_SCHEMA = """
CREATE TABLE sessions( id TEXT PRIMARY KEY, sub TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,
 roles TEXT NOT NULL, auth_time INTEGER NOT NULL, created_at INTEGER NOT NULL,
 last_activity INTEGER NOT NULL, idle_timeout INTEGER NOT NULL,
 absolute_timeout INTEGER NOT NULL, access_ttl INTEGER NOT NULL,
 idle_deadline INTEGER NOT NULL, absolute_deadline INTEGER NOT NULL,
 ended_at INTEGER NOT NULL, end_reason TEXT NOT NULL, refresh_gen INTEGER NOT NULL,
 refresh_rotated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE refresh_tokens( hash BLOB PRIMARY KEY, sid TEXT NOT NULL, gen INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX refresh_tokens_sid ON refresh_tokens(sid);
CREATE TABLE not_before(sub TEXT PRIMARY KEY, at INTEGER NOT NULL);
PRAGMA user_version = 1;
"""


def test_a_version_1_database_is_migrated_in_place(start_curfew, tmp_path):
    import sqlite3
    srv = start_curfew(wait=False)
    srv.stop()
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    db = srv.data_dir / "curfew.db"
    for f in srv.data_dir.glob("curfew.db*"):
        f.unlink()
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    con.executescript(V1_SCHEMA)
    con.execute("INSERT INTO sessions VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                ("A" * 24, "olduser", "", "", "", now, now, now, 3600000, 7200000, 600000,
                 now + 3600000, now + 7200000, 0, "", 0, 0))
    con.commit()
    con.close()
    srv.start()
    r = srv.admin("GET", "/v1/sessions/" + "A" * 24)
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == "olduser" and r.json()["state"] == "active"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    cols = [row[1] for row in con.execute("PRAGMA table_info(sessions)")]
    con.close()
    assert "ip" in cols and "device" in cols
