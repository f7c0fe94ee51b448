# SPDX-License-Identifier: MIT
"""tuning.measure (issue 13, done-when 4): the switch that turns the timeout
measures off, so bench/check_tune.sh can compare the same binary on and off.
Off, real traffic with silences, an idle timeout and a re-login leaves
curfew_idle_gap_seconds, curfew_relogins_total and the audit log's
activity_gap lines empty, while the same traffic on a server with it on
fills them; decisions (idle ends, the background header) are the same either
way; and a SIGHUP switches it both ways on a running server."""

import json
import os
import re
import signal
import time

import pytest

from conftest import run_curfew, wait_until

CONFIG = """\
clock_leeway: 0s
session: {{ idle_timeout: 3s, absolute_timeout: 1h }}
access_token: {{ ttl: 30s, max_ttl: 30s }}
store: {{ purge_interval: 100ms, purge_after: 1h }}
audit: {{ path: {audit} }}
tuning: {{ measure: {measure}, activity_gap: 1s, relogin_window: 5s }}
clients:
  - {{ id: web, type: public }}
"""

BACKGROUND = {"X-Curfew-Background": "1"}


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)"
    m = re.search("^" + pat + "$", text, re.M)
    assert m, f"{name}{{{want}}} not in /metrics"
    return float(m.group(1))


def audit_lines(path):
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def measures(srv):
    """What the measures counted: idle gaps, re-logins, re-login delays (all clients, both reasons)."""
    m = srv.get("/metrics").text
    gaps = sum(metric(m, "curfew_idle_gap_seconds_count", client=c) for c in ("web", "other"))
    relogins = sum(metric(m, "curfew_relogins_total", client=c, reason=r)
                   for c in ("web", "other") for r in ("idle_timeout", "absolute_timeout"))
    delays = sum(metric(m, "curfew_relogin_delay_seconds_count", client=c, reason=r)
                 for c in ("web", "other") for r in ("idle_timeout", "absolute_timeout"))
    return gaps, relogins, delays


def ends(path, sub):
    return [l["end_reason"] for l in audit_lines(path)
            if l["event"] == "session_ended" and l["sub"] == sub]


def gap_lines(path):
    return [l for l in audit_lines(path) if l["event"] == "activity_gap"]


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def at(self, t):
        d = self.t0 + t - time.monotonic()
        if d > 0:
            time.sleep(d)


def traffic(servers, sub):
    """The same traffic on every server of @servers (a list of (srv, audit path)), in
    lock step: @sub works, pauses 1.5 s (a silence: one gap, one activity_gap line),
    then stops; idles out at 3 s after; comes back 0.7 s past the deadline (a forced
    re-login within the 5 s window) and pauses 1.2 s once more. A second person
    only polls with the background header: that keeps nothing alive, on or off.
    Returns the re-login sessions."""
    c = Clock()
    ok = lambda srv, tok, **kw: srv.check(tok, **kw).status_code == 200
    first = [srv.new_session(sub=sub, client_id="web") for srv, _ in servers]
    poller = [srv.new_session(sub=sub + "-poll", client_id="web") for srv, _ in servers]
    for (srv, _), s, p in zip(servers, first, poller):
        assert ok(srv, s["access_token"])
        assert ok(srv, p["access_token"], headers=BACKGROUND)
    c.at(1.5)
    for (srv, _), s, p in zip(servers, first, poller):
        assert ok(srv, s["access_token"])  # the silence of 1.5 s ends here
        assert ok(srv, p["access_token"], headers=BACKGROUND)
    c.at(2.5)
    for (srv, _), p in zip(servers, poller):
        assert ok(srv, p["access_token"], headers=BACKGROUND)  # decided, not activity
    c.at(5.2)  # 0.7 s past first's idle deadline (1.5 + 3), past poller's (0 + 3)
    back = []
    for (srv, _), s, p in zip(servers, first, poller):
        for tok in (s["access_token"], p["access_token"]):
            r = srv.check(tok)
            assert r.status_code == 401 and r.json()["reason"] == "idle_timeout", r.text
        back.append(srv.new_session(sub=sub, client_id="web"))
        assert ok(srv, back[-1]["access_token"])
    c.at(6.4)
    for (srv, _), b in zip(servers, back):
        assert ok(srv, b["access_token"])  # a second silence, of 1.2 s
    # Decisions do not depend on the switch: both ends are written on every server.
    for srv, audit in servers:
        assert wait_until(lambda: sorted(ends(audit, sub) + ends(audit, sub + "-poll"))
                          == ["idle_timeout", "idle_timeout"], 5), audit_lines(audit)
    # The last check's activity_gap line may still sit in the audit writer's batch
    # (written within 50 ms, src/obs/audit.c): let that window pass, so a line
    # that should not exist has had the time to appear.
    time.sleep(0.3)
    return back


