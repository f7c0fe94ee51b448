# SPDX-License-Identifier: MIT
"""Browser sessions with cookies (issue 3): a cookie-mode client gets its
refresh token only in a __Host- cookie (Path=/; Secure; HttpOnly;
SameSite=Strict; no Domain), never in JSON; /oauth/token takes the refresh
token from that cookie and rotates it; /v1/check reads the access token from
the access cookie; cookie-authenticated POSTs need an allowed Origin or the
CSRF header.

Requests here are sent with explicit Cookie headers through a fresh
requests call (no cookie jar), so exactly what is sent is what the test says.
"""

import pytest
import requests

import time

from conftest import (HTTP_TIMEOUT, assert_json_error, assert_refused, cookies_by_name, forge_token,
                      jwt_parts)

CONFIG = """\
refresh_token: { reuse_grace: 0s }
access_token: { ttl: 5m }
clients:
  - id: spa
    type: public
    cookie: true
  - id: web
    type: public
cookie:
  allowed_origins: [https://app.example.com]
  csrf_header: X-CSRF
"""
RT = "__Host-curfew_rt"
AT = "__Host-curfew_at"  # both names are the defaults
ORIGIN = {"Origin": "https://app.example.com"}


@pytest.fixture
def srv(start_curfew):
    return start_curfew(CONFIG)


def post(srv, path, cookies=None, headers=None, data=None):
    h = dict(headers or {})
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return requests.post(srv.url(path), headers=h, data=data, timeout=HTTP_TIMEOUT,
                         allow_redirects=False)


def get(srv, path, cookies=None, headers=None):
    h = dict(headers or {})
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return requests.get(srv.url(path), headers=h, timeout=HTTP_TIMEOUT, allow_redirects=False)


def create_cookie_session(srv, sub="alice"):
    r = srv.create_session(sub=sub, client_id="spa")
    assert r.status_code == 201, r.text
    c = cookies_by_name(r)
    assert RT in c and AT in c, f"Set-Cookie: {r.raw.headers.getlist('Set-Cookie')}"
    return r, c[RT][0], c[AT][0]


def refresh_cookie(srv, rt, headers=None):
    return post(srv, "/oauth/token", cookies={RT: rt},
                data={"grant_type": "refresh_token", "client_id": "spa"}, headers=headers)


def assert_cookie_flags(c, name, max_age=None):
    value, attrs = c[name]
    assert value, (name, c[name])
    assert attrs.get("path") == "/", (name, attrs)
    assert attrs.get("secure") is True, (name, attrs)
    assert attrs.get("httponly") is True, (name, attrs)
    assert str(attrs.get("samesite", "")).lower() == "strict", (name, attrs)
    assert "domain" not in attrs, (name, attrs)          # __Host- forbids Domain
    if max_age is not None:
        assert attrs.get("max-age") == str(max_age), (name, attrs)
    return value


def test_cookie_client_gets_cookies_not_json_refresh_token(srv):
    r, rt, at = create_cookie_session(srv)
    body = r.json()
    assert "refresh_token" not in body, body
    assert rt not in r.text, "the refresh token leaked into the body"
    c = cookies_by_name(r)
    assert_cookie_flags(c, RT)
    assert_cookie_flags(c, AT, max_age=300)
    if "access_token" in body:
        assert body["access_token"] == at
    _, claims, _ = jwt_parts(at)
    assert claims["client_id"] == "spa" and claims["sub"] == "alice", claims


def test_non_cookie_client_unchanged(srv):
    r = srv.create_session(sub="bob", client_id="web")
    assert r.status_code == 201, r.text
    assert r.raw.headers.getlist("Set-Cookie") == []
    assert r.json().get("refresh_token")


def test_refresh_via_cookie_rotates_cookie(srv):
    _, rt, at = create_cookie_session(srv)
    r = refresh_cookie(srv, rt, headers=ORIGIN)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("Cache-Control", "")
    body = r.json()
    assert "refresh_token" not in body, body
    c = cookies_by_name(r)
    rt2 = assert_cookie_flags(c, RT)
    at2 = assert_cookie_flags(c, AT, max_age=300)
    assert rt2 != rt and at2 != at
    assert rt2 not in r.text
    # The new refresh cookie works; presenting the old one again is reuse.
    r = refresh_cookie(srv, rt2, headers=ORIGIN)
    assert r.status_code == 200, r.text
    rt3 = cookies_by_name(r)[RT][0]
    r = refresh_cookie(srv, rt, headers=ORIGIN)
    assert_json_error(r, 400, error="invalid_grant", reason="refresh_reuse")
    r = refresh_cookie(srv, rt3, headers=ORIGIN)
    assert r.status_code == 400 and r.json().get("reason") == "refresh_reuse", r.text


