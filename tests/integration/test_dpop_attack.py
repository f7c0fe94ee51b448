# SPDX-License-Identifier: MIT
"""Hostile DPoP proofs against /v1/check on the real binary (RFC 9449 §4.3,
§7.1), made independently of curfew's code (test_dpop.Key: `cryptography` +
PyJWT, or JWS assembled by hand where PyJWT refuses to make the attack).

What is pinned: how htu is compared (query and fragment ignored, scheme and
host case-insensitive, default ports, RFC 3986 normalisation, nothing else);
htm exact; typ, alg and jwk confusion; hostile iat and jti values; the
scheme a bound or unbound token is presented with; nonces that are stale or
come from another server process.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from test_dpop import APP, Key, assert_dpop_refused, b64u, check


def at_hash(at):
    return b64u(hashlib.sha256(at.encode()).digest())


def claims(at, **over):
    c = {"jti": secrets.token_urlsafe(12), "htm": "GET", "htu": APP + "/api/items",
         "iat": int(time.time()), "ath": at_hash(at)}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def hand_jws(header, payload, sign):
    """A compact JWS with exactly these JSON texts (PyJWT normalises them)."""
    h = b64u(header.encode() if isinstance(header, str) else json.dumps(header).encode())
    p = b64u(payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
    return f"{h}.{p}.{b64u(sign(f'{h}.{p}'.encode()))}"


def es256_sign(key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def sign(msg):
        r, s = decode_dss_signature(key.priv.sign(msg, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return sign


@pytest.fixture
def bound(curfew):
    key = Key()
    s = curfew.new_session(sub="alice", dpop_jkt=key.jkt)
    return curfew, key, s["access_token"]


# -- htu: what may differ, and what may not ------------------------------------------------

@pytest.mark.parametrize("htu", [
    APP + "/api/items?page=2",          # the query is not compared (RFC 9449 §4.3 item 9)
    APP + "/api/items?other=1",
    APP + "/api/items#frag",
    APP + "/api/items?#",
    "HTTPS://APP.EXAMPLE/api/items",    # scheme and host are case-insensitive (RFC 3986 §6.2.2.1)
    "https://App.Example:443/api/items",  # the default port spelled out
    "https://app.example:0443/api/items",
    "https://app.example/api/%69tems",  # an unreserved character percent-encoded (§6.2.2.2)
    "https://app.example/api/./items",  # dot segments (§6.2.2.3)
    "https://app.example/x/../api/items",
])
def test_equivalent_htu_is_accepted(bound, htu):
    srv, key, at = bound
    r = check(srv, at, key.proof("GET", htu, at=at))
    assert r.status_code == 200, (htu, r.text)


@pytest.mark.parametrize("htu", [
    "https://app.example/API/items",     # the path is case-sensitive
    "https://app.example:80/api/items",  # http's default port on https is another origin
    "https://app.example:8443/api/items",
    "https://app.example./api/items",    # a trailing dot is another host name to compare
    "https://user@app.example/api/items",
    "https://app.example/api/items/",
    "https://app.example/api/items%2F",
    "https://app.example/api%2Fitems",   # an encoded slash is not a slash
    "https://app.example/api/items%00",
    "https://app.example /api/items",
    "https://app.example\\api\\items",
    "//app.example/api/items",
    "ftp://app.example/api/items",
    "https:/app.example/api/items",
    "https://app.example/api/items\x00",
    "https://app.example:65536/api/items",
    "https://app.example:-443/api/items",
    "https://app.example:443x/api/items",
    "https://app.exampl%65/api/items",
    "https://" + "a" * 3000 + "/api/items",
])
def test_other_htu_is_refused(bound, htu):
    srv, key, at = bound
    assert_dpop_refused(check(srv, at, key.proof("GET", htu, at=at)), "dpop_invalid")


@pytest.mark.parametrize("htm", ["get", "Get", "GET ", " GET", "HEAD", "", None])
def test_htm_is_compared_exactly(bound, htm):
    srv, key, at = bound
    p = jwt.encode(claims(at, htm=htm), key.priv, algorithm="ES256",
                   headers={"typ": "dpop+jwt", "jwk": key.jwk})
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")


# -- header confusion ------------------------------------------------------------------------

@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "dpop", "dpop+jwt ", "application/dpop+jwt",
                                 "at+jwt", 1, ["dpop+jwt"]])
def test_wrong_typ_is_refused(bound, typ):
    srv, key, at = bound
    h = {"alg": "ES256", "jwk": key.jwk}
    if typ is not None:
        h["typ"] = typ
    p = hand_jws(h, claims(at), es256_sign(key))
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")


def test_alg_none_and_hmac_with_the_public_key_are_refused(bound):
    srv, key, at = bound
    none = hand_jws({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}, claims(at), lambda m: b"")
    assert_dpop_refused(check(srv, at, none), "dpop_invalid")
    none2 = none.rsplit(".", 1)[0] + "."
    assert_dpop_refused(check(srv, at, none2), "dpop_invalid")
    for secret in (json.dumps(key.jwk).encode(),
                   key.priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo),
                   key.jwk["x"].encode()):
        p = hand_jws({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk}, claims(at),
                     lambda m, s=secret: hmac.new(s, m, hashlib.sha256).digest())
        assert_dpop_refused(check(srv, at, p), "dpop_invalid")


def test_alg_that_does_not_fit_the_jwk_is_refused(bound):
    srv, key, at = bound
    ed = Key("EdDSA")
    s2 = srv.new_session(sub="bob", dpop_jkt=ed.jkt)["access_token"]
    # an EC key under EdDSA, an OKP key under ES256, and algs outside the list
    p = hand_jws({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.jwk}, claims(at), es256_sign(key))
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")
    p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": ed.jwk}, claims(s2), ed.priv.sign)
    assert_dpop_refused(check(srv, s2, p), "dpop_invalid")
    for alg in ("ES384", "RS256", "PS256", "Ed25519", "es256", "ES256 "):
        p = hand_jws({"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk}, claims(at), es256_sign(key))
        assert_dpop_refused(check(srv, at, p), "dpop_invalid")


def test_small_rsa_key_is_refused(bound):
    from cryptography.hazmat.primitives.asymmetric import rsa
    srv, _, at = bound
    k = rsa.generate_private_key(public_exponent=3, key_size=1024)
    n = k.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64u(n.n.to_bytes(128, "big")), "e": b64u(b"\x03")}
    p = jwt.encode(claims(at), k, algorithm="RS256", headers={"typ": "dpop+jwt", "jwk": jwk})
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")


def test_jwk_with_private_members_is_refused_and_extra_public_ones_do_not_change_the_key(bound):
    srv, key, at = bound
    d = key.priv.private_numbers().private_value.to_bytes(32, "big")
    leaky = dict(key.jwk, d=b64u(d))
    assert_dpop_refused(check(srv, at, key.proof("GET", APP + "/api/items", at=at, jwk=leaky)),
                        "dpop_invalid")
    # members outside RFC 7638's set do not enter the thumbprint: same key, same binding
    extra = dict(key.jwk, kid="k1", use="sig", alg="ES256", ext=True)
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at, jwk=extra)).status_code == 200
    # but a jwk whose required members differ is another key (leading zero, padding, whitespace)
    for bad in (dict(key.jwk, x=key.jwk["x"] + "="), dict(key.jwk, x=" " + key.jwk["x"]),
                dict(key.jwk, crv="p-256"), dict(key.jwk, kty="ec"), dict(key.jwk, y=None)):
        assert_dpop_refused(check(srv, at, key.proof("GET", APP + "/api/items", at=at, jwk=bad)),
                            "dpop_invalid")


def test_duplicate_members_in_header_or_claims_are_refused(bound):
    """A JSON parser that keeps the last duplicate would read another htu or
    jwk than one that keeps the first: duplicates are refused outright."""
    srv, key, at = bound
    c = claims(at)
    body = json.dumps(c)[:-1] + ', "htu": "https://evil.example/x"}'
    p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}, body, es256_sign(key))
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")
    hdr = json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk})[:-1] + ', "typ": "JWT"}'
    p = hand_jws(hdr, claims(at), es256_sign(key))
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")


# -- hostile iat and jti --------------------------------------------------------------------

@pytest.mark.parametrize("iat", ["float", -1, 0, 2 ** 63 - 1, -(2 ** 63), 2 ** 64, 1e300, -1e300,
                                 "now", True, None, [1], {"t": 1}])
def test_hostile_iat_is_refused(bound, iat):
    srv, key, at = bound
    c = claims(at)
    c["iat"] = int(time.time()) if iat == "now" else iat
    if iat == "now":
        c["iat"] = str(c["iat"])  # a string that looks right
    if iat == "float":
        c["iat"] = time.time()  # a fractional NumericDate: docs/api.md says integer seconds
    p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}, json.dumps(c), es256_sign(key))
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")


@pytest.mark.parametrize("jti", ["", 5, None, "x" * 257, "x" * 3000])
def test_hostile_jti_is_refused(bound, jti):
    srv, key, at = bound
    c = claims(at, jti=None)
    if jti is not None:
        c["jti"] = jti
    p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}, c, es256_sign(key))
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")


def test_proof_over_the_size_cap_is_refused_unparsed(bound):
    srv, key, at = bound
    p = key.proof("GET", APP + "/api/items", at=at, jti="j" * 200)
    big = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk, "pad": "p" * 3000},
                   claims(at), es256_sign(key))
    assert check(srv, at, p).status_code == 200
    assert 4096 < len(big) < 6000  # over CF_DPOP_MAX_PROOF, under the header block's cap
    assert_dpop_refused(check(srv, at, big), "dpop_invalid")


# -- where the proof and token go -----------------------------------------------------------

@pytest.mark.parametrize("value", ["{p}, {p}", "{p},{q}", "{p} ", "{p}\t"])
def test_dpop_header_with_lists_or_padding(bound, value):
    """A comma list is not a proof; OWS around the field value is the
    transport's (RFC 9110 §5.5) and is stripped, the proof must still pass once."""
    srv, key, at = bound
    p = key.proof("GET", APP + "/api/items", at=at)
    q = key.proof("GET", APP + "/api/items", at=at)
    v = value.format(p=p, q=q)
    r = check(srv, at, v)
    if "," in v:
        assert_dpop_refused(r, "dpop_invalid")
    else:
        assert r.status_code == 200, r.text
        assert_dpop_refused(check(srv, at, p), "dpop_replay")


