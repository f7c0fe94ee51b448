# SPDX-License-Identifier: MIT
"""Timeouts from evidence (issue 13): real traffic through curfew with
second-scale timeouts, then `curfew tune` on its audit log must report, for
the configured values, exactly the re-logins and ends that happened, and the
live metrics must agree. Routes with `activity: none` and the background
header must not keep a session alive. The parser is attacked with broken
lines; --synthetic + --plot work end to end."""

import json
import re
import subprocess
import time

import pytest

from conftest import curfew_bin, run_curfew, wait_until

CONFIG = """\
clock_leeway: 0s
session: {{ idle_timeout: 3s, absolute_timeout: 7s }}
access_token: {{ ttl: 30s, max_ttl: 30s }}
store: {{ purge_interval: 100ms, purge_after: 1h }}
audit: {{ path: {audit} }}
tuning: {{ activity_gap: 1s, relogin_window: 4s }}
routes:
  - path_prefix: /poll
    activity: none
clients:
  - {{ id: web, type: public }}
"""


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)"
    m = re.search("^" + pat + "$", text, re.M)
    assert m, f"{name}{{{want}}} not in /metrics"
    return float(m.group(1))


def audit_lines(path):
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


class Clock:
    """Run steps at fixed offsets from the start (seconds)."""

    def __init__(self):
        self.t0 = time.monotonic()

    def at(self, t):
        d = self.t0 + t - time.monotonic()
        if d > 0:
            time.sleep(d)


def tune(audit, *args):
    r = run_curfew("tune", "--audit", str(audit), *args, timeout=60)
    return r


def tune_live(srv, *args, fmt="json", key=None):
    return run_curfew("tune", "--live", srv.base_url, *args, "--format", fmt, timeout=30,
                      env={"CURFEW_ADMIN_KEY": key or srv.admin_key})


def test_tune_live_refuses_what_counters_cannot_answer(start_curfew, tmp_path):
    srv = start_curfew(CONFIG.format(audit=tmp_path / "a.jsonl"))
    for opt in (["--absolute", "8h"], ["--access-ttl", "5m"], ["--plot", str(tmp_path / "p.svg")],
                ["--since", "0"], ["--role", "admin"], ["--relogin-window", "1m"]):
        r = tune_live(srv, *opt)
        assert r.returncode == 2 and "need --audit" in r.stderr, (opt, r.stderr)
        assert r.stdout == ""
    assert not (tmp_path / "p.svg").exists()
    r = run_curfew("tune", "--live", srv.base_url, "--audit", str(tmp_path / "a.jsonl"))
    assert r.returncode == 2 and "give --audit FILE, --live URL" in r.stderr, r.stderr
    r = tune_live(srv, key="wrong-key")
    assert r.returncode == 1 and "401" in r.stderr and r.stdout == "", r.stderr
    assert "wrong-key" not in r.stderr
    r = tune_live(srv, "--client", "nosuch")
    assert r.returncode == 1 and "not a configured client" in r.stderr, r.stderr
    for bad in ("0s", "-5m", "1h,,2h", "x"):
        r = tune_live(srv, "--idle", bad)
        assert r.returncode == 2 and "--idle" in r.stderr, (bad, r.stderr)
    # No traffic yet: every candidate is zero, and the answer is still well-formed.
    rep = json.loads(tune_live(srv).stdout)
    assert [r["idle_s"] for r in rep["rows"]] == [3, 300, 900, 1800, 3600]
    assert all(r["relogins_idle_max"] == 0 for r in rep["rows"])


