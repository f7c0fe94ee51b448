# SPDX-License-Identifier: MIT
"""GET /metrics: the Prometheus exposition moves as sessions live and die,
passes ``promtool check metrics``, and a real Prometheus scrapes it."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import free_port

CLIENTS = """\
clients:
  - id: web
    type: public
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels.items())): float} from the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


class Metrics:
    def __init__(self, srv, headers=None):
        self.srv = srv
        self.headers = headers or {}
        self.last = self.scrape()

    def scrape(self):
        r = self.srv.get("/metrics", headers=self.headers)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        self.text = r.text
        return parse(r.text)

    def value(self, name, **labels):
        return self.scrape().get((name, frozenset(labels.items())), 0.0)

    def delta(self, name, **labels):
        """Change of one sample since the previous call for it (or the first scrape)."""
        key = (name, frozenset(labels.items()))
        now = self.scrape().get(key, 0.0)
        before = self.last.get(key, 0.0)
        self.last[key] = now
        return now - before


def promtool_check(text):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_listed_metric_is_exposed_and_valid(start_curfew):
    srv = start_curfew(CLIENTS)
    m = Metrics(srv)
    families = set(re.findall(r"^# TYPE (\S+) (\S+)$", m.text, re.M))
    for fam in [("curfew_build_info", "gauge"), ("curfew_sessions_active", "gauge"),
                ("curfew_sessions_created_total", "counter"),
                ("curfew_sessions_ended_total", "counter"),
                ("curfew_tokens_issued_total", "counter"), ("curfew_refresh_total", "counter"),
                ("curfew_checks_total", "counter"),
                ("curfew_check_duration_seconds", "histogram"),
                ("curfew_refresh_reuse_detected_total", "counter"),
                ("curfew_rate_limited_total", "counter"),
                ("curfew_revocations_total", "counter"),
                ("curfew_session_age_seconds_at_end", "histogram"),
                ("curfew_store_commit_seconds", "histogram")]:
        assert fam in families, fam
    assert m.value("curfew_build_info", version="0.1.0") == 1
    # Configured clients are listed even with no session.
    assert ("curfew_sessions_active", frozenset({("client", "web")})) in m.last
    promtool_check(m.text)
    # HEAD works, other methods do not.
    assert srv.request("HEAD", "/metrics").status_code == 200
    assert srv.post("/metrics").status_code == 405


