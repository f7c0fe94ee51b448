# SPDX-License-Identifier: MIT
"""The refresh path signs access tokens on a signer thread while the
rotation commits, and writes its answer without jansson (app/sign.c).

- The answer and the token's claims are what they were: checked here with
  independent parsers (json.loads, PyJWT against the JWKS) for hostile
  values of scope, issuer and audience.
- A signature that fails on the signer thread (an LD_PRELOAD shim,
  tests/faults/failsign.c, makes EVP_DigestSign fail off the main thread)
  is signed again on the loop: the client never sees it.
- When every signature fails, the answer is a plain 500 server_error, the
  server goes on serving, and the rotation that was already durable stands.
- Many refreshes in flight at once each get their own, valid tokens, and
  none waits behind client-secret hashing on libuv's pool.
"""

import json
import subprocess
import threading
import time
from pathlib import Path

import jwt
import pytest

from conftest import jwt_parts

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIM_SRC = REPO_ROOT / "tests" / "faults" / "failsign.c"

# What the admin API accepts in a scope (printable ASCII, no quote or backslash).
SCOPES = ["</script><!--", "a/b {x}[y]:z,'w'", "read  write ", "&amp;=%00+%22"]


@pytest.fixture(scope="module")
def failsign_so(tmp_path_factory):
    out = tmp_path_factory.mktemp("shim") / "failsign.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out), str(SHIM_SRC), "-ldl", "-lcrypto"],
                   check=True, timeout=60)
    return out


def preload(shim):
    from conftest import curfew_bin
    libs = subprocess.run(["ldd", str(curfew_bin())], capture_output=True, text=True).stdout
    asan = [w for w in libs.split() if "libasan" in w and w.startswith("/")]
    return ":".join(asan[:1] + [str(shim)])


def verify(srv, token):
    """The access token verified by PyJWT with the server's published key."""
    jwk = next(k for k in srv.jwks()["keys"] if k["kid"] == jwt_parts(token)[0]["kid"])
    key = jwt.PyJWK(jwk).key
    return jwt.decode(token, key, algorithms=["EdDSA"], options={"verify_aud": False})


def raw_answer(srv, refresh_token):
    r = srv.refresh(refresh_token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    return r


@pytest.mark.parametrize("scope", SCOPES)
def test_answer_and_claims_parse_back_exactly(curfew, scope):
    s = curfew.new_session(sub="alice", scope=scope, roles=["r1", "r2"])
    r = raw_answer(curfew, s["refresh_token"])
    body = json.loads(r.content.decode("utf-8"))  # the bytes, not requests' guess
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token",
                          "session_id", "scope", "idle_expires_at", "absolute_expires_at"]
    assert body["scope"] == scope
    assert body["session_id"] == s["session_id"] and body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and 0 < body["expires_in"] <= 600
    claims = verify(curfew, body["access_token"])
    assert list(claims) == ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid", "scope",
                            "roles", "auth_time"]
    assert claims["sub"] == "alice" and claims["scope"] == scope
    assert claims["sid"] == s["session_id"] and claims["roles"] == ["r1", "r2"]
    assert curfew.check(body["access_token"]).status_code == 200
    # session creation answers with the same writer
    created = json.loads(curfew.create_session(sub="bob", scope=scope).content)
    assert list(created)[:2] == ["access_token", "token_type"] and created["scope"] == scope


# What the configuration accepts in an issuer and an audience: anything JSON can carry.
CLIENT = "web-1"
ISSUER = 'https://i.example/"q"\\/\u00e9\u2028\U0001F600\t'
AUDIENCE = 'api "\\" \u20ac'


def test_hostile_configured_strings_come_back_exactly(start_curfew):
    srv = start_curfew(config_yaml=f"issuer: {json.dumps(ISSUER, ensure_ascii=False)}\naudience: {json.dumps(AUDIENCE, ensure_ascii=False)}\n"
                                   f"clients:\n  - id: {json.dumps(CLIENT)}\n    type: public\n")
    s = srv.new_session(sub="alice", client_id=CLIENT)
    body = json.loads(raw_answer(srv, s["refresh_token"]).content)
    assert "scope" not in body  # an empty scope is left out, as before
    claims = verify(srv, body["access_token"])
    assert claims["client_id"] == CLIENT and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert srv.check(body["access_token"]).status_code == 200