def test_tune_reports_exactly_what_happened_and_metrics_agree(start_curfew, tmp_path):
    audit = tmp_path / "audit.jsonl"
    srv = start_curfew(CONFIG.format(audit=audit))
    c = Clock()
    ok = lambda s, **kw: srv.check(s["access_token"], **kw).status_code == 200

    # t=0: four people start.
    # alice and dave sign in through the configured client "web"; bob and carol without a
    # client, which the metrics file under client="other" (as any unconfigured one).
    alice, dave = (srv.new_session(sub=n, client_id="web") for n in ("alice", "dave"))
    bob, carol = (srv.new_session(sub=n) for n in ("bob", "carol"))
    for s in (alice, bob, carol, dave):
        assert ok(s)
    poll = {"X-Original-URI": "/poll/inbox"}
    dave2 = alice2 = carol2 = None
    steps = [x / 2 for x in range(1, 18)]  # 0.5 .. 8.5 s
    for t in steps:
        c.at(t)
        # dave works without pause: the absolute timeout (7 s) ends him, he logs straight back in.
        if dave2 is None:
            r = srv.check(dave["access_token"])
            if r.status_code != 200:
                # the token's exp (whole seconds) is held to the absolute deadline: either reason
                assert r.json()["reason"] in ("absolute_timeout", "token_expired"), r.text
                assert t >= 6.0
            if t == 7.5:  # past the absolute deadline: he logs back in
                assert r.status_code != 200
                dave2 = srv.new_session(sub="dave", client_id="web")
        elif t < 8.5:
            assert ok(dave2)
        else:
            assert srv.logout(dave2["access_token"]).status_code == 204
        # alice: active to 1 s, idles out at 4 s, back at 4.5 s (a forced re-login),
        # a 1.5 s pause (an activity_gap line, no end), logout at 6.5 s.
        if t <= 1.0:
            assert ok(alice)
        elif t == 4.5:
            r = srv.check(alice["access_token"])
            assert r.json()["reason"] == "idle_timeout", r.text
            alice2 = srv.new_session(sub="alice", client_id="web")
            assert ok(alice2)
        elif t == 6.0:
            assert ok(alice2)
        elif t == 6.5:
            assert srv.logout(alice2["access_token"]).status_code == 204
        # carol: only a polling tab; polling keeps nothing alive, so she idles out at 3 s,
        # and comes back after the 4 s window (7.5 s): a timeout without return.
        if t <= 4.0:
            r = srv.check(carol["access_token"], headers=poll)
            if t != 3.0:  # the deadline itself: either answer
                assert (r.status_code == 200) == (t < 3.0), (t, r.text)
        elif t == 7.5:
            carol2 = srv.new_session(sub="carol")
        elif t == 8.0:
            assert srv.logout(carol2["access_token"]).status_code == 204
        # bob never comes back after t=0: idles out at 3 s, without return.
    assert dave2 is not None and alice2 is not None

    # Every end is written (the purge sweep ends idle sessions).
    want = {"idle_timeout": 3, "absolute_timeout": 1, "logout": 3}
    def ends():
        n = {}
        for l in audit_lines(audit):
            if l["event"] == "session_ended":
                n[l["end_reason"]] = n.get(l["end_reason"], 0) + 1
        return n == want and n
    assert wait_until(ends, 5), audit_lines(audit)
    gaps = [l for l in audit_lines(audit) if l["event"] == "activity_gap"]
    assert [l["sub"] for l in gaps] == ["alice"], gaps
    assert 1400 <= gaps[0]["idle_ms"] < 3000

    m = srv.get("/metrics").text
    # Per client: alice's and dave's re-logins are web's; bob's and carol's timeouts
    # without return are "other"'s (only configured clients are named: bounded labels).
    assert metric(m, "curfew_relogins_total", client="web", reason="idle_timeout") == 1
    assert metric(m, "curfew_relogins_total", client="web", reason="absolute_timeout") == 1
    assert metric(m, "curfew_relogins_total", client="other", reason="idle_timeout") == 0
    assert metric(m, "curfew_timeouts_without_return_total", client="other", reason="idle_timeout") == 2
    assert metric(m, "curfew_timeouts_without_return_total", client="web", reason="idle_timeout") == 0
    assert metric(m, "curfew_timeouts_without_return_total", client="web", reason="absolute_timeout") == 0
    assert metric(m, "curfew_relogin_delay_seconds_count", client="web", reason="idle_timeout") == 1
    assert metric(m, "curfew_relogin_delay_seconds_count", client="other", reason="idle_timeout") == 0
    # The configured idle timeout is a bucket bound; alice's 1.5 s pause (web's only silence
    # of a second or more: carol's polling is not activity) is below it.
    assert metric(m, "curfew_idle_gap_seconds_bucket", client="web", le="3") == 1
    assert metric(m, "curfew_idle_gap_seconds_bucket", client="web", le="1") == 0
    assert metric(m, "curfew_idle_gap_seconds_count", client="other") == 0

    r = tune(audit, "--idle", "3s,800ms", "--absolute", "7s", "--access-ttl", "30s",
             "--relogin-window", "4s", "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    base, same, short = rep["rows"]
    assert base["baseline"] and (base["idle_s"], base["absolute_s"]) == (3, 7)
    for row in (base, same):  # the configured values, given or recorded
        assert (row["relogins_idle"], row["relogins_absolute"]) == (
            metric(m, "curfew_relogins_total", client="web", reason="idle_timeout"),
            metric(m, "curfew_relogins_total", client="web", reason="absolute_timeout"))
        assert row["ends"] == {"idle": 3, "absolute": 1, "logout": 3, "other": 0}
    assert rep["sessions"] == 7 and rep["chained"] == 2 and rep["open"] == 0
    r = tune(audit, "--client", "web", "--idle", "3s", "--absolute", "7s", "--access-ttl", "30s",
             "--relogin-window", "4s", "--format", "json")
    assert r.returncode == 0, r.stderr
    web = json.loads(r.stdout)["rows"][1]
    assert (web["relogins_idle"], web["relogins_absolute"]) == (1, 1)
    assert web["ends"]["idle"] == 1 and web["ends"]["absolute"] == 1
    # 800 ms idle would also have cut alice's 1.5 s pause, and dave's return (>= 1 s after
    # his last allowed check) would have been an idle re-login before his absolute end.
    assert (short["relogins_idle"], short["relogins_absolute"]) == (3, 0)
    assert short["exposure_mean_s"] < base["exposure_mean_s"]

    # The same report from the running server's counters (--live): the configured value
    # reproduces the re-logins that happened, and candidates follow from the histograms.
    live = tune_live(srv, "--idle", "3s,1s,2s,4s")
    assert live.returncode == 0, live.stderr
    rep = json.loads(live.stdout)
    got = [(r["idle_s"], r["relogins_idle_min"], r["relogins_idle_max"], r["baseline"])
           for r in rep["rows"]]
    assert got == [
        (3, 1, 1, True),    # baseline: alice's re-login, as /metrics and the audit replay say
        (3, 1, 1, False),   # the configured value given as a candidate: the same
        (1, 2, 2, False),   # 1 s (a bucket bound) also cuts alice's 1.5 s pause: exact
        (2, 1, 2, False),   # 2 s falls inside the bucket (1, 3] holding that pause: a range
        (4, 0, 0, False),   # 4 s: alice came back well within 1 s (> 4 - 3 s) of her end: spared
    ], got
    assert rep["rows"][0]["relogins_idle_max"] == base["relogins_idle"]
    assert all(r["relogins_absolute"] == base["relogins_absolute"] for r in rep["rows"])
    assert (rep["without_return_idle"], rep["idle_gaps"]) == (2, 1)
    assert rep["rows"][2]["exposure_max_s"] == 1 + 30  # idle + access TTL, a bound
    assert "--audit" in rep["cannot"]
    # --client web: web's series only (bob's and carol's timeouts are "other"'s).
    web = json.loads(tune_live(srv, "--client", "web", "--idle", "1s").stdout)
    assert web["without_return_idle"] == 0 and web["rows"][1]["relogins_idle_max"] == 2
    # The table says what it is and what it cannot compute.
    t = tune_live(srv, "--idle", "3s,1s,2s,4s", fmt="table")
    assert t.returncode == 0, t.stderr
    assert "counters" in t.stdout and "not an audit log" in t.stdout, t.stdout
    assert re.search(r"^2s\s+1-2\s", t.stdout, re.M), t.stdout
    assert "Not from counters" in t.stdout and "--audit" in t.stdout


def test_polling_keeps_alive_only_without_activity_none_or_background(start_curfew, tmp_path):
    srv = start_curfew(CONFIG.format(audit=tmp_path / "a.jsonl"))
    page, polled, background = (srv.new_session() for _ in range(3))
    c = Clock()
    for i in range(1, 10):  # every 0.5 s for 4.5 s; idle timeout 3 s
        c.at(i / 2)
        assert srv.check(page["access_token"]).status_code == 200  # counts: stays alive
        rp = srv.check(polled["access_token"], headers={"X-Original-URI": "/poll"})
        rb = srv.check(background["access_token"], headers={"X-Curfew-Background": "1"})
        for r in (rp, rb):
            if i / 2 == 3.0:
                continue  # the deadline itself: either answer
            assert (r.status_code == 200) == (i / 2 < 3.0), (i, r.text)
            if r.status_code != 200:
                assert r.json()["reason"] == "idle_timeout"
    # "X-Curfew-Background: 0" or a duplicate spelling is a person's request.
    s = srv.new_session()
    assert srv.check(s["access_token"], headers={"X-Curfew-Background": "0"}).status_code == 200


def test_policy_explain_and_config_name_activity(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("routes:\n  - path_prefix: /poll\n    activity: sometimes\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode != 0
    assert re.search(r"c\.yaml:3: .*activity.*counts, none", r.stderr), r.stderr
    # policy explain says which requests keep a session alive, and names the header.
    cfg.write_text("tuning: { background_header: X-Poller }\nroutes:\n  - path_prefix: /poll\n"
                   "    activity: none\n  - path_prefix: /app\n")
    for path, want in [("/poll/x", r"^activity: none \(from routes\[0\]\)"),
                       ("/poll/../app", r"^activity: counts"),  # matched after normalizing
                       ("/app/x", r"^activity: counts"), ("/elsewhere", r"^activity: counts")]:
        r = run_curfew("policy", "explain", "--config", str(cfg), "--path", path)
        assert r.returncode == 0, r.stderr
        assert re.search(want, r.stdout, re.M), (path, r.stdout)
        assert re.search(r"^background header: X-Poller: 1 ", r.stdout, re.M), r.stdout


BAD = [
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"session_created"', "not a JSON object"),
    ("not json at all", "not a JSON object"),
    ('{"v":1,"ts":"yesterday","event":"activity_gap","sid":"x"}', "malformed time"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":'
     '99999999999999999999999}', "not a JSON object"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":-5}',
     "not a duration"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"session_ended","sid":"x",'
     '"end_reason":"bored"}', "unknown end_reason"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","ts":"2026-01-05T11:00:00.000Z","event":"x"}',
     "not a JSON object"),
    ('[1,2,3]', "not a JSON object"),
    ("x" * 70000, "longer than 65536"),
]

# Lines the fast scanner declines (duplicates, escapes, huge numbers, raw bytes)
# are judged by jansson, in jansson's words; odd values it reads are judged alike.
BAD_DECLINED = [
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","sid":"y"}',
     "not a JSON object: duplicate object key"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","s\\u0069d":"x","sid":"y"}',
     "not a JSON object: duplicate object key"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","ip":null,"ip":1}',
     "not a JSON object: duplicate object key"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":'
     '-99999999999999999999999}', "not a JSON object: too big negative integer"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":1E400}',
     "not a JSON object: real number overflow"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":1.5}',
     "not a duration"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":01}',
     "not a JSON object"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x\\ud83d"}',
     "not a JSON object"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"activity_gap","sid":"\udcff"}',  # byte 0xff
     "not a JSON object"),
    ('{"v":1,"ts":"2026-02-30T10:00:00.000Z","event":"activity_gap","sid":"x","idle_ms":"5"}',
     "not a duration"),
    ('{"v":1,"ts":"+026-01-05T10:00:00.000Z","event":"activity_gap","sid":"x"}', "malformed time"),
    ('{"v":1,"ts":"2026-01-05T10:00:00.000Z","event":"session_created","sid":"x","sub":"u",'
     '"created_at":"2026-01-05T10:00:00.000Z","idle_timeout_ms":null}', "not a duration"),
]


@pytest.mark.parametrize("bad", [BAD, BAD_DECLINED], ids=["bad", "declined"])
def test_tune_parser_reports_bad_lines_with_file_and_line(tmp_path, bad):
    log = tmp_path / "audit.jsonl"
    good = run_curfew("tune", "--synthetic", "2000", "--out", str(tmp_path / "s.jsonl"))
    assert good.returncode == 0, good.stderr
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    body = lines[:10] + [b for b, _ in bad] + lines[10:]
    text = "\n".join(body) + "\n" + lines[0][:40]  # and a last line cut short
    log.write_bytes(text.encode("utf-8", "surrogateescape"))  # \udcff: a raw 0xff byte
    r = tune(log, "--format", "json")
    assert r.returncode == 1, r.stderr
    for i, (_, why) in enumerate(bad):
        assert re.search(rf"^{re.escape(str(log))}:{11 + i}: .*{why}", r.stderr, re.M), (why, r.stderr)
    assert "last line is incomplete" in r.stderr
    rep = json.loads(r.stdout)  # the report is still given
    assert rep["bad_lines"] == len(bad) and rep["sessions"] > 0
    # Events out of order and facts about unknown sessions are counted, never crash.
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(reversed(lines)) + "\n")
    r = tune(shuffled, "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("idle_s,absolute_s")


@pytest.mark.parametrize("args,msg", [
    (["--idle", "0s"], "must be > 0"),
    (["--idle", "5m,"], "empty value"),
    (["--idle", "-5m"], "--idle"),
    (["--absolute", "99999999d"], "--absolute"),
    (["--format", "xml"], "--format"),
    (["--budget", "nan"], "--budget"),
    (["--since", "soon"], "--since"),
])
def test_tune_refuses_bad_arguments(tmp_path, args, msg):
    log = tmp_path / "a.jsonl"
    log.write_text("")
    r = tune(log, *args)
    assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_tune_streams_in_bounded_memory_and_time(tmp_path):
    """A log far larger than the live sessions it describes: RSS stays flat, and
    the CPU time (not wall time: the machine may be busy) stays far under what
    parsing each line with jansson cost (~2.2 s here; 10M lines took 74 s)."""
    log = tmp_path / "big.jsonl"
    r = run_curfew("tune", "--synthetic", "400000", "--out", str(log), timeout=120)
    assert r.returncode == 0
    out = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", str(curfew_bin()), "tune", "--audit",
                          str(log), "--format", "csv"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rss_kb, user, system = out.stderr.strip().splitlines()[-1].split()
    assert int(rss_kb) < 64 * 1024, rss_kb  # the log is ~170 MB
    assert float(user) + float(system) < 1.0, (user, system)  # ~0.2 s with the scanner


def reformat(line, i):
    """The same facts in other valid JSON: keys reversed, spaces, escapes in a key and
    a value, an extra key with quotes and non-ASCII (raw or escaped), a trailing tab."""
    o = json.loads(line)
    o["note"] = "caf\u00e9 \u2615 \"q\" \\"
    text = json.dumps(dict(reversed(list(o.items()))), separators=(", ", " : "),
                      ensure_ascii=(i % 2 == 0))
    ev = o["event"]
    text = text.replace(f'"event" : "{ev}"', '"event" : "\\u%04x%s"' % (ord(ev[0]), ev[1:]))
    text = text.replace('"sid"', '"s\\u0069d"', 1)
    return " " * (i % 3) + text + "\t" * (i % 2)


def test_tune_reads_reformatted_json_as_the_servers_layout(tmp_path):
    """Lines the fast scanner declines go to jansson; the report must not change."""
    plain = tmp_path / "plain.jsonl"
    r = run_curfew("tune", "--synthetic", "20000", "--seed", "5", "--out", str(plain))
    assert r.returncode == 0, r.stderr
    lines = plain.read_text().splitlines()
    odd = tmp_path / "odd.jsonl"
    odd.write_text("\n".join(reformat(l, i) for i, l in enumerate(lines)) + "\n")
    assert '"s\\u0069d"' in odd.read_text() and '"event" : "\\u0073ession_created"' in odd.read_text()
    a = tune(plain, "--format", "csv", "--role", "user")
    b = tune(odd, "--format", "csv", "--role", "user")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) == 14


