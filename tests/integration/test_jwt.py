# SPDX-License-Identifier: MIT
"""An independent verifier (PyJWT + the JWKS) accepts curfew's access tokens;
curfew refuses forged ones with the right reason; RFC 8414 metadata."""

import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from conftest import assert_refused, b64u, b64u_decode, jws_compact, jwt_parts

CONFIG = "issuer: @URL@\naudience: api://orders\n"


@pytest.fixture
def srv(start_curfew):
    return start_curfew(CONFIG)


def jwks_key(srv, kid):
    jwks = srv.jwks()
    matches = [k for k in jwks["keys"] if k.get("kid") == kid]
    assert len(matches) == 1, jwks
    return jwt.PyJWK(matches[0])


# -- JWKS and independent verification ------------------------------------------------------

def test_jwks_document(srv):
    r = srv.get("/.well-known/jwks.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    keys = r.json()["keys"]
    assert len(keys) >= 1
    k = keys[0]
    assert k["kty"] == "OKP" and k["crv"] == "Ed25519" and k["alg"] == "EdDSA", k
    assert k["use"] == "sig" and k["kid"], k
    assert len(b64u_decode(k["x"])) == 32
    assert "d" not in k                              # never the private part
    # the published key is the public half of the active key in keyset.json
    pub = srv.signing_key().public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)
    assert b64u_decode(k["x"]) == pub


def test_jwks_needs_no_auth_and_is_stable(srv):
    a = srv.get("/.well-known/jwks.json").json()
    b = srv.get("/.well-known/jwks.json", headers={"Authorization": "Bearer whatever"}).json()
    assert a == b


def test_kid_survives_restart(srv):
    kid = srv.kid()
    s = srv.new_session(sub="alice")
    srv.restart()
    assert srv.kid() == kid
    assert srv.check(s["access_token"]).status_code == 200


def test_pyjwt_verifies_access_token(srv):
    now = int(time.time())
    s = srv.new_session(sub="alice", client_id="web", roles=["admin", "ops"], scope="read write",
                        auth_time=now - 30, access_ttl="2m")
    token = s["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA", header
    assert header["typ"] == "at+jwt", header
    key = jwks_key(srv, header["kid"])
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="api://orders",
                        issuer=srv.base_url,
                        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
    assert claims["iss"] == srv.base_url
    assert claims["aud"] in ("api://orders", ["api://orders"])
    assert claims["sub"] == "alice"
    assert claims["client_id"] == "web"
    assert claims["sid"] == s["session_id"]
    assert claims["scope"] == "read write"
    assert claims["roles"] == ["admin", "ops"]
    assert claims["auth_time"] == now - 30
    assert abs(claims["iat"] - now) <= 2
    assert claims["exp"] - claims["iat"] == 120
    assert claims["exp"] - int(time.time()) <= s["expires_in"] + 1
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    # PyJWT with the wrong audience or issuer refuses, so the checks above are real
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=["EdDSA"], audience="curfew", issuer=srv.base_url)
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, key.key, algorithms=["EdDSA"], audience="api://orders", issuer="x")


def test_pyjwt_verifies_refreshed_token(srv):
    s = srv.new_session(sub="bob")
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    key = jwks_key(srv, jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="api://orders",
                        issuer=srv.base_url)
    assert claims["sub"] == "bob" and claims["sid"] == s["session_id"]


def test_defaults_for_optional_claims(srv):
    before = int(time.time())
    s = srv.new_session(sub="carol")
    c = jwt_parts(s["access_token"])[1]
    for k in ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid", "scope", "roles",
              "auth_time"):
        assert k in c, (k, c)
    assert isinstance(c["roles"], list)
    assert isinstance(c["scope"], str)
    assert before - 1 <= c["auth_time"] <= int(time.time()) + 1   # defaults to creation time


def test_jti_is_unique(srv):
    jtis = set()
    for _ in range(5):
        s = srv.new_session(sub="alice")
        jtis.add(jwt_parts(s["access_token"])[1]["jti"])
        r = srv.refresh(s["refresh_token"])
        jtis.add(jwt_parts(r.json()["access_token"])[1]["jti"])
    assert len(jtis) == 10


