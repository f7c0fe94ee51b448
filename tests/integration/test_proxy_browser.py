# SPDX-License-Identifier: MIT
"""Issue 11, done-when 2, from a real browser: a page loaded in Debian's
Chromium through the enforcing proxy (playwright-core, tests/browser/proxy.mjs)
holds a WebSocket and an SSE stream; for each way its session ends the page
records the close code 1008 with the reason code, and the final `curfew` SSE
event whose data is the refusal body. A browser cannot set Authorization on a
WebSocket or an EventSource, so the page authenticates as browsers do: with
the access cookie (cookie.access_cookie), which the proxy decides exactly as
/v1/check does. A missing browser or node_modules fails the test."""
import json
import os
import subprocess
import time

import pytest

from conftest import free_port
from proxyhelp import Upstream, proxy_config
from test_dashboard import BROWSER_DIR, CHROMIUM, browser_prerequisites

COOKIE = "curfew_at"
IDLE = 4      # seconds: the idle case's session idles out this long after the page's last request
ABSOLUTE = 8  # seconds: the absolute case's deadline, counted from the session's creation
SLACK = 1.5   # a cut arrives this close to its deadline, on a busy machine


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


class Driver:
    """tests/browser/proxy.mjs, one command a line."""

    def __init__(self, node, proxy_url):
        env = dict(os.environ, PROXY_URL=proxy_url, COOKIE=COOKIE, CHROMIUM=CHROMIUM)
        self.p = subprocess.Popen([node, str(BROWSER_DIR / "proxy.mjs")], env=env, cwd=BROWSER_DIR,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.log = []

    def _expect(self, word, name):
        while True:
            line = self.p.stdout.readline()
            assert line, f"proxy.mjs exited {self.p.wait()}:\n" + "".join(self.log)
            self.log.append(line)
            if line.startswith(f"{word} {name}"):
                return line[len(word) + len(name) + 2:]
            assert not line.startswith("error"), "".join(self.log)

    def open(self, name, token):
        self.p.stdin.write(f"open {name} {token}\n")
        self.p.stdin.flush()
        self._expect("ready", name)
        return time.monotonic()

    def wait(self, name):
        self.p.stdin.write(f"wait {name}\n")
        self.p.stdin.flush()
        got = json.loads(self._expect("result", name))
        return got, time.monotonic()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


@pytest.mark.slow
def test_a_page_in_chromium_sees_why_its_connections_ended(start_curfew, upstream):
    node = browser_prerequisites()
    port = free_port()
    srv = start_curfew(proxy_config(upstream.port, port, route_extra="      activity: client\n")
                       + f"store: {{purge_interval: 1h}}\ncookie: {{access_cookie: {COOKIE}}}\n")
    drv = Driver(node, f"http://127.0.0.1:{port}")

    def revoke(s):
        assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200

    def logout(s):
        assert srv.logout(s["access_token"]).status_code == 204

    def reuse(s):
        assert srv.refresh(s["refresh_token"]).status_code == 200
        assert srv.refresh(s["refresh_token"]).status_code == 400  # the spent one again: theft

    def by_subject(s):
        r = srv.admin("POST", "/v1/revocations", json={"sub": "browser-subject"})
        assert r.status_code == 200 and r.json()["sessions_ended"] == 1, r.text

    cases = [  # name, session fields, what ends it (None: its deadline), the reason the page sees
        ("revocation", {}, revoke, "session_revoked"),
        ("logout", {}, logout, "logout"),
        ("refresh_reuse", {}, reuse, "refresh_reuse"),
        ("revoke_by_subject", {"sub": "browser-subject"}, by_subject, "session_revoked"),
        ("idle_timeout", {"idle_timeout": f"{IDLE}s"}, None, "idle_timeout"),
        ("absolute_deadline", {"absolute_timeout": f"{ABSOLUTE}s"}, None, "absolute_timeout"),
    ]
    seen = {}
    try:
        for name, fields, end, reason in cases:
            created = time.monotonic()
            s = srv.new_session(**dict({"sub": f"page-{name}"}, **fields))
            ready = drv.open(name, s["access_token"])
            if end is not None:
                acked = time.monotonic()
                end(s)
            got, at = drv.wait(name)
            seen[name] = got
            assert got["ws"] == {"code": 1008, "reason": reason}, (name, got)
            assert got["sse"]["reason"] == reason and got["sse"]["error"] == "invalid_token", got
            assert got["sse"]["error_description"]
            assert f"ws: your session ended: {reason}" in got["text"], got["text"]
            assert f"sse: your session ended: {reason}" in got["text"], got["text"]
            if name == "idle_timeout":        # a timer at the deadline, not the hourly sweep
                assert at - created >= IDLE - 0.1 and at - ready < IDLE + SLACK, (at - created, at - ready)
            elif name == "absolute_deadline":
                assert ABSOLUTE - 0.1 <= at - created < ABSOLUTE + SLACK, at - created
            else:
                assert at - acked < SLACK, (name, at - acked)
    finally:
        drv.close()
    assert drv.p.returncode == 0, "".join(drv.log)
    # Every cut counted, by reason: a WebSocket and an SSE stream per page.
    m = srv.get("/metrics").text
    for reason, n in (("session_revoked", 4), ("logout", 2), ("refresh_reuse", 2),
                      ("idle_timeout", 2), ("absolute_timeout", 2)):
        assert f'curfew_proxy_connections_cut_total{{reason="{reason}"}} {n}' in m, (reason, m)
