"""The store: group commit and purging, observed on the real binary."""
import contextlib
import json
import os
import re
import socket
import subprocess
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
    assert con.execute("PRAGMA user_version").fetchone()[0] == 5  # 4: API keys, 5: sender constraints
    cols = [row[1] for row in con.execute("PRAGMA table_info(sessions)")]
    con.close()
    assert "ip" in cols and "device" in cols and "cnf" in cols


# ---------------------------------------------------------------------------
# A damaged or unwritable database stops the start (issue 9 #12)
# ---------------------------------------------------------------------------
#
# Tests run as root, whom chmod does not stop: the database is made
# unwritable with the immutable attribute (chattr +i) where the file system
# has one, else with a read-only bind mount. Either way root cannot write.

def _run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


@contextlib.contextmanager
def unwritable(path):
    """``path`` (a file or a directory) cannot be changed, even by root."""
    if _run("chattr", "+i", str(path)).returncode == 0:
        try:
            yield
        finally:
            _run("chattr", "-i", str(path))
        return
    r = _run("mount", "--bind", str(path), str(path))
    assert r.returncode == 0, f"neither chattr +i nor a bind mount works here: {r.stderr}"
    try:
        r = _run("mount", "-o", "remount,ro,bind", str(path))
        assert r.returncode == 0, r.stderr
        yield
    finally:
        _run("umount", str(path))


def _stopped_with_sessions(start_curfew, n):
    srv = start_curfew()
    sessions = [srv.new_session(sub=f"u{i}") for i in range(n)]
    assert srv.stop() == 0
    assert not list(srv.data_dir.glob("curfew.db-wal")), "a clean stop leaves no WAL"
    return srv, sessions


def _refuses_to_start(srv, *expect):
    """The server exits non-zero without ever answering /healthz 200, and
    its log says each of ``expect``. Returns the log."""
    srv.start(wait=False)
    deadline = time.monotonic() + 15
    while srv.proc.poll() is None and time.monotonic() < deadline:
        try:
            r = requests.get(srv.url("/healthz"), timeout=0.5)
            assert r.status_code != 200, "reported healthy on a database it cannot use"
        except requests.RequestException:
            pass
        time.sleep(0.05)
    rc = srv.proc.poll()
    log = srv.stderr_since_start()
    assert rc is not None and rc != 0, f"still serving (rc={rc}); log:\n{log}"
    for text in expect:
        assert text in log, f"{text!r} not in the log:\n{log}"
    assert "cannot start" in log
    return log


def _damage_middle_page(db):
    size = db.stat().st_size
    assert size >= 16 * 4096, size
    with open(db, "r+b") as f:
        f.seek((size // 4096 // 2) * 4096 + 100)
        f.write(b"\xde\xad\xbe\xef" * 200)


def test_a_damaged_page_stops_the_start(start_curfew):
    srv, _ = _stopped_with_sessions(start_curfew, 400)
    _damage_middle_page(srv.data_dir / "curfew.db")
    log = _refuses_to_start(srv, "op=integrity_check", "damaged", "Recovering the database")
    # Each problem on one log line.
    assert all(line.startswith("20") or line.startswith("curfew:") for line in log.splitlines()), log


def test_the_documented_recovery_brings_the_sessions_back(start_curfew):
    srv, sessions = _stopped_with_sessions(start_curfew, 400)
    db = srv.data_dir / "curfew.db"
    _damage_middle_page(db)
    _refuses_to_start(srv, "damaged")
    # docs/operations.md, "Recovering the database".
    d = srv.data_dir
    r = subprocess.run(f"sqlite3 curfew.db .dump | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/'"
                       f" > recovered.sql && {{ sqlite3 recovered.db < recovered.sql || true; }} && "
                       f"test \"$(sqlite3 recovered.db 'SELECT count(*) FROM sessions')\" -gt 0 && "
                       f"test \"$(sqlite3 recovered.db 'PRAGMA integrity_check')\" = ok && "
                       f"mkdir -p damaged && mv curfew.db* damaged/ && mv recovered.db curfew.db",
                       shell=True, cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    srv.start()
    alive = sum(srv.check(s["access_token"]).status_code == 200 for s in sessions)
    assert alive > 0, "nothing was recovered"
    # What was lost is refused, never served from a half-read index.
    for s in sessions:
        assert srv.check(s["access_token"]).status_code in (200, 401)


def test_an_empty_database_file_stops_the_start(start_curfew):
    srv, _ = _stopped_with_sessions(start_curfew, 3)
    os.truncate(srv.data_dir / "curfew.db", 0)
    _refuses_to_start(srv, "empty (0 bytes)", "truncated", "Recovering the database")
    # Removing it, as the message says, starts afresh.
    (srv.data_dir / "curfew.db").unlink()
    srv.start()
    assert srv.admin("GET", "/v1/sessions").json()["sessions"] == []


def test_a_read_only_database_file_stops_the_start(start_curfew):
    srv, sessions = _stopped_with_sessions(start_curfew, 3)
    with unwritable(srv.data_dir / "curfew.db"):
        _refuses_to_start(srv, "curfew.db is read-only")
    srv.start()
    assert srv.check(sessions[0]["access_token"]).status_code == 200


def test_a_read_only_data_directory_says_read_only(start_curfew):
    srv, sessions = _stopped_with_sessions(start_curfew, 3)
    with unwritable(srv.data_dir):
        _refuses_to_start(srv, "data directory is read-only")
    srv.start()
    assert srv.check(sessions[0]["access_token"]).status_code == 200


def test_a_failed_commit_logs_one_error_not_a_rollback(start_curfew):
    srv, _ = _stopped_with_sessions(start_curfew, 1)
    d = srv.data_dir
    saved = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    r = _run("mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(d))
    assert r.returncode == 0, r.stderr
    try:
        for name, data in saved.items():
            (d / name).write_bytes(data)
        srv.start()
        for i in range(2000):
            r = srv.create_session(sub=f"fill{i}", scope="x" * 400)
            if r.status_code != 201:
                break
        assert r.status_code == 503 and r.json().get("reason") == "store_unavailable", r.text
        srv.stop()
        errors = [line for line in srv.stderr_text().splitlines() if "level=error" in line]
        assert errors and all("op=ROLLBACK" not in line for line in errors), errors
        assert any("full" in line for line in errors), errors
    finally:
        srv.stop()
        _run("umount", str(d))
