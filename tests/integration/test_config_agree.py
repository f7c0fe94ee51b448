"""`curfew config check` and `curfew serve` agree on every configuration.

Issue 10 defect 2 and issue 9 defect 16: check accepted what serve refused
(`rate: 2000/1s`, a burst the docs allow, an audit path in a missing
directory), serve then said only "cannot start (see the log above)", and a
lone `session.absolute_timeout: 3s` was refused because of the *default* idle
timeout. Each configuration below is run through both commands: either both
accept it (check exits 0, serve answers /healthz) or both refuse it with the
same `FILE:LINE: what is wrong` message.
"""
import re
import time

import pytest
import requests

from conftest import CurfewServer, run_curfew

START_TIMEOUT = 10.0

# (name, yaml, expected fragment of the refusal or None when it must start)
CASES = [
    # -- the issues' examples ------------------------------------------------
    ("rate_finer_than_1ms", "rate_limits:\n  refresh: {rate: 2000/1s}\n",
     "more than one request per millisecond"),
    ("rate_exactly_1ms", "rate_limits:\n  refresh: {rate: 1000/1s}\n", None),
    ("burst_max_with_slow_rate",
     "rate_limits:\n  refresh:\n    rate: 1/36500d\n    burst: 1000000000\n",
     "rate_limits.refresh.burst"),
    ("burst_max_with_fast_rate",
     "rate_limits:\n  refresh: {rate: 1000/1s, burst: 1000000000}\n", None),
    ("absolute_only_yields_idle", "session:\n  absolute_timeout: 3s\n", None),
    ("idle_only_yields_absolute", "session:\n  idle_timeout: 24h\n", None),
    ("ttl_only_yields_max_ttl", "access_token:\n  ttl: 20m\n", None),
    ("idle_and_absolute_both_given", "session:\n  idle_timeout: 1h\n  absolute_timeout: 10m\n",
     "session.idle_timeout (1h) must not exceed session.absolute_timeout (10m)"),
    ("ttl_and_max_both_given", "access_token: {ttl: 20m, max_ttl: 5m}\n",
     "access_token.ttl (20m) must not exceed access_token.max_ttl (5m)"),
    ("require_undefined_role", "routes:\n  - path_prefix: /admin\n    require_roles: [admins]\n",
     "role 'admins' is not defined under roles:"),
    ("require_defined_role",
     "roles: {admin: {}}\nroutes:\n  - path_prefix: /admin\n    require_roles: [admin]\n", None),
    ("require_role_defined_after_routes",
     "routes:\n  - path_prefix: /a\n    require_roles: [ops]\nroles:\n  ops: {}\n", None),
    ("origin_trailing_slash", "cookie:\n  allowed_origins: [\"https://app.example.com/\"]\n",
     "is not an origin"),
    ("origin_path", "cookie:\n  allowed_origins: [https://app.example.com/app]\n",
     "is not an origin"),
    ("origin_query", "cookie:\n  allowed_origins: [\"https://app.example.com?x=1\"]\n",
     "is not an origin"),
    ("origin_fragment", "cookie:\n  allowed_origins: [\"https://app.example.com#x\"]\n",
     "is not an origin"),
    ("origin_userinfo", "cookie:\n  allowed_origins: [\"https://u:p@app.example.com\"]\n",
     "is not an origin"),
    ("origin_scheme", "cookie:\n  allowed_origins: [ftp://app.example.com]\n",
     "is not an origin"),
    ("origin_upper_case", "cookie:\n  allowed_origins: [https://App.example.com]\n",
     "is not an origin"),
    ("origin_default_port", "cookie:\n  allowed_origins: [\"https://app.example.com:443\"]\n",
     "is not an origin"),
    ("origin_bad_port", "cookie:\n  allowed_origins: [\"https://app.example.com:99999\"]\n",
     "is not an origin"),
    ("origin_no_host", "cookie:\n  allowed_origins: [\"https://:8443\"]\n", "is not an origin"),
    ("origin_ok",
     "cookie:\n  allowed_origins: [\"https://app.example.com:8443\", \"http://[::1]:3000\", "
     "\"http://localhost\"]\n", None),
    ("role_idle_over_absolute", "roles:\n  admin: {idle_timeout: 2h, absolute_timeout: 1h}\n",
     "roles.admin.idle_timeout (2h) must not exceed roles.admin.absolute_timeout (1h)"),
    ("role_absolute_only", "roles:\n  admin: {absolute_timeout: 1m}\n", None),
    ("client_idle_over_absolute",
     "clients:\n  - id: web\n    session: {idle_timeout: 2h, absolute_timeout: 1h}\n",
     "clients[0].session.idle_timeout (2h) must not exceed"),
    ("client_absolute_only", "clients:\n  - id: web\n    session: {absolute_timeout: 2s}\n", None),
    ("audit_dir_missing", "audit:\n  path: /nonexistent-curfew-dir/audit.jsonl\n",
     "audit.path: directory '/nonexistent-curfew-dir'"),
    ("audit_is_dir", "audit:\n  path: /tmp/\n", "audit.path"),
    ("audit_relative_ok", "audit:\n  path: audit.jsonl\n", None),
    ("kek_file_missing", "keys:\n  kek_file: /nonexistent-curfew-dir/kek\n", "keys.kek_file"),
    ("listen_bad_ipv4", "listen: \"256.1.1.1:7070\"\n", "is not an IPv4 address"),
    ("listen_bad_ipv6", "listen: \"[1::2::3]:7070\"\n", "is not an IPv6 address"),
    ("alert_threshold_zero", "alerts:\n  rules:\n    - {kind: refresh_reuse, threshold: 0}\n",
     "threshold"),
    ("alert_window_overflow",
     "alerts:\n  rules:\n    - {kind: refresh_reuse, threshold: 1, window: 99999999999999d}\n",
     "window"),
    ("alert_too_many", "alerts:\n  rules:\n" + "    - {kind: refresh_reuse, threshold: 1}\n" * 33,
     "alerts.rules"),
    ("alert_max_rules", "alerts:\n  rules:\n" + "    - {kind: refresh_reuse, threshold: 1}\n" * 32,
     None),
    # -- sub-second lifetimes (JWT exp has 1-second resolution) --------------
    ("access_ttl_1ms", "access_token: {ttl: 1ms}\n", "must be at least 1s"),
    ("absolute_500ms", "session: {absolute_timeout: 500ms}\n", "must be at least 1s"),
    ("role_ttl_999ms", "roles:\n  r: {access_ttl: 999ms}\n", "must be at least 1s"),
    ("client_ttl_1ms", "clients:\n  - id: web\n    access_token: {ttl: 1ms}\n",
     "must be at least 1s"),
    ("ttl_half", "access_token: {ttl: 0.5}\n", "access_token.ttl"),
    ("ttl_one_second", "access_token: {ttl: 1s}\nsession: {idle_timeout: 1s}\n", None),
    # -- numbers: huge, negative, zero, overflowing ---------------------------
    ("huge_uint", "limits:\n  max_connections: 99999999999999999999999\n", "limits.max_connections"),
    ("negative_uint", "limits:\n  max_connections: -1\n", "limits.max_connections"),
    ("zero_uint", "limits:\n  max_connections: 0\n", "limits.max_connections"),
    ("huge_burst", "rate_limits:\n  refresh: {rate: 1/1s, burst: 1000000001}\n",
     "rate_limits.refresh.burst"),
    ("negative_duration", "session: {idle_timeout: -5m}\n", "session.idle_timeout"),
    ("zero_duration", "limits: {client_timeout: 0s}\n", "must be greater than 0"),
    ("overflowing_duration", "session: {absolute_timeout: 999999999999999999d}\n",
     "session.absolute_timeout"),
    ("longest_duration", "session: {absolute_timeout: 36500d}\nkeys: {rotate_every: 36500d}\n",
     None),
    ("huge_rate_count", "rate_limits:\n  refresh: {rate: 99999999999/1d}\n", "rate_limits.refresh.rate"),
    ("lockout_huge", "lockout: {max_failures: 1000000000, window: 36500d, duration: 36500d}\n",
     None),
    ("max_keys_top", "rate_limits:\n  max_keys: 100000001\n", "rate_limits.max_keys"),
    ("audit_buffer_small", "audit: {path: a.jsonl, buffer: 4095}\n", "audit.buffer"),
    # -- unknown keys at each level ------------------------------------------
    ("unknown_top", "sesion: {idle_timeout: 1m}\n", "unknown key 'sesion'"),
    ("unknown_nested", "session: {idel_timeout: 1m}\n", "unknown key 'session.idel_timeout'"),
    ("unknown_client", "clients:\n  - id: web\n    colour: red\n", "unknown key 'clients[0].colour'"),
    ("unknown_role", "roles:\n  a: {idle: 1m}\n", "unknown key 'roles.a.idle'"),
    ("unknown_route", "routes:\n  - path: /a\n    allow: true\n", "unknown key 'routes[0].allow'"),
    ("unknown_alert",
     "alerts:\n  rules:\n    - kind: refresh_reuse\n      threshold: 1\n      colour: red\n",
     "colour"),
    ("unknown_rate", "rate_limits:\n  refresh: {rate: 1/1s, per: ip}\n", "rate_limits.refresh.per"),
    # -- duplicate keys ---------------------------------------------------------
    ("dup_top", "log_level: info\nlog_level: debug\n", "duplicate key 'log_level'"),
    ("dup_nested", "session:\n  idle_timeout: 1m\n  idle_timeout: 2m\n", "duplicate key"),
    ("dup_client_field", "clients:\n  - id: a\n    id: b\n", "duplicate key"),
    ("dup_client_id", "clients:\n  - id: a\n  - id: a\n", "duplicate client id 'a'"),
    ("dup_role", "roles:\n  a: {}\n  a: {}\n", "duplicate key 'roles.a'"),
    ("dup_route_field", "routes:\n  - path: /a\n    path: /b\n", "duplicate key"),
    # -- wrong node kinds --------------------------------------------------------
    ("kind_list_for_scalar", "log_level: [info]\n", "log_level"),
    ("kind_map_for_duration", "session: {idle_timeout: {a: 1}}\n", "session.idle_timeout"),
    ("kind_scalar_for_section", "session: 5m\n", "session"),
    ("kind_map_for_clients", "clients: {id: web}\n", "clients"),
    ("kind_list_for_roles", "roles: [admin]\n", "roles"),
    ("kind_scalar_for_routes", "routes: /admin\n", "routes"),
    ("kind_scalar_for_origins", "cookie: {allowed_origins: https://a.example}\n",
     "cookie.allowed_origins"),
    ("kind_top_list", "- a\n- b\n", "expected a mapping"),
    ("kind_null_value", "issuer:\n", "issuer"),
    ("two_documents", "log_level: info\n---\nlog_level: debug\n", "only one YAML document"),
]


