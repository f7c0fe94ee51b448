# SPDX-License-Identifier: MIT
"""Faults on one node for the state changes test_faults.py does not cover:
API keys (create, rotate, revoke by key, by owner, by client) and the
signing keys (POST /v1/keys/rotate).

Each change is made twice per fault: once while the disk refuses (fsync
returns EIO through tests/faults/failsync.c, or the data dir is a tmpfs filled
to the last byte), which must answer 503 store_unavailable with Retry-After: 1
and leave every read-back exactly as it was; then again with the disk back,
which must be applied exactly once; and after kill -9 and a restart the
server must hold what it acknowledged and nothing it refused.
"""

import secrets
import time

import pytest

from conftest import jwt_parts
from test_faults import (assert_store_unavailable, failsync_so, faulted, make_faulted,  # noqa: F401
                         tiny_disk)


# ---------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------

# What a read-back shows of a key: no usage counters, which a check moves.
SHOWN = ("id", "sub", "client_id", "state", "end_reason", "successor", "predecessor",
         "expires_at", "overlap_until")


class Keys:
    """Two owners' keys, one pair sharing a client, and what they look like."""

    def __init__(self, srv):
        self.srv = srv
        self.a = "ann-" + secrets.token_hex(3)
        self.b = "ben-" + secrets.token_hex(3)
        self.secrets = {}
        self.a1 = self.new(sub=self.a, client_id="ci")
        self.a2 = self.new(sub=self.a)
        self.b1 = self.new(sub=self.b, client_id="ci")

    def new(self, **body):
        r = self.create(**body)
        assert r.status_code == 201, r.text
        return self.learn(r.json())

    def create(self, **body):
        body.setdefault("name", "ci")
        body.setdefault("expires_in", 86400)
        return self.srv.admin("POST", "/v1/apikeys", json=body)

    def learn(self, k):
        self.secrets[k["id"]] = k["key"]
        return k

    def observe(self):
        """Every key of both owners as listed and as shown, and what a check says."""
        seen = {}
        for sub in (self.a, self.b):
            r = self.srv.admin("GET", "/v1/apikeys", params={"sub": sub})
            assert r.status_code == 200, r.text
            for k in r.json()["keys"]:
                shown = self.srv.admin("GET", f"/v1/apikeys/{k['id']}")
                assert shown.status_code == 200, shown.text
                listed = {f: k.get(f) for f in SHOWN}
                assert listed == {f: shown.json().get(f) for f in SHOWN}
                seen[k["id"]] = listed
        for kid, key in self.secrets.items():
            r = self.srv.get("/v1/check", headers={"X-API-Key": key})
            reason = None if r.status_code == 200 else r.json().get("reason")
            seen.setdefault(kid, {})["check"] = (r.status_code, reason)
        return seen


def ended(seen, ids):
    return all(seen[i]["state"] != "active" and seen[i]["check"] == (401, "key_revoked")
               for i in ids)


def alive(seen, ids):
    return all(seen[i]["state"] == "active" and seen[i]["check"][0] == 200 for i in ids)


def key_create(ks):
    return ks.create(sub=ks.a, client_id="ci")


def key_create_done(ks, r, before, after):
    k = r.json()
    assert set(after) == set(before) | {k["id"]}, "exactly one key was created"
    assert alive(after, [k["id"]])


def key_rotate(ks):
    return ks.srv.admin("POST", f"/v1/apikeys/{ks.a1['id']}/rotate")


def key_rotate_done(ks, r, before, after):
    new = r.json()
    assert set(after) == set(before) | {new["id"]}, "exactly one successor"
    assert after[ks.a1["id"]]["successor"] == new["id"]
    assert after[new["id"]]["predecessor"] == ks.a1["id"]
    # Both work during the overlap.
    assert after[ks.a1["id"]]["state"] == "rotating" and after[ks.a1["id"]]["check"][0] == 200
    assert alive(after, [new["id"]])


def key_delete(ks):
    return ks.srv.admin("DELETE", f"/v1/apikeys/{ks.a1['id']}")


def key_delete_done(ks, r, before, after):
    assert r.json()["state"] != "active" and r.json()["end_reason"] == "key_revoked", r.text
    assert ended(after, [ks.a1["id"]]) and alive(after, [ks.a2["id"], ks.b1["id"]])


def key_revoke_owner(ks):
    return ks.srv.admin("POST", "/v1/apikeys/revocations", json={"sub": ks.a})


def key_revoke_owner_done(ks, r, before, after):
    assert r.json() == {"keys_revoked": 2}, r.text
    assert ended(after, [ks.a1["id"], ks.a2["id"]]) and alive(after, [ks.b1["id"]])


