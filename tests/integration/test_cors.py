# SPDX-License-Identifier: MIT
"""CORS for single-page apps on another origin (issue 15, Done-when 1).

/oauth/token, /oauth/revoke and /v1/logout answer a preflight from an origin
in cors.allowed_origins with 204 and the Access-Control-* headers, echo that
origin (and only it) on their answers, and refuse a preflight from anything
else with 403 origin_not_allowed and no CORS header. Matching is exact on
scheme, host and port after canonicalisation; the attack spellings below must
all miss. The same single-page-app flow is run against the binary and through
the real nginx and Caddy with the shipped configurations.
"""

import os
import signal

import pytest
import requests

import test_caddy as caddymod
import test_nginx as ngxmod
from conftest import HTTP_TIMEOUT, free_port, run_curfew, wait_until

APP = "https://app.example.com"
DEV = "http://localhost:5173"
CONFIG = f"""\
refresh_token: {{ reuse_grace: 0s }}
clients:
  - id: spa
    type: public
cors:
  allowed_origins: [{APP}, "{DEV}"]
  max_age: 5m
"""
PATHS = ["/oauth/token", "/oauth/revoke", "/v1/logout"]
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type,dpop"}

# Origins that must never be treated as APP (or DEV).
ATTACKS = [
    "null",
    "https://evil.com",
    "https://evil.com.app.example.com",     # a subdomain-looking prefix
    "https://app.example.com.evil.com",     # the allowed host as a prefix
    "https://app.example.co",
    "https://app.example.com/",             # trailing slash
    "https://app.example.com/app",          # a path
    "https://app.example.com?x",
    "http://app.example.com",               # another scheme
    "https://app.example.com:8443",         # another port
    "https://app.example.com:0443",
    "http://localhost:5174",
    "http://localhost",
    "https://user@app.example.com",
    "https://evil.com@app.example.com",
    "https://app.example.com, https://evil.com",
    "*",
    "",
]


def cors_headers(r):
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def vary_has_origin(r):
    return any(v.strip().lower() == "origin"
               for line in r.raw.headers.getlist("Vary") for v in line.split(","))


def preflight(base, path, origin=..., extra=None):
    h = dict(PREFLIGHT)
    if origin is not ...:
        h["Origin"] = origin
    h.update(extra or {})
    return requests.options(base + path, headers=h, timeout=HTTP_TIMEOUT, allow_redirects=False)


def assert_preflight_ok(r, origin, max_age="300"):
    assert r.status_code == 204, f"{r.status_code} {r.text}"
    h = cors_headers(r)
    assert h.get("access-control-allow-origin") == origin, h
    assert "POST" in [m.strip() for m in h["access-control-allow-methods"].split(",")], h
    allowed = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "dpop"} <= allowed, h
    assert h.get("access-control-max-age") == max_age, h
    assert vary_has_origin(r), dict(r.headers)


def assert_preflight_refused(r):
    assert r.status_code == 403, f"{r.status_code} {r.text}"
    assert r.json()["reason"] == "origin_not_allowed", r.text
    assert cors_headers(r) == {}, dict(r.headers)
    assert vary_has_origin(r), dict(r.headers)


