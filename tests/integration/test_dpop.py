# SPDX-License-Identifier: MIT
"""DPoP (RFC 9449) on the real binary, with proofs made independently of
curfew's code: keys and signatures from Python's `cryptography`, the JWS from
PyJWT, the RFC 7638 thumbprint computed here.

Covered: sessions bound at creation (dpop_jkt) and at the first refresh with
a proof; /v1/check with `Authorization: DPoP` and a proof for the original
method and URL (as nginx forwards them); every refusal an attacker can reach
(no proof, Bearer scheme, another method, URL, key, ath, a replayed jti, a
stale or future iat, two DPoP headers); a stolen DPoP-bound refresh token;
the binding surviving a restart; the server nonce flow.
"""

import base64
import hashlib
import json
import secrets
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from conftest import assert_json_error, jwt_parts, parse_raw_response


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    """A client's DPoP key pair, its public JWK and RFC 7638 thumbprint."""

    def __init__(self, kind="ES256"):
        self.alg = kind
        if kind == "ES256":
            self.priv = ec.generate_private_key(ec.SECP256R1())
            nums = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256",
                        "x": b64u(nums.x.to_bytes(32, "big")),
                        "y": b64u(nums.y.to_bytes(32, "big"))}
            members = ("crv", "kty", "x", "y")
        else:
            self.priv = ed25519.Ed25519PrivateKey.generate()
            from cryptography.hazmat.primitives import serialization
            raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
            members = ("crv", "kty", "x")
        canon = json.dumps({m: self.jwk[m] for m in members}, separators=(",", ":"),
                           sort_keys=True)
        self.jkt = b64u(hashlib.sha256(canon.encode()).digest())

    def proof(self, htm, htu, at=None, iat=None, jti=None, nonce=None, jwk=None):
        claims = {"jti": jti or secrets.token_urlsafe(16), "htm": htm, "htu": htu,
                  "iat": int(time.time()) if iat is None else iat}
        if at is not None:
            claims["ath"] = b64u(hashlib.sha256(at.encode()).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.priv, algorithm=self.alg,
                          headers={"typ": "dpop+jwt", "jwk": jwk or self.jwk})


APP = "https://app.example"


def forwarded(method="GET", uri="/api/items?page=2"):
    """What nginx's auth_request location sends along (deploy/nginx)."""
    return {"X-Original-Method": method, "X-Original-URI": uri,
            "X-Forwarded-Host": "app.example", "X-Forwarded-Proto": "https"}


def check(srv, token, proof=None, scheme="DPoP", method="GET", uri="/api/items?page=2", extra=None):
    h = forwarded(method, uri)
    if token is not None:
        h["Authorization"] = f"{scheme} {token}"
    if proof is not None:
        h["DPoP"] = proof
    h.update(extra or {})
    return srv.get("/v1/check", headers=h)


def assert_dpop_refused(r, reason, error="invalid_dpop_proof"):
    body = assert_json_error(r, 401, reason=reason)
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("DPoP "), www
    assert f'error="{error}"' in www, www
    assert 'algs="ES256 EdDSA"' in www, www
    assert "X-Curfew-Subject" not in r.headers
    return body


def token_url(srv):
    return srv.url("/oauth/token")


def refresh(srv, rt, key=None, proof=None):
    h = {}
    if key is not None:
        h["DPoP"] = key.proof("POST", token_url(srv))
    if proof is not None:
        h["DPoP"] = proof
    return srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                    headers=h)


@pytest.fixture
def bound(curfew):
    key = Key()
    s = curfew.new_session(sub="alice", dpop_jkt=key.jkt)
    return curfew, key, s


# -- issuing ---------------------------------------------------------------------------

def test_session_created_with_dpop_jkt_gets_dpop_tokens(bound):
    srv, key, s = bound
    assert s["token_type"] == "DPoP"
    assert jwt_parts(s["access_token"])[1]["cnf"] == {"jkt": key.jkt}


@pytest.mark.parametrize("bad", ["", "short", "A" * 42, "A" * 44, "A" * 42 + "=", "A" * 42 + "+",
                                 123, None, ["x"]])
def test_malformed_dpop_jkt_is_refused(curfew, bad):
    r = curfew.create_session(sub="alice", dpop_jkt=bad)
    body = assert_json_error(r, 400)
    assert "dpop_jkt" in body["error_description"], body


