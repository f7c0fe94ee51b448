"""Large revocations (issue 10, "Scale of the index"): a revocation by client,
subject or of everyone that covers tens of thousands of sessions is ended in
slices, so the event loop keeps answering other requests meanwhile; and still
nothing is answered before every covered session is durably ended and refused
by /v1/check.

The sessions are written straight into curfew's SQLite file (as bench/scale.sh
does): creating tens of thousands through the API would take minutes.
"""
import os
import socket
import sqlite3
import threading
import time

from conftest import assert_refused

CONFIG = ("clients:\n  - { id: web }\n  - { id: tv }\n"
          "session: { idle_timeout: 2h, absolute_timeout: 12h }\n")


def write_rows(db, rows):
    """Insert sessions (sid, sub, client_id, created_at) in curfew's schema (v5: cnf last)."""
    c = sqlite3.connect(db)
    c.execute("PRAGMA synchronous=OFF")
    c.executemany("INSERT INTO sessions VALUES (" + ",".join("?" * 20) + ")",
                  ((sid, sub, cli, "read", "", at, at, at, 7200_000, 43200_000, 600_000,
                    at + 7200_000, at + 43200_000, 0, "", 0, 0, "", "", "")
                   for sid, sub, cli, at in rows))
    c.commit()
    c.close()


def sid_of(i):
    return ("S%023d" % i)[:24]


def seeded(start_curfew, rows_fn):
    """A server whose store holds rows_fn(now_ms) besides what the test creates."""
    srv = start_curfew(CONFIG)
    srv.stop()
    now = int(time.time() * 1000)
    write_rows(str(srv.data_dir / "curfew.db"), rows_fn(now))
    srv.start()
    return srv, now


class Pinger:
    """GET /healthz on one keep-alive connection, back to back; the longest answer."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stop = threading.Event()
        self.worst = 0.0
        self.count = 0
        self.t = threading.Thread(target=self.run)

    def run(self):
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        while not self.stop.is_set():
            t = time.perf_counter()
            self.s.sendall(req)
            buf = b""
            while True:
                chunk = self.s.recv(4096)
                assert chunk, "connection closed"
                buf += chunk
                head, sep, body = buf.partition(b"\r\n\r\n")
                if sep and len(body) >= int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                                             if ln.lower().startswith(b"content-length")][0]):
                    break
            self.worst = max(self.worst, time.perf_counter() - t)
            self.count += 1

    def __enter__(self):
        self.t.start()
        time.sleep(0.2)
        self.worst = 0.0
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()
        self.s.close()


N = 60000


def test_revocation_by_client_of_many_sessions_keeps_the_loop_answering(start_curfew):
    """60,000 sessions of one client: /healthz is answered throughout (no turn of
    the loop holds them all), and the 200 still comes only once all are ended:
    the client's tokens are refused at once, the counters agree, others live."""
    srv, now = seeded(start_curfew, lambda now: [
        (sid_of(i), "u%d" % (i % 20000), "tv", now - 3_600_000 + i) for i in range(N)])
    tv = [srv.new_session(client_id="tv") for _ in range(3)]
    web = [srv.new_session(client_id="web") for _ in range(2)]
    assert srv.admin("GET", "/v1/stats").json()["sessions_active"] == N + 5
    with Pinger(srv.port) as p:
        t = time.perf_counter()
        r = srv.admin("POST", "/v1/revocations", json={"client_id": "tv"})
        took = time.perf_counter() - t
        # Right after the 200, before anything else: every token is refused.
        for s in tv:
            assert_refused(srv.check(s["access_token"]), "session_revoked")
    assert r.status_code == 200 and r.json() == {"sessions_ended": N + 3}, r.text
    for s in web:
        assert srv.check(s["access_token"]).status_code == 200
    # Before, one turn of the loop ended everything (/healthz waited about a
    # third of the request's time); in slices no answer waits for more than one.
    assert p.count > 10, p.count
    assert p.worst < took / 8, f"/healthz waited {p.worst * 1e3:.1f} ms of a {took * 1e3:.0f} ms revocation"
    st = srv.admin("GET", "/v1/stats").json()
    assert st["sessions_active"] == 2, st
    assert srv.admin("GET", f"/v1/sessions/{sid_of(N - 1)}").json()["state"] == "ended"
    assert srv.admin("GET", f"/v1/sessions/{sid_of(0)}").json()["state"] == "ended"
    m = srv.request("GET", "/metrics").text
    assert 'curfew_revocations_total{scope="client"} 1' in m, m
    # A second revocation finds nothing left to end.
    assert srv.admin("POST", "/v1/revocations", json={"client_id": "tv"}).json() == {"sessions_ended": 0}


