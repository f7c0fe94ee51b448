# SPDX-License-Identifier: MIT
"""SIGHUP reloads the configuration without a restart (issue 15, Done-when 3).

A reload is all or nothing: a file that does not load, or that changes an
option only a restart can change, is refused with one log line naming
FILE:LINE (or the options) and the running configuration stays. Requests in
flight are not failed by it, sessions and keys survive, and so does the
rate-limit and lockout state when its settings did not change.
"""

import os
import re
import signal
import threading
import time

import requests

from conftest import wait_until

BASE = """\
clock_leeway: 0s
log_level: info
roles: {{ admin: {{}} }}
routes:
  - path_prefix: /internal/
    {rule}
"""

ALLOW = BASE.format(rule="anonymous: false")
DENY = BASE.format(rule="deny: true")


def ask(srv, tok, path="/internal/x", session=None):
    h = {"X-Original-URI": path, "X-Original-Method": "GET"}
    if tok is not None:
        h["Authorization"] = f"Bearer {tok}"
    return (session or srv.http).get(srv.url("/v1/check"), headers=h, timeout=5)


def replace_config(srv, text):
    """Write the file elsewhere and rename it into place, as docs/operations.md says."""
    tmp = srv.config_path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, srv.config_path)


def hup_and_wait(srv, event="event=reloaded", count=None):
    before = srv.stderr_text().count(event) if count is None else count
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: srv.stderr_text().count(event) > before, 5), srv.stderr_text()[-2000:]


def reason(r):
    return r.headers.get("X-Curfew-Reason")


def test_route_changes_from_allow_to_deny_under_load_without_failing_a_request(start_curfew):
    srv = start_curfew(ALLOW)
    tok = srv.new_session(sub="alice")["access_token"]
    assert ask(srv, tok).status_code == 200
    results, errors, stop = [], [], threading.Event()

    def hammer():
        s = requests.Session()
        while not stop.is_set():
            try:
                r = ask(srv, tok, session=s)
                results.append((time.monotonic(), r.status_code, reason(r)))
            except requests.RequestException as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        replace_config(srv, DENY)
        hup_and_wait(srv)
        t_reloaded = time.monotonic()
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:5]
    assert len(results) > 100, len(results)
    bad = [r for r in results if (r[1], r[2]) not in ((200, None), (403, "route_denied"))]
    assert not bad, bad[:5]
    after = [r for r in results if r[0] > t_reloaded + 0.05]
    assert after and all(r[1] == 403 for r in after), after[:5]
    assert srv.running
    # The session outlived the reload: another route still lets it through.
    assert ask(srv, tok, path="/other").status_code == 200


def test_broken_file_leaves_the_running_config_and_logs_file_and_line(start_curfew):
    srv = start_curfew(DENY)
    tok = srv.new_session(sub="bob")["access_token"]
    assert ask(srv, tok).status_code == 403
    broken = ALLOW + "session:\n  idle_timeout: 10 minutes\n"
    line = broken.count("\n") - 0  # the idle_timeout line (1-based)
    replace_config(srv, broken)
    hup_and_wait(srv, "event=reload_refused")
    log = srv.stderr_text()
    m = re.search(r'event=reload_refused error="([^"]*)"', log)
    assert m, log[-2000:]
    assert re.match(rf"{re.escape(str(srv.config_path))}:{line}: ", m.group(1)), m.group(1)
    assert "config=unchanged" in log
    assert ask(srv, tok).status_code == 403          # still the old rules
    # Unknown key, a YAML syntax error, an empty route: each refused, each with a line.
    for text, want in ((DENY + "sesion: {}\n", "unknown key"),
                       (DENY + "routes: [\n", ":"),
                       ("routes:\n  - methods: [FETCH]\n", ":2:")):
        replace_config(srv, text)
        n = srv.stderr_text().count("event=reload_refused")
        hup_and_wait(srv, "event=reload_refused", count=n)
        last = srv.stderr_text().split("event=reload_refused")[-1].splitlines()[0]
        assert str(srv.config_path) in last and want in last, last
        assert ask(srv, tok).status_code == 403
    # A good file afterwards is applied.
    replace_config(srv, ALLOW)
    hup_and_wait(srv)
    assert ask(srv, tok).status_code == 200


def test_a_restart_only_option_is_refused_by_name(start_curfew):
    srv = start_curfew(DENY)
    tok = srv.new_session(sub="carol")["access_token"]
    replace_config(srv, ALLOW + "store:\n  purge_interval: 7m\nlimits:\n  max_connections: 77\n")
    hup_and_wait(srv, "event=reload_refused")
    last = srv.stderr_text().split("event=reload_refused")[-1].splitlines()[0]
    assert "restart_only=limits.max_connections,store.purge_interval" in last, last
    assert ask(srv, tok).status_code == 403          # nothing of that file applied
    # The command-line overrides (--listen, --data-dir) are applied again on reload,
    # so the file not naming them is no change.
    replace_config(srv, ALLOW)
    hup_and_wait(srv)
    assert ask(srv, tok).status_code == 200


def test_reload_storm_keeps_serving_and_ends_on_the_last_file(start_curfew):
    srv = start_curfew(ALLOW)
    tok = srv.new_session(sub="dave")["access_token"]
    errors, stop, codes = [], threading.Event(), []

    def hammer():
        s = requests.Session()
        while not stop.is_set():
            try:
                codes.append(ask(srv, tok, session=s).status_code)
            except requests.RequestException as exc:
                errors.append(repr(exc))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for i in range(200):
            replace_config(srv, DENY if i % 2 == 0 else ALLOW)
            srv.proc.send_signal(signal.SIGHUP)
        replace_config(srv, DENY)
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    assert srv.running
    assert not errors, errors[:3]
    assert set(codes) <= {200, 403}, set(codes)
    assert wait_until(lambda: ask(srv, tok).status_code == 403, 5)
    assert "event=reloaded" in srv.stderr_text()