def test_unbound_token_under_the_dpop_scheme_needs_a_valid_proof(curfew):
    """An unbound token presented as DPoP: a proof that was sent is judged
    (a bad one refused), a good one passes, and the Bearer scheme still
    works for it without one."""
    s = curfew.new_session(sub="carol")
    at = s["access_token"]
    key = Key()
    assert check(curfew, at, key.proof("GET", APP + "/api/items", at=at)).status_code == 200
    assert_dpop_refused(check(curfew, at, key.proof("GET", APP + "/api/other", at=at)), "dpop_invalid")
    assert check(curfew, at, None, scheme="Bearer").status_code == 200


@pytest.mark.parametrize("scheme", ["dpop", "DPOP", "DpOp"])
def test_scheme_name_is_case_insensitive(bound, scheme):
    """RFC 9110 §11.1: auth schemes are case-insensitive."""
    srv, key, at = bound
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at), scheme=scheme).status_code == 200


def test_ath_is_over_the_token_exactly(bound):
    srv, key, at = bound
    for wrong in (at + " ", " " + at, at + "\n", at.upper(), at + "="):
        p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk},
                     claims(at, ath=at_hash(wrong)), es256_sign(key))
        assert_dpop_refused(check(srv, at, p), "dpop_invalid")
    # the ath as hex, or padded, is not the base64url of the hash
    for ath in (hashlib.sha256(at.encode()).hexdigest(), at_hash(at) + "="):
        p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}, claims(at, ath=ath),
                     es256_sign(key))
        assert_dpop_refused(check(srv, at, p), "dpop_invalid")