def test_a_signature_failing_off_the_loop_is_signed_on_the_loop(start_curfew, failsign_so, tmp_path):
    flag = tmp_path / "failsign"
    srv = start_curfew(env={"LD_PRELOAD": preload(failsign_so), "CURFEW_FAILSIGN_FLAG": str(flag)})
    s = srv.new_session(sub="alice")
    flag.write_text("pool")
    tok = s["refresh_token"]
    for _ in range(5):
        r = srv.refresh(tok)
        assert r.status_code == 200, r.text
        body = r.json()
        assert verify(srv, body["access_token"])["sid"] == s["session_id"]
        assert srv.check(body["access_token"]).status_code == 200
        tok = body["refresh_token"]
    assert srv.session(s["session_id"])["state"] == "active"


def test_every_signature_failing_is_a_plain_500_and_the_server_goes_on(start_curfew, failsign_so,
                                                                        tmp_path):
    flag = tmp_path / "failsign"
    srv = start_curfew(config_yaml="refresh_token: { reuse_grace: 30s }\n",
                       env={"LD_PRELOAD": preload(failsign_so), "CURFEW_FAILSIGN_FLAG": str(flag)})
    s = srv.new_session(sub="alice")
    flag.write_text("all")
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 500, r.text
    assert r.json()["reason"] == "server_error" and r.json()["error"] == "server_error"
    assert "cannot issue tokens" in r.json()["error_description"]
    assert srv.get("/healthz").status_code == 200
    flag.unlink()
    # The rotation was durable before the signature failed; within the grace
    # window the client's retry of the same token gets a working sibling.
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    assert srv.check(r.json()["access_token"]).status_code == 200
    assert srv.session(s["session_id"])["state"] == "active"


def test_many_refreshes_in_flight_each_get_their_own_tokens(curfew):
    sessions = [curfew.new_session(sub=f"p{i}") for i in range(40)]
    answers = [None] * len(sessions)

    def one(i):
        answers[i] = curfew.refresh(sessions[i]["refresh_token"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = set()
    for i, (s, r) in enumerate(zip(sessions, answers)):
        assert r.status_code == 200, r.text
        claims = verify(curfew, r.json()["access_token"])
        assert claims["sid"] == s["session_id"] and claims["sub"] == f"p{i}"
        assert r.json()["session_id"] == s["session_id"]
        assert claims["jti"] not in seen
        seen.add(claims["jti"])
        assert curfew.check(r.json()["access_token"]).status_code == 200


def test_refreshes_do_not_wait_behind_client_secret_hashing(start_curfew):
    """Wrong client secrets cost a PBKDF2 each on libuv's pool (4 threads).
    Twelve of them in flight must not hold up a public client's refresh: its
    signature runs on the signer thread, not behind them in the pool's queue
    (where it would be answered only after the first eight hashes)."""
    from conftest import hash_secret
    # ~1 s of PBKDF2 per wrong secret on this machine (300,000 iterations took
    # 0.08 s: all twelve were done before the refresh was even sent)
    slow = hash_secret("right-secret", iterations=4_000_000)
    srv = start_curfew(config_yaml=("clients:\n  - id: web\n    type: public\n"
                                    "  - id: conf\n    type: confidential\n"
                                    f"    secret_hash: \"{slow}\"\n"
                                    "    allowed_grants: [client_credentials]\n"))
    s = srv.new_session(sub="alice", client_id="web")
    srv.refresh(s["refresh_token"])  # warm: the signer thread is started
    s = srv.new_session(sub="bob", client_id="web")
    done = {}

    def wrong(i):
        r = srv.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "conf",
                                           "client_secret": f"wrong-{i}"}, timeout=120)
        done[f"wrong-{i}"] = (time.monotonic(), r.status_code)

    threads = [threading.Thread(target=wrong, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # the hashes are queued on the pool
    r = srv.refresh(s["refresh_token"], client_id="web")
    refreshed = time.monotonic()
    for t in threads:
        t.join()
    assert r.status_code == 200, r.text
    assert all(code == 401 for _, code in done.values()), done
    # The pool hashes four at a time: queued behind them, the refresh would be
    # answered only after the second wave of 401s (eight hashes). The first
    # wave may finish before it on a loaded machine (its hashes began 0.2 s
    # earlier), so the bound is the second wave: the first 401 of hashes 5-8.
    second_wave = sorted(at for at, _ in done.values())[4]
    assert refreshed < second_wave, f"the refresh waited for PBKDF2: {refreshed - second_wave:+.3f}s"
