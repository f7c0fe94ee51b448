# SPDX-License-Identifier: MIT
"""Clients (issue 3): confidential client authentication on /oauth/token,
/oauth/revoke and /oauth/introspect (HTTP Basic and client_secret_post,
RFC 6749 §2.3.1), refresh tokens bound to their client, the
client_credentials grant (RFC 6749 §4.4) and client-specific lifetimes.

Secret hashes are made by the binary itself (``curfew hash-secret
--iterations 1000``, a low cost so the suite stays fast).
"""

import base64
import hashlib
import secrets
import subprocess
import time

import pytest

from conftest import (assert_json_error, assert_refused, basic_auth, curfew_bin, hash_secret,
                      jwt_parts, www_authenticate_params)

BACKEND_SECRET = "backend-" + secrets.token_urlsafe(18)
SVC_SECRET = "svc-" + secrets.token_urlsafe(18)
MACHINE_SECRET = "machine-" + secrets.token_urlsafe(18)
# Characters that change under form-urlencoding (RFC 6749 §2.3.1 / Appendix B).
ODD_SECRET = "p@ss:w+rd %/&=?" + secrets.token_hex(4)

_hashes = {}


def _hash(secret):
    if secret not in _hashes:
        _hashes[secret] = hash_secret(secret, iterations=1000)
    return _hashes[secret]


def clients_config():
    return f"""\
clock_leeway: 0s
refresh_token: {{ reuse_grace: 0s }}
session: {{ idle_timeout: 30m, absolute_timeout: 12h }}
access_token: {{ ttl: 10m, max_ttl: 15m }}
clients:
  - id: web
    type: public
  - id: backend
    type: confidential
    secret_hash: "{_hash(BACKEND_SECRET)}"
    allowed_grants: [refresh_token, client_credentials]
    scope: "payments:read orders"
    session: {{ idle_timeout: 1m, absolute_timeout: 2h }}
    access_token: {{ ttl: 2m }}
  - id: svc
    type: confidential
    secret_hash: "{_hash(SVC_SECRET)}"
    allowed_grants: [refresh_token]
  - id: machine
    type: confidential
    secret_hash: "{_hash(MACHINE_SECRET)}"
    allowed_grants: [client_credentials]
    scope: "jobs:run jobs:read"
    access_token: {{ ttl: 3s }}
  - id: odd
    type: confidential
    secret_hash: "{_hash(ODD_SECRET)}"
    allowed_grants: [refresh_token]
"""


@pytest.fixture
def srv(start_curfew):
    return start_curfew(clients_config())


def assert_invalid_client(r):
    """401 invalid_client with a Basic challenge (RFC 6749 §5.2)."""
    body = assert_json_error(r, 401, error="invalid_client", reason="invalid_client")
    www = r.headers.get("WWW-Authenticate", "")
    scheme, params = www_authenticate_params(www)
    assert scheme == "Basic" and params.get("realm") == "curfew", f"WWW-Authenticate {www!r}"
    assert "access_token" not in body and "refresh_token" not in body, body
    return body


def token_form(srv, form, auth=None):
    return srv.post("/oauth/token", data=form, headers=auth or {})


def refresh_basic(srv, rt, client_id, secret):
    return token_form(srv, {"grant_type": "refresh_token", "refresh_token": rt},
                      basic_auth(client_id, secret))


def refresh_post(srv, rt, client_id, secret):
    return token_form(srv, {"grant_type": "refresh_token", "refresh_token": rt,
                            "client_id": client_id, "client_secret": secret})


def cc(srv, client_id, secret, scope=None, post=False):
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    if post:
        form.update(client_id=client_id, client_secret=secret)
        return token_form(srv, form)
    return token_form(srv, form, basic_auth(client_id, secret))


# ---------------------------------------------------------------------------
# curfew hash-secret
# ---------------------------------------------------------------------------

def test_hash_secret_is_pbkdf2_sha256_and_verifiable():
    secret = "s3cret-" + secrets.token_hex(8)
    h1 = hash_secret(secret, iterations=1000)
    h2 = hash_secret(secret, iterations=1000)
    assert h1 != h2, "two hashes of the same secret must use different salts"
    for h in (h1, h2):
        parts = h.split("$")
        assert len(parts) == 4 and parts[0] == "pbkdf2-sha256" and parts[1] == "1000", h
        salt = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        want = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
        assert len(salt) >= 16 and len(want) >= 32, h
        got = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, 1000, dklen=len(want))
        assert got == want, f"{h} does not verify as PBKDF2-SHA256 of the secret"


