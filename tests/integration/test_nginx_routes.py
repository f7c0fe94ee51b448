# SPDX-License-Identifier: MIT
"""Route rules through the shipped nginx config (deploy/nginx/curfew.conf):
nginx passes X-Original-URI / X-Original-Method / X-Forwarded-Host to
/v1/check, so curfew's routes see the client's real request.

Same topology and helpers as test_nginx.py; curfew runs with a small policy.
"""

import time

import pytest

from test_nginx import (EchoApp, Nginx, assert_reached_app, render_shipped_conf, through,
                        www_authenticate_all)

ROUTES = """\
clock_leeway: 0s
roles: { admin: {} }
routes:
  - path_prefix: /admin
    require_roles: [admin]
  - host: internal.example.com
    path_prefix: /
    deny: true
  - path: /pay
    methods: [POST]
    max_auth_age: 5m
  - path_prefix: /closed
    deny: true
  - path: /public
    anonymous: true
"""


@pytest.fixture
def stack(start_curfew, tmp_path):
    curfew = start_curfew(ROUTES)
    app = EchoApp()
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        yield curfew, ngx, app
    finally:
        ngx.stop()
        app.close()


def assert_not_reached(r, status, ngx, app, before):
    assert r.status_code == status, f"through nginx: {r.status_code} {r.text}\n{ngx.diag()}"
    assert app.count() == before, "the app was reached although curfew refused"


def test_require_roles_route_through_nginx(stack):
    curfew, ngx, app = stack
    user = curfew.new_session(sub="uma", roles=["user"])
    admin = curfew.new_session(sub="ada", roles=["admin"])
    before = app.count()
    assert_not_reached(through(ngx, user["access_token"], path="/admin/users?page=1"), 403, ngx,
                       app, before)
    assert_not_reached(through(ngx, user["access_token"], path="/admin/users", method="DELETE"), 403,
                       ngx, app, before)
    # The same check directly, as nginx asks it, names the reason.
    direct = curfew.check(user["access_token"], headers={"X-Original-URI": "/admin/users?page=1",
                                                         "X-Original-Method": "GET"})
    assert direct.status_code == 403 and direct.json()["reason"] == "insufficient_role", direct.text

    rec = assert_reached_app(through(ngx, admin["access_token"], path="/admin/users?page=1"), ngx,
                             admin, "ada", roles=["admin"])
    assert rec["path"] == "/admin/users?page=1"
    # Paths no route names are allowed by session rules alone.
    assert_reached_app(through(ngx, user["access_token"], path="/api/orders"), ngx, user, "uma")


def test_deny_and_host_routes_through_nginx(stack):
    curfew, ngx, app = stack
    s = curfew.new_session(sub="dee")
    before = app.count()
    assert_not_reached(through(ngx, s["access_token"], path="/closed/x"), 403, ngx, app, before)
    # nginx passes $host as X-Forwarded-Host: the host rule applies.
    assert_not_reached(through(ngx, s["access_token"], path="/anything",
                               headers={"Host": "internal.example.com"}), 403, ngx, app, before)
    assert_reached_app(through(ngx, s["access_token"], path="/anything",
                               headers={"Host": "www.example.com"}), ngx, s, "dee")


def test_step_up_through_nginx(stack):
    curfew, ngx, app = stack
    old = curfew.new_session(sub="olaf", auth_time=int(time.time()) - 900)
    before = app.count()
    r = through(ngx, old["access_token"], path="/pay", method="POST")
    assert_not_reached(r, 401, ngx, app, before)
    chall = www_authenticate_all(r)
    assert len(chall) == 1, chall
    assert 'error="insufficient_user_authentication"' in chall[0] and "max_age=300" in chall[0], chall
    # GET /pay is not the POST-only route.
    assert_reached_app(through(ngx, old["access_token"], path="/pay"), ngx, old, "olaf")
    fresh = curfew.new_session(sub="fran")
    assert_reached_app(through(ngx, fresh["access_token"], path="/pay", method="POST"), ngx, fresh,
                       "fran")


def test_anonymous_route_through_nginx(stack):
    curfew, ngx, app = stack
    before = app.count()
    r = through(ngx, None, path="/public")
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{ngx.diag()}"
    assert app.count() == before + 1
    h = {k.lower(): v for k, v in r.json()["headers"].items()}
    assert not h.get("x-curfew-subject"), h
    # Anything else still needs a token.
    before = app.count()
    assert_not_reached(through(ngx, None, path="/public/more"), 401, ngx, app, before)


def test_client_cannot_spoof_the_original_request(stack):
    """Client-sent X-Forwarded-Uri / -Method (Caddy's names) or X-Original-*
    must not make curfew judge another path than the one nginx serves."""
    curfew, ngx, app = stack
    user = curfew.new_session(sub="uma", roles=["user"])
    before = app.count()
    for spoof in ({"X-Forwarded-Uri": "/public", "X-Forwarded-Method": "GET"},
                  {"X-Original-URI": "/public", "X-Original-Method": "GET"}):
        assert_not_reached(through(ngx, user["access_token"], path="/admin/users", headers=spoof),
                           403, ngx, app, before)
        assert_not_reached(through(ngx, None, path="/admin/users", headers=spoof), 401, ngx, app,
                           before)