def test_form_field_refresh_for_cookie_client(srv):
    """A refresh_token form field works without a cookie; the answer still uses cookies."""
    _, rt, _ = create_cookie_session(srv)
    r = post(srv, "/oauth/token", data={"grant_type": "refresh_token", "client_id": "spa",
                                        "refresh_token": rt})
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()
    assert RT in cookies_by_name(r)


def test_check_reads_access_cookie(srv):
    _, _, at = create_cookie_session(srv, sub="carol")
    r = get(srv, "/v1/check", cookies={AT: at, "other": "x"})
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Curfew-Subject") == "carol"
    # The Authorization header wins over the cookie.
    r = get(srv, "/v1/check", cookies={AT: at}, headers={"Authorization": "Bearer not.a.jwt"})
    assert_refused(r, "malformed_token")
    # A wrong cookie name is no token.
    r = get(srv, "/v1/check", cookies={"curfew_access": at})
    assert_refused(r, "missing_token", error=None)
    r = get(srv, "/v1/check", cookies={AT: "garbage"})
    assert r.status_code == 401 and r.json().get("reason") == "malformed_token", r.text


@pytest.mark.parametrize("headers", [
    {},
    {"Origin": "https://evil.example.com"},
    {"Origin": "https://app.example.com.evil.example.com"},
    {"Origin": "http://app.example.com"},
    {"Origin": "null"},
    {"X-CSRF": ""},
    {"Referer": "https://app.example.com/page"},
])
def test_cookie_refresh_without_csrf_proof_is_403(srv, headers):
    _, rt, at = create_cookie_session(srv)
    r = refresh_cookie(srv, rt, headers=headers)
    body = assert_json_error(r, 403, reason="csrf_rejected")
    assert "access_token" not in body
    assert r.raw.headers.getlist("Set-Cookie") == [], "no cookies on a refused request"
    # Not spent, session alive.
    r = refresh_cookie(srv, rt, headers=ORIGIN)
    assert r.status_code == 200, r.text


def test_cookie_refresh_with_csrf_header(srv):
    _, rt, _ = create_cookie_session(srv)
    r = refresh_cookie(srv, rt, headers={"X-CSRF": "1"})
    assert r.status_code == 200, r.text
    rt2 = cookies_by_name(r)[RT][0]
    # Allowed origin and CSRF header together are fine too.
    r = refresh_cookie(srv, rt2, headers={"X-CSRF": "yes", **ORIGIN})
    assert r.status_code == 200, r.text


def test_cookie_logout_needs_csrf(srv):
    _, _, at = create_cookie_session(srv, sub="dan")
    r = post(srv, "/v1/logout", cookies={AT: at})
    assert_json_error(r, 403, reason="csrf_rejected")
    assert get(srv, "/v1/check", cookies={AT: at}).status_code == 200
    r = post(srv, "/v1/logout", cookies={AT: at}, headers=ORIGIN)
    assert r.status_code == 204, r.text
    assert_refused(get(srv, "/v1/check", cookies={AT: at}), "logout")


def test_cookie_revoke_needs_csrf(srv):
    r0, rt, at = create_cookie_session(srv, sub="erin")
    r = post(srv, "/oauth/revoke", cookies={RT: rt}, data={"token_type_hint": "refresh_token"})
    assert_json_error(r, 403, reason="csrf_rejected")
    assert get(srv, "/v1/check", cookies={AT: at}).status_code == 200
    r = post(srv, "/oauth/revoke", cookies={RT: rt}, data={"token_type_hint": "refresh_token"},
             headers={"X-CSRF": "1"})
    assert r.status_code == 200, r.text
    assert_refused(get(srv, "/v1/check", cookies={AT: at}), "logout")