# -- forged tokens ----------------------------------------------------------------------

def test_alg_none_is_bad_signature(srv):
    s = srv.new_session(sub="alice")
    header, claims, _ = jwt_parts(s["access_token"])
    for alg in ("none", "None", "NONE"):
        forged = jws_compact(dict(header, alg=alg), dict(claims, sub="mallory"))
        assert forged.endswith(".")
        assert_refused(srv.check(forged), "bad_signature")
        # also with the original signature kept
        forged_sig = forged + s["access_token"].split(".")[2]
        assert_refused(srv.check(forged_sig), "bad_signature")


def _public_key_variants(srv):
    jwk = srv.jwks()["keys"][0]
    raw = b64u_decode(jwk["x"])
    pem = srv.signing_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = srv.signing_key().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"raw": raw, "x": jwk["x"].encode(), "pem": pem, "der": der,
            "jwk": json.dumps(jwk).encode()}


@pytest.mark.parametrize("variant", ["raw", "x", "pem", "der", "jwk"])
@pytest.mark.parametrize("alg,digest", [("HS256", hashlib.sha256), ("HS512", hashlib.sha512)])
def test_hmac_keyed_with_public_key_is_bad_signature(srv, variant, alg, digest):
    s = srv.new_session(sub="alice")
    header, claims, _ = jwt_parts(s["access_token"])
    secret = _public_key_variants(srv)[variant]
    forged = jws_compact(dict(header, alg=alg), dict(claims, sub="mallory"),
                         lambda m: hmac.new(secret, m, digest).digest())
    assert_refused(srv.check(forged), "bad_signature")


def test_other_asymmetric_algorithms_with_real_kid_are_bad_signature(srv):
    s = srv.new_session(sub="alice")
    header, claims, _ = jwt_parts(s["access_token"])
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    other_ed = ed25519.Ed25519PrivateKey.generate()
    cases = {
        "RS256": lambda m: rsa_key.sign(m, padding.PKCS1v15(), hashes.SHA256()),
        "ES256": lambda m: ec_key.sign(m, ec.ECDSA(hashes.SHA256())),
        "EdDSA": other_ed.sign,                  # right alg, somebody else's key
    }
    for alg, sign in cases.items():
        forged = jws_compact(dict(header, alg=alg), claims, sign)
        assert_refused(srv.check(forged), "bad_signature")
    # the real key under a different alg name is still refused (alg is pinned to the key)
    real = srv.signing_key()
    for alg in ("Ed25519", "ES256", "RS256"):
        forged = jws_compact(dict(header, alg=alg), claims, real.sign)
        assert_refused(srv.check(forged), "bad_signature")


def test_wrong_kid_is_unknown_key(srv):
    s = srv.new_session(sub="alice")
    header, claims, _ = jwt_parts(s["access_token"])
    # edited header on the real token
    h, p, sig = s["access_token"].split(".")
    edited = b64u(json.dumps(dict(header, kid="rotated-away"))) + "." + p + "." + sig
    assert_refused(srv.check(edited), "unknown_key")
    # properly signed with the real key but naming another kid
    real = srv.signing_key()
    assert_refused(srv.check(jws_compact(dict(header, kid="k2"), claims, real.sign)), "unknown_key")


def test_changed_payload_is_bad_signature(srv):
    s = srv.new_session(sub="alice", roles=["user"])
    header, claims, _ = jwt_parts(s["access_token"])
    h, p, sig = s["access_token"].split(".")
    for change in ({"sub": "mallory"}, {"roles": ["admin"]}, {"exp": claims["exp"] + 86400}):
        new_p = b64u(json.dumps(dict(claims, **change), separators=(",", ":")))
        assert_refused(srv.check(h + "." + new_p + "." + sig), "bad_signature")
    # a changed header (typ) breaks the signature too
    new_h = b64u(json.dumps(dict(header, typ="JWT"), separators=(",", ":")))
    body = assert_refused(srv.check(new_h + "." + p + "." + sig), None)
    assert body["reason"] in ("bad_signature", "malformed_token"), body
    # and a truncated/extended signature
    sig_bytes = b64u_decode(sig)
    assert_refused(srv.check(h + "." + p + "." + b64u(sig_bytes[:-1] + bytes([sig_bytes[-1] ^ 1]))),
                   "bad_signature")
    assert srv.check(s["access_token"]).status_code == 200