def test_measure_off_counts_nothing_the_same_traffic_on_counts(start_curfew, tmp_path):
    a_on, a_off = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    on = start_curfew(CONFIG.format(audit=a_on, measure="true"))
    off = start_curfew(CONFIG.format(audit=a_off, measure="false"))
    traffic([(on, a_on), (off, a_off)], "alice")

    # On: two silences (1.5 s, 1.2 s), one re-login after the idle timeout.
    assert measures(on) == (2, 1, 1)
    assert metric(on.get("/metrics").text, "curfew_relogins_total",
                  client="web", reason="idle_timeout") == 1
    assert wait_until(lambda: len(gap_lines(a_on)) >= 2, 5), gap_lines(a_on)
    assert [l["sub"] for l in gap_lines(a_on)] == ["alice", "alice"], gap_lines(a_on)
    # Off: nothing, although the same sessions were created, checked, ended and re-created.
    assert measures(off) == (0, 0, 0)
    assert gap_lines(a_off) == [], gap_lines(a_off)
    m = off.get("/metrics").text
    assert metric(m, "curfew_sessions_created_total") == metric(on.get("/metrics").text,
                                                                "curfew_sessions_created_total") == 3
    # The poller's timeout is still pending on the server that measures; once its window
    # passed it is a timeout without return there, and nothing on the other.
    time.sleep(5.5)
    wr = lambda srv: metric(srv.get("/metrics").text, "curfew_timeouts_without_return_total",
                            client="web", reason="idle_timeout")
    assert wr(on) == 1 and wr(off) == 0
    # The live report has nothing to work from when it was off.
    for srv, want in ((on, 2), (off, 0)):
        r = run_curfew("tune", "--live", srv.base_url, "--format", "json", timeout=30,
                       env={"CURFEW_ADMIN_KEY": srv.admin_key})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["idle_gaps"] == want


def replace_config(srv, text):
    tmp = srv.config_path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, srv.config_path)


def hup(srv):
    before = srv.stderr_text().count("event=reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: srv.stderr_text().count("event=reloaded") > before, 5), \
        srv.stderr_text()[-2000:]


def test_sighup_switches_measuring_off_and_on(start_curfew, tmp_path):
    audit = tmp_path / "a.jsonl"
    srv = start_curfew(CONFIG.format(audit=audit, measure="true"))
    traffic([(srv, audit)], "alice")
    assert measures(srv) == (2, 1, 1)
    assert wait_until(lambda: len(gap_lines(audit)) >= 2, 5)
    assert len(gap_lines(audit)) == 2

    replace_config(srv, CONFIG.format(audit=audit, measure="false"))
    hup(srv)
    traffic([(srv, audit)], "bob")  # the same again: counted nowhere
    assert measures(srv) == (2, 1, 1)
    assert len(gap_lines(audit)) == 2

    replace_config(srv, CONFIG.format(audit=audit, measure="true"))
    hup(srv)
    traffic([(srv, audit)], "carol")  # and on again: counted
    assert measures(srv) == (4, 2, 2)
    assert wait_until(lambda: len(gap_lines(audit)) >= 4, 5)
    assert [l["sub"] for l in gap_lines(audit)] == ["alice"] * 2 + ["carol"] * 2


@pytest.mark.parametrize("value", ["maybe", "yes", "1", '""', "[true]"])
def test_measure_accepts_only_true_or_false(tmp_path, value):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"log_level: warn\ntuning:\n  measure: {value}\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode == 2, r.stdout
    assert re.match(rf"^{re.escape(str(cfg))}:3: tuning\.measure: ", r.stderr), r.stderr


def test_measure_is_on_by_default_and_printed(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("log_level: warn\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode == 0, r.stderr
    assert re.search(r"^tuning:\n  measure: true$", r.stdout, re.M), r.stdout
