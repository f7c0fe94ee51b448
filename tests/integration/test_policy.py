# SPDX-License-Identifier: MIT
"""Roles and routes (issue 3): role-stricter lifetimes, route rules evaluated
by /v1/check (require_roles, require_scopes, deny, anonymous, step-up with
RFC 9470 challenges, per-route idle timeout, first match wins, host and
method matching), the three ways a proxy names the original request (nginx
X-Original-*, Caddy X-Forwarded-*, Envoy /v1/check/<path>), and
`curfew policy explain`.
"""

import re
import time

import pytest

from conftest import assert_challenge, assert_json_error, assert_refused, jwt_parts, run_curfew

POLICY = """\
clock_leeway: 0s
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
roles:
  admin: { idle_timeout: 2m, absolute_timeout: 1h, access_ttl: 1m }
  auditor: { idle_timeout: 10m, absolute_timeout: 30m, access_ttl: 5m }
  viewer: { absolute_timeout: 8h }
  ops: {}                 # require_roles may only name a defined role
routes:
  - path_prefix: /admin/closed
    deny: true
  - path_prefix: /admin
    require_roles: [admin, ops]
  - path_glob: /api/*/payments/**
    methods: [POST, PUT]
    require_scopes: [payments, write]
  - path: /pay
    max_auth_age: 5m
  - path_prefix: /sensitive
    idle_timeout: 2s
  - host: api.example.com
    path_prefix: /hostonly
    deny: true
  - path: /public
    anonymous: true
  - path_prefix: /first
    require_roles: [admin]
  - path_prefix: /first/open
    anonymous: true
  - path_prefix: /second/open
    anonymous: true
  - path_prefix: /second
    deny: true
"""

STYLES = ["nginx", "caddy", "envoy"]


@pytest.fixture
def srv(start_curfew):
    return start_curfew(POLICY)


def via(srv, style, token, method, path, host=None, headers=None):
    """/v1/check for the original request METHOD PATH (path may carry a query),
    the way the given proxy asks."""
    h = {}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if style == "nginx":
        h["X-Original-URI"] = path
        h["X-Original-Method"] = method
        if host:
            h["X-Forwarded-Host"] = host
        h.update(headers or {})
        return srv.get("/v1/check", headers=h)
    if style == "caddy":
        h["X-Forwarded-Uri"] = path
        h["X-Forwarded-Method"] = method
        if host:
            h["X-Forwarded-Host"] = host
        h.update(headers or {})
        return srv.get("/v1/check", headers=h)
    assert style == "envoy"
    if host:
        h["Host"] = host
    h.update(headers or {})
    return srv.request(method, "/v1/check" + path, headers=h)


def assert_ok(r, sub=None):
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text}"
    if sub is not None:
        assert r.headers.get("X-Curfew-Subject") == sub, dict(r.headers)


def assert_forbidden_scope(r, reason):
    body, params = assert_challenge(r, 403, reason, "insufficient_scope")
    assert params.get("error_description"), r.headers.get("WWW-Authenticate")
    assert body.get("error_description"), body
    return body


def assert_denied(r):
    body = assert_json_error(r, 403, error="access_denied", reason="route_denied")
    assert "X-Curfew-Subject" not in r.headers
    return body


def assert_step_up(r, max_age, reason="step_up_required"):
    body, params = assert_challenge(r, 401, reason, "insufficient_user_authentication")
    assert params.get("error_description"), r.headers.get("WWW-Authenticate")
    if max_age is not None:
        assert params.get("max_age") == str(max_age), r.headers.get("WWW-Authenticate")
    return body


# ---------------------------------------------------------------------------
# Role lifetimes: the strictest of global, client, roles and request
# ---------------------------------------------------------------------------

def lifetimes(srv, s):
    now = time.time()
    _, claims, _ = jwt_parts(s["access_token"])
    sess = srv.session(s["session_id"])
    return {
        "expires_in": s["expires_in"],
        "token": claims["exp"] - claims["iat"],
        "idle": sess["idle_timeout"],
        "absolute": sess["absolute_timeout"],
        "idle_left": s["idle_expires_at"] - now,
        "abs_left": s["absolute_expires_at"] - now,
    }


@pytest.mark.parametrize("roles,idle,absolute,ttl", [
    (["admin"], 120, 3600, 60),
    (["auditor"], 600, 1800, 300),
    (["admin", "auditor"], 120, 1800, 60),
    (["auditor", "admin"], 120, 1800, 60),
    (["viewer"], 1800, 28800, 600),
    (["viewer", "auditor"], 600, 1800, 300),
    (["nobody-configured-this"], 1800, 43200, 600),
    ([], 1800, 43200, 600),
])
def test_role_lifetimes_strictest_wins(srv, roles, idle, absolute, ttl):
    s = srv.new_session(sub="r", roles=roles)
    lt = lifetimes(srv, s)
    assert lt["expires_in"] == ttl and lt["token"] == ttl, (roles, lt)
    assert lt["idle"] == idle and lt["absolute"] == absolute, (roles, lt)
    assert abs(lt["idle_left"] - idle) <= 2 and abs(lt["abs_left"] - absolute) <= 2, (roles, lt)