def test_unbound_session_is_a_bearer_token(curfew):
    s = curfew.new_session(sub="alice")
    assert s["token_type"] == "Bearer"
    assert "cnf" not in jwt_parts(s["access_token"])[1]


# -- /v1/check ---------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_bound_token_works_with_a_valid_proof(curfew, alg):
    key = Key(alg)
    s = curfew.new_session(sub="alice", dpop_jkt=key.jkt)
    at = s["access_token"]
    r = check(curfew, at, key.proof("GET", APP + "/api/items", at=at))
    assert r.status_code == 200, r.text
    assert r.headers["X-Curfew-Subject"] == "alice"
    # htu compares without the query and after RFC 3986 normalisation
    r = check(curfew, at, key.proof("GET", "HTTPS://App.Example:443/api/%69tems", at=at))
    assert r.status_code == 200, r.text


def test_bound_token_refused_without_a_proof(bound):
    srv, key, s = bound
    body = assert_dpop_refused(check(srv, s["access_token"]), "dpop_required", error="invalid_token")
    assert body["error"] == "invalid_token"


def test_bound_token_sent_as_bearer_is_refused_even_with_a_proof(bound):
    srv, key, s = bound
    at = s["access_token"]
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at), scheme="Bearer")
    assert_dpop_refused(r, "dpop_required", error="invalid_token")


def test_proof_for_another_method_is_refused(bound):
    srv, key, s = bound
    at = s["access_token"]
    assert_dpop_refused(check(srv, at, key.proof("POST", APP + "/api/items", at=at)), "dpop_invalid")
    # and the other way round: a GET proof for a forwarded DELETE
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at), method="DELETE")
    assert_dpop_refused(r, "dpop_invalid")


@pytest.mark.parametrize("htu", [APP + "/api/other", "https://evil.example/api/items",
                                 "http://app.example/api/items", APP + "/api/items/",
                                 APP + ":8443/api/items", "/api/items", ""])
def test_proof_for_another_url_is_refused(bound, htu):
    srv, key, s = bound
    at = s["access_token"]
    assert_dpop_refused(check(srv, at, key.proof("GET", htu, at=at)), "dpop_invalid")


def test_replayed_proof_is_refused(bound):
    srv, key, s = bound
    at = s["access_token"]
    p = key.proof("GET", APP + "/api/items", at=at)
    assert check(srv, at, p).status_code == 200
    assert_dpop_refused(check(srv, at, p), "dpop_replay")
    # the same jti in a new, differently signed proof is a replay too
    jti = secrets.token_urlsafe(8)
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at, jti=jti)).status_code == 200
    assert_dpop_refused(check(srv, at, key.proof("GET", APP + "/api/x", at=at, jti=jti), uri="/api/x"),
                        "dpop_replay")


@pytest.mark.parametrize("age", [-3600, -120, 120, 3600, None])
def test_stale_or_future_iat_is_refused(bound, age):
    srv, key, s = bound
    at = s["access_token"]
    iat = 0 if age is None else int(time.time()) + age
    assert_dpop_refused(check(srv, at, key.proof("GET", APP + "/api/items", at=at, iat=iat)),
                        "dpop_invalid")


def test_proof_by_another_key_is_refused(bound):
    srv, key, s = bound
    at = s["access_token"]
    other = Key()
    r = check(srv, at, other.proof("GET", APP + "/api/items", at=at))
    assert_dpop_refused(r, "dpop_key_mismatch", error="invalid_token")
    # another key claiming to be the bound one: the signature does not verify
    r = check(srv, at, other.proof("GET", APP + "/api/items", at=at, jwk=key.jwk))
    assert_dpop_refused(r, "dpop_invalid")


def test_wrong_or_missing_ath_is_refused(bound):
    srv, key, s = bound
    at = s["access_token"]
    other = srv.new_session(sub="bob", dpop_jkt=key.jkt)["access_token"]
    assert_dpop_refused(check(srv, at, key.proof("GET", APP + "/api/items", at=other)), "dpop_invalid")
    assert_dpop_refused(check(srv, at, key.proof("GET", APP + "/api/items")), "dpop_invalid")