def key_revoke_client(ks):
    return ks.srv.admin("POST", "/v1/apikeys/revocations", json={"client_id": "ci"})


def key_revoke_client_done(ks, r, before, after):
    assert r.json() == {"keys_revoked": 2}, r.text
    assert ended(after, [ks.a1["id"], ks.b1["id"]]) and alive(after, [ks.a2["id"]])


KEY_CHANGES = {
    "create": (key_create, 201, key_create_done),
    "rotate": (key_rotate, 201, key_rotate_done),
    "revoke_key": (key_delete, 200, key_delete_done),
    "revoke_owner": (key_revoke_owner, 200, key_revoke_owner_done),
    "revoke_client": (key_revoke_client, 200, key_revoke_client_done),
}


@pytest.mark.parametrize("change", list(KEY_CHANGES))
def test_refused_apikey_change_leaves_nothing_and_its_retry_is_durable(faulted, change):
    do, ok, done = KEY_CHANGES[change]
    srv = faulted.srv
    ks = Keys(srv)
    before = ks.observe()
    assert alive(before, ks.secrets)
    with faulted:
        for _ in range(2):  # a refusal, and a retry still refused: neither counts
            assert_store_unavailable(do(ks))
            assert ks.observe() == before
    r = do(ks)
    assert r.status_code == ok, f"{r.status_code} {r.text}"
    if "key" in r.json():
        ks.learn(r.json())  # a new secret, shown only here
    after = ks.observe()
    done(ks, r, before, after)
    srv.restart(hard=True)
    assert ks.observe() == after


# ---------------------------------------------------------------------------
# Signing keys
# ---------------------------------------------------------------------------

def signing_state(srv):
    r = srv.admin("GET", "/v1/keys")
    assert r.status_code == 200, r.text
    keys = r.json()
    jwks = sorted(k["kid"] for k in srv.jwks()["keys"])
    active = [k["kid"] for k in keys["keys"] if k["state"] == "active"]
    return {"version": keys["version"], "active": active, "jwks": jwks,
            "kids": sorted(k["kid"] for k in keys["keys"])}


def token_kid(token):
    return jwt_parts(token)[0]["kid"]


def test_refused_signing_key_rotation_keeps_the_active_key(faulted):
    """docs/api.md: 503 store_unavailable when the key set cannot be written;
    the current key stays active, tokens keep being signed by it, and the
    retry makes exactly one new key, which survives kill -9."""
    srv = faulted.srv
    before = signing_state(srv)
    with faulted:
        for _ in range(2):
            assert_store_unavailable(srv.admin("POST", "/v1/keys/rotate"))
            assert signing_state(srv) == before
    s = srv.new_session(sub="kim")
    assert token_kid(s["access_token"]) == before["active"][0]
    r = srv.admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["previous"] == before["active"][0] and new["version"] == before["version"] + 1
    after = signing_state(srv)
    assert after["active"] == [new["kid"]] and set(after["kids"]) == set(before["kids"]) | {new["kid"]}
    srv.restart(hard=True)
    assert signing_state(srv) == after
    assert srv.check(s["access_token"]).status_code == 200
    t = srv.new_session(sub="kim")
    assert token_kid(t["access_token"]) == new["kid"]


# ---------------------------------------------------------------------------
# Uses of a key (last_used, quota counts) are written lazily, every
# store.activity_flush. A flush the disk refused must be written by a later
# one: the uses were acknowledged (200), and docs/api.md bounds what a crash
# may forget to the last interval's uses.
# ---------------------------------------------------------------------------

FLUSH_CFG = "store:\n  activity_flush: 100ms\n"


def test_uses_a_refused_flush_did_not_write_are_written_by_a_later_one(make_faulted):
    f = make_faulted(FLUSH_CFG)
    srv = f.srv
    r = srv.admin("POST", "/v1/apikeys", json={"sub": "quo", "name": "q", "expires_in": 3600,
                                               "quota_per_day": 1000})
    assert r.status_code == 201, r.text
    k = r.json()
    with f:
        for _ in range(5):
            assert srv.get("/v1/check", headers={"X-API-Key": k["key"]}).status_code == 200
        time.sleep(0.5)  # several flushes, each refused
    shown = srv.admin("GET", f"/v1/apikeys/{k['id']}").json()
    assert shown["used_today"] == 5 and shown["last_used"] is not None, shown
    time.sleep(0.5)  # several flush intervals with the disk back
    srv.restart(hard=True)
    again = srv.admin("GET", f"/v1/apikeys/{k['id']}").json()
    assert again["used_today"] == 5, again
    assert again["last_used"] == shown["last_used"], again