def test_role_lifetimes_requests_may_only_shorten(srv):
    s = srv.new_session(sub="r", roles=["admin"], idle_timeout="1h", absolute_timeout="10h",
                        access_ttl="10m")
    lt = lifetimes(srv, s)
    assert (lt["idle"], lt["absolute"], lt["expires_in"]) == (120, 3600, 60), lt
    s = srv.new_session(sub="r", roles=["admin"], idle_timeout="30s", absolute_timeout="20m",
                        access_ttl="15s")
    lt = lifetimes(srv, s)
    assert (lt["idle"], lt["absolute"], lt["expires_in"], lt["token"]) == (30, 1200, 15, 15), lt


def test_role_lifetimes_survive_refresh(srv):
    s = srv.new_session(sub="r", roles=["admin"], client_id="spa")
    r = srv.refresh(s["refresh_token"], client_id="spa")
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["expires_in"] == 60, t
    _, claims, _ = jwt_parts(t["access_token"])
    assert claims["exp"] - claims["iat"] == 60, claims


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_require_roles(srv, style):
    user = srv.new_session(sub="u", roles=["user"])
    admin = srv.new_session(sub="a", roles=["user", "admin"])
    ops = srv.new_session(sub="o", roles=["ops"])

    r = via(srv, style, user["access_token"], "POST", "/admin/users")
    assert_forbidden_scope(r, "insufficient_role")
    r = via(srv, style, user["access_token"], "GET", "/admin/users?page=2")      # query stripped
    assert_forbidden_scope(r, "insufficient_role")
    assert_ok(via(srv, style, admin["access_token"], "POST", "/admin/users"), "a")
    assert_ok(via(srv, style, ops["access_token"], "DELETE", "/admin/users/7"), "o")   # any one role
    # Other paths are not affected.
    assert_ok(via(srv, style, user["access_token"], "POST", "/orders"), "u")
    # Without a token: authentication comes first.
    assert_refused(via(srv, style, None, "GET", "/admin/users"), "missing_token", error=None)
    # The refused session is not ended.
    assert_ok(srv.check(user["access_token"]), "u")


@pytest.mark.parametrize("style", STYLES)
def test_require_scopes(srv, style):
    full = srv.new_session(sub="f", scope="read payments write")
    part = srv.new_session(sub="p", scope="read payments")
    none = srv.new_session(sub="n")
    assert_ok(via(srv, style, full["access_token"], "POST", "/api/v2/payments/charge"), "f")
    assert_ok(via(srv, style, full["access_token"], "PUT", "/api/v2/payments/a/b/c"), "f")
    for s in (part, none):
        r = via(srv, style, s["access_token"], "POST", "/api/v2/payments/charge")
        assert_forbidden_scope(r, "insufficient_scope")
    # Method not listed: the route does not match.
    assert_ok(via(srv, style, none["access_token"], "GET", "/api/v2/payments/charge"), "n")
    # '*' does not cross '/'.
    assert_ok(via(srv, style, none["access_token"], "POST", "/api/v2/x/payments/charge"), "n")


@pytest.mark.parametrize("style", STYLES)
def test_deny_route(srv, style):
    admin = srv.new_session(sub="a", roles=["admin"])
    assert_denied(via(srv, style, admin["access_token"], "GET", "/admin/closed/x"))
    assert_denied(via(srv, style, None, "GET", "/admin/closed"))
    assert_denied(via(srv, style, "garbage.token.here", "GET", "/admin/closed/y"))
    # The session lives on elsewhere.
    assert_ok(via(srv, style, admin["access_token"], "GET", "/admin/open"), "a")


@pytest.mark.parametrize("style", STYLES)
def test_anonymous_route(srv, style):
    r = via(srv, style, None, "GET", "/public")
    assert r.status_code == 200, r.text
    assert "X-Curfew-Subject" not in r.headers
    r = via(srv, style, "not.a.jwt", "POST", "/public?x=1")
    assert r.status_code == 200, r.text
    # Exact path: /public/x is not that route.
    assert_refused(via(srv, style, None, "GET", "/public/x"), "missing_token", error=None)