def test_large_revocation_is_durable_when_acknowledged(start_curfew):
    """kill -9 right after the 200: every slice was durable before it, so after
    a restart every covered session is still ended and its tokens refused."""
    n = 5000
    srv, now = seeded(start_curfew, lambda now: [
        (sid_of(i), "u%d" % i, "tv", now - 3_600_000 + i) for i in range(n)])
    tv = srv.new_session(client_id="tv")
    web = srv.new_session(client_id="web")
    r = srv.admin("POST", "/v1/revocations", json={"client_id": "tv"})
    assert r.status_code == 200 and r.json() == {"sessions_ended": n + 1}, r.text
    srv.restart(hard=True)
    assert_refused(srv.check(tv["access_token"]), "session_revoked")
    assert srv.check(web["access_token"]).status_code == 200
    assert srv.admin("GET", "/v1/stats").json()["sessions_active"] == 1
    for i in (0, n // 2, n - 1):
        assert srv.admin("GET", f"/v1/sessions/{sid_of(i)}").json()["state"] == "ended"


def test_large_revocation_of_a_subject_before_a_second(start_curfew):
    """A subject with 4,000 sessions, "before" a second in the middle of them:
    exactly those created before that second end, in slices, the rest live."""
    n = 4000

    def rows(now):
        base = (now // 1000 - 3600) * 1000   # a whole second, an hour ago
        return [(sid_of(i), "big", "web", base + i) for i in range(n)]
    srv, now = seeded(start_curfew, rows)
    base = (now // 1000 - 3600) * 1000
    cut_s = base // 1000 + 2                  # sessions 0..1999 are before it
    r = srv.admin("POST", "/v1/revocations", json={"sub": "big", "before": cut_s})
    assert r.status_code == 200 and r.json() == {"sessions_ended": 2000}, r.text
    assert srv.admin("GET", "/v1/stats").json()["sessions_active"] == n - 2000
    assert srv.admin("GET", f"/v1/sessions/{sid_of(1999)}").json()["state"] == "ended"
    assert srv.admin("GET", f"/v1/sessions/{sid_of(2000)}").json()["state"] == "active"
    srv.restart(hard=True)
    assert srv.admin("GET", "/v1/stats").json()["sessions_active"] == n - 2000


def test_large_revocation_of_everyone(start_curfew):
    """{"all": true} over 3,000 stored sessions and live ones: all end, the
    tokens are refused by the epoch, and a session created after works."""
    n = 3000
    srv, now = seeded(start_curfew, lambda now: [
        (sid_of(i), "u%d" % i, "web" if i % 2 else "tv", now - 3_600_000 + i) for i in range(n)])
    s = srv.new_session(client_id="web")
    time.sleep(0.002)
    r = srv.admin("POST", "/v1/revocations", json={"all": True})
    assert r.status_code == 200 and r.json() == {"sessions_ended": n + 1}, r.text
    assert_refused(srv.check(s["access_token"]), "revoked_before")
    assert srv.admin("GET", "/v1/stats").json()["sessions_active"] == 0
    time.sleep(0.002)
    after = srv.new_session(client_id="web")
    assert srv.check(after["access_token"]).status_code == 200