def test_two_dpop_headers_are_refused(bound):
    srv, key, s = bound
    at = s["access_token"]
    p1 = key.proof("GET", APP + "/api/items", at=at)
    p2 = key.proof("GET", APP + "/api/items", at=at)
    req = (f"GET /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: DPoP {at}\r\n"
           f"X-Original-Method: GET\r\nX-Original-URI: /api/items\r\nX-Forwarded-Host: app.example\r\n"
           f"X-Forwarded-Proto: https\r\nDPoP: {p1}\r\nDPoP: {p2}\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_raw_response(srv.raw(req.encode()))
    assert status == 401, (status, body)
    assert json.loads(body)["reason"] == "dpop_invalid"


@pytest.mark.parametrize("junk", ["x", "a.b.c", "e30.e30.", "." * 5000])
def test_junk_proofs_are_refused(bound, junk):
    srv, key, s = bound
    assert_dpop_refused(check(srv, s["access_token"], junk), "dpop_invalid")


def test_unbound_token_with_a_bad_proof_is_refused(curfew):
    """A proof that was sent is judged even for a bearer token."""
    s = curfew.new_session(sub="alice")
    key = Key()
    r = check(curfew, s["access_token"], key.proof("GET", APP + "/other", at=s["access_token"]))
    assert_dpop_refused(r, "dpop_invalid")


# -- refresh --------------------------------------------------------------------------------

def test_stolen_bound_refresh_token_cannot_be_exchanged_without_the_key(bound):
    srv, key, s = bound
    rt = s["refresh_token"]
    assert_json_error(refresh(srv, rt), 400, error="invalid_dpop_proof", reason="dpop_required")
    assert_json_error(refresh(srv, rt, Key()), 400, error="invalid_dpop_proof",
                      reason="dpop_key_mismatch")
    assert_json_error(refresh(srv, rt, proof=Key().proof("POST", token_url(srv), jwk=key.jwk)), 400,
                      reason="dpop_invalid")
    # the owner, with the key, still can: the thief's attempts did not burn the token
    r = refresh(srv, rt, key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    assert jwt_parts(body["access_token"])[1]["cnf"] == {"jkt": key.jkt}
    at = body["access_token"]
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at)).status_code == 200


def test_token_endpoint_proof_must_match_method_url_and_be_fresh(bound):
    srv, key, s = bound
    rt = s["refresh_token"]
    for p in (key.proof("GET", token_url(srv)), key.proof("POST", srv.url("/oauth/revoke")),
              key.proof("POST", token_url(srv), iat=int(time.time()) - 3600)):
        assert_json_error(refresh(srv, rt, proof=p), 400, reason="dpop_invalid")
    p = key.proof("POST", token_url(srv))
    r = refresh(srv, rt, proof=p)
    assert r.status_code == 200, r.text
    assert_json_error(refresh(srv, r.json()["refresh_token"], proof=p), 400, reason="dpop_replay")


def test_first_refresh_with_a_proof_binds_the_session_durably(start_curfew):
    srv = start_curfew()
    key = Key("EdDSA")
    s = srv.new_session(sub="alice")
    r = refresh(srv, s["refresh_token"], key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    assert jwt_parts(body["access_token"])[1]["cnf"] == {"jkt": key.jkt}
    srv.kill9()
    srv.start()
    rt = body["refresh_token"]
    assert_json_error(refresh(srv, rt), 400, reason="dpop_required")
    assert_json_error(refresh(srv, rt, Key("EdDSA")), 400, reason="dpop_key_mismatch")
    r = refresh(srv, rt, key)
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    # a token the session issued before it was bound is bound now too
    assert_dpop_refused(check(srv, s["access_token"]), "dpop_required", error="invalid_token")


def test_bound_session_survives_restart(start_curfew):
    srv = start_curfew()
    key = Key()
    s = srv.new_session(sub="alice", dpop_jkt=key.jkt)
    srv.stop()
    srv.start()
    at = s["access_token"]
    assert_dpop_refused(check(srv, at), "dpop_required", error="invalid_token")
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at)).status_code == 200
    assert_json_error(refresh(srv, s["refresh_token"]), 400, reason="dpop_required")


# -- the replay cache's bound -------------------------------------------------------------

