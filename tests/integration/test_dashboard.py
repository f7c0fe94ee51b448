# SPDX-License-Identifier: MIT
"""The live dashboard (GET /dashboard) and the admin stats it reads (GET /v1/stats).

The browser test drives the real page in the system Chromium (``/usr/bin/chromium``)
with playwright-core from ``tests/browser`` (``make browser-deps`` installs it):
it logs in with the admin key, sees a session created here appear, revokes it
with its button, searches a subject and revokes all of its sessions, and writes
``docs/dashboard.png``. This file then checks through the API that the
revocations really happened. A missing browser or node_modules fails the test:
it is not optional.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, assert_json_error, assert_refused

BROWSER_DIR = REPO_ROOT / "tests" / "browser"
SCREENSHOT = REPO_ROOT / "docs" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
ASSETS = REPO_ROOT / "src" / "obs" / "dashboard"
CSP_REQUIRED = ["default-src 'none'", "script-src 'self'", "style-src 'self'",
                "connect-src 'self'", "frame-ancestors 'none'"]


# ---------------------------------------------------------------------------
# Serving the page
# ---------------------------------------------------------------------------

def assert_hardened(r):
    csp = r.headers.get("Content-Security-Policy", "")
    for part in CSP_REQUIRED:
        assert part in csp, f"CSP {csp!r} lacks {part!r}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp, csp
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers
    assert r.headers.get("X-Frame-Options") == "DENY", r.headers
    assert r.headers.get("Cache-Control") == "no-store", r.headers


@pytest.mark.parametrize("path,ctype,source", [
    ("/dashboard", "text/html; charset=utf-8", "index.html"),
    ("/dashboard/", "text/html; charset=utf-8", "index.html"),
    ("/dashboard/index.html", "text/html; charset=utf-8", "index.html"),
    ("/dashboard/dashboard.js", "text/javascript; charset=utf-8", "dashboard.js"),
    ("/dashboard/dashboard.css", "text/css; charset=utf-8", "dashboard.css"),
])
def test_dashboard_files_are_served_from_the_binary_with_a_strict_policy(curfew, path, ctype, source):
    r = curfew.get(path)                            # no admin key: the page asks for it
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == ctype
    assert_hardened(r)
    # Built into the binary at build time: byte for byte the file in the tree.
    assert r.content == (ASSETS / source).read_bytes()
    h = curfew.request("HEAD", path)
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Content-Length"] == str(len(r.content))
    assert h.headers["Content-Type"] == ctype
    assert_hardened(h)


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere(curfew):
    html = curfew.get("/dashboard").text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    assert scripts, "the page loads its script"
    for attrs, body in scripts:
        assert 'src="/dashboard/' in attrs and body.strip() == "", attrs
    assert not re.search(r"<style\b", html, re.I)
    assert not re.search(r"\sstyle\s*=", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "no inline event handlers"
    for ref in re.findall(r'\s(?:src|href)="([^"]*)"', html):
        assert ref.startswith("/dashboard/"), f"the page refers to {ref}: it must work offline"
    js = curfew.get("/dashboard/dashboard.js").text
    # Data reaches the page through textContent only; the key lives in sessionStorage only.
    for bad in (r"\.(inner|outer)HTML\b", r"insertAdjacentHTML", r"document\.write",
                r"localStorage\.", r"document\.cookie", r"\beval\(", r"new Function"):
        assert not re.search(bad, js), f"dashboard.js uses {bad}"
    assert "sessionStorage.setItem" in js
    assert not re.search(r"https?://", js + curfew.get("/dashboard/dashboard.css").text)


@pytest.mark.parametrize("path", ["/dashboard/nope.js", "/dashboard/../curfew.db",
                                  "/dashboard/%2e%2e/x", "/dashboard//index.html",
                                  "/dashboard/index.html/", "/dashboardx"])
def test_unknown_dashboard_files_are_404_json(curfew, path):
    r = curfew.get(path)
    assert_json_error(r, 404, error="not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_dashboard_accepts_only_get_and_head(curfew, method):
    r = curfew.request(method, "/dashboard", data=b"x")
    assert_json_error(r, 405, error="method_not_allowed")
    assert r.headers.get("Allow") == "GET, HEAD"


# ---------------------------------------------------------------------------
# GET /v1/stats
# ---------------------------------------------------------------------------

def test_stats_needs_the_admin_key(curfew):
    assert_json_error(curfew.get("/v1/stats"), 401, reason="admin_unauthorized")
    r = curfew.get("/v1/stats", headers={"Authorization": "Bearer wrong"})
    assert_json_error(r, 401, reason="admin_unauthorized")
    assert_json_error(curfew.admin("POST", "/v1/stats", data=b"{}"), 405)


def test_stats_counts_what_the_dashboard_charts(start_curfew):
    # Readable with the admin key even when /metrics wants its own token.
    srv = start_curfew("metrics:\n  token: scrape-secret\n")
    assert srv.get("/metrics").status_code == 401
    before = srv.admin("GET", "/v1/stats").json()
    a = srv.new_session(sub="alice")
    b = srv.new_session(sub="bob")
    assert srv.check(a["access_token"]).status_code == 200
    assert srv.check(a["access_token"]).status_code == 200
    assert srv.check("garbage").status_code == 401
    assert srv.logout(b["access_token"]).status_code == 204
    r = srv.refresh(a["refresh_token"])
    assert r.status_code == 200, r.text
    assert srv.refresh(a["refresh_token"]).status_code in (200, 400)   # grace or reuse
    s = srv.admin("GET", "/v1/stats").json()
    assert s["sessions_created"] - before["sessions_created"] == 2
    assert s["checks"]["allow"] - before["checks"]["allow"] == 2
    assert s["checks"]["deny"] - before["checks"]["deny"] == 1
    assert s["checks_denied"]["malformed_token"] == 1
    assert s["sessions_ended"]["logout"] == 1
    assert sum(s["refresh"].values()) - sum(before["refresh"].values()) == 2
    assert s["sessions_active"] == (1 if s["refresh_reuse_detected"] == 0 else 0)
    h = s["check_duration_seconds"]
    assert len(h["counts"]) == len(h["bounds"]) + 1 and sum(h["counts"]) == h["count"]
    assert h["count"] - before["check_duration_seconds"]["count"] == 3
    assert h["bounds"] == sorted(h["bounds"])
    assert abs(s["time"] - time.time()) < 5
    # Measured between nodes (cluster work); a single node has none.
    assert s["revocation_propagation_seconds"] is None


# ---------------------------------------------------------------------------
# The browser test
# ---------------------------------------------------------------------------

class Traffic(threading.Thread):
    """Checks (mostly allowed, some refused), refreshes and a few session ends,
    so the charts have something to show while the browser watches. It creates
    at most MAX_SESSIONS sessions, so the test's own sessions stay among the 15
    newest the dashboard lists, however slow the machine."""

    MAX_SESSIONS = 8

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv = srv
        self.stop = threading.Event()
        self.error = None

    def run(self):
        http = requests.Session()
        base = self.srv.base_url
        admin = self.srv.admin_headers()
        live = []
        n = 0
        try:
            while not self.stop.is_set():
                if n % 40 == 0 and n // 40 < self.MAX_SESSIONS:
                    r = http.post(base + "/v1/sessions", headers=admin, timeout=5,
                                  json={"sub": f"user-{n // 40:02d}",
                                        "client_id": ("web", "mobile", "cli")[n // 40 % 3]})
                    live.append(r.json())
                tok = live[n % len(live)]
                http.get(base + "/v1/check", timeout=5,
                         headers={"Authorization": "Bearer " + tok["access_token"]})
                if n % 7 == 0:
                    http.get(base + "/v1/check", timeout=5, headers={"Authorization": "Bearer x.y.z"})
                if n % 25 == 0:
                    r = http.post(base + "/oauth/token", timeout=5,
                                  data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
                    if r.status_code == 200:
                        tok.update(r.json())
                if n % 150 == 149 and len(live) > 2:
                    gone = live.pop(0)
                    http.post(base + "/v1/logout", timeout=5,
                              headers={"Authorization": "Bearer " + gone["access_token"]})
                n += 1
                self.stop.wait(0.04)
        except Exception as exc:            # reported by the test, not lost in the thread
            self.error = exc


def browser_prerequisites():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/deps.sh)")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Debian's nodejs (scripts/deps.sh)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/browser/node_modules is missing: run `make browser-deps`")
    return node


@pytest.mark.slow
def test_dashboard_in_chromium_shows_and_revokes_sessions(curfew):
    node = browser_prerequisites()
    started = time.time()
    for sub in ("alice", "bob", "carol"):
        curfew.new_session(sub=sub, client_id="web", idle_timeout="30m")
    search_sub = "mallory"
    theirs = [curfew.new_session(sub=search_sub, client_id=c) for c in ("web", "mobile")]
    target = curfew.new_session(sub="dave", client_id="web", idle_timeout="20m")
    assert curfew.check(target["access_token"]).status_code == 200

    traffic = Traffic(curfew)
    traffic.start()
    env = dict(os.environ, DASH_URL=curfew.base_url, DASH_KEY=curfew.admin_key,
               DASH_SID=target["session_id"], DASH_SEARCH_SUB=search_sub,
               DASH_SCREENSHOT=str(SCREENSHOT), CHROMIUM=CHROMIUM)
    try:
        p = subprocess.run([node, str(BROWSER_DIR / "dashboard.mjs")], env=env, cwd=BROWSER_DIR,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    finally:
        traffic.stop.set()
        traffic.join(10)
    assert p.returncode == 0, f"dashboard.mjs exited {p.returncode}:\n{p.stdout}"
    assert "step: ok" in p.stdout, p.stdout
    assert traffic.error is None, repr(traffic.error)

    # The Revoke button really revoked: the proxy check refuses the session now.
    assert_refused(curfew.check(target["access_token"]), "session_revoked")
    assert curfew.session(target["session_id"])["end_reason"] == "revoked"
    # "Revoke all" ended every session of the subject searched for.
    for s in theirs:
        r = curfew.check(s["access_token"])
        assert r.status_code == 401 and r.json()["reason"] in ("session_revoked", "revoked_before")
        assert curfew.session(s["session_id"])["end_reason"] == "revoked"

    # The screenshot was written by this run, and is a PNG.
    assert SCREENSHOT.exists()
    assert SCREENSHOT.stat().st_mtime >= started - 1
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
