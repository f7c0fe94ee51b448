# SPDX-License-Identifier: MIT
"""GET /v1/check (forward auth): every reason code and header, on the real binary.

Tokens with chosen claims are signed with the server's own key, read from
DATA_DIR/keyset.json: that proves the server checks the claim itself, not
just the signature.
"""

import json
import secrets
import time

import pytest

from conftest import assert_json_error, assert_refused, assert_grant_error, b64u, jwt_parts, \
    parse_raw_response


def claims_of(token):
    return jwt_parts(token)[1]


def assert_accepted(r, sub=None, sid=None):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert "WWW-Authenticate" not in r.headers
    if sub is not None:
        assert r.headers.get("X-Curfew-Subject") == sub, r.headers
    if sid is not None:
        assert r.headers.get("X-Curfew-Session") == sid, r.headers
    return r


# -- accepted ----------------------------------------------------------------------

def test_check_accepts_live_token_with_headers(curfew):
    s = curfew.new_session(sub="alice", roles=["admin", "dev"], idle_timeout="20s")
    r = assert_accepted(curfew.check(s["access_token"]), "alice", s["session_id"])
    roles = [x.strip() for x in r.headers["X-Curfew-Roles"].split(",")]
    assert roles == ["admin", "dev"], r.headers["X-Curfew-Roles"]
    exp_in = r.headers["X-Curfew-Expires-In"]
    assert exp_in.isdigit(), exp_in
    assert 17 <= int(exp_in) <= 20, exp_in           # the idle deadline is the earliest


def test_check_expires_in_is_earliest_deadline(curfew):
    s = curfew.new_session(sub="a", access_ttl="5s", idle_timeout="1m", absolute_timeout="2m")
    assert 3 <= int(curfew.check(s["access_token"]).headers["X-Curfew-Expires-In"]) <= 5
    s = curfew.new_session(sub="b", idle_timeout="1m", absolute_timeout="8s")
    assert 6 <= int(curfew.check(s["access_token"]).headers["X-Curfew-Expires-In"]) <= 8
    s = curfew.new_session(sub="c", idle_timeout="2m", absolute_timeout="1h")
    assert 117 <= int(curfew.check(s["access_token"]).headers["X-Curfew-Expires-In"]) <= 120


def test_check_roles_header_empty_without_roles(curfew):
    s = curfew.new_session(sub="alice")
    r = assert_accepted(curfew.check(s["access_token"]), "alice")
    assert r.headers.get("X-Curfew-Roles", "") == "", r.headers


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
@pytest.mark.parametrize("path", ["/v1/check", "/v1/check/", "/v1/check/api/v2/items?id=7&x=y",
                                  "/v1/check/a%20b/..;/c"])
def test_check_any_method_and_subpath(curfew, method, path):
    s = curfew.new_session(sub="alice")
    r = curfew.check(s["access_token"], path=path, method=method)
    assert_accepted(r, "alice", s["session_id"])
    r = curfew.check("not-a-jwt", path=path, method=method)
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers.get("WWW-Authenticate", "")
    if method != "HEAD":
        assert r.json()["reason"] == "malformed_token"


def test_path_merely_starting_with_check_is_404(curfew):
    s = curfew.new_session(sub="alice")
    r = curfew.check(s["access_token"], path="/v1/checkout")
    assert_json_error(r, 404, error="not_found")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(curfew, scheme):
    """RFC 9110 section 11.1: the auth-scheme is case-insensitive."""
    s = curfew.new_session(sub="alice")
    r = curfew.check(None, headers={"Authorization": f"{scheme} {s['access_token']}"})
    assert_accepted(r, "alice", s["session_id"])


def test_header_name_is_case_insensitive(curfew):
    s = curfew.new_session(sub="alice")
    data = curfew.raw(("GET /v1/check HTTP/1.1\r\nHost: x\r\nauthorization: Bearer %s\r\n"
                       "Connection: close\r\n\r\n" % s["access_token"]).encode())
    status, headers, _ = parse_raw_response(data)
    assert status == 200, data[:300]
    assert headers["x-curfew-subject"] == "alice"


# -- refused before looking at the token ------------------------------------------

def test_missing_token(curfew):
    r = curfew.check(None)
    assert_refused(r, "missing_token", error=None)
    assert r.headers["WWW-Authenticate"].strip() == 'Bearer realm="curfew"', r.headers


@pytest.mark.parametrize("auth", ["Basic YWxpY2U6c2VjcmV0", "Token abc", "Digest x=1"])
def test_non_bearer_scheme_is_missing_token(curfew, auth):
    r = curfew.check(None, headers={"Authorization": auth})
    assert_refused(r, "missing_token", error=None)