def metric(srv, name):
    for line in srv.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_full_replay_cache_refuses_fresh_proofs_counts_them_and_never_admits_a_replay(start_curfew):
    """More distinct proofs than dpop.replay_cache within one window: the
    documented behaviour (docs/security.md) is that the cache never forgets a
    jti early, so a replay is refused full or not; a fresh proof that cannot be
    recorded is refused (dpop_invalid), counted and logged once a window; the
    next window takes fresh proofs again."""
    # clock_leeway 0: the table is dpop.replay_cache for one span of the window alone
    srv = start_curfew("dpop: { replay_cache: 16, window: 10s }\nclock_leeway: 0s\n")
    keys = [Key("ES256"), Key("EdDSA")]
    sessions = [srv.new_session(sub=f"u{i}", dpop_jkt=k.jkt) for i, k in enumerate(keys)]
    assert metric(srv, "curfew_dpop_replay_cache_full_total") == 0
    # made first, so that sending them fits in the window even on a loaded machine
    proofs = [(i % 2, keys[i % 2].proof("GET", APP + "/api/items", at=sessions[i % 2]["access_token"]))
              for i in range(20)]
    t0 = time.monotonic()
    for i, (k, p) in enumerate(proofs[:16]):
        r = check(srv, sessions[k]["access_token"], p)
        assert r.status_code == 200, (i, r.text)
    assert metric(srv, "curfew_dpop_replay_cache_entries") == 16
    for k, p in proofs[16:]:
        assert_dpop_refused(check(srv, sessions[k]["access_token"], p), "dpop_invalid")
    # a refused fresh proof was not recorded, and is still refused (never admitted later in the window)
    k, p = proofs[16]
    assert_dpop_refused(check(srv, sessions[k]["access_token"], p), "dpop_invalid")
    # every recorded proof replayed while full: a replay, never admitted
    for k, p in proofs[:16]:
        assert_dpop_refused(check(srv, sessions[k]["access_token"], p), "dpop_replay")
    # a replay of a recorded jti with a new signature and URL: still a replay
    jti = json.loads(base64.urlsafe_b64decode(proofs[0][1].split(".")[1] + "=="))["jti"]
    r = check(srv, sessions[0]["access_token"],
              keys[0].proof("GET", APP + "/api/x", at=sessions[0]["access_token"], jti=jti), uri="/api/x")
    assert_dpop_refused(r, "dpop_replay")
    assert time.monotonic() - t0 < 10, "the machine was too slow to stay within one window"
    assert metric(srv, "curfew_dpop_replay_cache_full_total") == 5
    assert metric(srv, "curfew_dpop_replay_cache_entries") == 16
    logged = [l for l in srv.stderr_text().splitlines() if "event=dpop_replay_cache_full" in l]
    assert len(logged) == 1, logged
    assert "capacity=16" in logged[0] and "window=10s" in logged[0], logged
    # the next window: fresh proofs pass again, and what the last window recorded stays spent
    time.sleep(max(0.0, t0 + 10.5 - time.monotonic()))
    at = sessions[1]["access_token"]
    assert check(srv, at, keys[1].proof("GET", APP + "/api/items", at=at)).status_code == 200
    r = check(srv, at, keys[1].proof("GET", APP + "/api/items", at=at, jti=jti))
    assert_dpop_refused(r, "dpop_replay")
    assert metric(srv, "curfew_dpop_replay_cache_entries") == 1
    assert metric(srv, "curfew_dpop_replay_cache_full_total") == 5


def test_default_replay_cache_holds_20k_new_proofs_a_second():
    """The default bound, per the default window: at least 20,000 new proofs a
    second (the rate issue 14 asks DPoP checks to reach) before it fills."""
    import subprocess
    from conftest import curfew_bin
    out = subprocess.run([str(curfew_bin()), "config", "doc"], capture_output=True, text=True, check=True).stdout
    rows = {l.split("|")[1].strip(" `"): l.split("|")[3].strip(" `") for l in out.splitlines()
            if l.startswith("| `")}
    window = rows["dpop.window"]
    assert window.endswith("s")
    assert int(rows["dpop.replay_cache"]) >= 20000 * int(window[:-1]), rows["dpop.replay_cache"]


# -- nonces -------------------------------------------------------------------------------