@pytest.mark.parametrize("style", STYLES)
def test_step_up(srv, style):
    old = srv.new_session(sub="old", auth_time=int(time.time()) - 600)
    fresh = srv.new_session(sub="fresh", auth_time=int(time.time()) - 10)
    r = via(srv, style, old["access_token"], "POST", "/pay")
    assert_step_up(r, 300)
    r = via(srv, style, old["access_token"], "POST", "/pay?amount=5")
    assert_step_up(r, 300)
    assert_ok(via(srv, style, fresh["access_token"], "POST", "/pay"), "fresh")
    # The old session is not ended: it still passes elsewhere.
    assert_ok(via(srv, style, old["access_token"], "GET", "/orders"), "old")
    assert srv.session(old["session_id"])["state"] == "active"


def test_step_up_challenge_format(srv):
    old = srv.new_session(sub="old", auth_time=int(time.time()) - 3600)
    r = via(srv, "nginx", old["access_token"], "GET", "/pay")
    www = r.headers.get("WWW-Authenticate", "")
    # RFC 9470 §3: Bearer challenge with error, error_description and max_age.
    assert re.match(r'^Bearer realm="curfew", error="insufficient_user_authentication", '
                    r'error_description="[^"]+", max_age=300$', www), www


@pytest.mark.slow
@pytest.mark.parametrize("style", ["nginx", "envoy"])
def test_route_idle_timeout(srv, style):
    s = srv.new_session(sub="idle")
    assert_ok(via(srv, style, s["access_token"], "GET", "/sensitive/report"), "idle")
    time.sleep(3.2)
    r = via(srv, style, s["access_token"], "GET", "/sensitive/report")
    assert_refused(r, "route_idle_timeout")
    # The refusal did not touch the session: still refused there.
    r = via(srv, style, s["access_token"], "GET", "/sensitive/other")
    assert_refused(r, "route_idle_timeout")
    assert srv.session(s["session_id"])["state"] == "active"
    # Elsewhere the session is fine, and that activity makes the route usable again.
    assert_ok(via(srv, style, s["access_token"], "GET", "/orders"), "idle")
    assert_ok(via(srv, style, s["access_token"], "GET", "/sensitive/report"), "idle")


@pytest.mark.parametrize("style", STYLES)
def test_first_match_wins(srv, style):
    user = srv.new_session(sub="u", roles=["user"])
    # /first (require_roles) is listed before /first/open (anonymous).
    assert_refused(via(srv, style, None, "GET", "/first/open/x"), "missing_token", error=None)
    assert_forbidden_scope(via(srv, style, user["access_token"], "GET", "/first/open/x"),
                           "insufficient_role")
    # /second/open (anonymous) is listed before /second (deny).
    r = via(srv, style, None, "GET", "/second/open/x")
    assert r.status_code == 200, r.text
    assert_denied(via(srv, style, user["access_token"], "GET", "/second/x"))
    # /admin/closed (deny) before /admin (roles): even an admin is denied.
    admin = srv.new_session(sub="a", roles=["admin"])
    assert_denied(via(srv, style, admin["access_token"], "GET", "/admin/closed"))


@pytest.mark.parametrize("style", STYLES)
def test_host_match(srv, style):
    s = srv.new_session(sub="h")
    for host in ("api.example.com", "API.Example.COM", "api.example.com:8443"):
        assert_denied(via(srv, style, s["access_token"], "GET", "/hostonly/x", host=host))
    assert_ok(via(srv, style, s["access_token"], "GET", "/hostonly/x", host="www.example.com"), "h")
    assert_ok(via(srv, style, s["access_token"], "GET", "/hostonly/x"), "h")


def test_host_header_used_without_x_forwarded_host(srv):
    s = srv.new_session(sub="h")
    r = srv.get("/v1/check", headers={"Authorization": f"Bearer {s['access_token']}",
                                      "X-Original-URI": "/hostonly/a", "X-Original-Method": "GET",
                                      "Host": "api.example.com"})
    assert_denied(r)


def test_no_route_matches_session_rules_only(srv):
    s = srv.new_session(sub="n")
    for style in STYLES:
        assert_ok(via(srv, style, s["access_token"], "PATCH", "/somewhere/else"), "n")
        assert_refused(via(srv, style, None, "GET", "/somewhere/else"), "missing_token", error=None)
    # Plain /v1/check with no original-request headers is path "/".
    assert_ok(srv.check(s["access_token"]), "n")


def test_nginx_headers_win_over_envoy_path(srv):
    """X-Original-URI names the original request even on /v1/check/<path>."""
    s = srv.new_session(sub="u", roles=["user"])
    r = srv.get("/v1/check/orders", headers={"Authorization": f"Bearer {s['access_token']}",
                                             "X-Original-URI": "/admin/users",
                                             "X-Original-Method": "GET"})
    assert_forbidden_scope(r, "insufficient_role")


# ---------------------------------------------------------------------------
# curfew policy explain
# ---------------------------------------------------------------------------

