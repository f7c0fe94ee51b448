# SPDX-License-Identifier: MIT
"""Every documented refusal of POST /v1/keys/rotate (docs/api.md,
docs/openapi.yaml): 401 admin_unauthorized, 413 payload_too_large, 503
store_unavailable (the key set cannot be made durable: a disk error, or a
cluster node without Redis) and 409 rotation_conflict (two cluster nodes
rotating at the same instant: exactly one wins). Each answers its status, its
JSON reason and the same X-Curfew-Reason header, and changes nothing: the
active key stays and keeps signing, tokens from before keep working, no key
is written to disk or Redis, and a restart finds the same key set."""

import json
import threading
import time

import pytest

from conftest import wait_until
from test_faults import failsync_so, preload  # noqa: F401  (fixture)
from test_keys import jwks_kids, kid_of


def refused(r, status, reason, error):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["reason"] == reason and body["error"] == error, body
    assert r.headers["X-Curfew-Reason"] == reason, dict(r.headers)
    assert r.headers["Content-Type"].startswith("application/json")


def snapshot(srv):
    """What a refused rotation must leave as it was."""
    doc = srv.admin("GET", "/v1/keys").json()
    return {"kids": jwks_kids(srv), "version": doc["version"],
            "states": [(k["kid"], k["state"]) for k in doc["keys"]]}


def keyset_file(srv):
    return (srv.data_dir / "keyset.json").read_bytes()


def assert_unchanged(srv, before, token):
    assert snapshot(srv) == before
    assert srv.check(token).status_code == 200  # the old key keeps verifying
    fresh = srv.new_session(sub="after")
    assert kid_of(fresh["access_token"]) == before["kids"][0]  # and keeps signing
    assert srv.check(fresh["access_token"]).status_code == 200


def test_unauthorized_and_oversized_rotations_change_nothing(start_curfew):
    srv = start_curfew()
    s = srv.new_session(sub="alice")
    before, on_disk = snapshot(srv), keyset_file(srv)
    for headers in ({}, {"Authorization": "Bearer wrong-admin-key"},
                    {"Authorization": f"Basic {srv.admin_key}"},
                    {"Authorization": f"Bearer {srv.admin_key}x"},
                    {"Authorization": f"Bearer {srv.admin_key[:-1]}"}):
        refused(srv.post("/v1/keys/rotate", headers=headers), 401, "admin_unauthorized",
                "unauthorized")
    r = srv.admin("POST", "/v1/keys/rotate", data=b"x" * (17 * 1024),
                  headers={"Content-Type": "application/json"})
    refused(r, 413, "payload_too_large", "payload_too_large")
    assert_unchanged(srv, before, s["access_token"])
    assert keyset_file(srv) == on_disk
    srv.restart()
    assert_unchanged(srv, before, s["access_token"])
    assert keyset_file(srv) == on_disk


def test_a_rotation_that_cannot_be_made_durable_is_503_and_changes_nothing(
        start_curfew, failsync_so, tmp_path):  # noqa: F811
    flag = tmp_path / "fail-fsync"
    env = {"LD_PRELOAD": preload(failsync_so), "CURFEW_FAILSYNC_FLAG": str(flag)}
    srv = start_curfew(env=env)
    s = srv.new_session(sub="alice")
    before, on_disk = snapshot(srv), keyset_file(srv)
    files = sorted(p.name for p in srv.data_dir.iterdir())
    flag.write_text("1")
    try:
        for _ in range(2):  # and again: a retry fails the same way, nothing piles up
            r = srv.admin("POST", "/v1/keys/rotate")
            refused(r, 503, "store_unavailable", "temporarily_unavailable")
            assert r.headers["Retry-After"] == "1"
    finally:
        flag.unlink()
    assert keyset_file(srv) == on_disk
    assert sorted(p.name for p in srv.data_dir.iterdir()) == files  # no temp file left
    assert_unchanged(srv, before, s["access_token"])
    srv.restart(env=env)
    assert_unchanged(srv, before, s["access_token"])
    # Once the disk works again one rotation makes exactly one more version.
    r = srv.admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    assert r.json()["previous"] == before["kids"][0] and r.json()["version"] == before["version"] + 1