def test_nonce_flow(start_curfew):
    srv = start_curfew("dpop: { nonce: true }\n")
    key = Key()
    s = srv.new_session(sub="alice", dpop_jkt=key.jkt)
    at = s["access_token"]
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at))
    assert_dpop_refused(r, "use_dpop_nonce", error="use_dpop_nonce")
    nonce = r.headers["DPoP-Nonce"]
    assert len(nonce) >= 16
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at, nonce=nonce)).status_code == 200
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at, nonce=nonce + "x"))
    assert_dpop_refused(r, "use_dpop_nonce", error="use_dpop_nonce")
    # the token endpoint asks the same way (RFC 9449 §8: 400 use_dpop_nonce)
    r = refresh(srv, s["refresh_token"], key)
    assert_json_error(r, 400, error="use_dpop_nonce", reason="use_dpop_nonce")
    n2 = r.headers["DPoP-Nonce"]
    r = refresh(srv, s["refresh_token"], proof=key.proof("POST", token_url(srv), nonce=n2))
    assert r.status_code == 200, r.text


def test_unreadable_binding_in_the_store_fails_towards_expiry(start_curfew):
    """A damaged cnf column must not turn a bound session into a bearer one."""
    import sqlite3
    srv = start_curfew()
    key = Key()
    s = srv.new_session(sub="alice", dpop_jkt=key.jkt)
    srv.stop()
    con = sqlite3.connect(srv.data_dir / "curfew.db")
    assert con.execute("SELECT cnf FROM sessions").fetchone()[0] == "jkt:" + key.jkt
    con.execute("UPDATE sessions SET cnf = 'jkt:short'")
    con.commit()
    con.close()
    srv.start()
    at = s["access_token"]
    r = check(srv, at, key.proof("GET", APP + "/api/items", at=at))
    assert r.status_code == 401 and r.json()["reason"] != "none", r.text
    assert srv.session(s["session_id"])["state"] != "active"


# -- through the real nginx with the shipped config ------------------------------------

def test_dpop_through_nginx(start_curfew, tmp_path):
    from test_nginx import EchoApp, Nginx, render_shipped_conf
    import requests
    srv = start_curfew()
    app = EchoApp()
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(srv.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        key = Key()
        s = srv.new_session(sub="alice", dpop_jkt=key.jkt)
        at = s["access_token"]
        url = ngx.url("/api/orders?page=2")
        htu = url.split("?")[0]

        def get(proof, scheme="DPoP", u=url):
            h = {"Authorization": f"{scheme} {at}"}
            if proof:
                h["DPoP"] = proof
            return requests.get(u, headers=h, timeout=5)

        r = get(key.proof("GET", htu, at=at))
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{ngx.diag()}"
        assert r.json()["headers"].get("X-Curfew-Subject") == "alice"
        before = app.count()
        for p in (None, key.proof("POST", htu, at=at), key.proof("GET", htu + "x", at=at),
                  Key().proof("GET", htu, at=at)):
            r = get(p)
            assert r.status_code == 401, r.text
            assert r.headers["WWW-Authenticate"].startswith("DPoP "), r.headers
        p = key.proof("GET", htu, at=at)
        assert get(p).status_code == 200
        assert get(p).status_code == 401  # replayed through the proxy
        assert app.count() == before + 1
    finally:
        ngx.stop()
        app.close()


# -- cluster (Redis) ------------------------------------------------------------------------

def test_binding_is_shared_by_every_cluster_node(start_node):
    """Bound on one node (at creation or at the first refresh with a proof),
    refused without the key on the others, and after a restart from Redis."""
    n1 = start_node("cluster:\n  max_staleness: 1s\n")
    n2 = start_node("cluster:\n  max_staleness: 1s\n")
    key = Key()
    s = n1.new_session(sub="alice", dpop_jkt=key.jkt)
    at = s["access_token"]
    assert_dpop_refused(check(n2, at), "dpop_required", error="invalid_token")
    assert check(n2, at, key.proof("GET", APP + "/api/items", at=at)).status_code == 200
    assert_json_error(refresh(n2, s["refresh_token"]), 400, reason="dpop_required")
    # bound at its first refresh on n1: n2 learns the binding from Redis
    u = n1.new_session(sub="bob")
    r = refresh(n1, u["refresh_token"], key)
    assert r.status_code == 200, r.text
    rt = r.json()["refresh_token"]
    assert_json_error(refresh(n2, rt), 400, reason="dpop_required")
    assert_json_error(refresh(n2, rt, Key()), 400, reason="dpop_key_mismatch")
    n2.kill9()
    n2.start()
    assert_json_error(refresh(n2, rt), 400, reason="dpop_required")
    r = refresh(n2, rt, key)
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