def serve_outcome(tmp_path, cfg_path, name):
    """Start `curfew serve` on the file; 'ready', or the stderr it exited with."""
    srv = CurfewServer(tmp_path / f"srv-{name}")
    srv.config_path = cfg_path
    srv.config_yaml = cfg_path.read_text()
    srv.start(wait=False)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if srv.proc.poll() is not None:
                return srv.proc.returncode, srv.stderr_text()
            try:
                if requests.get(srv.url("/healthz"), timeout=1).status_code == 200:
                    return "ready", srv.stderr_text()
            except requests.RequestException:
                pass
            time.sleep(0.05)
        pytest.fail(f"serve neither started nor exited in {START_TIMEOUT}s:\n{srv.stderr_text()}")
    finally:
        srv.stop()


@pytest.mark.parametrize("name,yaml,refusal", CASES, ids=[c[0] for c in CASES])
def test_check_and_serve_agree(tmp_path, name, yaml, refusal):
    cfg = tmp_path / "curfew.yaml"
    cfg.write_text(yaml)
    work = tmp_path / f"srv-{name}"   # serve's working directory: relative paths agree
    work.mkdir()
    check = run_curfew("config", "check", str(cfg), cwd=str(work))
    outcome, serve_err = serve_outcome(tmp_path, cfg, name)
    if refusal is None:
        assert check.returncode == 0, check.stderr
        assert outcome == "ready", serve_err
        return
    assert check.returncode == 2, f"config check accepted it:\n{check.stdout}"
    assert outcome != "ready", f"config check refused it but serve started:\n{check.stderr}"
    msg = check.stderr.strip()
    assert re.match(re.escape(str(cfg)) + r":\d+: ", msg), msg
    assert refusal in msg, msg
    # serve refuses with the very same line, before anything else is tried
    assert msg in serve_err, serve_err
    assert "cannot start (see the log above)" not in serve_err, serve_err


