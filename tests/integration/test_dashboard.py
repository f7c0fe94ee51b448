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


# ---------------------------------------------------------------------------
# The Timeouts panel (issue 13): re-logins after a timeout and idle gaps
# ---------------------------------------------------------------------------

TIMEOUTS_CONFIG = """\
clock_leeway: 0s
session: { idle_timeout: 2s, absolute_timeout: 1h }
store: { purge_interval: 100ms, purge_after: 1h }
tuning: { relogin_window: 3s }
clients:
  - { id: web, type: public }
"""
PANEL_SHOT = REPO_ROOT / "docs" / "dashboard-timeouts.png"


def prom_samples(text, name):
    """[(labels dict, value)] of every sample of @name in a Prometheus exposition."""
    out = []
    for m in re.finditer("^" + re.escape(name) + r"\{([^}]*)\} (\S+)$", text, re.M):
        out.append((dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))), float(m.group(2))))
    return out


def timeouts_from_metrics(text):
    """What the panel must show, from /metrics (summed over clients): the other view."""
    total = lambda name: int(sum(v for _, v in prom_samples(text, name)))
    cum = {}
    for labels, v in prom_samples(text, "curfew_idle_gap_seconds_bucket"):
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        cum[le] = cum.get(le, 0) + int(v)
    les = sorted(cum)
    counts = [cum[le] - (cum[les[i - 1]] if i else 0) for i, le in enumerate(les)]
    return {"relogins_idle": sum(int(v) for l, v in prom_samples(text, "curfew_relogins_total")
                                 if l["reason"] == "idle_timeout"),
            "relogins_absolute": sum(int(v) for l, v in prom_samples(text, "curfew_relogins_total")
                                     if l["reason"] == "absolute_timeout"),
            "without_return": total("curfew_timeouts_without_return_total"),
            "gap_counts": counts, "bounds": les[:-1]}


class TimeoutTraffic(threading.Thread):
    """A worker who pauses 1.2 s (an idle gap), then walks away past the 2 s idle
    timeout and signs in again 0.4 s after the end (a forced re-login), round
    after round; every third round someone else signs in once and never comes
    back (a timeout without return)."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.stop, self.error, self.rounds = srv, threading.Event(), None, 0

    def run(self):
        srv = self.srv
        try:
            while not self.stop.is_set():
                s = srv.new_session(sub="worker", client_id="web")
                assert srv.check(s["access_token"]).status_code == 200
                self.stop.wait(1.2)
                assert srv.check(s["access_token"]).status_code == 200
                if self.rounds % 3 == 0:
                    srv.new_session(sub=f"ghost-{self.rounds}")
                self.rounds += 1
                self.stop.wait(2.4)           # idle timeout at 2 s, then the purge ends it
        except Exception as exc:
            self.error = exc


@pytest.mark.slow
def test_dashboard_timeouts_panel_shows_the_servers_counters_in_chromium(start_curfew, tmp_path):
    node = browser_prerequisites()
    srv = start_curfew(TIMEOUTS_CONFIG)
    # /v1/stats carries the same counters as /metrics, with the configured lifetimes.
    t = srv.admin("GET", "/v1/stats").json()["timeouts"]
    assert (t["idle_timeout"], t["relogin_window"]) == (2, 3)
    assert [c["client"] for c in t["clients"]] == ["web", "other"]
    assert 2 in t["clients"][0]["idle_gap_seconds"]["bounds"]

    expect = tmp_path / "expect.json"
    traffic = TimeoutTraffic(srv)
    traffic.start()
    env = dict(os.environ, DASH_URL=srv.base_url, DASH_KEY=srv.admin_key, DASH_EXPECT=str(expect),
               DASH_SCREENSHOT=str(PANEL_SHOT), CHROMIUM=CHROMIUM)
    p = subprocess.Popen([node, str(BROWSER_DIR / "dashboard_timeouts.mjs")], env=env, cwd=BROWSER_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        for line in p.stdout:
            out.append(line)
            if line.startswith("step: rates shown") or line.startswith("FAIL"):
                break
        traffic.stop.set()
        traffic.join(10)
        assert traffic.error is None, repr(traffic.error)
        # Let the last session idle out and every pending timeout's window pass.
        def settled():
            m = timeouts_from_metrics(srv.get("/metrics").text)
            return (srv.admin("GET", "/v1/stats").json()["sessions_active"] == 0
                    and m["relogins_idle"] + m["without_return"] >= traffic.rounds + traffic.rounds // 3
                    and m)
        want = wait_until_value(settled, 15)
        assert want, "".join(out)
        stats = srv.admin("GET", "/v1/stats").json()["timeouts"]
        expect.write_text(json.dumps(want))
        rest, _ = p.communicate(timeout=120)
        out.append(rest)
    finally:
        if p.poll() is None:
            p.kill()
    log = "".join(out)
    assert p.returncode == 0, log
    assert "step: ok" in log, log
    # Real numbers: each round but the last was a re-login after the idle timeout.
    assert want["relogins_idle"] >= 3 and want["relogins_absolute"] == 0, want
    assert want["without_return"] >= 2 and sum(want["gap_counts"]) >= 4, want
    # The JSON view agrees with /metrics, bucket for bucket.
    web = stats["clients"][0]
    assert web["relogins"]["idle_timeout"] == want["relogins_idle"]
    assert web["idle_gap_seconds"]["bounds"] == want["bounds"]
    gaps = [sum(c["idle_gap_seconds"]["counts"][i] for c in stats["clients"])
            for i in range(len(want["gap_counts"]))]
    assert gaps == want["gap_counts"]
    assert PANEL_SHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def wait_until_value(pred, timeout):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)
