# SPDX-License-Identifier: MIT
"""The API key endpoints as an attacker uses them, on the real binary:
lifetimes and idle values that overflow, are negative, not integers, too
small to be whole seconds or written with non-ASCII digits; duplicate JSON
members; keys whose prefix is right and whose body is not; keys sent twice,
in two places or with the scheme's case changed; racing rotations and
revocations (exactly one rotation wins, and no successor of a revoked key
lives); rotations of ended keys; and refused checks that must not count as
use of a key."""

import hashlib
import socket
import threading
import time

import pytest

from conftest import wait_until
from test_apikeys import B62, check, create, forge, new_key, reason


def raw(srv, head, body=b""):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ")[1]), data


def post_raw_json(srv, path, body):
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return raw(srv, head, body)


def refused(r, status, why):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["reason"] == why and r.headers["X-Curfew-Reason"] == why, r.text


def keys_of(srv, sub):
    return srv.admin("GET", f"/v1/apikeys?sub={sub}").json()["keys"]


# ---- numbers --------------------------------------------------------------

HOSTILE_NUMBERS = [
    # (field, JSON text of the value, reason)
    ("expires_in", "9223372036854775807", "lifetime_too_long"),
    ("expires_in", "3162240001", "lifetime_too_long"),  # 100 years + 1 s
    ("expires_in", "-1", "invalid_request"),
    ("expires_in", "-9223372036854775808", "invalid_request"),
    ("expires_in", "9223372036854775808", "invalid_json"),  # past int64
    ("expires_in", "1e309", "invalid_json"),
    ("expires_in", "1e3", "invalid_request"),
    ("expires_in", "60.5", "invalid_request"),
    ("expires_in", "true", "invalid_request"),
    ("expires_in", "[60]", "invalid_request"),
    ("expires_in", '"-1s"', "invalid_request"),
    ("expires_in", '"9223372036854775807s"', "invalid_request"),
    ("expires_in", '"\uff11h"', "invalid_request"),   # FULLWIDTH DIGIT ONE
    ("expires_in", '"1\u0661h"', "invalid_request"),  # ARABIC-INDIC DIGIT ONE
    ("expires_in", '"\\u0661h"', "invalid_request"),
    ("expires_in", '"1h\\u0000"', "invalid_json"),
    ("expires_in", '"1h "', "invalid_request"),
    ("expires_in", '"500ms"', "invalid_request"),     # not a whole second
    ("expires_in", '"999ms"', "invalid_request"),
    ("idle_expiry", "9223372036854775807", "invalid_request"),
    ("idle_expiry", "-1", "invalid_request"),
    ("idle_expiry", "0", "invalid_request"),
    ("idle_expiry", "1e309", "invalid_json"),
    ("idle_expiry", '"-1s"', "invalid_request"),
    ("idle_expiry", '"500ms"', "invalid_request"),
    ("idle_expiry", '"\uff11h"', "invalid_request"),
    ("quota_per_day", "9223372036854775807", "invalid_request"),
    ("quota_per_day", "-1", "invalid_request"),
    ("quota_per_day", '"10"', "invalid_request"),
]


@pytest.fixture(scope="module")
def lax(tmp_path_factory):
    """One server for the table: expiry not required, so a value read as 0
    would make a key that never expires instead of a refusal."""
    from conftest import CurfewServer
    srv = CurfewServer(tmp_path_factory.mktemp("lax"))
    srv.start("api_keys: { require_expiry: false, max_lifetime: 0s }\n")
    yield srv
    srv.stop()


@pytest.mark.parametrize("field,text,why", HOSTILE_NUMBERS,
                         ids=[f"{f}={t}" for f, t, _ in HOSTILE_NUMBERS])
def test_hostile_numbers_are_refused_and_create_nothing(lax, field, text, why):
    sub = "n" + hashlib.sha256(f"{field}={text}".encode()).hexdigest()[:12]
    body = f'{{"sub": "{sub}", "expires_in": 600, "{field}": {text}}}'
    if field == "expires_in":
        body = f'{{"sub": "{sub}", "expires_in": {text}}}'
    status, data = post_raw_json(lax, "/v1/apikeys", body.encode())
    assert status == 400, data[:400]
    assert f'"reason":"{why}"'.encode() in data.replace(b": ", b":"), data[:400]
    assert f"X-Curfew-Reason: {why}".encode() in data, data[:400]
    assert keys_of(lax, sub) == []