# -- nonces ---------------------------------------------------------------------------------

def test_nonce_of_another_deployment_is_refused_and_one_from_before_a_restart_is_not_a_bypass(
        start_curfew):
    """Nonces are keyed from the signing key set (so cluster nodes share
    them): another deployment's nonce is refused; after a restart the same
    window's nonce is the server's own again, but a proof made before the
    restart is refused anyway (the replay cache began at the start)."""
    srv = start_curfew("dpop: { nonce: true }\nclock_leeway: 0s\n")
    other = start_curfew("dpop: { nonce: true }\n")
    key = Key()
    at = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at))
    assert_dpop_refused(r, "use_dpop_nonce", error="use_dpop_nonce")
    mine = r.headers["DPoP-Nonce"]
    r = check(other, at, key.proof("GET", APP + "/api/items", at=at))
    theirs = r.headers["DPoP-Nonce"]
    assert theirs != mine
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at, nonce=theirs))
    assert_dpop_refused(r, "use_dpop_nonce", error="use_dpop_nonce")
    early = key.proof("GET", APP + "/api/items", at=at, nonce=mine)
    srv.stop()
    time.sleep(1.1)
    srv.start()
    assert_dpop_refused(check(srv, at, early), "dpop_invalid")
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at))
    fresh = r.headers["DPoP-Nonce"]
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at, nonce=fresh)).status_code == 200