def test_bearer_requests_need_no_csrf(srv):
    """Without cookies there is no ambient credential: no Origin needed."""
    s = srv.new_session(sub="fred", client_id="web")
    r = post(srv, "/v1/logout", headers={"Authorization": f"Bearer {s['access_token']}"})
    assert r.status_code == 204, r.text
    s = srv.new_session(sub="gina", client_id="web")
    r = post(srv, "/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                        "refresh_token": s["refresh_token"]})
    assert r.status_code == 200, r.text


# ---- issue 9 #15: logout that always works -------------------------------------------


def test_access_cookie_has_the_host_prefix_and_the_old_name_is_not_read(srv):
    r, _, at = create_cookie_session(srv, sub="hank")
    assert sorted(cookies_by_name(r)) == sorted([RT, AT])
    assert all(n.startswith("__Host-") for n in cookies_by_name(r))
    assert get(srv, "/v1/check", cookies={AT: at}).status_code == 200
    # The unprefixed name of earlier versions is no longer a credential.
    assert_refused(get(srv, "/v1/check", cookies={"curfew_at": at}), "missing_token", error=None)


def assert_cleared(r):
    c = cookies_by_name(r)
    assert sorted(c) == sorted([RT, AT]), r.raw.headers.getlist("Set-Cookie")
    for name in (RT, AT):
        value, attrs = c[name]
        assert value == "", (name, c[name])
        assert attrs.get("max-age") == "0", (name, attrs)
        assert attrs.get("path") == "/" and attrs.get("secure") is True, (name, attrs)
        assert attrs.get("httponly") is True and "domain" not in attrs, (name, attrs)
        assert str(attrs.get("samesite", "")).lower() == "strict", (name, attrs)


def test_cookie_logout_clears_both_cookies(srv):
    _, rt, at = create_cookie_session(srv, sub="ivy")
    r = post(srv, "/v1/logout", cookies={AT: at, RT: rt}, headers=ORIGIN)
    assert r.status_code == 204, r.text
    assert_cleared(r)
    # Only the access cookie sent (the refresh cookie may be scoped away): both still cleared.
    _, rt, at = create_cookie_session(srv, sub="ivy2")
    r = post(srv, "/v1/logout", cookies={AT: at}, headers=ORIGIN)
    assert r.status_code == 204, r.text
    assert_cleared(r)
    assert_json_error(refresh_cookie(srv, rt, headers=ORIGIN), 400, reason="logout")


def test_bearer_logout_sets_no_cookie(srv):
    s = srv.new_session(sub="jack", client_id="web")
    r = post(srv, "/v1/logout", headers={"Authorization": f"Bearer {s['access_token']}"})
    assert r.status_code == 204 and not r.raw.headers.getlist("Set-Cookie"), r.headers


SHORT = CONFIG.replace("access_token: { ttl: 5m }", "access_token: { ttl: 1s }\nclock_leeway: 0s")


def test_logout_with_an_expired_access_token_ends_the_live_session(start_curfew):
    srv = start_curfew(SHORT)
    bearer = srv.new_session(sub="kim", client_id="web")
    _, rt, at = create_cookie_session(srv, sub="lee")
    time.sleep(2.1)  # both access tokens expire (ttl 1s, no leeway); the sessions live on
    assert_refused(srv.check(bearer["access_token"]), "token_expired")
    r = post(srv, "/v1/logout", headers={"Authorization": f"Bearer {bearer['access_token']}"})
    assert r.status_code == 204, r.text
    assert_json_error(srv.refresh(bearer["refresh_token"], client_id="web"), 400, reason="logout")
    assert srv.session(bearer["session_id"])["end_reason"] == "logout"
    r = post(srv, "/v1/logout", cookies={AT: at, RT: rt}, headers=ORIGIN)
    assert r.status_code == 204, r.text
    assert_cleared(r)
    assert_json_error(refresh_cookie(srv, rt, headers=ORIGIN), 400, reason="logout")
    # Once ended, the same expired token is refused with the session's reason.
    assert_refused(post(srv, "/v1/logout", headers={"Authorization": f"Bearer {bearer['access_token']}"}),
                   "logout")


def test_expired_logout_still_refuses_forged_revoked_and_foreign_tokens(start_curfew):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    srv = start_curfew(SHORT)
    s = srv.new_session(sub="max", client_id="web")
    claims = jwt_parts(s["access_token"])[1]
    other_key = Ed25519PrivateKey.generate()
    forged = forge_token(other_key, claims, srv.kid())           # right kid, wrong key
    foreign = srv.forge({**claims, "sid": "A" * 22})            # signed, unknown session
    time.sleep(2.1)
    logout = lambda tok: post(srv, "/v1/logout", headers={"Authorization": f"Bearer {tok}"})
    assert_refused(logout(forged), "bad_signature")
    assert_refused(logout(foreign), "token_expired")
    assert srv.session(s["session_id"])["state"] == "active"
    r = srv.admin("DELETE", f"/v1/sessions/{s['session_id']}")
    assert r.status_code == 200, r.text
    assert_refused(logout(s["access_token"]), "session_revoked")
    # A not-before revocation of the subject covers expired tokens too.
    s2 = srv.new_session(sub="max2", client_id="web")
    time.sleep(1.1)
    assert srv.admin("POST", "/v1/revocations", json={"sub": "max2"}).status_code == 200
    time.sleep(1.1)
    assert_refused(logout(s2["access_token"]), "revoked_before")