def test_a_sub_second_lifetime_is_not_a_key_that_never_expires(start_curfew):
    srv = start_curfew("api_keys: { require_expiry: false, max_lifetime: 0s }\n")
    for v in ("500ms", "1ms", "0s999ms"):
        refused(create(srv, sub="tiny", expires_in=v), 400, "invalid_request")
    assert keys_of(srv, "tiny") == []
    # Whole seconds in any unit are fine, and 0 still means never, as documented.
    assert new_key(srv, sub="tiny", expires_in="1500ms")["expires_in"] in (0, 1)
    assert new_key(srv, sub="tiny", expires_in="2s")["expires_in"] in (1, 2)
    assert new_key(srv, sub="tiny", expires_in=0)["expires_at"] is None


def test_duplicate_members_are_refused(start_curfew):
    srv = start_curfew()
    for body in (b'{"sub": "dup", "expires_in": 60, "expires_in": 0}',
                 b'{"sub": "dup", "sub": "admin", "expires_in": 60}',
                 b'{"sub": "dup", "expires_in": 60, "networks": ["10.0.0.0/8"],'
                 b' "networks": ["0.0.0.0/0"]}'):
        status, data = post_raw_json(srv, "/v1/apikeys", body)
        assert status == 400 and b"invalid_json" in data, data[:300]
    assert keys_of(srv, "dup") == [] and keys_of(srv, "admin") == []
    k = new_key(srv, sub="dup", expires_in=600)
    status, data = post_raw_json(srv, f"/v1/apikeys/{k['id']}/rotate",
                                 b'{"overlap": 60, "overlap": 999999}')
    assert status == 400 and b"invalid_json" in data, data[:300]
    assert [x["id"] for x in keys_of(srv, "dup")] == [k["id"]]


def test_a_huge_overlap_is_cut_to_the_configured_one_not_wrapped_to_zero(start_curfew):
    srv = start_curfew("api_keys: { rotation_overlap: 1h }\n")
    for asked in (9223372036854775807, 9223372036854776, 10 ** 17, "36500d"):
        old = new_key(srv, sub="ov", expires_in=7200)
        t0 = time.time()
        r = srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate", json={"overlap": asked})
        assert r.status_code == 201, r.text
        until = r.json()["previous"]["overlap_until"]
        assert t0 + 3600 - 2 <= until <= t0 + 3600 + 2, (asked, until - t0)
        assert check(srv, old["key"]).status_code == 200, asked  # the old secret still works
    for asked in (-1, -9223372036854775808, "-1s", 1.5, "1e3", True):
        old = new_key(srv, sub="ov", expires_in=7200)
        r = srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate", json={"overlap": asked})
        refused(r, 400, "invalid_request")
        assert srv.admin("GET", f"/v1/apikeys/{old['id']}").json()["state"] == "active"


# ---- presenting a key -----------------------------------------------------

def test_a_valid_prefix_with_an_altered_body_is_refused(start_curfew):
    srv = start_curfew()
    k = new_key(srv, expires_in=600)
    key, kid, secret = k["key"], k["id"], k["key"][17:49]
    altered = [key[:17] + secret.swapcase() + key[49:],      # checksum now wrong
               forge(kid, secret.swapcase()),                # checksum recomputed
               forge(kid.swapcase(), secret),                # id case changed
               forge(kid, secret[:-1] + B62[(B62.index(secret[-1]) + 1) % 62]),
               forge(kid[:-1] + B62[(B62.index(kid[-1]) + 1) % 62], secret),
               "CFK_" + key[4:], key.upper(), key.lower(),
               key[:16] + "-" + key[17:]]
    for bad in altered:
        if bad == key:
            continue
        r = check(srv, bad)
        assert r.status_code == 401, (bad, r.text)
        assert reason(r) in ("malformed_key", "invalid_key"), (bad, r.text)
    assert check(srv, key).status_code == 200