SYNTH_N, SYNTH_SEED = "300000", "13"


@pytest.mark.slow
def test_synthetic_tune_plot_end_to_end_in_chromium(tmp_path):
    """--synthetic, then tune --plot: the SVG is docs/tune.svg (regenerated the same way),
    and Chromium sees labelled axes, named marks and every point inside the plot."""
    import os
    import shutil
    from conftest import REPO_ROOT
    log, svg, shot = tmp_path / "s.jsonl", tmp_path / "t.svg", tmp_path / "tune.png"
    r = run_curfew("tune", "--synthetic", SYNTH_N, "--seed", SYNTH_SEED, "--out", str(log),
                   timeout=120)
    assert r.returncode == 0, r.stderr
    r = run_curfew("tune", "--audit", str(log), "--plot", str(svg), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "recommendation:" in r.stdout
    # The README and docs/tuning.md show this very table, from the commands as written there.
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"curfew tune --synthetic {SYNTH_N} --seed {SYNTH_SEED} --out synthetic.jsonl\n" \
           "curfew tune --audit synthetic.jsonl --plot tune.svg\n" in readme
    for doc in (readme, (REPO_ROOT / "docs" / "tuning.md").read_text()):
        assert "```\n" + r.stdout + "```" in doc, "the tune table in the docs is stale"
    assert "](docs/tune.svg)" in readme
    npoints = 1 + 4 * 3  # baseline + the default 4 idle x 3 absolute x 1 ttl
    assert svg.read_text() == (REPO_ROOT / "docs" / "tune.svg").read_text(), \
        "docs/tune.svg is stale: regenerate it as docs/tuning.md says"
    node = shutil.which("node")
    browser = REPO_ROOT / "tests" / "browser"
    assert node and (browser / "node_modules" / "playwright-core").is_dir(), \
        "node or tests/browser/node_modules missing: run `make browser-deps`"
    env = dict(os.environ, TUNE_SVG=str(svg), TUNE_POINTS=str(npoints),
               TUNE_SCREENSHOT=str(shot), CHROMIUM="/usr/bin/chromium")
    p = subprocess.run([node, str(browser / "tune_plot.mjs")], env=env, cwd=browser,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    assert p.returncode == 0 and "step: ok" in p.stdout, p.stdout
    assert shot.stat().st_size > 10000
    shutil.copy(shot, REPO_ROOT / "build" / "tune-plot.png")  # for a human to look at