def redis_keyset(redis):
    return json.loads(redis.cli("GET", "cf:keyset"))


def test_a_node_without_redis_refuses_to_rotate_and_changes_nothing(start_node, redis_server):
    node = start_node("cluster: { max_staleness: 1s }\n")
    s = node.new_session(sub="alice")
    before, doc = snapshot(node), redis_keyset(redis_server)
    redis_server.kill9()
    assert wait_until(lambda: node.get("/readyz").status_code == 503, 10, step=0.02)
    r = node.admin("POST", "/v1/keys/rotate")
    refused(r, 503, "store_unavailable", "temporarily_unavailable")
    assert r.headers["Retry-After"] == "1"
    assert snapshot(node) == before
    redis_server.start()
    assert wait_until(lambda: node.get("/readyz").status_code == 200, 15, step=0.05)
    # /readyz follows the bus; the command connection reconnects on its own tick.
    assert wait_until(lambda: node.admin("POST", "/v1/sessions", json={"sub": "probe"}).status_code == 201,
                      10, step=0.05)
    assert redis_keyset(redis_server) == doc
    assert_unchanged(node, before, s["access_token"])
    node.restart()
    assert_unchanged(node, before, s["access_token"])
    assert redis_keyset(redis_server) == doc


def test_two_nodes_rotating_at_the_same_instant_exactly_one_wins(start_node, redis_server):
    """Redis holds both rotations' scripts back (CLIENT PAUSE WRITE), then runs
    them one after the other: the first wins, the second finds a newer set and
    is refused with 409 rotation_conflict. The loser's key is nowhere: the
    cluster has one new key, every node signs with it, and tokens from before
    keep working on every node, before and after restarts."""
    n1, n2 = start_node(), start_node()
    s = n1.new_session(sub="alice")
    before = snapshot(n1)
    assert snapshot(n2) == before
    out = [None, None]
    go = threading.Barrier(3)

    def rotate(i, node):
        go.wait()
        out[i] = node.admin("POST", "/v1/keys/rotate", timeout=20)

    threads = [threading.Thread(target=rotate, args=(i, n)) for i, n in enumerate((n1, n2))]
    for t in threads:
        t.start()
    assert "OK" in redis_server.cli("CLIENT", "PAUSE", "1500", "WRITE")
    go.wait()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in out)
    assert codes == [200, 409], [(r.status_code, r.text) for r in out]
    win, lose = sorted(out, key=lambda r: r.status_code)
    loser = n1 if out[0] is lose else n2
    refused(lose, 409, "rotation_conflict", "conflict")
    new_kid = win.json()["kid"]
    assert win.json()["version"] == before["version"] + 1
    assert win.json()["previous"] == before["kids"][0]

    def agreed(node):
        return snapshot(node) == {"kids": [new_kid, before["kids"][0]],
                                  "version": before["version"] + 1,
                                  "states": [(new_kid, "active"), (before["kids"][0], "verifying")]}

    for node in (n1, n2):
        assert wait_until(lambda: agreed(node), 5, step=0.05), snapshot(node)
    doc = redis_keyset(redis_server)
    assert doc["version"] == before["version"] + 1 and len(doc["keys"]) == 2
    on_disk = [k for k in json.loads(keyset_file(loser))["keys"]]
    assert len(on_disk) == 2, "the loser wrote a key of its own"
    for node in (n1, n2):
        assert node.check(s["access_token"]).status_code == 200
        assert kid_of(node.new_session(sub="bob")["access_token"]) == new_kid
    loser.restart()
    assert agreed(loser) and loser.check(s["access_token"]).status_code == 200
    assert redis_keyset(redis_server) == doc
