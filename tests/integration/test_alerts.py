# SPDX-License-Identifier: MIT
"""Alerts (issue 5, docs/operations.md "Alerts"): each rule kind fires its
webhook, received by a real HTTP server started here; the automatic actions
take effect; a receiver that is down costs retries, never requests."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port


class Receiver:
    """A local webhook receiver: records every POSTed JSON body."""

    def __init__(self, status=200):
        self.bodies = []
        self.paths = []
        self.status = status
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.paths.append(self.path)
                    outer.bodies.append(json.loads(body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def wait(self, pred, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            with self.lock:
                got = [b for b in self.bodies if pred(b)]
            if got or time.time() > deadline:
                return got
            time.sleep(0.05)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def config(url, rules, extra=""):
    return (f"clock_leeway: 0s\nrefresh_token: {{ reuse_grace: 0s }}\n{extra}"
            f"alerts:\n  webhook: {url}\n  rules:\n" +
            "".join(f"    - {r}\n" for r in rules))


def alerts_of(receiver, kind, timeout=5.0):
    return receiver.wait(lambda b: b["alert"] == kind, timeout)


def test_refresh_reuse_fires_and_revokes_the_subject(start_curfew, receiver):
    srv = start_curfew(config(receiver.url,
                              ["{kind: refresh_reuse, action: revoke_subject}"]))
    s = srv.new_session(sub="mallory-victim")
    other = srv.new_session(sub="mallory-victim")
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    r = srv.refresh(s["refresh_token"])  # the spent token again: reuse
    assert r.status_code == 400 and r.json()["reason"] == "refresh_reuse"
    got = alerts_of(receiver, "refresh_reuse")
    assert got, receiver.bodies
    b = got[0]
    assert b["key"] == s["session_id"] and b["sid"] == s["session_id"]
    assert b["sub"] == "mallory-victim" and b["count"] == 1 and b["action"] == "revoke_subject"
    assert b["ts"].endswith("Z") and "T" in b["ts"] and b["window_seconds"] == 60
    assert receiver.paths[0] == "/hook"
    # revoke_subject: the subject's other session is refused too
    deadline = time.time() + 3
    while srv.check(other["access_token"]).status_code != 401 and time.time() < deadline:
        time.sleep(0.05)
    assert srv.check(other["access_token"]).status_code == 401


def test_check_failures_per_ip_fires_once_per_window(start_curfew, receiver):
    srv = start_curfew(config(receiver.url,
                              ["{kind: check_failures_per_ip, threshold: 3, window: 1m}"]))
    for _ in range(10):
        assert srv.check("not-a-token").status_code == 401
    got = alerts_of(receiver, "check_failures_per_ip")
    assert len(got) == 1, receiver.bodies
    assert got[0]["key"] == "127.0.0.1" and got[0]["count"] == 3
    time.sleep(0.5)
    assert len(alerts_of(receiver, "check_failures_per_ip")) == 1  # the storm fired once


def test_check_failures_per_subject(start_curfew, receiver):
    srv = start_curfew(config(receiver.url,
                              ["{kind: check_failures_per_subject, threshold: 2, window: 1m}"]))
    s = srv.new_session(sub="bob")
    assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert srv.check(s["access_token"]).status_code == 401
    assert srv.check(s["access_token"]).status_code == 401
    got = alerts_of(receiver, "check_failures_per_subject")
    assert got and got[0]["key"] == "bob" and got[0]["sub"] == "bob"


def test_refresh_rate_per_session_revokes_the_session(start_curfew, receiver):
    srv = start_curfew(config(receiver.url, [
        "{kind: refresh_rate_per_session, threshold: 3, window: 1m, action: revoke_session}"]))
    s = srv.new_session(sub="bot")
    tok = s["refresh_token"]
    access = None
    for _ in range(3):
        r = srv.refresh(tok)
        assert r.status_code == 200, r.text
        tok, access = r.json()["refresh_token"], r.json()["access_token"]
    got = alerts_of(receiver, "refresh_rate_per_session")
    assert got and got[0]["sid"] == s["session_id"] and got[0]["count"] == 3
    r = srv.check(access)
    assert r.status_code == 401 and r.json()["reason"] == "session_revoked"


def test_concurrent_sessions_disables_refresh(start_curfew, receiver):
    srv = start_curfew(config(receiver.url, [
        "{kind: concurrent_sessions_per_subject, threshold: 3, window: 1m, "
        "action: disable_refresh, action_duration: 1s}"]))
    sessions = [srv.new_session(sub="carol") for _ in range(3)]
    got = alerts_of(receiver, "concurrent_sessions_per_subject")
    assert got and got[0]["key"] == "carol" and got[0]["count"] == 3
    r = srv.refresh(sessions[0]["refresh_token"])
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant" and r.json()["reason"] == "refresh_disabled"
    assert srv.check(sessions[0]["access_token"]).status_code == 200  # checks still pass
    other = srv.new_session(sub="dave")
    assert srv.refresh(other["refresh_token"]).status_code == 200  # only carol is held
    time.sleep(1.2)
    assert srv.refresh(sessions[0]["refresh_token"]).status_code == 200  # the hold expired


def test_idle_timeout_spike(start_curfew, receiver):
    srv = start_curfew(config(receiver.url,
                              ["{kind: idle_timeout_spike, threshold: 3, window: 1m}"],
                              "store: { purge_interval: 200ms }\n"))
    sessions = [srv.new_session(idle_timeout="1s") for _ in range(3)]
    time.sleep(1.3)
    for s in sessions:
        assert srv.check(s["access_token"]).status_code == 401
    got = alerts_of(receiver, "idle_timeout_spike")
    assert got and got[0]["key"] == "*" and got[0]["count"] == 3


def test_alert_is_an_audit_line(start_curfew, receiver, tmp_path):
    audit = tmp_path / "audit.jsonl"
    srv = start_curfew(config(receiver.url,
                              ["{kind: check_failures_per_ip, threshold: 1, window: 1m}"],
                              f"audit: {{ path: {audit} }}\n"))
    assert srv.check("nope").status_code == 401
    assert alerts_of(receiver, "check_failures_per_ip")
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline:
        if audit.exists():
            lines = [json.loads(l) for l in audit.read_text().splitlines()]
            if any(l["event"] == "alert_fired" for l in lines):
                break
        time.sleep(0.05)
    fired = [l for l in lines if l["event"] == "alert_fired"]
    assert fired and fired[0]["alert"] == "check_failures_per_ip" and fired[0]["v"] == 1
    assert list(fired[0])[:8] == ["v", "ts", "event", "sid", "sub", "client_id", "ip", "reason"]
    assert fired[0]["ip"] == "127.0.0.1" and fired[0]["count"] == 1


def test_receiver_down_does_not_break_requests(start_curfew):
    port = free_port()  # nothing listens here
    cfg = config(f"http://127.0.0.1:{port}/hook",
                 ["{kind: check_failures_per_ip, threshold: 1, window: 1ms}"])
    srv = start_curfew(cfg.replace("alerts:\n", "alerts:\n  queue: 2\n"))
    t0 = time.time()
    for _ in range(20):
        assert srv.check("nope").status_code == 401
        time.sleep(0.002)
    s = srv.new_session()
    assert srv.check(s["access_token"]).status_code == 200
    assert time.time() - t0 < 5
    deadline = time.time() + 5
    while "alert_webhook_failed" not in srv.stderr_text() and time.time() < deadline:
        time.sleep(0.1)
    assert "alert_webhook_failed" in srv.stderr_text()  # 3 attempts, then given up
    assert "alert_webhook_dropped why=queue_full" in srv.stderr_text()  # the queue is bounded
    assert srv.running


def test_config_errors_name_file_and_line(start_curfew, tmp_path):
    from conftest import run_curfew
    p = tmp_path / "bad.yaml"
    p.write_text("alerts:\n  rules:\n    - kind: refresh_reuse\n      threshold: 0\n")
    r = run_curfew("config", "check", str(p))
    assert r.returncode != 0
    assert f"{p}:4: alerts.rules[0].threshold" in r.stderr, r.stderr
