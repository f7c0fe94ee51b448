# SPDX-License-Identifier: MIT
"""The shipped Prometheus rules and Grafana dashboard (issue 15, Done-when 5).

deploy/prometheus/curfew-rules.yaml passes ``promtool check rules`` and its
unit tests (curfew-rules.test.yaml, ``promtool test rules``); every alert has
a severity and names a runbook section of docs/operations.md that exists.

Then a real Prometheus scrapes a real curfew (a cluster node on a real Redis,
so the cluster families exist) with the shipped rules loaded. After traffic,
every query of deploy/grafana/curfew.json and every expression of the rules
is run against it: each must be valid, and each metric it selects, with its
label matchers, must match series that Prometheus really scraped, so a
renamed metric or a misspelled label value fails here. A refresh-token reuse
and a flood of refused checks make CurfewRefreshTokenReuse and
CurfewLogLinesDropped fire in that Prometheus.
"""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import REPO_ROOT, free_port, stop_process, wait_until

RULES = REPO_ROOT / "deploy" / "prometheus" / "curfew-rules.yaml"
RULES_TEST = REPO_ROOT / "deploy" / "prometheus" / "curfew-rules.test.yaml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "curfew.json"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"

# What Grafana puts in place of its variables when it runs a query: the
# built-in intervals (as for a 6h range on a 1s scrape) and "All" for ours.
GRAFANA_VARS = {
    "__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000",
    "__range": "5m", "__range_s": "300", "__range_ms": "300000",
    "job": ".+", "instance": ".+",
}
VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
SELECTOR = re.compile(r"(?<![A-Za-z0-9_:])(curfew[_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?")


def promtool():
    path = shutil.which("promtool") or "/usr/bin/promtool"
    assert Path(path).exists(), "promtool is missing: scripts/deps.sh installs Debian's prometheus"
    return path


def substitute(expr):
    """@expr with Grafana's variables replaced; an unknown variable is an error."""
    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        assert name in GRAFANA_VARS, f"unknown Grafana variable ${name} in {expr!r}"
        return GRAFANA_VARS[name]
    return VAR.sub(one, expr)


def selectors(expr):
    """[(metric, '{matchers}' or '')] of every curfew vector selector in @expr
    (names inside string literals are not selectors)."""
    strings = [m.span() for m in STRING.finditer(expr)]
    out = []
    for m in SELECTOR.finditer(expr):
        if any(a <= m.start() < b for a, b in strings):
            continue
        out.append((m.group(1), m.group(2) or ""))
    return out


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_queries(dash):
    """[(where, expr)] of every query the dashboard runs: panel targets and the
    template variables' label_values() selectors."""
    out = []
    for p in walk_panels(dash["panels"]):
        for t in p.get("targets", []):
            out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
            assert m, f"variable {v['name']}: {q!r} is not label_values(selector, label)"
            out.append((f"variable {v['name']}", m.group(1)))
    return out


def rule_groups():
    return yaml.safe_load(RULES.read_text())["groups"]


def rules():
    return [r for g in rule_groups() for r in g["rules"]]


# ---------------------------------------------------------------------------
# Static: promtool, the unit tests, the runbook sections, the dashboard's shape
# ---------------------------------------------------------------------------