def test_metrics_move_with_the_session_lifecycle(start_curfew):
    srv = start_curfew(CLIENTS + "refresh_token: { reuse_grace: 5s }\n")
    m = Metrics(srv)

    # Creation: one session, an access and a refresh token, one active session for web.
    s = srv.new_session(sub="alice", client_id="web")
    assert m.delta("curfew_sessions_created_total") == 1
    assert m.delta("curfew_tokens_issued_total", type="access") == 1
    assert m.delta("curfew_tokens_issued_total", type="refresh") == 1
    assert m.value("curfew_sessions_active", client="web") == 1
    assert m.delta("curfew_store_commit_seconds_count") >= 1

    # Checks: allowed and denied, with reasons, and their latency.
    for _ in range(3):
        assert srv.check(s["access_token"]).status_code == 200
    assert srv.check().status_code == 401
    assert srv.check("not-a-jwt").status_code == 401
    assert m.delta("curfew_checks_total", result="allow", reason="none") == 3
    assert m.delta("curfew_checks_total", result="deny", reason="missing_token") == 1
    assert m.delta("curfew_checks_total", result="deny", reason="malformed_token") == 1
    assert m.delta("curfew_check_duration_seconds_count") == 5
    assert m.delta("curfew_check_duration_seconds_bucket", le="+Inf") == 5

    # Refresh: rotated, then the old token again within the grace period.
    r1 = srv.refresh(s["refresh_token"], client_id="web")
    assert r1.status_code == 200, r1.text
    assert m.delta("curfew_refresh_total", result="rotated") == 1
    assert m.delta("curfew_tokens_issued_total", type="access") == 1
    assert m.delta("curfew_tokens_issued_total", type="refresh") == 1
    assert srv.refresh(s["refresh_token"], client_id="web").status_code == 200
    assert m.delta("curfew_refresh_total", result="grace") == 1
    assert srv.refresh("x" * 43, client_id="web").status_code == 400
    assert m.delta("curfew_refresh_total", result="unknown") == 1

    # Reuse: two generations back ends the session as stolen.
    r2 = srv.refresh(r1.json()["refresh_token"], client_id="web")
    assert r2.status_code == 200, r2.text
    assert m.delta("curfew_refresh_total", result="rotated") == 1
    assert srv.refresh(s["refresh_token"], client_id="web").status_code == 400
    assert m.delta("curfew_refresh_total", result="reuse") == 1
    assert m.delta("curfew_refresh_reuse_detected_total") == 1
    assert m.delta("curfew_sessions_ended_total", reason="refresh_reuse") == 1
    assert m.delta("curfew_session_age_seconds_at_end_count", reason="refresh_reuse") == 1
    assert m.value("curfew_sessions_active", client="web") == 0
    # A refresh on the ended session is denied.
    assert srv.refresh(r2.json()["refresh_token"], client_id="web").status_code == 400
    assert m.delta("curfew_refresh_total", result="denied") == 1
    assert srv.check(r2.json()["access_token"]).status_code == 401
    assert m.delta("curfew_checks_total", result="deny", reason="refresh_reuse") == 1

    # Revocations by scope, and the ends they cause.
    a = srv.new_session(sub="bob", client_id="web")
    assert srv.admin("DELETE", f"/v1/sessions/{a['session_id']}").status_code in (200, 204)
    assert m.delta("curfew_revocations_total", scope="session") == 1
    assert m.delta("curfew_sessions_ended_total", reason="revoked") == 1
    assert srv.check(a["access_token"]).status_code == 401
    assert m.delta("curfew_checks_total", result="deny", reason="session_revoked") == 1

    b = srv.new_session(sub="carol")
    assert srv.logout(b["access_token"]).status_code == 204
    assert m.delta("curfew_revocations_total", scope="logout") == 1
    assert m.delta("curfew_sessions_ended_total", reason="logout") == 1
    assert m.delta("curfew_session_age_seconds_at_end_count", reason="logout") == 1
    # A session that lived well under a second lands in the first age bucket.
    assert m.delta("curfew_session_age_seconds_at_end_bucket", reason="logout", le="1") == 1

    srv.new_session(sub="dave")
    srv.new_session(sub="dave")
    r = srv.admin("POST", "/v1/revocations", json={"sub": "dave"})
    assert r.status_code == 200, r.text
    assert m.delta("curfew_revocations_total", scope="subject") == 1  # once, for two sessions
    assert m.delta("curfew_revocations_total", scope="session") == 0
    assert m.delta("curfew_sessions_ended_total", reason="revoked") == 2

    srv.new_session(sub="erin", client_id="web")
    r = srv.admin("POST", "/v1/revocations", json={"client_id": "web"})
    assert r.status_code == 200, r.text
    assert m.delta("curfew_revocations_total", scope="client") == 1
    assert m.value("curfew_sessions_active", client="web") == 0

    srv.new_session(sub="frank")
    assert m.value("curfew_sessions_active", client="") == 1
    r = srv.admin("POST", "/v1/revocations", json={"all": True})
    assert r.status_code == 200, r.text
    assert m.delta("curfew_revocations_total", scope="all") == 1
    assert m.value("curfew_sessions_active", client="") == 0

    promtool_check(m.text)


def test_rate_limited_requests_are_counted(start_curfew):
    srv = start_curfew("rate_limits:\n  session_create: { rate: 2/60s, burst: 2, key: [api_key] }\n")
    m = Metrics(srv)
    codes = [srv.create_session(sub="x").status_code for _ in range(4)]
    assert codes == [201, 201, 429, 429]
    assert m.delta("curfew_rate_limited_total", **{"class": "session_create"}) == 2
    assert m.delta("curfew_rate_limited_total", **{"class": "refresh"}) == 0
    assert m.delta("curfew_sessions_created_total") == 2


def test_scrape_token(start_curfew):
    srv = start_curfew("metrics: { token: s3cret-scrape }\n")
    r = srv.get("/metrics")
    assert r.status_code == 401
    assert "Bearer" in r.headers["WWW-Authenticate"]
    assert srv.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # The admin key is not the scrape token.
    assert srv.get("/metrics", headers=srv.admin_headers()).status_code == 401
    r = srv.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert r.status_code == 200
    assert "curfew_build_info" in r.text


def test_a_real_prometheus_scrapes_it(start_curfew, tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus not installed (Debian package prometheus)")
    srv = start_curfew("metrics: { token: prom-token }\n")
    srv.new_session(sub="alice")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: curfew
    authorization: {{ credentials: prom-token }}
    static_configs:
      - targets: ["127.0.0.1:{srv.port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([prometheus, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.time() + 15
        up = value = None
        while time.time() < deadline:
            time.sleep(0.5)
            try:
                t = requests.get(api + "/targets", timeout=2).json()
                active = t["data"]["activeTargets"]
                up = active[0]["health"] if active else None
                if up == "up":
                    q = requests.get(api + "/query", params={"query": "curfew_sessions_created_total"},
                                     timeout=2).json()
                    res = q["data"]["result"]
                    if res:
                        value = float(res[0]["value"][1])
                        break
            except (requests.ConnectionError, requests.Timeout, KeyError, IndexError):
                continue
        assert up == "up", (tmp_path / "prometheus.log").read_text()[-2000:]
        assert value == 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