def spa_flow(base, srv, origin):
    """What a single-page app on @origin does: preflight, refresh, revoke,
    logout, each answer readable (ACAO = its origin) by the browser."""
    sess = srv.new_session(sub="spa-user", client_id="spa")
    for path in PATHS:
        assert_preflight_ok(preflight(base, path, origin), origin)
    h = {"Origin": origin}
    r = requests.post(base + "/oauth/token", headers=h, timeout=HTTP_TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": sess["refresh_token"],
                            "client_id": "spa"})
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == origin, dict(r.headers)
    assert vary_has_origin(r)
    assert "www-authenticate" in r.headers["Access-Control-Expose-Headers"].lower()
    new = r.json()
    # A refusal is readable too: the script learns why (refresh_reuse), not a CORS error.
    r = requests.post(base + "/oauth/token", headers=h, timeout=HTTP_TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": sess["refresh_token"],
                            "client_id": "spa"})
    assert r.status_code in (400, 401) and r.json()["reason"] == "refresh_reuse", r.text
    assert r.headers.get("Access-Control-Allow-Origin") == origin, dict(r.headers)
    # The reuse ended that session; a fresh one for revoke and logout.
    sess = srv.new_session(sub="spa-user", client_id="spa")
    r = requests.post(base + "/oauth/token", headers=h, timeout=HTTP_TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": sess["refresh_token"],
                            "client_id": "spa"})
    assert r.status_code == 200, r.text
    new = r.json()
    r = requests.post(base + "/oauth/revoke", headers=h, timeout=HTTP_TIMEOUT,
                      data={"token": new["refresh_token"], "token_type_hint": "refresh_token",
                            "client_id": "spa"})
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == origin, dict(r.headers)
    other = srv.new_session(sub="spa-user2", client_id="spa")
    r = requests.post(base + "/v1/logout", timeout=HTTP_TIMEOUT,
                      headers={"Origin": origin,
                               "Authorization": f"Bearer {other['access_token']}"})
    assert r.status_code == 204, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == origin, dict(r.headers)
    assert srv.check(other["access_token"]).json()["reason"] == "logout"
    # The same calls from another origin: refused before anything changes, never readable.
    third = srv.new_session(sub="spa-user3", client_id="spa")
    for path in PATHS:
        assert_preflight_refused(preflight(base, path, "https://evil.com"))
    r = requests.post(base + "/oauth/token", headers={"Origin": "https://evil.com"},
                      timeout=HTTP_TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": third["refresh_token"],
                            "client_id": "spa"})
    assert_preflight_refused(r)
    r = requests.post(base + "/oauth/token", headers=h, timeout=HTTP_TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": third["refresh_token"],
                            "client_id": "spa"})
    assert r.status_code == 200, "the refused call spent the refresh token: " + r.text


@pytest.fixture
def srv(start_curfew):
    return start_curfew(CONFIG)


# ---------------------------------------------------------------------------
# Against the binary
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("origin", [APP, DEV])
def test_preflight_from_an_allowed_origin(srv, path, origin):
    r = preflight(srv.base_url, path, origin)
    assert_preflight_ok(r, origin)
    assert "access-control-allow-credentials" not in cors_headers(r)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("origin", ATTACKS)
def test_preflight_from_any_other_origin_is_403(srv, path, origin):
    assert_preflight_refused(preflight(srv.base_url, path, origin))


def test_preflight_without_origin_is_403(srv):
    assert_preflight_refused(preflight(srv.base_url, "/oauth/token"))