EXPLAIN = """\
session: { idle_timeout: 30m, absolute_timeout: 12h }
access_token: { ttl: 10m, max_ttl: 15m }
clients:
  - id: web
    type: public
    session: { idle_timeout: 15m, absolute_timeout: 8h }
    access_token: { ttl: 5m }
roles:
  admin: { idle_timeout: 5m, absolute_timeout: 1h, access_ttl: 2m }
  ops: { absolute_timeout: 30m }
routes:
  - path: /public
    anonymous: true
  - path_prefix: /admin
    methods: [POST, DELETE]
    require_roles: [admin]
    max_auth_age: 5m
"""
ADMIN_ROUTE_LINE = 14      # "  - path_prefix: /admin" above (1-based)


def explain(tmp_path, *args, config=EXPLAIN):
    cfg = tmp_path / "policy.yaml"
    cfg.write_text(config)
    return run_curfew("policy", "explain", "--config", cfg, *args)


def lines_with(out, *words):
    return [ln for ln in out.splitlines() if all(w.lower() in ln.lower() for w in words)]


def mentions_value(line, *alternatives):
    return any(re.search(r"(?<![\w.])" + re.escape(a) + r"(?![\w])", line) for a in alternatives)


def test_explain_config_line_constant():
    assert EXPLAIN.splitlines()[ADMIN_ROUTE_LINE - 1].strip() == "- path_prefix: /admin"


def test_policy_explain_names_sources(tmp_path):
    p = explain(tmp_path, "--client", "web", "--roles", "admin", "--method", "POST",
                "--path", "/admin/users")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    idle = lines_with(out, "idle")
    assert any("admin" in ln and mentions_value(ln, "5m", "300", "300s") for ln in idle), out
    absolute = lines_with(out, "absolute")
    assert any("admin" in ln and mentions_value(ln, "1h", "3600", "3600s") for ln in absolute), out
    access = [ln for ln in out.splitlines() if re.search(r"access|ttl", ln, re.I)]
    assert any("admin" in ln and mentions_value(ln, "2m", "120", "120s") for ln in access), out
    assert re.search(r"risk|ip_binding", out, re.I), out
    # The matching route: its index/line and its requirements.
    assert re.search(rf"(?<!\d){ADMIN_ROUTE_LINE}(?!\d)", out), f"line {ADMIN_ROUTE_LINE} not named:\n{out}"
    assert "/admin" in out and re.search(r"max_auth_age|step", out, re.I), out
    assert "no route matches" not in out


def test_policy_explain_client_and_second_role(tmp_path):
    p = explain(tmp_path, "--client", "web", "--roles", "admin,ops", "--method", "DELETE",
                "--path", "/admin/x")
    assert p.returncode == 0, p.stderr
    assert any("ops" in ln and mentions_value(ln, "30m", "1800", "1800s")
               for ln in lines_with(p.stdout, "absolute")), p.stdout
    # Without roles the client's values are the strictest.
    p = explain(tmp_path, "--client", "web", "--method", "GET", "--path", "/orders")
    assert p.returncode == 0, p.stderr
    assert any("web" in ln and mentions_value(ln, "15m", "900", "900s")
               for ln in lines_with(p.stdout, "idle")), p.stdout
    assert "no route matches" in p.stdout, p.stdout


def test_policy_explain_method_must_match(tmp_path):
    p = explain(tmp_path, "--client", "web", "--roles", "admin", "--method", "GET",
                "--path", "/admin/users")
    assert p.returncode == 0, p.stderr
    assert "no route matches" in p.stdout, p.stdout


def test_policy_explain_anonymous_route(tmp_path):
    p = explain(tmp_path, "--client", "web", "--method", "GET", "--path", "/public")
    assert p.returncode == 0, p.stderr
    assert re.search(r"anonymous", p.stdout, re.I), p.stdout
    assert re.search(r"(?<!\d)12(?!\d)", p.stdout), p.stdout     # its config line


def test_policy_explain_errors(tmp_path):
    bad = EXPLAIN.replace("max_auth_age: 5m", "max_auth_age: soon")
    p = explain(tmp_path, "--client", "web", "--method", "GET", "--path", "/", config=bad)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert re.search(r"policy\.yaml:\d+", p.stderr), p.stderr
    p = run_curfew("policy", "explain", "--config", tmp_path / "missing.yaml", "--client", "web",
                   "--method", "GET", "--path", "/")
    assert p.returncode != 0, p.stdout
    p = explain(tmp_path, "--client", "no-such-client", "--method", "GET", "--path", "/")
    assert p.returncode != 0, p.stdout
    assert "no-such-client" in p.stderr, p.stderr
    p = run_curfew("policy", "frobnicate")
    assert p.returncode != 0