def test_default_yields_and_serve_logs_it(tmp_path, start_curfew):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("session:\n  absolute_timeout: 3s\n")
    check = run_curfew("config", "check", str(cfg))
    assert check.returncode == 0, check.stderr
    assert re.search(r"^  idle_timeout: 3s$", check.stdout, re.M), check.stdout
    assert re.search(r"^  absolute_timeout: 3s$", check.stdout, re.M), check.stdout
    line = ("event=config_default_yielded key=session.idle_timeout value=3s default=30m "
            "because=session.absolute_timeout")
    assert line in check.stderr
    srv = start_curfew("session:\n  absolute_timeout: 3s\n")
    logged = [ln for ln in srv.stderr_text().splitlines() if "config_default_yielded" in ln]
    assert len(logged) == 1 and line in logged[0], srv.stderr_text()
    # and the sessions live by it: the absolute deadline is 3 s, idle never later
    before = int(time.time())
    body = srv.create_session(sub="alice").json()
    assert body["absolute_expires_at"] - before <= 4, body
    assert body["idle_expires_at"] <= body["absolute_expires_at"], body


def test_explicit_values_do_not_yield(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("access_token: {max_ttl: 5m}\nsession: {idle_timeout: 10m}\n")
    check = run_curfew("config", "check", str(cfg))
    assert check.returncode == 0, check.stderr
    # ttl's default (10m) yields to the given max_ttl (5m); idle 10m <= absolute 12h: no note
    assert re.search(r"^  ttl: 5m$", check.stdout, re.M), check.stdout
    assert "key=access_token.ttl value=5m default=10m because=access_token.max_ttl" in check.stderr
    assert "session.idle_timeout" not in check.stderr