@pytest.mark.parametrize("origin", ATTACKS)
def test_calls_from_other_origins_are_403_and_change_nothing(srv, origin):
    sess = srv.new_session(client_id="spa")
    r = requests.post(srv.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": origin, "Authorization": f"Bearer {sess['access_token']}"})
    assert_preflight_refused(r)
    assert srv.check(sess["access_token"]).status_code == 200, "the refused logout ended it"


@pytest.mark.parametrize("spelling", ["HTTPS://APP.EXAMPLE.COM", "https://App.Example.com:443"])
def test_case_and_default_port_spellings_are_the_same_origin(srv, spelling):
    # Browsers send the canonical form; an equivalent spelling names the same
    # origin, and the echo is exactly what was sent (what the browser compares).
    assert_preflight_ok(preflight(srv.base_url, "/oauth/token", spelling), spelling)


def test_two_origin_headers_match_nothing(srv):
    for first, second in [(APP, APP), (APP, "https://evil.com"), ("https://evil.com", APP)]:
        raw = (f"OPTIONS /oauth/token HTTP/1.1\r\nHost: x\r\nOrigin: {first}\r\n"
               f"Origin: {second}\r\nAccess-Control-Request-Method: POST\r\n"
               "Connection: close\r\n\r\n").encode()
        out = srv.raw(raw).decode("latin-1")
        head = out.split("\r\n\r\n", 1)[0].lower()
        assert head.startswith("http/1.1 403"), out
        assert "origin_not_allowed" in out and "access-control-" not in head, out


def test_spa_flow_against_the_binary(srv):
    spa_flow(srv.base_url, srv, APP)


def test_other_endpoints_are_not_cors_endpoints(srv):
    sess = srv.new_session(client_id="spa")
    r = srv.check(sess["access_token"], headers={"Origin": APP})
    assert r.status_code == 200 and cors_headers(r) == {}, dict(r.headers)
    r = preflight(srv.base_url, "/oauth/introspect", APP)
    assert r.status_code == 405 and cors_headers(r) == {}, dict(r.headers)
    # An OPTIONS that is not a preflight keeps its 405 and Allow.
    r = requests.options(srv.url("/oauth/token"), headers={"Origin": APP}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "POST", dict(r.headers)


def test_no_cors_without_configured_origins(start_curfew):
    srv = start_curfew("clients:\n  - id: spa\n    type: public\n")
    assert_preflight_refused(preflight(srv.base_url, "/oauth/token", APP))
    sess = srv.new_session(client_id="spa")
    r = requests.post(srv.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": APP, "Authorization": f"Bearer {sess['access_token']}"})
    assert_preflight_refused(r)
    # A page of curfew's own site (its Host) is no cross-origin call: no CORS, no refusal.
    r = requests.post(srv.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": srv.base_url,
                               "Authorization": f"Bearer {sess['access_token']}"})
    assert r.status_code == 204 and cors_headers(r) == {}, dict(r.headers)


def test_credentials_only_when_configured(start_curfew):
    srv = start_curfew(CONFIG + "  allow_credentials: true\n")
    r = preflight(srv.base_url, "/oauth/token", APP)
    assert_preflight_ok(r, APP)
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    sess = srv.new_session(client_id="spa")
    r = requests.post(srv.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": APP, "Authorization": f"Bearer {sess['access_token']}"})
    assert r.headers.get("Access-Control-Allow-Credentials") == "true", dict(r.headers)
    r = preflight(srv.base_url, "/oauth/token", "https://evil.com")
    assert_preflight_refused(r)


def test_reload_changes_the_allowed_origins(srv):
    assert_preflight_refused(preflight(srv.base_url, "/oauth/token", "https://new.example.com"))
    srv.config_path.write_text(CONFIG.replace(APP, "https://new.example.com"))
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: preflight(srv.base_url, "/oauth/token",
                                        "https://new.example.com").status_code == 204, 5)
    assert_preflight_refused(preflight(srv.base_url, "/oauth/token", APP))


@pytest.mark.parametrize("origin", ["https://app.example.com/", "null", "*",
                                    "https://App.example.com", "https://app.example.com:443",
                                    "https://u@app.example.com"])
def test_a_bad_configured_origin_is_a_file_line_error(tmp_path, origin):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cors:\n  allowed_origins: [\"{origin}\"]\n")
    r = run_curfew("config", "check", cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{cfg}:2:" in r.stderr and "cors.allowed_origins" in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# Through the real nginx and Caddy, shipped configurations
# ---------------------------------------------------------------------------

def test_spa_flow_through_nginx(srv, tmp_path):
    app = ngxmod.EchoApp()
    ngx = ngxmod.Nginx(tmp_path / "nginx",
                       ngxmod.render_shipped_conf(srv.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        spa_flow(ngx.url("").rstrip("/"), srv, APP)
        assert app.count() == 0, "curfew's endpoints reached the application"
    finally:
        ngx.stop()
        app.close()


def test_spa_flow_through_caddy(srv, tmp_path):
    app = ngxmod.EchoApp()
    caddy = caddymod.Caddy(tmp_path / "caddy",
                           caddymod.render_shipped(srv.port, app.port, free_port()))
    try:
        caddy.start()
        spa_flow(caddy.url("").rstrip("/"), srv, APP)
        assert app.count() == 0, "curfew's endpoints reached the application"
    finally:
        caddy.stop()
        app.close()


# ---------------------------------------------------------------------------
# Per-client origins (clients[].allowed_origins)
# ---------------------------------------------------------------------------

A = "https://a.example.com"
B = "https://b.example.com"
SHARED = "https://shared.example.com"
PER_CLIENT = f"""\
refresh_token: {{ reuse_grace: 0s }}
clients:
  - id: a
    type: public
    allowed_origins: [{A}]
  - id: b
    type: public
    allowed_origins: [{B}]
  - id: c
    type: public
  - id: k
    type: public
    cookie: true
    allowed_origins: ["{DEV}"]
cors:
  allowed_origins: [{SHARED}]
"""

# Spellings an attacker would register to pass for A or B.
LOOKALIKES = [
    "https://a.example.com.", "https://a.example.com.evil.com", "https://evil-a.example.com",
    "https://xa.example.com", "https://a.example.co", "http://a.example.com",
    "https://a.example.com:444", "https://a.example.com:0443", "https://a.example.com/",
    "https://a.example.com/x", "https://a.example.com%2f", "https://a%2eexample.com",
    "https://b.example.com@evil.com", "https://evil.com#b.example.com", "http://localhost:5174",
    "http://localhost:51730", "https://localhost:5173",
    f"{A} {B}", f"{A},{B}", "null", "",
]


@pytest.fixture
def multi(start_curfew):
    return start_curfew(PER_CLIENT)


def refresh(base, origin, rt, client_id):
    h = {} if origin is None else {"Origin": origin}
    data = {"grant_type": "refresh_token", "refresh_token": rt}
    if client_id is not None:
        data["client_id"] = client_id
    return requests.post(base + "/oauth/token", headers=h, data=data, timeout=HTTP_TIMEOUT)


@pytest.mark.parametrize("path", PATHS)
def test_a_preflight_passes_for_an_origin_in_any_clients_list(multi, path):
    for origin in (A, B, DEV, SHARED):
        r = preflight(multi.base_url, path, origin)
        assert_preflight_ok(r, origin, max_age="600")
        # credentials only where a cookie-mode client lists the origin
        creds = r.headers.get("Access-Control-Allow-Credentials")
        assert creds == ("true" if origin == DEV else None), origin


@pytest.mark.parametrize("origin", LOOKALIKES + ["https://evil.com", "https://c.example.com"])
def test_a_preflight_from_an_origin_in_no_list_is_403(multi, origin):
    assert_preflight_refused(preflight(multi.base_url, "/oauth/token", origin))


def test_each_clients_origin_refreshes_its_own_tokens_only(multi):
    a, b = multi.new_session(sub="ann", client_id="a"), multi.new_session(sub="bob", client_id="b")
    # A's page with B's refresh token, however the client is named: refused, nothing spent.
    for cid in ("b", "a", None):
        r = refresh(multi.base_url, A, b["refresh_token"], cid)
        assert r.status_code in (400, 401, 403), r.text
        assert r.headers.get("Access-Control-Allow-Credentials") is None, dict(r.headers)
        if cid != "a":   # cid=a passes the origin check and is refused as client_mismatch
            assert_preflight_refused(r)
    r = refresh(multi.base_url, B, b["refresh_token"], "b")
    assert r.status_code == 200, "a refused call spent B's refresh token: " + r.text
    assert r.headers["Access-Control-Allow-Origin"] == B
    assert "Access-Control-Allow-Credentials" not in r.headers       # b is no cookie client
    # A's own token from A's page: allowed, readable, no credentials (a is not a cookie client).
    r = refresh(multi.base_url, A, a["refresh_token"], "a")
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == A
    assert "Access-Control-Allow-Credentials" not in r.headers
    # The global list serves every client; c has no list of its own.
    c = multi.new_session(sub="cat", client_id="c")
    assert_preflight_refused(refresh(multi.base_url, A, c["refresh_token"], "c"))
    r = refresh(multi.base_url, SHARED, c["refresh_token"], "c")
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == SHARED, r.text
    # Without an Origin (a server, curl) nothing changes.
    r = refresh(multi.base_url, None, r.json()["refresh_token"], "c")
    assert r.status_code == 200 and cors_headers(r) == {}, r.text


def test_revoke_and_logout_follow_the_tokens_client(multi):
    b = multi.new_session(sub="bob", client_id="b")
    r = requests.post(multi.url("/oauth/revoke"), headers={"Origin": A}, timeout=HTTP_TIMEOUT,
                      data={"token": b["refresh_token"], "client_id": "b"})
    assert_preflight_refused(r)
    r = requests.post(multi.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": A, "Authorization": f"Bearer {b['access_token']}"})
    assert_preflight_refused(r)
    assert multi.check(b["access_token"]).status_code == 200, "a refused call ended B's session"
    r = requests.post(multi.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": B, "Authorization": f"Bearer {b['access_token']}"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == B
    assert "Access-Control-Allow-Credentials" not in r.headers
    # A cookie-mode client's page gets credentials; DEV with b's token does not pass.
    k = multi.new_session(sub="kim", client_id="k")
    b2 = multi.new_session(sub="bob", client_id="b")
    r = requests.post(multi.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": DEV, "Authorization": f"Bearer {b2['access_token']}"})
    assert_preflight_refused(r)
    r = requests.post(multi.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": DEV, "Authorization": f"Bearer {k['access_token']}"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == DEV
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    a = multi.new_session(sub="ann", client_id="a")
    r = requests.post(multi.url("/oauth/revoke"), headers={"Origin": A}, timeout=HTTP_TIMEOUT,
                      data={"token": a["refresh_token"], "client_id": "a"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == A, r.text
    assert multi.check(a["access_token"]).json()["reason"] == "logout"


# (an empty or tab-ended value is sent raw in test_an_empty_or_tab_origin_is_refused)
@pytest.mark.parametrize("origin", [o for o in LOOKALIKES if o.strip() == o and o])
def test_lookalikes_of_a_clients_origin_cannot_use_its_tokens(multi, origin):
    a = multi.new_session(sub="ann", client_id="a")
    assert_preflight_refused(refresh(multi.base_url, origin, a["refresh_token"], "a"))
    r = requests.post(multi.url("/v1/logout"), timeout=HTTP_TIMEOUT,
                      headers={"Origin": origin, "Authorization": f"Bearer {a['access_token']}"})
    assert_preflight_refused(r)
    assert multi.check(a["access_token"]).status_code == 200


@pytest.mark.parametrize("first,second", [(A, A), (A, "https://evil.com"), ("https://evil.com", A),
                                          (A, B), (A, "")])
def test_two_origin_headers_on_a_call_are_refused(multi, first, second):
    a = multi.new_session(sub="ann", client_id="a")
    raw = (f"POST /v1/logout HTTP/1.1\r\nHost: x\r\nOrigin: {first}\r\nOrigin: {second}\r\n"
           f"Authorization: Bearer {a['access_token']}\r\nContent-Length: 0\r\n"
           "Connection: close\r\n\r\n").encode()
    out = multi.raw(raw).decode("latin-1")
    head = out.split("\r\n\r\n", 1)[0].lower()
    assert head.startswith("http/1.1 403") and "origin_not_allowed" in out, out
    assert "access-control-" not in head, out
    assert multi.check(a["access_token"]).status_code == 200


def test_an_empty_or_tab_origin_is_refused(multi):
    a = multi.new_session(sub="ann", client_id="a")
    for value in ("", "\t", f"{A}\t", f" {A}"):
        raw = (f"POST /v1/logout HTTP/1.1\r\nHost: x\r\nOrigin:{value}\r\n"
               f"Authorization: Bearer {a['access_token']}\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n").encode()
        out = multi.raw(raw).decode("latin-1")
        head = out.split("\r\n\r\n", 1)[0].lower()
        if value.strip() == A:   # optional whitespace around a field value is not part of it
            assert head.startswith("http/1.1 204") and f"access-control-allow-origin: {A}" in head, out
            return
        assert head.startswith("http/1.1 403") and "access-control-" not in head, (value, out)


def test_reload_changes_a_clients_origins(multi):
    a = multi.new_session(sub="ann", client_id="a")
    new = "https://a2.example.com"
    assert_preflight_refused(preflight(multi.base_url, "/oauth/token", new))
    multi.config_path.write_text(PER_CLIENT.replace(f"allowed_origins: [{A}]",
                                                    f"allowed_origins: [{new}]"))
    multi.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: preflight(multi.base_url, "/oauth/token", new).status_code == 204, 5)
    assert_preflight_refused(preflight(multi.base_url, "/oauth/token", A))
    assert_preflight_refused(refresh(multi.base_url, A, a["refresh_token"], "a"))
    r = refresh(multi.base_url, new, a["refresh_token"], "a")
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == new, r.text
    # A broken list is refused and the running one stays.
    multi.config_path.write_text(PER_CLIENT.replace(f"allowed_origins: [{A}]",
                                                    "allowed_origins: [https://A2.example.com]"))
    multi.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "A2.example.com" in multi.stderr_path.read_text(errors="replace"), 5)
    assert preflight(multi.base_url, "/oauth/token", new).status_code == 204


@pytest.mark.parametrize("origin", ["https://a.example.com/", "null", "*", "https://A.example.com",
                                    "https://a.example.com:443", "app.example.com"])
def test_a_bad_client_origin_is_a_file_line_error(tmp_path, origin):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"clients:\n  - id: a\n    allowed_origins:\n      - \"{origin}\"\n")
    r = run_curfew("config", "check", cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{cfg}:" in r.stderr and "clients[0].allowed_origins" in r.stderr, r.stderr