def test_rate_limit_and_lockout_state_survive_a_reload(start_curfew):
    conf = ("clock_leeway: 0s\nrate_limits:\n  check_failures: {{ rate: 3/1h, burst: 3 }}\n"
            "{extra}")
    srv = start_curfew(conf.format(extra=""))
    for _ in range(3):
        assert srv.check("junk").status_code == 401
    r = srv.check("junk")
    assert r.status_code == 429, r.text
    # An unrelated change: the limiter keeps its counts.
    replace_config(srv, conf.format(extra="session: { idle_timeout: 5m }\n"))
    hup_and_wait(srv)
    assert srv.check("junk").status_code == 429
    # Turning the limit off applies at once.
    replace_config(srv, "clock_leeway: 0s\n")
    hup_and_wait(srv)
    assert srv.check("junk").status_code == 401


def test_log_level_changes_on_reload(start_curfew):
    srv = start_curfew("log_level: warn\n")
    replace_config(srv, "log_level: warn\nclock_leeway: 1s\n")
    srv.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert "event=reloaded" not in srv.stderr_text()      # info lines are off at warn
    replace_config(srv, "log_level: info\n")
    hup_and_wait(srv)                                    # and on again after this one


def test_reload_without_a_config_file_is_refused_and_logged(start_curfew):
    srv = start_curfew(None)
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "event=sighup" in srv.stderr_text(), 5)
    time.sleep(0.2)
    assert srv.running
    assert srv.get("/healthz").status_code == 200


# ---- curfew reload and POST /v1/config/reload ------------------------------

def cli_reload(srv, *args, key=...):
    from conftest import run_curfew
    env = {"CURFEW_ADMIN_KEY": srv.admin_key if key is ... else key}
    return run_curfew("reload", "--server", srv.base_url, *args, env=env)


def test_cli_reload_applies_a_route_change(start_curfew):
    srv = start_curfew(ALLOW)
    tok = srv.new_session(sub="alice")["access_token"]
    assert ask(srv, tok).status_code == 200
    replace_config(srv, DENY)
    r = cli_reload(srv)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"configuration reloaded from {srv.config_path} (generation 1)\n"
    assert r.stderr == ""
    # Applied before the answer: the very next request sees the deny rule.
    d = ask(srv, tok)
    assert (d.status_code, reason(d)) == (403, "route_denied")
    replace_config(srv, ALLOW)
    r = cli_reload(srv, "--json")
    assert r.returncode == 0, r.stderr
    import json
    assert json.loads(r.stdout) == {"status": "applied", "generation": 2,
                                    "source": str(srv.config_path)}
    assert ask(srv, tok).status_code == 200


def test_cli_reload_of_a_broken_file_shows_file_line_and_fails(start_curfew):
    srv = start_curfew(ALLOW)
    tok = srv.new_session(sub="alice")["access_token"]
    replace_config(srv, DENY.replace("deny: true", "deny: maybe"))
    r = cli_reload(srv)
    assert r.returncode == 1
    assert r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"curfew reload: {srv.config_path}:6:"), line
    assert line.endswith("(409)"), line
    assert "event=reload_refused" in srv.stderr_text()
    assert ask(srv, tok).status_code == 200  # the old configuration runs on
    # The endpoint's own answer: 409 config_refused, the error in the description.
    r = srv.admin("POST", "/v1/config/reload")
    assert r.status_code == 409
    body = r.json()
    assert body["reason"] == "config_refused" and body["error"] == "conflict"
    assert body["error_description"].startswith(f"{srv.config_path}:6:")
    assert ask(srv, tok).status_code == 200


def test_reload_refuses_a_restart_only_change_and_names_it(start_curfew):
    srv = start_curfew(ALLOW)
    replace_config(srv, ALLOW + "limits: { max_connections: 77 }\n")
    r = cli_reload(srv)
    assert r.returncode == 1
    assert "limits.max_connections" in r.stderr and "restart" in r.stderr, r.stderr
    assert srv.get("/healthz").status_code == 200


def test_reload_needs_the_admin_key(start_curfew):
    srv = start_curfew(ALLOW)
    tok = srv.new_session(sub="alice")["access_token"]
    replace_config(srv, DENY)
    for key in ("", "wrong-key", srv.admin_key + "x"):
        r = cli_reload(srv, key=key)
        assert r.returncode != 0, key
    for hdrs in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic " + srv.admin_key}):
        r = srv.http.post(srv.url("/v1/config/reload"), headers=hdrs, timeout=5)
        assert r.status_code == 401, (hdrs, r.text)
        assert r.json()["reason"] == "admin_unauthorized"
    # None of these reloaded anything.
    assert "event=reloaded" not in srv.stderr_text()
    assert ask(srv, tok).status_code == 200
    # Only POST: a GET cannot trigger it (a link, a prefetch).
    r = srv.admin("GET", "/v1/config/reload")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert ask(srv, tok).status_code == 200


def test_reload_without_a_config_file_is_refused(curfew):
    r = curfew.admin("POST", "/v1/config/reload")
    assert r.status_code == 409
    assert r.json()["reason"] == "config_refused"
    assert "no configuration file" in r.json()["error_description"]