def test_promtool_checks_the_rules_and_their_unit_tests_pass():
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([promtool(), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    assert "prometheus" in (REPO_ROOT / "scripts" / "deps.sh").read_text().split()


def test_every_alert_has_a_severity_a_runbook_and_unit_tests():
    headings = set(re.findall(r"^#+ (.+?)\s*$", OPERATIONS.read_text(), re.M))
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    fired, quiet = set(), set()
    exprs = " ".join(t["expr"] for g in tests for t in g.get("promql_expr_test", []))
    for g in tests:
        for t in g.get("alert_rule_test", []):
            (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
    alerts = [r for r in rules() if "alert" in r]
    assert {"CurfewRefreshTokenReuse", "CurfewStoreUnavailable", "CurfewClusterNodeStale",
            "CurfewTimeoutReloginsRising", "CurfewAPIKeysExpiringSoon",
            "CurfewLogLinesDropped"} <= {a["alert"] for a in alerts}
    for a in alerts:
        name = a["alert"]
        assert a["labels"]["severity"] in ("critical", "warning", "info"), name
        ann = a["annotations"]
        assert ann.get("summary") and ann.get("description"), name
        m = re.search(r'docs/operations\.md, section "([^"]+)"', ann["description"])
        assert m, f"{name}: the description names no runbook section"
        assert m.group(1) in headings, f"{name}: no section {m.group(1)!r} in docs/operations.md"
        assert name in fired, f"{name}: no unit test shows it firing"
        assert name in quiet, f"{name}: no unit test shows it quiet"
    for r in rules():
        if "record" in r:
            assert r["record"] in exprs, f"{r['record']}: no promql_expr_test checks its value"


def test_the_dashboard_is_a_grafana_dashboard_on_one_prometheus_variable():
    dash = json.loads(DASHBOARD.read_text())
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["uid"] and dash["title"]
    names = {v["name"]: v for v in dash["templating"]["list"]}
    assert names["DS_PROMETHEUS"]["type"] == "datasource"
    assert names["DS_PROMETHEUS"]["query"] == "prometheus"
    ids, cells = set(), set()
    for p in walk_panels(dash["panels"]):
        assert p["id"] not in ids, f"panel id {p['id']} twice"
        ids.add(p["id"])
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
            assert "__name__" not in t["expr"], p["title"]
    titles = " ".join(p["title"].lower() for p in walk_panels(dash["panels"]))
    for want in ("checks by result", "refusals by reason", "check latency", "sessions active",
                 "refresh rotations", "reuse", "revocations", "stale", "api keys", "re-logins",
                 "idle gaps", "log lines dropped"):
        assert want in titles, want


# ---------------------------------------------------------------------------
# Live: a real Prometheus scraping a real curfew
# ---------------------------------------------------------------------------

class Prometheus:
    def __init__(self, workdir, target, rule_file):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        assert Path(binary).exists(), "prometheus is missing: scripts/deps.sh installs it"
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v1"
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ["{rule_file}"]
scrape_configs:
  - job_name: curfew
    static_configs:
      - targets: ["{target}"]
""")
        self.log = self.dir / "prometheus.log"
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.dir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def get(self, path, **params):
        try:
            return requests.get(self.api + path, params=params, timeout=5).json()
        except (requests.ConnectionError, requests.Timeout, ValueError):
            return None

    def value(self, expr):
        r = self.get("/query", query=expr)
        if r is None or r["status"] != "success" or not r["data"]["result"]:
            return None
        return float(r["data"]["result"][0]["value"][1])

    def firing(self):
        r = self.get("/alerts")
        if r is None:
            return set()
        return {a["labels"]["alertname"] for a in r["data"]["alerts"] if a["state"] == "firing"}

    def problems(self, expr):
        """What is wrong with @expr against this Prometheus: invalid, or a
        selector that matches no scraped series. [] when nothing."""
        out = []
        r = self.get("/query", query=expr)
        if r is None or r.get("status") != "success":
            out.append(f"invalid: {r and r.get('error')}")
        sels = selectors(expr)
        if not sels:
            out.append("selects no curfew metric")
        for name, matchers in sels:
            s = self.get("/series", **{"match[]": name + matchers, "start": time.time() - 600})
            if s is None or s.get("status") != "success" or not s["data"]:
                out.append(f"no series matches {name}{matchers}")
        return out

    def log_text(self):
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self):
        stop_process(self.proc)


CONFIG = """\
log_level: info
clients:
  - id: web
    type: public
refresh_token: { reuse_grace: 0s }
"""


def test_the_dashboard_queries_and_the_rules_run_against_a_real_prometheus(start_node, tmp_path):
    node = start_node(CONFIG)
    prom = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{node.port}", RULES)
    try:
        # Up, scraped at least once before any reuse (so increase() sees 0 -> 1),
        # and every rule loaded.
        assert wait_until(lambda: prom.value("curfew_refresh_reuse_detected_total") == 0, 20,
                          step=0.2), prom.log_text()
        loaded = prom.get("/rules")
        names = {r["name"] for g in loaded["data"]["groups"] for r in g["rules"]}
        assert names == {r.get("alert") or r.get("record") for r in rules()}, names
        assert "CurfewRefreshTokenReuse" not in prom.firing()

        # Traffic: allowed and refused checks, rotations, revocations, a logout.
        sessions = [node.new_session(sub=f"user{i}", client_id="web") for i in range(3)]
        http = requests.Session()
        for s in sessions:
            for _ in range(5):
                assert node.check(s["access_token"]).status_code == 200
        assert node.check("not-a-jwt").status_code == 401
        r1 = node.refresh(sessions[0]["refresh_token"], client_id="web")
        assert r1.status_code == 200, r1.text
        assert node.logout(sessions[1]["access_token"]).status_code == 204
        assert node.admin("DELETE", f"/v1/sessions/{sessions[2]['session_id']}").status_code == 200
        # Theft: the rotated-out refresh token comes back.
        r = node.refresh(sessions[0]["refresh_token"], client_id="web")
        assert r.status_code == 400 and r.json()["reason"] == "refresh_reuse", r.text
        # A flood of refused checks: the log keeps 20 a second, counts the rest.
        for _ in range(300):
            assert http.get(node.url("/v1/check"), timeout=5).status_code == 401

        # The log's dropped count and the counter agree once the flood's line is out.
        def dropped():
            m = re.search(r'^curfew_log_dropped_total\{what="check_refused"\} (\d+)$',
                          node.get("/metrics").text, re.M)
            logged = sum(int(n) for n in re.findall(
                r"event=log_dropped what=check_refused n=(\d+)", node.stderr_text()))
            return m is not None and int(m.group(1)) == logged > 0
        assert wait_until(dropped, 5, step=0.1), node.stderr_text()[-1500:]

        want = {"CurfewRefreshTokenReuse", "CurfewLogLinesDropped"}
        assert wait_until(lambda: want <= prom.firing(), 20, step=0.2), \
            (prom.firing(), prom.get("/alerts"), prom.log_text())
        # Nothing else fires on a healthy node.
        assert prom.firing() == want, prom.firing()

        # Every rule evaluates without an error (a many-to-many match, say).
        def healthy():
            g = prom.get("/rules")["data"]["groups"]
            return all(r["health"] == "ok" for grp in g for r in grp["rules"])
        assert wait_until(healthy, 5, step=0.2), prom.get("/rules")

        # The checker finds what it must: a misspelled metric, a label value
        # curfew never exports, a syntax error, an unknown Grafana variable.
        assert prom.problems('sum(rate(curfew_checks_total{result="deny"}[1m]))') == []
        assert prom.problems("sum(rate(curfew_checks_totl[1m]))") == \
            ["no series matches curfew_checks_totl"]
        assert prom.problems('curfew_checks_total{result="denied"}') == \
            ['no series matches curfew_checks_total{result="denied"}']
        assert prom.problems("sum(rate(curfew_checks_total[1m])) by")[0].startswith("invalid")
        assert prom.problems('label_replace(vector(1), "x", "curfew_nope", "", "")') == \
            ["selects no curfew metric"]
        with pytest.raises(AssertionError, match="unknown Grafana variable"):
            substitute("rate(curfew_checks_total[$__nope])")

        # Every dashboard query, and every expression and recorded series of the rules.
        dash = json.loads(DASHBOARD.read_text())
        queries = [(w, substitute(e)) for w, e in dashboard_queries(dash)]
        queries += [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in rules()]
        queries += [(f"recorded {r['record']}", r["record"]) for r in rules() if "record" in r]
        assert len(queries) > 60
        # A recorded series exists from the first evaluation that had two scrapes
        # in its window, which may be a few seconds after the alerts fired: ask
        # again until nothing is missing, for at most 20 s.
        bad = {}

        def all_found():
            bad.clear()
            bad.update({f"{w}: {e}": p for w, e in queries if (p := prom.problems(e))})
            return not bad
        assert wait_until(all_found, 20, step=1.0), json.dumps(bad, indent=1)
    finally:
        prom.stop()