BAD_TYP = ["JWT", "jwt", "", "at+jwt ", "at+jwt; charset=utf-8", "application/jwt", "dpop+jwt",
           "logout+jwt", "text/at+jwt", "application/application/at+jwt", None, 1, ["at+jwt"]]


@pytest.mark.parametrize("typ", BAD_TYP, ids=repr)
def test_typ_other_than_at_jwt_is_refused(srv, typ):
    """RFC 9068 §4: a JWT of another type (an ID token, a logout token), even
    one signed with our key and carrying every right claim, is no access token."""
    s = srv.new_session(sub="alice")
    header, claims, _ = jwt_parts(s["access_token"])
    header = dict(header)
    if typ is None:
        del header["typ"]
    else:
        header["typ"] = typ
    forged = jws_compact(header, claims, srv.signing_key().sign)
    assert_refused(srv.check(forged), "malformed_token")
    r = srv.introspect(forged)
    assert r.status_code == 200 and r.json() == {"active": False, "reason": "malformed_token"}, r.text
    # Neither revocation nor logout act on it: the session lives.
    assert srv.revoke(forged).status_code == 200
    assert srv.logout(forged).status_code == 401
    assert srv.check(s["access_token"]).status_code == 200


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"])
def test_typ_at_jwt_in_any_case_with_or_without_prefix(srv, typ):
    s = srv.new_session(sub="alice")
    header, claims, _ = jwt_parts(s["access_token"])
    forged = jws_compact(dict(header, typ=typ), claims, srv.signing_key().sign)
    assert srv.check(forged).status_code == 200


# -- RFC 8414 metadata --------------------------------------------------------------------

def test_authorization_server_metadata(srv):
    r = srv.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    m = r.json()
    base = srv.base_url
    assert m["issuer"] == base
    assert m["token_endpoint"] == base + "/oauth/token"
    assert m["revocation_endpoint"] == base + "/oauth/revoke"
    assert m["introspection_endpoint"] == base + "/oauth/introspect"
    assert m["jwks_uri"] == base + "/.well-known/jwks.json"
    assert m["grant_types_supported"] == ["refresh_token", "client_credentials"]
    assert m["token_endpoint_auth_methods_supported"] == ["none", "client_secret_basic",
                                                           "client_secret_post", "tls_client_auth",
                                                           "self_signed_tls_client_auth"]
    assert m["tls_client_certificate_bound_access_tokens"] is True
    # the named jwks_uri really serves the keys
    path = m["jwks_uri"][len(base):]
    assert srv.get(path).json()["keys"][0]["kid"] == srv.kid()


def test_metadata_issuer_follows_config(start_curfew):
    srv = start_curfew("issuer: https://auth.example.test/tenant1\n")
    m = srv.get("/.well-known/oauth-authorization-server").json()
    assert m["issuer"] == "https://auth.example.test/tenant1"
    assert m["token_endpoint"] == "https://auth.example.test/tenant1/oauth/token"
    assert m["jwks_uri"] == "https://auth.example.test/tenant1/.well-known/jwks.json"


def test_default_issuer(curfew):
    m = curfew.get("/.well-known/oauth-authorization-server").json()
    assert m["issuer"] == "http://127.0.0.1:7070"
    s = curfew.new_session(sub="alice")
    c = jwt_parts(s["access_token"])[1]
    assert c["iss"] == "http://127.0.0.1:7070" and c["aud"] in ("curfew", ["curfew"])



def test_token_of_another_curfew_is_refused(start_curfew):
    a = start_curfew()
    b = start_curfew()
    assert a.kid() != b.kid()
    s = a.new_session(sub="alice")
    assert a.check(s["access_token"]).status_code == 200
    assert_refused(b.check(s["access_token"]), "unknown_key")
    # b's key under a's kid: the signature does not verify
    header, claims, _ = jwt_parts(s["access_token"])
    assert_refused(a.check(jws_compact(header, claims, b.signing_key().sign)), "bad_signature")