def test_the_scheme_is_case_insensitive_and_two_credentials_are_refused(start_curfew):
    srv = start_curfew()
    k = new_key(srv, expires_in=600)
    key = k["key"]
    # The scheme is case-insensitive and followed by 1*SP (RFC 7235), as for access tokens.
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR", "Bearer ", "bearer   "):
        r = srv.get("/v1/check", headers={"Authorization": f"{scheme} {key}"})
        assert r.status_code == 200, (scheme, r.text)
        assert r.headers["X-Curfew-Key"] == k["id"]
    twice = [f"Authorization: Bearer {key}\r\nAuthorization: Bearer {key}\r\n",
             f"Authorization: Bearer {key}\r\nauthorization: bearer {key}\r\n",
             f"Authorization: Bearer {key}\r\nX-API-Key: {key}\r\n",
             f"x-api-key: {key}\r\nX-API-KEY: {key}\r\n",
             f"Authorization: Bearer {key}\r\nAuthorization: Bearer wrong\r\n",
             f"Authorization: Bearer wrong\r\nAuthorization: Bearer {key}\r\n"]
    for h in twice:
        status, data = raw(srv, b"GET /v1/check HTTP/1.1\r\nHost: x\r\n" + h.encode()
                           + b"Connection: close\r\n\r\n")
        assert status in (400, 401), (h, data[:300])
        assert b"X-Curfew-Subject" not in data
    # A key in the query is not a credential: refused without it, ignored beside the header,
    # and its secret is never written to the log.
    r = srv.get(f"/v1/check?api_key={key}&access_token={key}")
    assert r.status_code == 401, r.text
    r = srv.get(f"/v1/check/api?api_key={key}", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    assert key[17:49] not in srv.stderr_text()


# ---- races and ended keys -------------------------------------------------

def at_once(n, fn):
    out = [None] * n
    go = threading.Barrier(n)

    def run(i):
        go.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


@pytest.mark.parametrize("round_", range(3))
def test_racing_rotations_of_one_key_exactly_one_wins(start_curfew, round_):
    srv = start_curfew()
    old = new_key(srv, sub="race", expires_in=600)
    out = at_once(8, lambda i: srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate"))
    wins = [r for r in out if r.status_code == 201]
    assert len(wins) == 1, [(r.status_code, r.text[:120]) for r in out]
    for r in out:
        if r.status_code != 201:
            refused(r, 409, "key_rotated")
    ids = sorted(x["id"] for x in keys_of(srv, "race"))
    assert ids == sorted([old["id"], wins[0].json()["id"]])
    srv.restart()
    assert sorted(x["id"] for x in keys_of(srv, "race")) == ids
    assert srv.admin("GET", f"/v1/apikeys/{old['id']}").json()["successor"] == wins[0].json()["id"]


@pytest.mark.parametrize("round_", range(6))
def test_a_revocation_racing_a_rotation_leaves_no_successor_of_a_revoked_key(start_curfew, round_):
    srv = start_curfew()
    old = new_key(srv, sub="rr", expires_in=600)
    path = f"/v1/apikeys/{old['id']}"
    out = at_once(2, lambda i: srv.admin("DELETE", path) if i == 0
                  else srv.admin("POST", path + "/rotate"))
    rev, rot = out
    assert rev.status_code == 200, rev.text
    assert srv.admin("GET", path).json()["end_reason"] == "key_revoked"
    if rot.status_code == 201:
        # The rotation came first: its successor is a key of its own, and the old one
        # is revoked (not merely rotating).
        new = rot.json()
        assert check(srv, new["key"]).status_code == 200
        assert srv.admin("GET", path).json()["successor"] == new["id"]
        # ...so the revocation was decided after it, on the rotated key: a revocation
        # decided first (its answer naming no successor) must not see a rotation win.
        assert rev.json()["successor"] == new["id"], (rev.text, rot.text)
    else:
        refused(rot, 409, "key_revoked")
        assert [x["id"] for x in keys_of(srv, "rr")] == [old["id"]]
    assert reason(check(srv, old["key"])) == "key_revoked"
    live = [x for x in keys_of(srv, "rr") if x["state"] != "ended"]
    for x in live:  # whatever lives was made from a key that was live at that moment
        assert x["predecessor"] == old["id"] and rot.status_code == 201


def stored_rows(db):
    import sqlite3
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(con.execute("SELECT id, successor, end_reason FROM apikeys").fetchall())
    finally:
        con.close()


def test_rotating_an_ended_key_is_409_and_changes_nothing(start_curfew):
    srv = start_curfew("clock_leeway: 0s\n")
    rev, rot, exp = (new_key(srv, sub="e", expires_in=600), new_key(srv, sub="e", expires_in=600),
                     new_key(srv, sub="e", expires_in=1))
    assert srv.admin("DELETE", f"/v1/apikeys/{rev['id']}").status_code == 200
    succ = srv.admin("POST", f"/v1/apikeys/{rot['id']}/rotate", json={"overlap": 600}).json()
    time.sleep(max(0, exp["expires_at"] + 1.05 - time.time()))
    before = sorted((x["id"], x["state"], x["successor"]) for x in keys_of(srv, "e"))
    db = srv.data_dir / "curfew.db"
    # Once the sweep recorded the expiry (within store.activity_flush): then nothing moves.
    assert wait_until(lambda: ("key_expired",) in [r[2:] for r in stored_rows(db)], 5, step=0.05)
    rows = stored_rows(db)
    for k, why in ((rev, "key_revoked"), (rot, "key_rotated"), (exp, "key_expired")):
        for body in (None, {"overlap": 0}, {"expires_in": 60}):
            refused(srv.admin("POST", f"/v1/apikeys/{k['id']}/rotate", json=body), 409, why)
    refused(srv.admin("POST", "/v1/apikeys/AAAAAAAAAAAA/rotate"), 404, "not_found")
    assert sorted((x["id"], x["state"], x["successor"]) for x in keys_of(srv, "e")) == before
    assert stored_rows(db) == rows  # nothing written
    assert check(srv, rot["key"]).status_code == 200  # still inside its overlap
    assert check(srv, succ["key"]).status_code == 200
    srv.restart()
    assert sorted((x["id"], x["state"], x["successor"]) for x in keys_of(srv, "e")) == before
    assert check(srv, rot["key"]).status_code == 200


# ---- what counts as use ---------------------------------------------------

def test_a_refused_check_does_not_keep_an_idle_key_alive(start_curfew):
    """Only an allowed check is use: a client hammering a key that is over its
    quota gets 429 each time and its key still idles out on time."""
    srv = start_curfew()
    k = new_key(srv, sub="idle", expires_in=600, idle_expiry=2, quota_per_day=1)
    assert check(srv, k["key"]).status_code == 200
    used = srv.admin("GET", f"/v1/apikeys/{k['id']}").json()["last_used"]
    deadline = time.time() + 1.0  # well inside the idle expiry (2 s after the use)
    while time.time() < deadline:
        refused(check(srv, k["key"]), 429, "quota_exceeded")
        time.sleep(0.1)
    assert srv.admin("GET", f"/v1/apikeys/{k['id']}").json()["last_used"] == used
    time.sleep(max(0, used + 3.05 - time.time()))
    refused(check(srv, k["key"]), 401, "key_idle_expired")


def test_a_bulk_revocation_naming_nothing_revokes_nothing(start_curfew):
    """{"client_id": ""} matched every key without a client: one empty string
    revoked the keys of every owner."""
    srv = start_curfew()
    keys = [new_key(srv, sub=s, expires_in=600) for s in ("x", "y")]
    for body in ({"client_id": ""}, {"sub": ""}, {"sub": None}, {"client_id": []},
                 {"sub": "x", "client_id": "c"}, {"sub": "x", "other": 1}, {}):
        refused(srv.admin("POST", "/v1/apikeys/revocations", json=body), 400, "invalid_request")
    status, data = post_raw_json(srv, "/v1/apikeys/revocations", b'{"sub": "nobody", "sub": "x"}')
    assert status == 400 and b"invalid_json" in data
    for k in keys:
        assert check(srv, k["key"]).status_code == 200
        assert srv.admin("GET", f"/v1/apikeys/{k['id']}").json()["state"] == "active"
    r = srv.admin("POST", "/v1/apikeys/revocations", json={"sub": "x"})
    assert r.status_code == 200 and r.json() == {"keys_revoked": 1}, r.text
    assert check(srv, keys[1]["key"]).status_code == 200


@pytest.mark.parametrize("round_", range(4))
def test_a_bulk_revocation_racing_a_rotation_leaves_no_live_key(start_curfew, round_):
    """In any order one after the other, "revoke every key of this owner" and
    "rotate one of them" leave the owner no live key: the rotation first, its
    successor is revoked too; the revocation first, the rotation is 409."""
    srv = start_curfew()
    keys = [new_key(srv, sub="bulk", expires_in=600) for _ in range(6)]
    out = at_once(3, lambda i: srv.admin("POST", "/v1/apikeys/revocations", json={"sub": "bulk"})
                  if i == 0 else srv.admin("POST", f"/v1/apikeys/{keys[i]['id']}/rotate"))
    assert out[0].status_code == 200, out[0].text
    for r in out[1:]:
        assert r.status_code in (201, 409), r.text
        if r.status_code == 409:
            refused(r, 409, "key_revoked")
    live = [x for x in keys_of(srv, "bulk") if x["state"] != "ended"]
    assert live == [], live
    for r in out[1:]:
        if r.status_code == 201:
            assert reason(check(srv, r.json()["key"])) == "key_revoked"


def test_every_allowed_check_of_a_key_is_a_use_whatever_the_route(start_curfew):
    """As docs/api.md says: a route's `activity: none` and the background
    header tell a person's session that a request is not the person; a key
    has no person, so every allowed check, there too, keeps it from idling out
    (and a refused one, above, does not)."""
    srv = start_curfew("routes:\n  - path_prefix: /poll\n    activity: none\n"
                       "  - path_prefix: /\n")
    k = new_key(srv, sub="poller", expires_in=600, idle_expiry=2)
    for i in range(4):  # 3.2 s of polling: past the 2 s idle expiry from creation
        time.sleep(0.8)
        r = srv.get("/v1/check/poll/x", headers={"X-API-Key": k["key"], "X-Curfew-Background": "1"})
        assert r.status_code == 200, (i, r.text)
    assert srv.admin("GET", f"/v1/apikeys/{k['id']}").json()["state"] == "active"
