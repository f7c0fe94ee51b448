# SPDX-License-Identifier: MIT
"""Issue 10, "the event stream has side channels": lockouts, key rotations,
alerts firing and rate limits are events of the one stream, so the audit log
writes what the event X-macro's audit flag says (docs/audit.md) and the
metrics count them only in their sink. In a cluster, what a node applies from
another node's bus message passes the sinks too, counted apart: no counter is
counted twice across the nodes."""
import json
import time

from conftest import wait_until

COMMON = ["v", "ts", "event", "sid", "sub", "client_id", "ip", "reason"]
FIELDS = {
    "locked_out": COMMON + ["duration_ms"],
    "key_rotated": COMMON + ["kid", "previous_kid", "trigger", "version"],
    "alert_fired": COMMON + ["alert", "key", "count", "window_seconds", "action"],
}

CONFIG = """\
audit: { path: audit.jsonl }
risk: { trusted_proxies: [127.0.0.1/32] }
lockout: { max_failures: 3, window: 10s, duration: 7s }
rate_limits:
  session_create: { rate: 2/1m, burst: 2, key: [api_key] }
alerts:
  rules:
    - {kind: check_failures_per_ip, threshold: 2, window: 1m}
clients:
  - id: web
"""


def lines_of(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines()]


def metric(text, line_prefix):
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_prefix} not in /metrics")


def test_side_channels_are_audited_and_counted_from_the_stream(start_curfew):
    srv = start_curfew(CONFIG)
    audit = srv.workdir / "audit.jsonl"
    ip = {"X-Forwarded-For": "10.9.8.7"}
    # Three refused checks lock the address out; the second fires the alert.
    reasons = set()
    for _ in range(3):
        r = srv.check("not.a.jwt", headers=ip)
        assert r.status_code == 401, r.text
        reasons.add(r.json()["reason"])
    [reason] = reasons
    assert srv.check("not.a.jwt", headers=ip).status_code == 429
    # A rotation through the admin API.
    old = srv.admin("GET", "/v1/keys").json()["keys"][0]["kid"]
    r = srv.admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    new = r.json()["kid"]
    # Session creation over its limit: refused, counted, not audited (volume).
    codes = [srv.admin("POST", "/v1/sessions", json={"sub": "x", "client_id": "web"}).status_code
             for _ in range(4)]
    assert codes.count(429) == 2, codes

    want = {"locked_out", "key_rotated", "alert_fired"}
    lines = wait_until(lambda: (lambda ls: ls if want <= {l["event"] for l in ls} else None)(
        lines_of(audit)), 5)
    assert lines, lines_of(audit)
    by = {}
    for l in lines:
        by.setdefault(l["event"], []).append(l)
        if l["event"] in FIELDS:
            assert list(l) == FIELDS[l["event"]], l     # the documented fields, in order
    assert "rate_limited" not in by and "check" not in by and "refresh" not in by

    [lock] = by["locked_out"]
    assert (lock["ip"], lock["reason"], lock["duration_ms"]) == ("10.9.8.7", "locked_out", 7000)
    assert lock["sid"] is None and lock["sub"] is None

    [rot] = by["key_rotated"]
    assert (rot["kid"], rot["previous_kid"], rot["trigger"], rot["version"]) == (new, old, "api", 2), rot
    assert rot["sid"] is None and rot["reason"] is None

    fired = by["alert_fired"][0]
    assert (fired["alert"], fired["key"], fired["ip"], fired["count"]) == (
        "check_failures_per_ip", "10.9.8.7", "10.9.8.7", 2), fired
    # The alert fired while the failures were being counted, before the lockout began.
    assert lines.index(fired) < lines.index(lock)

    m = srv.get("/metrics").text
    assert metric(m, "curfew_signing_key_rotations_total") == 1
    assert metric(m, 'curfew_rate_limited_total{class="session_create"}') == 2
    assert metric(m, 'curfew_checks_total{result="deny",reason="%s"}' % reason) == 3
    assert metric(m, 'curfew_checks_total{result="deny",reason="locked_out"}') == 1


CLUSTER = "cluster:\n  max_staleness: 5s\naudit: { path: audit.jsonl }\n"


def test_a_node_counts_bus_applied_events_apart_and_audits_only_its_own(start_node):
    n1, n2 = start_node(CLUSTER), start_node(CLUSTER)
    a = n1.new_session(sub="ann")
    b = n1.new_session(sub="bob")
    assert n1.admin("DELETE", f"/v1/sessions/{a['session_id']}").status_code == 200
    assert n1.admin("POST", "/v1/revocations", json={"sub": "bob"}).json() == {"sessions_ended": 1}

    applied = 'curfew_cluster_events_applied_total{event="session_ended"}'
    assert wait_until(lambda: metric(n2.get("/metrics").text, applied) >= 2, 5)
    m1, m2 = n1.get("/metrics").text, n2.get("/metrics").text
    # The origin counts its own changes; the other node only what it applied from the bus.
    assert metric(m1, "curfew_sessions_created_total") == 2
    assert metric(m1, 'curfew_revocations_total{scope="session"}') == 1
    assert metric(m1, 'curfew_revocations_total{scope="subject"}') == 1
    assert metric(m2, "curfew_sessions_created_total") == 0
    assert metric(m2, 'curfew_sessions_ended_total{reason="revoked"}') == 0
    for scope in ("session", "subject"):
        assert metric(m2, f'curfew_revocations_total{{scope="{scope}"}}') == 0
    assert metric(m2, 'curfew_cluster_events_applied_total{event="session_created"}') == 2
    assert metric(m2, 'curfew_cluster_events_applied_total{event="not_before"}') == 1
    assert metric(m1, applied) == 0                     # its own messages are not applied twice
    # /v1/cluster's applied_events is the same count.
    total = sum(float(l.rsplit(" ", 1)[1]) for l in m2.splitlines()
                if l.startswith("curfew_cluster_events_applied_total{"))
    assert n2.admin("GET", "/v1/cluster").json()["applied_events"] == total
    # Each change is audited once, by the node where it happened.
    time.sleep(1.2)                                     # the audit writer flushes every second
    kinds1 = [l["event"] for l in lines_of(n1.workdir / "audit.jsonl")]
    kinds2 = [l["event"] for l in lines_of(n2.workdir / "audit.jsonl")]
    assert kinds1.count("session_created") == 2 and kinds1.count("session_ended") == 2, kinds1
    assert "session_created" not in kinds2 and "session_ended" not in kinds2, kinds2
