# SPDX-License-Identifier: MIT
"""DPoP replay detection across a cluster (issue 14: "jti replay detection in a
bounded cache, cluster-wide in Redis mode"). A real redis-server and two
curfew nodes: a proof captured on its way to one node must be refused by
every other node, not only by the one that saw it. Each node's own cache
answers same-node replays; Redis (SET NX PX on cf:dpop:<hex>) answers the
others, and a node that cannot ask Redis refuses (503 store_unavailable).

Proofs are made independently of curfew's code (test_dpop.Key: Python's
`cryptography` + PyJWT).
"""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import assert_json_error, wait_until
from test_dpop import APP, Key, assert_dpop_refused, check

URL = APP + "/api/items"
# a short staleness bound for the Redis-down test; window/leeway for the TTL test
CFG = "cluster:\n  max_staleness: 1s\ndpop: { window: 20s }\nclock_leeway: 5s\n"


@pytest.fixture(params=[0, 2], ids=["inline", "pool"])
def two(request, start_node):
    """Two nodes, with proofs verified on the loop or on the verifier pool."""
    cfg = f"verify_threads: {request.param}\n" + CFG
    return start_node(cfg), start_node(cfg)


def bound_session(node, key):
    return node.new_session(sub="alice-" + key.jkt[:6], dpop_jkt=key.jkt)["access_token"]


def test_a_proof_used_on_one_node_is_refused_on_the_other(two):
    """The defect: each node had its own replay cache, so a captured request
    with its proof could be replayed once on every other node."""
    a, b = two
    key = Key()
    at = bound_session(a, key)
    p = key.proof("GET", URL, at=at)
    assert check(a, at, p).status_code == 200
    assert_dpop_refused(check(b, at, p), "dpop_replay")
    assert_dpop_refused(check(a, at, p), "dpop_replay")  # the local cache still answers
    q = key.proof("GET", URL, at=at)
    assert check(b, at, q).status_code == 200
    assert_dpop_refused(check(a, at, q), "dpop_replay")
    assert_dpop_refused(check(b, at, q), "dpop_replay")


def test_concurrent_sends_of_one_proof_to_both_nodes_pass_exactly_once(two):
    """An attacker racing the client: N copies of one request at once, half
    to each node. Exactly one passes, every other is dpop_replay."""
    a, b = two
    key = Key()
    at = bound_session(a, key)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(15):
            p = key.proof("GET", URL, at=at)
            rs = list(pool.map(lambda n: check(n, at, p), [a, b] * 4))
            ok = [r for r in rs if r.status_code == 200]
            assert len(ok) == 1, [(r.status_code, r.text) for r in rs]
            for r in rs:
                if r.status_code != 200:
                    assert_dpop_refused(r, "dpop_replay")


def test_distinct_jtis_pass_on_both_nodes_and_a_jti_is_scoped_by_its_key(two):
    """jti is the client's choice: one client reusing another's jti (or a
    coincidence) must not make either refused."""
    a, b = two
    k1, k2 = Key(), Key("EdDSA")
    at1, at2 = bound_session(a, k1), bound_session(b, k2)
    for i in range(10):
        node = (a, b)[i % 2]
        assert check(node, at1, k1.proof("GET", URL, at=at1)).status_code == 200
        assert check(node, at2, k2.proof("GET", URL, at=at2)).status_code == 200
    jti = "the-same-jti"
    assert check(a, at1, k1.proof("GET", URL, at=at1, jti=jti)).status_code == 200
    assert check(b, at2, k2.proof("GET", URL, at=at2, jti=jti)).status_code == 200
    assert_dpop_refused(check(b, at1, k1.proof("GET", URL, at=at1, jti=jti)), "dpop_replay")


def test_the_redis_claim_expires_after_window_plus_leeway(start_node, redis_server):
    """Redis memory stays bounded: a spent proof's key lives as long as some
    node would accept the proof (dpop.window + clock_leeway, plus a second
    for whole-second clocks), and no longer."""
    a = start_node(CFG)
    key = Key()
    at = bound_session(a, key)
    jti = "jti-" + key.jkt[:8]
    assert check(a, at, key.proof("GET", URL, at=at, jti=jti)).status_code == 200
    name = "cf:dpop:" + hashlib.sha256(
        key.jkt.encode() + hashlib.sha256(jti.encode()).digest()[:16]).digest()[:16].hex()
    assert redis_server.cli("GET", name).strip() == "1", redis_server.cli("KEYS", "cf:dpop:*")
    pttl = int(redis_server.cli("PTTL", name))
    assert 24000 <= pttl <= 26000, pttl  # 20 s + 5 s + 1 s