@pytest.mark.parametrize("auth", ["Bearer", "Bearer ", "Bearer a b", "Bearer  "])
def test_broken_authorization_header_is_invalid_request(curfew, auth):
    r = curfew.raw(("GET /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                    "Connection: close\r\n\r\n" % auth).encode())
    status, headers, body = parse_raw_response(r)
    assert status == 400, r
    assert headers["content-type"].startswith("application/json")
    assert 'error="invalid_request"' in headers.get("www-authenticate", ""), headers
    assert 'realm="curfew"' in headers["www-authenticate"]
    b = json.loads(body)
    assert b["error"] == "invalid_request" and b["reason"] == "invalid_request", b


def test_two_authorization_headers_is_invalid_request(curfew):
    s = curfew.new_session(sub="alice")
    tok = s["access_token"]
    r = curfew.raw(("GET /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % (tok, tok)).encode())
    status, headers, body = parse_raw_response(r)
    assert status == 400, r
    assert 'error="invalid_request"' in headers.get("www-authenticate", ""), headers
    assert b'"invalid_request"' in body


# -- refused on the token itself --------------------------------------------------------

def _header_b64(h):
    return b64u(json.dumps(h))


@pytest.mark.parametrize("make", [
    lambda t: "notajwt",
    lambda t: "a.b.c",
    lambda t: "a.b",
    lambda t: t + ".extra",
    lambda t: b64u("not json") + "." + t.split(".", 1)[1],
    lambda t: t.replace(".", "..", 1),
    lambda t: "~~~." + t.split(".", 1)[1],          # valid b64token, invalid base64url
], ids=["word", "abc", "two-parts", "four-parts", "header-not-json",
        "empty-part", "bad-base64"])
def test_malformed_token(curfew, make):
    s = curfew.new_session(sub="alice")
    r = curfew.check(make(s["access_token"]))
    assert_refused(r, "malformed_token")


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"a string"', b'{"sub": "alice"'])
def test_validly_signed_non_json_claims_are_malformed(curfew, payload):
    s = curfew.new_session(sub="alice")
    key = curfew.signing_key()
    header = jwt_parts(s["access_token"])[0]
    signing_input = _header_b64(header) + "." + b64u(payload)
    tok = signing_input + "." + b64u(key.sign(signing_input.encode()))
    assert_refused(curfew.check(tok), "malformed_token")


def _flip(c):
    return "A" if c != "A" else "B"


def test_bad_signature(curfew):
    s = curfew.new_session(sub="alice")
    h, p, sig = s["access_token"].split(".")
    bad = h + "." + p + "." + sig[:10] + _flip(sig[10]) + sig[11:]
    assert_refused(curfew.check(bad), "bad_signature")
    # the session itself is untouched
    assert_accepted(curfew.check(s["access_token"]), "alice")


def test_unknown_key(curfew):
    s = curfew.new_session(sub="alice")
    claims = claims_of(s["access_token"])
    assert_refused(curfew.check(curfew.forge(claims, kid="no-such-key")), "unknown_key")
    # control: the same claims with the real kid are accepted
    assert_accepted(curfew.check(curfew.forge(claims)), "alice")


def test_forged_token_with_real_key_is_accepted(curfew):
    """Control for every forging test below: our forging is byte-compatible."""
    s = curfew.new_session(sub="alice", roles=["r"])
    claims = claims_of(s["access_token"])
    assert jwt_parts(s["access_token"])[0]["kid"] == curfew.kid()
    assert_accepted(curfew.check(curfew.forge(dict(claims, jti=secrets.token_hex(8)))),
                    "alice", s["session_id"])


@pytest.mark.parametrize("claim", ["sub", "sid", "jti"])
def test_validly_signed_empty_identifier_is_malformed(curfew, claim):
    """curfew never issues an empty sub, sid or jti; a token with one (signed
    with the real key) is malformed, not a pass for the session it names."""
    s = curfew.new_session(sub="alice")
    claims = dict(claims_of(s["access_token"]), jti=secrets.token_hex(8))
    assert_accepted(curfew.check(curfew.forge(claims)), "alice")  # control
    assert_refused(curfew.check(curfew.forge(dict(claims, **{claim: ""}))), "malformed_token")


def test_token_expired(start_curfew):
    srv = start_curfew("clock_leeway: 0s\n")
    s = srv.new_session(sub="alice", access_ttl="2s")
    assert_accepted(srv.check(s["access_token"]), "alice")
    deadline = time.monotonic() + 4
    while True:
        r = srv.check(s["access_token"])
        if r.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert_refused(r, "token_expired")
    # the session is still alive: a refresh gives a working token
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    assert_accepted(srv.check(r.json()["access_token"]), "alice")


def test_expired_token_within_clock_leeway_is_accepted(start_curfew):
    srv = start_curfew("clock_leeway: 30s\n")
    s = srv.new_session(sub="alice", access_ttl="1s")
    time.sleep(2.1)
    assert_accepted(srv.check(s["access_token"]), "alice")


def test_forged_expired_token_is_refused(start_curfew):
    srv = start_curfew("clock_leeway: 5s\n")
    s = srv.new_session(sub="alice")
    c = claims_of(s["access_token"])
    now = int(time.time())
    assert_refused(srv.check(srv.forge(dict(c, iat=now - 100, exp=now - 60))), "token_expired")
    # within leeway
    assert_accepted(srv.check(srv.forge(dict(c, iat=now - 10, exp=now - 2))), "alice")


@pytest.mark.parametrize("field", ["iat", "nbf"])
def test_token_not_yet_valid(curfew, field):
    s = curfew.new_session(sub="alice")
    c = claims_of(s["access_token"])
    now = int(time.time())
    future = dict(c, exp=now + 7200)
    future[field] = now + 3600
    assert_refused(curfew.check(curfew.forge(future)), "token_not_yet_valid")


def test_future_iat_within_leeway_is_accepted(start_curfew):
    srv = start_curfew("clock_leeway: 30s\n")
    s = srv.new_session(sub="alice")
    c = claims_of(s["access_token"])
    assert_accepted(srv.check(srv.forge(dict(c, iat=c["iat"] + 10))), "alice")


def test_wrong_issuer(curfew):
    s = curfew.new_session(sub="alice")
    c = claims_of(s["access_token"])
    assert_refused(curfew.check(curfew.forge(dict(c, iss="https://evil.example"))), "wrong_issuer")
    # no iss at all: the spec does not say which of the two; either refuses it
    no_iss = dict(c)
    del no_iss["iss"]
    body = assert_refused(curfew.check(curfew.forge(no_iss)), None)
    assert body["reason"] in ("wrong_issuer", "malformed_token"), body


def test_wrong_audience(curfew):
    s = curfew.new_session(sub="alice")
    c = claims_of(s["access_token"])
    assert c["aud"] == "curfew" or c["aud"] == ["curfew"], c
    assert_refused(curfew.check(curfew.forge(dict(c, aud="another-api"))), "wrong_audience")


def test_issuer_and_audience_come_from_config(start_curfew):
    srv = start_curfew("issuer: https://auth.example.test\naudience: api://orders\n")
    s = srv.new_session(sub="alice")
    c = claims_of(s["access_token"])
    assert c["iss"] == "https://auth.example.test"
    assert c["aud"] in ("api://orders", ["api://orders"])
    assert_accepted(srv.check(s["access_token"]), "alice")
    assert_refused(srv.check(srv.forge(dict(c, aud="curfew"))), "wrong_audience")
    assert_refused(srv.check(srv.forge(dict(c, iss="http://127.0.0.1:7070"))), "wrong_issuer")


def test_session_not_found(curfew):
    s = curfew.new_session(sub="alice")
    c = claims_of(s["access_token"])
    assert_refused(curfew.check(curfew.forge(dict(c, sid=secrets.token_urlsafe(16)))),
                   "session_not_found")


# -- refused on the session ----------------------------------------------------------------

def test_idle_timeout(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="1s")
    assert_accepted(curfew.check(s["access_token"]), "alice")
    time.sleep(2.2)
    assert_refused(curfew.check(s["access_token"]), "idle_timeout")
    # an ended session never comes back
    assert_refused(curfew.check(s["access_token"]), "idle_timeout")
    assert curfew.session(s["session_id"])["end_reason"] == "idle_timeout"


@pytest.mark.slow
def test_session_does_not_end_early(curfew):
    """idle 2 s: alive 1.6 s after creation and 1.6 s after the last check
    (whole-second rounding of deadlines would end it early about half the time)."""
    s = curfew.new_session(sub="alice", idle_timeout="2s", absolute_timeout="5s")
    time.sleep(1.6)
    r = assert_accepted(curfew.check(s["access_token"]), "alice")
    assert int(r.headers["X-Curfew-Expires-In"]) <= 2
    time.sleep(1.6)
    assert_accepted(curfew.check(s["access_token"]), "alice")
    time.sleep(1.4)
    # 4.6 s: still before the 5 s absolute deadline
    assert_accepted(curfew.check(s["access_token"]), "alice")
    time.sleep(0.8)
    assert_refused(curfew.check(s["access_token"]), "absolute_timeout")


@pytest.mark.slow
def test_check_counts_as_activity(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="2s")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.2:
        assert_accepted(curfew.check(s["access_token"]), "alice")
        time.sleep(0.5)
    # 3.2 s after creation with a 2 s idle timeout: alive only because of the checks
    shown = curfew.session(s["session_id"])
    assert shown["state"] == "active", shown
    assert shown["last_activity"] >= shown["created_at"] + 2, shown
    time.sleep(3.2)
    assert_refused(curfew.check(s["access_token"]), "idle_timeout")


@pytest.mark.slow
def test_absolute_timeout_despite_activity(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="1m", absolute_timeout="2s")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        assert_accepted(curfew.check(s["access_token"]), "alice")
        time.sleep(0.3)
    time.sleep(2.2)
    assert_refused(curfew.check(s["access_token"]), "absolute_timeout")
    assert curfew.session(s["session_id"])["end_reason"] == "absolute_timeout"


def test_logout(curfew):
    s = curfew.new_session(sub="alice")
    other = curfew.new_session(sub="alice")
    r = curfew.logout(s["access_token"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_refused(curfew.check(s["access_token"]), "logout")
    assert curfew.session(s["session_id"])["end_reason"] == "logout"
    assert_accepted(curfew.check(other["access_token"]), "alice")   # only that session
    # logging out again is refused like a check
    assert_refused(curfew.logout(s["access_token"]), "logout")


@pytest.mark.parametrize("token,reason", [(None, "missing_token"), ("garbage", "malformed_token")])
def test_logout_with_bad_token_is_refused_like_check(curfew, token, reason):
    r = curfew.logout(token) if token else curfew.post("/v1/logout")
    assert_refused(r, reason, error=None if token is None else "invalid_token")


def test_session_revoked(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert_refused(curfew.check(s["access_token"]), "session_revoked")


def test_refresh_reuse_kills_all_access_tokens(curfew):
    s = curfew.new_session(sub="alice")
    r = curfew.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    new_at = r.json()["access_token"]
    assert_accepted(curfew.check(new_at), "alice")
    assert_grant_error(curfew.refresh(s["refresh_token"]), "refresh_reuse")
    assert_refused(curfew.check(new_at), "refresh_reuse")
    assert_refused(curfew.check(s["access_token"]), "refresh_reuse")


def test_revoked_before(curfew):
    s = curfew.new_session(sub="alice")
    time.sleep(1.1)
    assert curfew.admin("POST", "/v1/revocations", json={"sub": "alice"}).status_code == 200
    assert_refused(curfew.check(s["access_token"]), "revoked_before")


# -- precedence ---------------------------------------------------------------------

def test_signature_is_checked_before_claims(curfew):
    s = curfew.new_session(sub="alice")
    c = claims_of(s["access_token"])
    now = int(time.time())
    tok = curfew.forge(dict(c, iss="https://evil", exp=now - 3600))
    h, p, sig = tok.split(".")
    assert_refused(curfew.check(h + "." + p + "." + sig[:10] + _flip(sig[10]) + sig[11:]),
                   "bad_signature")


def test_issuer_before_expiry_before_session(start_curfew):
    srv = start_curfew("clock_leeway: 0s\n")
    s = srv.new_session(sub="alice")
    c = claims_of(s["access_token"])
    now = int(time.time())
    expired_elsewhere = dict(c, iss="https://evil", aud="x", exp=now - 60, sid="nope")
    assert_refused(srv.check(srv.forge(expired_elsewhere)), "wrong_issuer")
    assert_refused(srv.check(srv.forge(dict(c, aud="x", exp=now - 60, sid="nope"))),
                   "wrong_audience")
    assert_refused(srv.check(srv.forge(dict(c, exp=now - 60, sid="nope"))), "token_expired")


def test_expired_token_of_ended_session_says_token_expired(start_curfew):
    srv = start_curfew("clock_leeway: 0s\n")
    s = srv.new_session(sub="alice")
    assert srv.logout(s["access_token"]).status_code == 204
    c = claims_of(s["access_token"])
    now = int(time.time())
    assert_refused(srv.check(srv.forge(dict(c, exp=now - 60))), "token_expired")