def test_cluster_nodes_accept_each_others_nonces(start_node):
    """Behind a load balancer a client's retry with the nonce one node gave
    lands on another: with a nonce per process it was refused again with
    that node's nonce, and a client alternating between nodes never got in."""
    n1 = start_node("dpop: { nonce: true }\ncluster:\n  max_staleness: 1s\n")
    n2 = start_node("dpop: { nonce: true }\ncluster:\n  max_staleness: 1s\n")
    key = Key()
    at = n1.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    r = check(n1, at, key.proof("GET", APP + "/api/items", at=at))
    assert_dpop_refused(r, "use_dpop_nonce", error="use_dpop_nonce")
    nonce = r.headers["DPoP-Nonce"]
    r = check(n2, at, key.proof("GET", APP + "/api/items", at=at, nonce=nonce))
    if r.status_code != 200:  # the window may have turned between the two requests
        assert_dpop_refused(r, "use_dpop_nonce", error="use_dpop_nonce")
        nonce = r.headers["DPoP-Nonce"]
        r = check(n1, at, key.proof("GET", APP + "/api/items", at=at, nonce=nonce))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("nonce", ["", " ", 12345, None, "x" * 5000])
def test_hostile_nonce_values_are_refused(start_curfew, nonce):
    srv = start_curfew("dpop: { nonce: true }\n")
    key = Key()
    at = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    c = claims(at)
    if nonce is not None:
        c["nonce"] = nonce
    p = hand_jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}, c, es256_sign(key))
    r = check(srv, at, p)
    assert r.status_code == 401, r.text
    assert r.json()["reason"] in ("use_dpop_nonce", "dpop_invalid"), r.text
    assert "DPoP-Nonce" in r.headers


def test_one_jti_in_differently_signed_proofs_raced_on_many_connections_passes_once(bound):
    """Eight proofs sharing a jti (each signed anew, so no byte-equal
    shortcut applies) sent at once on eight connections, twenty times:
    exactly one of each round passes, the rest are dpop_replay."""
    import threading

    import requests
    from test_dpop import forwarded
    srv, key, at = bound
    sessions = [requests.Session() for _ in range(8)]
    for rnd in range(20):
        jti = secrets.token_urlsafe(12)
        proofs = [key.proof("GET", APP + "/api/items", at=at, jti=jti) for _ in range(8)]
        assert len(set(proofs)) == 8
        out, go = [None] * 8, threading.Barrier(8)

        def send(i):
            h = dict(forwarded(), Authorization=f"DPoP {at}", DPoP=proofs[i])
            go.wait()
            r = sessions[i].get(srv.url("/v1/check"), headers=h, timeout=10)
            out[i] = (r.status_code, r.headers.get("X-Curfew-Reason") or
                      (r.json().get("reason") if r.status_code != 200 else None))

        ts = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(o[0] for o in out) == [200] + [401] * 7, (rnd, out)
        assert all(o[1] == "dpop_replay" for o in out if o[0] == 401), (rnd, out)
