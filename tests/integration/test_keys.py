# SPDX-License-Identifier: MIT
"""Signing-key rotation (issue 4) on the real binary.

Access tokens live 2 s and the clock leeway is 1 s, so a rotated-out key
verifies for 3 s and then retires: it leaves the JWKS and tokens naming it are
refused as unknown_key. PyJWT's PyJWKClient follows the JWKS throughout, as a
resource server would. Tokens "from before" are forged with the old private
key read from DATA_DIR/keyset.json (in clear when no KEK is configured).
"""
import base64
import hashlib
import json
import os
import re
import secrets
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import assert_refused, b64u, forge_token, jwt_parts, run_curfew

TTL = 2            # access_token.ttl / max_ttl, seconds
LEEWAY = 1         # clock_leeway, seconds
KEEP = TTL + LEEWAY
CONFIG = (f"issuer: @URL@\nclock_leeway: {LEEWAY}s\n"
          f"access_token: {{ ttl: {TTL}s, max_ttl: {TTL}s }}\n")
KEK = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
OTHER_KEK = base64.b64encode(bytes(range(32))).decode()


def cli(srv, *args, key=...):
    e = {"CURFEW_ADMIN_KEY": srv.admin_key if key is ... else key}
    return run_curfew(*args, "--server", srv.base_url, env=e)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def kid_of(token):
    return jwt_parts(token)[0]["kid"]


def jwks_kids(srv):
    return [k["kid"] for k in srv.jwks()["keys"]]


def verify_with_pyjwt(client, srv, token):
    """Verify as an independent resource server would: key from the JWKS by kid."""
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["EdDSA"], audience="curfew",
                      issuer=srv.base_url, leeway=LEEWAY)


def fresh_claims(srv, session, ttl=60):
    now = int(time.time())
    c = dict(jwt_parts(session["access_token"])[1])
    c.update(iat=now, exp=now + ttl, jti=secrets.token_hex(8))
    return c


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def thumbprint(private_key):
    x = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw)
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % b64u(x)
    return b64u(hashlib.sha256(jwk.encode()).digest())


# ------------------------------------------------------------- rotation

@pytest.mark.slow
def test_rotation_keeps_old_tokens_until_expiry_then_retires_the_key(start_curfew):
    srv = start_curfew(CONFIG)
    client = jwt.PyJWKClient(srv.url("/.well-known/jwks.json"))
    s0 = srv.new_session(sub="alice")
    kid0 = kid_of(s0["access_token"])
    key0 = srv.signing_key()                        # the old private key, kept for forging
    assert jwks_kids(srv) == [kid0]
    assert verify_with_pyjwt(client, srv, s0["access_token"])["sub"] == "alice"

    # Rotate with the CLI.
    doc = json.loads(ok(cli(srv, "keys", "rotate", "--json")).stdout)
    cli_rotated_at = time.time()
    kid1 = doc["kid"]
    assert doc["previous"] == kid0 and kid1 != kid0
    assert [k["kid"] for k in doc["keys"]] == [kid1, kid0]
    # The old token keeps working, on curfew and for PyJWT (same client, JWKS re-read).
    assert srv.check(s0["access_token"]).status_code == 200
    assert verify_with_pyjwt(client, srv, s0["access_token"])["sub"] == "alice"
    # While kid0 verifies, any token it signs is accepted (control for the refusal below).
    r = srv.check(forge_token(key0, fresh_claims(srv, s0), kid0))
    assert r.status_code == 200, r.text
    assert time.time() - cli_rotated_at < KEEP, "too slow to test the verifying window"
    # New tokens carry the new kid; PyJWT finds it in the JWKS.
    s1 = srv.new_session(sub="bob")
    assert kid_of(s1["access_token"]) == kid1
    assert verify_with_pyjwt(client, srv, s1["access_token"])["sub"] == "bob"
    assert jwks_kids(srv) == [kid1, kid0]           # active first, then verifying

    # Rotate with the admin API.
    r = srv.admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    kid2 = r.json()["kid"]
    assert r.json()["previous"] == kid1
    rotated_at = time.time()
    s2 = srv.new_session(sub="carol")
    assert kid_of(s2["access_token"]) == kid2
    assert verify_with_pyjwt(client, srv, s2["access_token"])["sub"] == "carol"
    assert jwks_kids(srv) == [kid2, kid1, kid0]


    # After TTL + leeway the rotated-out keys retire and leave the JWKS...
    wait_until(lambda: jwks_kids(srv) == [kid2], KEEP + 5, "kid0 and kid1 retired")
    assert time.time() - rotated_at >= KEEP - 0.5, "retired before TTL + leeway"
    keys = srv.admin("GET", "/v1/keys").json()["keys"]
    assert [k["kid"] for k in keys] == [kid2]
    assert kid0 not in (srv.data_dir / "keyset.json").read_text()
    # ...a token signed by a retired key is refused even with a fresh exp...
    assert_refused(srv.check(forge_token(key0, fresh_claims(srv, s0), kid0)), "unknown_key")
    # ...and the tokens from before have expired anyway.
    assert srv.check(s0["access_token"]).status_code == 401
    # New tokens still work, for curfew and for PyJWT.
    s3 = srv.new_session(sub="dave")
    assert srv.check(s3["access_token"]).status_code == 200
    assert verify_with_pyjwt(client, srv, s3["access_token"])["sub"] == "dave"