def test_a_failing_redis_claim_fails_closed_then_recovers(two, redis_server):
    """Redis answers the bus but refuses the claim (an ACL, a full Redis):
    the proof cannot be spent for the cluster, so the check is refused as a
    node that cannot reach Redis refuses, not allowed on the local cache."""
    a, b = two
    key = Key()
    s = a.new_session(sub="alice", dpop_jkt=key.jkt)
    at = s["access_token"]
    redis_server.cli("ACL", "SETUSER", "default", "-set")
    refused = {}
    try:
        for node in (a, b):
            refused[node.port] = key.proof("GET", URL, at=at)
            r = check(node, at, refused[node.port])
            assert_json_error(r, 503, reason="store_unavailable")
            assert r.headers.get("Retry-After") == "1"
            assert "X-Curfew-Subject" not in r.headers
            r = node.post("/oauth/token", headers={"DPoP": key.proof("POST", node.url("/oauth/token"))},
                          data={"grant_type": "refresh_token", "refresh_token": s["refresh_token"]})
            assert_json_error(r, 503, reason="store_unavailable")
            assert r.headers.get("Retry-After") == "1"
    finally:
        redis_server.cli("ACL", "SETUSER", "default", "+set")
    # A 503 spent nothing: the same request retried (same proof) is allowed
    # once, on the node that refused it, then it is a replay everywhere.
    for node, other in ((a, b), (b, a)):
        p = refused[node.port]
        r = check(node, at, p)
        assert r.status_code == 200, r.text
        assert_dpop_refused(check(node, at, p), "dpop_replay")
        assert_dpop_refused(check(other, at, p), "dpop_replay")
    p = key.proof("GET", URL, at=at)
    assert check(b, at, p).status_code == 200
    assert_dpop_refused(check(a, at, p), "dpop_replay")
    # the refused refreshes changed nothing: the refresh token still works
    r = a.post("/oauth/token", headers={"DPoP": key.proof("POST", a.url("/oauth/token"))},
               data={"grant_type": "refresh_token", "refresh_token": s["refresh_token"]})
    assert r.status_code == 200, r.text


def test_redis_killed_dpop_checks_fail_closed_then_come_back(two, redis_server):
    a, b = two
    key = Key()
    at = bound_session(a, key)
    assert check(a, at, key.proof("GET", URL, at=at)).status_code == 200
    redis_server.kill9()
    for node in (a, b):
        r = check(node, at, key.proof("GET", URL, at=at))
        assert_json_error(r, 503, reason="store_unavailable")
        assert r.headers.get("Retry-After") == "1"
    redis_server.start()  # same port, same append-only file
    for node in (a, b):
        assert wait_until(
            lambda: check(node, at, key.proof("GET", URL, at=at)).status_code == 200, 10), \
            node.stderr_since_start()
    p = key.proof("GET", URL, at=at)
    assert check(a, at, p).status_code == 200
    assert_dpop_refused(check(b, at, p), "dpop_replay")


def test_a_token_endpoint_proof_used_on_one_node_is_refused_on_the_other(two):
    """The token endpoint spends its proof's jti as well: a captured refresh
    request (proof included) cannot be replayed on another node with the
    rotated refresh token."""
    a, b = two
    key = Key()
    s = a.new_session(sub="alice", dpop_jkt=key.jkt)
    host = {"Host": "auth.example"}  # both nodes behind one name
    p = key.proof("POST", "http://auth.example/oauth/token")

    def refresh(node, rt):
        return node.post("/oauth/token", data={"grant_type": "refresh_token",
                                               "refresh_token": rt}, headers=dict(host, DPoP=p))

    r = refresh(a, s["refresh_token"])
    assert r.status_code == 200, r.text
    body = assert_json_error(refresh(b, r.json()["refresh_token"]), 400, reason="dpop_replay")
    assert body["error"] == "invalid_dpop_proof"
    # the refused request rotated nothing: the owner goes on, on either node
    fresh = key.proof("POST", "http://auth.example/oauth/token")
    r2 = b.post("/oauth/token", data={"grant_type": "refresh_token",
                                      "refresh_token": r.json()["refresh_token"]},
                headers=dict(host, DPoP=fresh))
    assert r2.status_code == 200, r2.text


def logout(node, at, proof):
    h = {"Authorization": f"DPoP {at}", "DPoP": proof, "X-Original-Method": "POST",
         "X-Original-URI": "/logout", "X-Forwarded-Host": "app.example",
         "X-Forwarded-Proto": "https"}
    return node.post("/v1/logout", headers=h)


def test_a_logout_proof_is_spent_for_the_cluster(two):
    """/v1/logout verifies its proof like /v1/check (on the pool when there is
    one) and spends it in Redis: replayed on the other node it is refused."""
    a, b = two
    key = Key()
    at = bound_session(a, key)
    p = key.proof("POST", APP + "/logout", at=at)
    assert check(a, at, key.proof("GET", URL, at=at)).status_code == 200
    assert_dpop_refused(logout(b, at, key.proof("POST", APP + "/other", at=at)), "dpop_invalid")
    assert check(b, at, p, method="POST", uri="/logout").status_code == 200  # p spent on b
    assert_dpop_refused(logout(a, at, p), "dpop_replay")
    assert logout(a, at, key.proof("POST", APP + "/logout", at=at)).status_code == 204
    assert_json_error(check(b, at, key.proof("GET", URL, at=at)), 401, reason="logout")