def test_lockout_429_through_nginx(start_curfew, tmp_path):
    """curfew's 429 (here: lockout) reaches the client as 429 with Retry-After,
    not as auth_request's 500 (deploy/nginx/curfew.conf, @curfew_error)."""
    curfew = start_curfew("lockout: { max_failures: 3, window: 10s, duration: 30s }\n")
    app = EchoApp()
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        s = curfew.new_session(sub="lee")
        assert_reached_app(through(ngx, s["access_token"]), ngx, s, "lee")
        for _ in range(3):
            assert through(ngx, "not.a.jwt").status_code == 401
        before = app.count()
        r = through(ngx, s["access_token"])
        assert_not_reached(r, 429, ngx, app, before)
        ra = r.headers.get("Retry-After", "")
        assert ra.isdigit() and 1 <= int(ra) <= 30, dict(r.headers)
        # The reason survives nginx: header and JSON body, as curfew says it directly.
        assert r.headers.get("X-Curfew-Reason") == "locked_out", dict(r.headers)
        assert r.json().get("reason") == "locked_out", r.text
        direct = curfew.check(s["access_token"])
        assert direct.status_code == 429 and direct.json()["reason"] == "locked_out", direct.text
        assert r.json()["error"] == direct.json()["error"], (r.text, direct.text)
    finally:
        ngx.stop()
        app.close()


# ---------------------------------------------------------------------------
# issue 9 #1 and #14 through the real nginx
# ---------------------------------------------------------------------------

import contextlib

import requests

from test_route_attacks import (E2E_REASONS, E2E_ROUTES, StaticBackend, assert_no_route_bypass,
                                assert_reasons_survive, raw_request)


@contextlib.contextmanager
def nginx_in_front_of(curfew, backend, tmp_path):
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(curfew.port, backend.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        yield ngx
    finally:
        ngx.stop()
        backend.close()


def test_route_rules_cannot_be_escaped_through_nginx(start_curfew, tmp_path):
    """A static backend behind the shipped config: every spelling of
    /admin/users, /internal/secret and /api/7/delete stays protected."""
    curfew = start_curfew(E2E_ROUTES)
    with nginx_in_front_of(curfew, StaticBackend(tmp_path / "www"), tmp_path) as ngx:
        assert_no_route_bypass(ngx.port, curfew)


def test_refusal_reasons_survive_nginx(start_curfew, tmp_path):
    curfew = start_curfew(E2E_REASONS)
    with nginx_in_front_of(curfew, EchoApp(), tmp_path) as ngx:
        def get(path, tok, method):
            return through(ngx, tok, path=path, method=method)
        assert_reasons_survive(get, curfew, "nginx")


def test_invalid_path_is_400_with_reason_through_nginx(stack):
    curfew, ngx, app = stack
    before = app.count()
    r = requests.get(ngx.url("/admin%2fusers"), timeout=5)
    assert_not_reached(r, 400, ngx, app, before)
    assert r.headers.get("X-Curfew-Reason") == "invalid_path" and r.json()["reason"] == "invalid_path"


def test_curfew_client_endpoints_pass_without_a_check(stack):
    """A refresh through nginx must reach /oauth/token although the access
    token has expired (that is why the client refreshes); logout and the JWK
    set likewise. Other paths stay checked."""
    curfew, ngx, app = stack
    # (not a 1 s token: its exp is whole seconds, so it can expire a millisecond
    # after the refresh and the last check would say token_expired, not logout;
    # these locations do no check at all, so an expired token takes the same path)
    sess = curfew.new_session(sub="ref", access_ttl="30s")
    before = app.count()
    r = requests.post(ngx.url("/oauth/token"), data={"grant_type": "refresh_token",
                      "refresh_token": sess["refresh_token"]},
                      headers={"Authorization": f"Bearer {sess['access_token']}"}, timeout=5)
    assert r.status_code == 200 and r.json().get("access_token"), f"{r.status_code} {r.text}"
    new = r.json()
    r = requests.get(ngx.url("/.well-known/jwks.json"), timeout=5)
    assert r.status_code == 200 and r.json()["keys"], r.text
    assert requests.get(ngx.url("/.well-known/oauth-authorization-server"), timeout=5).status_code == 200
    r = requests.post(ngx.url("/v1/logout"), headers={"Authorization": f"Bearer {new['access_token']}"},
                      timeout=5)
    assert r.status_code == 204, r.text
    assert app.count() == before, "curfew's endpoints were sent to the application"
    r = through(ngx, new["access_token"], path="/x")
    assert r.status_code == 401 and r.json()["reason"] == "logout", r.text
    # The admin API is not exposed, and a dot segment does not leave the check.
    status, _, _ = raw_request(ngx.port, "/oauth/../admin/users")
    assert status == 401 and app.count() == before
    status, _, _ = raw_request(ngx.port, "/v1/sessions")
    assert status == 401 and app.count() == before