def test_keys_api_lists_states_and_times_without_private_material(start_curfew):
    srv = start_curfew(CONFIG)
    assert srv.admin("GET", "/v1/keys").status_code == 200
    assert srv.get("/v1/keys").status_code == 401
    assert srv.post("/v1/keys/rotate").status_code == 401
    assert srv.admin("DELETE", "/v1/keys").status_code == 405
    assert srv.admin("GET", "/v1/keys/rotate").status_code == 405
    before = int(time.time())
    r = srv.admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    doc = srv.admin("GET", "/v1/keys").json()
    assert doc["version"] == 2 and doc["retire_after"] == KEEP and doc["rotate_every"] == 0
    active, old = doc["keys"]
    assert active["state"] == "active" and old["state"] == "verifying"
    assert active["deactivated_at"] is None and active["retires_at"] is None
    assert old["deactivated_at"] >= before - 1
    assert abs(old["retires_at"] - old["deactivated_at"] - KEEP) <= 1, old
    for k in doc["keys"]:
        assert set(k) == {"kid", "state", "created_at", "activated_at", "deactivated_at",
                          "retires_at"}, k
    assert '"d"' not in r.text and '"d"' not in json.dumps(doc)
    # Metrics: one active, one verifying.
    m = srv.get("/metrics").text
    assert 'curfew_signing_keys{state="active"} 1' in m
    assert 'curfew_signing_keys{state="verifying"} 1' in m


def test_cli_keys_ls_table_json_and_errors(start_curfew):
    srv = start_curfew(CONFIG)
    kid0 = srv.kid()
    out = ok(cli(srv, "keys", "ls")).stdout.splitlines()
    assert out[0].split() == ["KID", "STATE", "ACTIVATED", "DEACTIVATED", "RETIRES"]
    assert out[1].split()[:2] == [kid0, "active"]
    out = ok(cli(srv, "keys", "rotate")).stdout
    kid1 = srv.kid()
    assert re.search(rf"^rotated: {re.escape(kid1)} is active; {re.escape(kid0)} keeps verifying", out, re.M)
    doc = json.loads(ok(cli(srv, "keys", "ls", "--json")).stdout)
    assert [(k["kid"], k["state"]) for k in doc["keys"]] == [(kid1, "active"), (kid0, "verifying")]
    # Errors: one line, exit codes like the other admin commands.
    r = cli(srv, "keys", "rotate", key="wrong-key")
    assert r.returncode == 1 and r.stderr.strip().splitlines() == \
        ["curfew keys rotate: the server refused the admin key (401)"], r.stderr
    assert srv.kid() == kid1, "a refused rotation changed the key"
    for args in (["keys"], ["keys", "frob"], ["keys", "ls", "extra"], ["keys", "rotate", "--bogus"]):
        r = run_curfew(*args, env={"CURFEW_ADMIN_KEY": "k"})
        assert r.returncode == 2 and r.stderr.strip(), (args, r)
    for args in (["keys", "--help"], ["keys", "ls", "--help"], ["keys", "rotate", "--help"]):
        r = run_curfew(*args, env={"CURFEW_ADMIN_KEY": ""})
        assert r.returncode == 0 and r.stdout.startswith("usage: curfew keys"), r
    assert re.search(r"^\s+keys\b", run_curfew("--help").stdout, re.M)


# ------------------------------------------------------------ persistence

def test_restart_keeps_the_key_set(start_curfew):
    srv = start_curfew(CONFIG)
    s0 = srv.new_session(sub="alice", access_ttl="2s")
    ok(cli(srv, "keys", "rotate"))
    kids = jwks_kids(srv)
    path = srv.data_dir / "keyset.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    srv.restart()
    assert jwks_kids(srv) == kids, "the key set changed across a restart"
    assert srv.kid() == kids[0]
    s1 = srv.new_session(sub="bob")
    assert kid_of(s1["access_token"]) == kids[0]
    # a token of the rotated-out key still verifies after the restart (fresh exp)
    forged = forge_token(srv.signing_key(kids[1]), fresh_claims(srv, s0), kids[1])
    assert srv.check(forged).status_code == 200