def test_hash_secret_default_cost_is_high():
    p = subprocess.run([str(curfew_bin()), "hash-secret"], input="x" * 20, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    parts = p.stdout.strip().split("$")
    assert parts[0] == "pbkdf2-sha256" and int(parts[1]) >= 600000, p.stdout


# ---------------------------------------------------------------------------
# Client authentication on /oauth/token
# ---------------------------------------------------------------------------

def test_confidential_refresh_with_basic_and_with_post(srv):
    s = srv.new_session(sub="alice", client_id="backend")
    r = refresh_basic(srv, s["refresh_token"], "backend", BACKEND_SECRET)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("Cache-Control", "")
    t1 = r.json()
    assert t1["refresh_token"] != s["refresh_token"]
    _, claims, _ = jwt_parts(t1["access_token"])
    assert claims["client_id"] == "backend" and claims["sub"] == "alice", claims

    r = refresh_post(srv, t1["refresh_token"], "backend", BACKEND_SECRET)
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert srv.check(t2["access_token"]).status_code == 200


def test_basic_credentials_are_form_urlencoded(srv):
    s = srv.new_session(sub="olga", client_id="odd")
    r = refresh_basic(srv, s["refresh_token"], "odd", ODD_SECRET)
    assert r.status_code == 200, f"RFC 6749 §2.3.1 encoding of {ODD_SECRET!r}: {r.text}"
    # client_secret_post with the same secret (requests form-encodes the field).
    r = refresh_post(srv, r.json()["refresh_token"], "odd", ODD_SECRET)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("how", ["basic", "post"])
def test_wrong_secret_is_401_invalid_client_and_token_not_spent(srv, how):
    s = srv.new_session(sub="bob", client_id="backend")
    fn = refresh_basic if how == "basic" else refresh_post
    r = fn(srv, s["refresh_token"], "backend", BACKEND_SECRET + "x")
    assert_invalid_client(r)
    # Another client's (valid) secret is just as wrong.
    r = fn(srv, s["refresh_token"], "backend", SVC_SECRET)
    assert_invalid_client(r)
    # The refresh token was not consumed by the failed attempts.
    r = refresh_basic(srv, s["refresh_token"], "backend", BACKEND_SECRET)
    assert r.status_code == 200, r.text
    assert srv.check(s["access_token"]).status_code == 200


def test_confidential_client_without_secret_is_invalid_client(srv):
    s = srv.new_session(sub="carl", client_id="backend")
    r = srv.refresh(s["refresh_token"], client_id="backend")       # public-style: id only
    assert_invalid_client(r)
    r = srv.refresh(s["refresh_token"])                             # nothing at all
    assert r.status_code in (400, 401), r.text
    assert r.json().get("error") in ("invalid_client", "invalid_grant", "invalid_request"), r.text
    assert "access_token" not in r.json()


def test_unknown_client_is_invalid_client(srv):
    s = srv.new_session(sub="dina", client_id="web")
    assert_invalid_client(srv.refresh(s["refresh_token"], client_id="nobody"))
    assert_invalid_client(refresh_basic(srv, s["refresh_token"], "nobody", "whatever"))
    assert_invalid_client(refresh_post(srv, s["refresh_token"], "nobody", "whatever"))
    # Not spent.
    assert srv.refresh(s["refresh_token"], client_id="web").status_code == 200


def test_basic_and_post_at_once_is_400_invalid_request(srv):
    s = srv.new_session(sub="eve", client_id="backend")
    form = {"grant_type": "refresh_token", "refresh_token": s["refresh_token"],
            "client_id": "backend", "client_secret": BACKEND_SECRET}
    r = token_form(srv, form, basic_auth("backend", BACKEND_SECRET))
    assert_json_error(r, 400, error="invalid_request")
    assert "access_token" not in r.json()


def test_public_client_refresh_with_client_id_only(srv):
    s = srv.new_session(sub="fay", client_id="web")
    r = srv.refresh(s["refresh_token"], client_id="web")
    assert r.status_code == 200, r.text


def test_session_for_unconfigured_client_is_400(srv):
    r = srv.create_session(sub="gus", client_id="not-configured")
    assert_json_error(r, 400, error="invalid_request")


# ---------------------------------------------------------------------------
# Refresh tokens are bound to their client
# ---------------------------------------------------------------------------

def test_refresh_token_bound_to_client(srv):
    web = srv.new_session(sub="hal", client_id="web")
    back = srv.new_session(sub="ida", client_id="backend")

    # A confidential client, correctly authenticated, presents web's token.
    r = refresh_basic(srv, web["refresh_token"], "backend", BACKEND_SECRET)
    body = assert_json_error(r, 400, error="invalid_grant", reason="client_mismatch")
    assert "access_token" not in body
    # Another confidential client presents backend's token.
    r = refresh_post(srv, back["refresh_token"], "svc", SVC_SECRET)
    assert_json_error(r, 400, error="invalid_grant", reason="client_mismatch")
    # The public client presents backend's token.
    r = srv.refresh(back["refresh_token"], client_id="web")
    assert r.status_code in (400, 401), r.text
    assert r.json().get("reason") in ("client_mismatch", "invalid_client"), r.text

    # Neither token was spent, neither session ended.
    assert srv.refresh(web["refresh_token"], client_id="web").status_code == 200
    assert refresh_basic(srv, back["refresh_token"], "backend", BACKEND_SECRET).status_code == 200


# ---------------------------------------------------------------------------
# /oauth/revoke and /oauth/introspect with client authentication
# ---------------------------------------------------------------------------

def test_revoke_with_client_auth(srv):
    a = srv.new_session(sub="jan", client_id="backend")
    r = srv.post("/oauth/revoke", data={"token": a["refresh_token"]},
                 headers=basic_auth("backend", BACKEND_SECRET + "nope"))
    assert_invalid_client(r)
    assert srv.check(a["access_token"]).status_code == 200, "a refused revoke must not end the session"

    r = srv.post("/oauth/revoke", data={"token": a["refresh_token"]},
                 headers=basic_auth("backend", BACKEND_SECRET))
    assert r.status_code == 200, r.text
    assert_refused(srv.check(a["access_token"]), "logout")

    b = srv.new_session(sub="kim", client_id="backend")
    r = srv.post("/oauth/revoke", data={"token": b["access_token"], "client_id": "backend",
                                        "client_secret": BACKEND_SECRET})
    assert r.status_code == 200, r.text
    assert_refused(srv.check(b["access_token"]), "logout")


def assert_alive(srv, s):
    assert srv.check(s["access_token"]).status_code == 200, "a refused revoke must not end the session"
    assert srv.session(s["session_id"])["state"] == "active"


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
def test_revoke_of_a_confidential_clients_token_needs_that_client(srv, which):
    """RFC 7009 §2.1: a confidential client's token is revoked only by that
    client, authenticated; a stolen token alone cannot end its session."""
    a = srv.new_session(sub="ann", client_id="backend")
    tok = a[which]
    # No client authentication at all: 401 invalid_client, the session lives.
    for hint in (None, which, "refresh_token" if which == "access_token" else "access_token"):
        assert_invalid_client(srv.revoke(tok, hint))
        assert_alive(srv, a)
    # Named but not authenticated, in both places a client_id can go.
    assert_invalid_client(srv.post("/oauth/revoke", data={"token": tok, "client_id": "backend"}))
    assert_invalid_client(srv.post("/oauth/revoke", data={"token": tok, "client_id": "backend",
                                                          "client_secret": ""}))
    assert_invalid_client(srv.post("/oauth/revoke", data={"token": tok},
                                   headers=basic_auth("backend", "")))
    assert_alive(srv, a)
    # Another client, public or confidential and authenticated: refused, not revoked.
    for data, headers in (({"token": tok, "client_id": "web"}, {}),
                          ({"token": tok}, basic_auth("svc", SVC_SECRET)),
                          ({"token": tok, "client_id": "svc", "client_secret": SVC_SECRET}, {})):
        r = srv.post("/oauth/revoke", data=data, headers=headers)
        assert_json_error(r, 400, error="invalid_grant", reason="client_mismatch")
        assert_alive(srv, a)
    # The owner, authenticated: revoked.
    r = srv.post("/oauth/revoke", data={"token": tok}, headers=basic_auth("backend", BACKEND_SECRET))
    assert r.status_code == 200, r.text
    assert_refused(srv.check(a["access_token"]), "logout")


def test_revoke_of_a_public_clients_token(srv):
    w = srv.new_session(sub="wes", client_id="web")
    # Another (authenticated) client may not end it.
    r = srv.post("/oauth/revoke", data={"token": w["refresh_token"]},
                 headers=basic_auth("backend", BACKEND_SECRET))
    assert_json_error(r, 400, error="invalid_grant", reason="client_mismatch")
    assert_alive(srv, w)
    # The token alone, or with its public client's id, is a logout.
    assert srv.post("/oauth/revoke", data={"token": w["access_token"], "client_id": "web"}).status_code == 200
    assert_refused(srv.check(w["access_token"]), "logout")
    w = srv.new_session(sub="wes", client_id="web")
    assert srv.revoke(w["refresh_token"]).status_code == 200
    assert_refused(srv.check(w["access_token"]), "logout")
    # Unknown and malformed tokens stay 200 (RFC 7009 §2.2), with or without a client.
    assert srv.revoke("nope").status_code == 200
    r = srv.post("/oauth/revoke", data={"token": "x.y.z"}, headers=basic_auth("backend", BACKEND_SECRET))
    assert r.status_code == 200, r.text


def test_introspect_with_client_auth(srv):
    s = srv.new_session(sub="lou", client_id="backend", scope="orders")
    for headers, data in ((basic_auth("backend", BACKEND_SECRET), {}),
                          ({}, {"client_id": "backend", "client_secret": BACKEND_SECRET})):
        r = srv.post("/oauth/introspect", data={"token": s["access_token"], **data}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["active"] is True and body["sub"] == "lou" and body["client_id"] == "backend", body

    r = srv.post("/oauth/introspect", data={"token": s["access_token"]},
                 headers=basic_auth("backend", "wrong"))
    assert_invalid_client(r)
    r = srv.post("/oauth/introspect", data={"token": s["access_token"], "client_id": "backend",
                                            "client_secret": "wrong"})
    assert_invalid_client(r)
    # A public client cannot introspect.
    r = srv.post("/oauth/introspect", data={"token": s["access_token"], "client_id": "web"})
    assert r.status_code == 401, r.text
    assert "active" not in r.json()
    # The admin key still can.
    r = srv.introspect(s["access_token"])
    assert r.status_code == 200 and r.json()["active"] is True, r.text


# ---------------------------------------------------------------------------
# client_credentials
# ---------------------------------------------------------------------------

def test_client_credentials_issues_access_token_only(srv):
    for post in (False, True):
        r = cc(srv, "backend", BACKEND_SECRET, scope="orders", post=post)
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers.get("Cache-Control", "")
        body = r.json()
        assert body["token_type"] == "Bearer", body
        assert "refresh_token" not in body, body
        assert body["scope"] == "orders", body
        assert body["expires_in"] == 120, body          # backend's access_token.ttl
        _, claims, _ = jwt_parts(body["access_token"])
        assert claims["sub"] == "backend" and claims["client_id"] == "backend", claims
        assert claims.get("sid"), claims
        assert claims["exp"] - claims["iat"] == 120, claims
        assert claims["scope"] == "orders", claims

        ok = srv.check(body["access_token"])
        assert ok.status_code == 200, ok.text
        assert ok.headers.get("X-Curfew-Subject") == "backend"
        assert ok.headers.get("X-Curfew-Session") == claims["sid"]
        exp_in = int(ok.headers["X-Curfew-Expires-In"])
        assert 0 < exp_in <= 120

        # Its machine session belongs to the client and dies with the token.
        sess = srv.session(claims["sid"])
        assert sess["client_id"] == "backend" and sess["sub"] == "backend", sess
        assert sess["absolute_expires_at"] == claims["exp"], (sess, claims)


def test_client_credentials_scope_rules(srv):
    r = cc(srv, "backend", BACKEND_SECRET, scope="payments:read orders")
    assert r.status_code == 200 and set(r.json()["scope"].split()) == {"payments:read", "orders"}, r.text
    # No scope asked for: never more than the client's.
    r = cc(srv, "backend", BACKEND_SECRET)
    assert r.status_code == 200, r.text
    assert set(r.json()["scope"].split()) <= {"payments:read", "orders"}, r.text
    # A scope outside the client's set.
    for bad in ("admin", "orders admin", "payments"):
        r = cc(srv, "backend", BACKEND_SECRET, scope=bad)
        body = assert_json_error(r, 400, error="invalid_scope")
        assert "access_token" not in body, body


def test_client_credentials_needs_the_grant_and_a_secret(srv):
    r = cc(srv, "svc", SVC_SECRET)
    body = assert_json_error(r, 400, error="unauthorized_client", reason="unauthorized_client")
    assert "access_token" not in body
    assert_invalid_client(cc(srv, "machine", MACHINE_SECRET + "x"))
    assert_invalid_client(cc(srv, "ghost", "whatever"))
    # A public client cannot authenticate, so it never gets one.
    r = token_form(srv, {"grant_type": "client_credentials", "client_id": "web"})
    assert r.status_code in (400, 401), r.text
    assert r.json().get("error") in ("unauthorized_client", "invalid_client"), r.text
    # A confidential client without client_credentials in allowed_grants... and
    # one without refresh_token cannot refresh: machine has only client_credentials.
    s = srv.create_session(sub="mo", client_id="machine")
    if s.status_code == 201:
        r = refresh_basic(srv, s.json()["refresh_token"], "machine", MACHINE_SECRET)
        assert_json_error(r, 400, error="unauthorized_client")


@pytest.mark.slow
def test_client_credentials_token_valid_until_exp_only(srv):
    r = cc(srv, "machine", MACHINE_SECRET, scope="jobs:run")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 3, body
    _, claims, _ = jwt_parts(body["access_token"])
    assert srv.check(body["access_token"]).status_code == 200
    time.sleep(max(0.0, claims["exp"] - time.time()) + 1.2)
    r = srv.check(body["access_token"])
    assert_refused(r, r.json().get("reason"))
    assert r.json()["reason"] in ("token_expired", "absolute_timeout"), r.text
    # No idle session beyond the token.
    sess = srv.session(claims["sid"])
    assert sess["state"] == "ended" or sess["absolute_expires_at"] <= claims["exp"], sess


def test_client_credentials_token_is_revocable(srv):
    r = cc(srv, "machine", MACHINE_SECRET)
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    assert srv.check(at).status_code == 200
    r = srv.post("/oauth/revoke", data={"token": at}, headers=basic_auth("machine", MACHINE_SECRET))
    assert r.status_code == 200, r.text
    assert_refused(srv.check(at), "logout")


# ---------------------------------------------------------------------------
# Client-specific lifetimes
# ---------------------------------------------------------------------------

def test_client_lifetimes_are_applied(srv):
    now = int(time.time())
    s = srv.new_session(sub="nia", client_id="backend")
    assert s["expires_in"] == 120, s
    assert abs(s["idle_expires_at"] - (now + 60)) <= 2, s
    assert abs(s["absolute_expires_at"] - (now + 7200)) <= 2, s
    _, claims, _ = jwt_parts(s["access_token"])
    assert claims["exp"] - claims["iat"] == 120, claims
    sess = srv.session(s["session_id"])
    assert sess["idle_timeout"] == 60 and sess["absolute_timeout"] == 7200, sess

    r = refresh_basic(srv, s["refresh_token"], "backend", BACKEND_SECRET)
    assert r.status_code == 200 and r.json()["expires_in"] == 120, r.text

    # A request may shorten but not lengthen.
    s = srv.new_session(sub="ole", client_id="backend", idle_timeout="1h", access_ttl="10m")
    assert s["expires_in"] == 120, s
    assert srv.session(s["session_id"])["idle_timeout"] == 60
    s = srv.new_session(sub="pia", client_id="backend", idle_timeout="20s", access_ttl="30s")
    assert s["expires_in"] == 30, s
    assert srv.session(s["session_id"])["idle_timeout"] == 20

    # A client without overrides gets the global values.
    s = srv.new_session(sub="quin", client_id="web")
    assert s["expires_in"] == 600, s
    sess = srv.session(s["session_id"])
    assert sess["idle_timeout"] == 1800 and sess["absolute_timeout"] == 43200, sess
