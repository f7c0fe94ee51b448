# SPDX-License-Identifier: MIT
"""API key rotations racing across cluster nodes: the same key rotated on
two nodes at the same instant. Redis holds both commits back (CLIENT PAUSE
WRITE) so both nodes decide on the key as it was; exactly one rotation may win
and the other must be refused, on every node and after restarts."""

import subprocess
import threading
import time

from test_apikeys import check, new_key, reason
from test_apikeys_cluster import CFG, wait_for


def test_two_nodes_rotating_one_key_at_once_exactly_one_wins(start_node, redis_server):
    a, b = start_node(CFG), start_node(CFG)
    old = new_key(a, sub="race", expires_in=3600)
    assert wait_for(lambda: check(b, old["key"]).status_code == 200)
    out = [None, None]
    go = threading.Barrier(3)

    def rotate(i, node):
        go.wait()
        out[i] = node.admin("POST", f"/v1/apikeys/{old['id']}/rotate", timeout=20)

    threads = [threading.Thread(target=rotate, args=(i, n)) for i, n in enumerate((a, b))]
    for t in threads:
        t.start()
    assert "OK" in redis_server.cli("CLIENT", "PAUSE", "1000", "WRITE")
    go.wait()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in out)
    assert codes == [201, 409], [(r.status_code, r.text[:200]) for r in out]
    win = next(r for r in out if r.status_code == 201).json()
    lose = next(r for r in out if r.status_code == 409)
    assert lose.json()["reason"] == "key_rotated" and lose.headers["X-Curfew-Reason"] == "key_rotated"
    for n in (a, b):
        assert wait_for(lambda: n.admin("GET", f"/v1/apikeys/{old['id']}").json()["successor"]
                        == win["id"])
        ids = sorted(k["id"] for k in n.admin("GET", "/v1/apikeys?sub=race").json()["keys"])
        assert ids == sorted([old["id"], win["id"]]), ids
    b.restart()
    ids = sorted(k["id"] for k in b.admin("GET", "/v1/apikeys?sub=race").json()["keys"])
    assert ids == sorted([old["id"], win["id"]]), ids
    assert check(b, win["key"]).status_code == 200
    assert reason(b.admin("POST", f"/v1/apikeys/{old['id']}/rotate")) == "key_rotated"


def test_a_rotation_racing_a_revocation_on_another_node(start_node, redis_server):
    """Both held back by Redis, then run in either order: a revocation that
    Redis took first refuses the rotation (409 key_revoked, no successor
    anywhere); a rotation taken first is followed by the revocation of the
    old key, and its successor lives. Never a successor of a key that was
    already revoked."""
    a, b = start_node(CFG), start_node(CFG)
    for _ in range(4):
        old = new_key(a, sub="rr", expires_in=3600)
        assert wait_for(lambda: check(b, old["key"]).status_code == 200)
        out = [None, None]
        go = threading.Barrier(3)
        path = f"/v1/apikeys/{old['id']}"

        def call(i):
            go.wait()
            out[i] = (a.admin("DELETE", path, timeout=20) if i == 0
                      else b.admin("POST", path + "/rotate", timeout=20))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        # MONITOR tells which of the two batches Redis ran first.
        mon = subprocess.Popen(["redis-cli", "-p", str(redis_server.port), "MONITOR"],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(0.2)
        for t in threads:
            t.start()
        assert "OK" in redis_server.cli("CLIENT", "PAUSE", "800", "WRITE")
        go.wait()
        for t in threads:
            t.join(30)
        time.sleep(0.2)
        mon.terminate()
        log = mon.communicate(timeout=10)[0]
        ran = [("ended" if "apikey_ended" in line else "rotated")
               for line in log.splitlines() if '"EVALSHA"' in line and old["id"] in line
               and ("apikey_ended" in line or "apikey_rotated" in line)]
        rev, rot = out
        assert ran and ran[0] == ("rotated" if rot.status_code == 201 else "ended"), (ran, rot.text)
        assert rev.status_code == 200, rev.text
        for n in (a, b):
            assert wait_for(lambda: reason(check(n, old["key"])) == "key_revoked")
        if rot.status_code == 201:
            assert wait_for(lambda: check(a, rot.json()["key"]).status_code == 200)
        else:
            assert rot.status_code == 409 and rot.json()["reason"] == "key_revoked", rot.text
            assert rot.headers["X-Curfew-Reason"] == "key_revoked"
            for n in (a, b):
                ids = [k["id"] for k in n.admin("GET", "/v1/apikeys?sub=rr").json()["keys"]
                       if k["predecessor"] == old["id"]]
                assert ids == [], ids


def test_a_revocation_by_owner_keeps_the_end_of_a_key_already_expired(start_node, redis_server):
    """Redis's revocation by owner found a key past its expiry that no node had
    recorded yet, and wrote it key_revoked at the time of the revocation: it is
    key_expired, ended at its expiry, on every node, and not counted revoked."""
    slow = "clock_leeway: 0s\n" + CFG  # the sweep runs every activity_flush: not in this test
    a, b = start_node(slow, activity_flush="1h"), start_node(slow, activity_flush="1h")
    exp = new_key(a, sub="own", expires_in=1)
    live = new_key(a, sub="own", expires_in=600)
    time.sleep(max(0, exp["expires_at"] + 1.1 - time.time()))
    r = b.admin("POST", "/v1/apikeys/revocations", json={"sub": "own"})
    assert r.status_code == 200 and r.json() == {"keys_revoked": 1}, r.text
    for n in (a, b):
        assert wait_for(lambda: n.admin("GET", f"/v1/apikeys/{live['id']}").json()["state"] == "ended")
        v = n.admin("GET", f"/v1/apikeys/{exp['id']}").json()
        assert v["end_reason"] == "key_expired" and v["ended_at"] == exp["expires_at"], v
        assert reason(check(n, exp["key"])) == "key_expired"
        assert reason(check(n, live["key"])) == "key_revoked"
    b.restart()
    v = b.admin("GET", f"/v1/apikeys/{exp['id']}").json()
    assert v["end_reason"] == "key_expired" and v["ended_at"] == exp["expires_at"], v