def test_kek_encrypts_private_keys_and_a_wrong_kek_stops_startup(start_curfew):
    srv = start_curfew(CONFIG, env={"CURFEW_KEK": KEK})
    s0 = srv.new_session(sub="alice")
    ok(cli(srv, "keys", "rotate"))
    kids = jwks_kids(srv)
    text = (srv.data_dir / "keyset.json").read_text()
    doc = json.loads(text)
    for k in doc["keys"]:
        assert "d" not in k and k["enc"] == "A256GCM" and k["ct"] and k["iv"] and k["tag"], k
    # the active private key does not appear in clear
    assert stat.S_IMODE((srv.data_dir / "keyset.json").stat().st_mode) == 0o600

    srv.restart()                                   # same KEK: same keys
    assert jwks_kids(srv) == kids
    assert srv.check(srv.new_session(sub="bob")["access_token"]).status_code == 200

    srv.stop()
    srv.start(env={"CURFEW_KEK": OTHER_KEK}, wait=False)
    rc = srv.proc.wait(10)
    err = srv.stderr_since_start()
    assert rc != 0, err
    assert re.search(r"event=startup_error what=keyset .*does not decrypt: wrong key-encryption key",
                     err), err
    assert "Traceback" not in err and "AddressSanitizer" not in err

    srv.start(env={"CURFEW_KEK": "not-a-key"}, wait=False)
    assert srv.proc.wait(10) != 0
    assert "what=kek source=CURFEW_KEK error=\"expected 32 bytes" in srv.stderr_since_start()

    srv.start(env={}, wait=False)                   # no KEK at all
    assert srv.proc.wait(10) != 0
    assert "is encrypted but no key-encryption key is configured" in srv.stderr_since_start()

    # keys.kek_file works as well as the environment variable.
    kek_file = srv.workdir / "kek"
    kek_file.write_text(KEK + "\n")
    srv.start(CONFIG + f"keys: {{ kek_file: {kek_file} }}\n", env={})
    assert jwks_kids(srv) == kids
    assert srv.check(s0["access_token"]).status_code in (200, 401)   # may have expired by now


def test_configuring_a_kek_encrypts_an_existing_clear_key_set(start_curfew):
    srv = start_curfew(CONFIG)
    kid = srv.kid()
    d = srv.keyset()["keys"][0]["d"]
    srv.restart(env={"CURFEW_KEK": KEK})
    assert srv.kid() == kid
    text = (srv.data_dir / "keyset.json").read_text()
    assert d not in text and '"d"' not in text and "A256GCM" in text


def test_signing_key_pem_is_migrated_with_its_kid(start_curfew):
    srv = start_curfew(CONFIG)
    s = srv.new_session(sub="alice", idle_timeout="10m")
    srv.stop()
    # Put the data dir back in the shape of an earlier curfew: one PEM, no key set.
    legacy = Ed25519PrivateKey.generate()
    pem = legacy.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    (srv.data_dir / "keyset.json").unlink()
    (srv.data_dir / "signing-key.pem").write_bytes(pem)
    os.chmod(srv.data_dir / "signing-key.pem", 0o600)
    kid = thumbprint(legacy)
    # A token the earlier curfew signed (still live).
    live = forge_token(legacy, fresh_claims(srv, s), kid)

    srv.start()
    assert jwks_kids(srv) == [kid], "the migrated key must keep its kid"
    assert srv.check(live).status_code == 200, srv.check(live).text
    assert not (srv.data_dir / "signing-key.pem").exists(), "private key left in clear"
    assert srv.keyset()["keys"][0]["kid"] == kid
    assert "event=signing_key_migrated" in srv.stderr_since_start()
    # It rotates like any other key.
    ok(cli(srv, "keys", "rotate"))
    assert jwks_kids(srv)[1] == kid
    assert srv.check(live).status_code == 200


def test_corrupt_key_set_stops_startup_with_one_clear_line(start_curfew):
    srv = start_curfew(CONFIG)
    srv.stop()
    (srv.data_dir / "keyset.json").write_text('{"v": 1, "version": 1, "keys": [')
    srv.start(wait=False)
    assert srv.proc.wait(10) != 0
    lines = [ln for ln in srv.stderr_since_start().splitlines() if "startup_error" in ln]
    assert len(lines) == 1 and "what=keyset" in lines[0] and "line 1 column" in lines[0], lines


# ------------------------------------------------------------ rotate_every

@pytest.mark.slow
def test_rotate_every_rotates_by_itself(start_curfew):
    srv = start_curfew(CONFIG + "keys: { rotate_every: 4s }\n")
    kid0 = srv.kid()
    s0 = srv.new_session(sub="alice")
    wait_until(lambda: srv.kid() != kid0, 10, "an automatic rotation")
    kid1 = srv.kid()
    assert jwks_kids(srv) == [kid1, kid0]
    assert srv.check(s0["access_token"]).status_code in (200, 401)
    assert kid_of(srv.new_session(sub="bob")["access_token"]) == kid1
    assert "event=signing_key_rotated trigger=schedule" in srv.stderr_text()
    assert srv.admin("GET", "/v1/keys").json()["rotate_every"] == 4


def test_rotate_every_must_exceed_ttl_plus_leeway(start_curfew, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.replace("@URL@", "http://x") + "keys: { rotate_every: 3s }\n")
    r = run_curfew("config", "check", cfg)
    assert r.returncode == 2, r
    assert "keys.rotate_every (3s) must exceed access_token.max_ttl (2s) + clock_leeway (1s)" in r.stderr
