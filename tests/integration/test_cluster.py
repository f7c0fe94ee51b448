"""Issue 4: many nodes, one truth. A real redis-server and three curfew
nodes on loopback: sessions, revocations, refresh races and idle time are
shared; a node that loses Redis refuses within its staleness bound and
recovers without losing what was acknowledged."""
import json
import re
import threading
from pathlib import Path
import time

import conftest
import pytest
import requests

from conftest import (assert_grant_error, assert_json_error, assert_refused, jwt_parts,
                      run_curfew)

FAST = "cluster:\n  max_staleness: 1s\n"


@pytest.fixture
def three(start_node):
    return [start_node(FAST) for _ in range(3)]


def cluster_info(node):
    r = node.admin("GET", "/v1/cluster")
    assert r.status_code == 200, r.text
    return r.json()


def wait_until(pred, timeout, step=0.002):
    return conftest.wait_until(pred, timeout, step)


def test_session_created_on_one_node_is_checked_on_the_others(three):
    n1, n2, n3 = three
    s = n1.new_session(sub="alice")
    for node in (n1, n2, n3):
        r = node.check(s["access_token"])
        assert r.status_code == 200, (node.port, r.text)
        assert r.headers["X-Curfew-Subject"] == "alice"
    info = cluster_info(n2)
    assert info["cluster"] is True and info["store"] == "redis"
    assert info["link_up"] is True and info["stale"] is False
    assert len({cluster_info(n)["node"] for n in three}) == 3


def test_revocation_on_one_node_is_refused_by_the_others_within_50ms(three):
    n1, n2, n3 = three
    delays = []
    for _ in range(5):
        s = n1.new_session()
        for node in three:
            assert node.check(s["access_token"]).status_code == 200
        r = n3.admin("DELETE", f"/v1/sessions/{s['session_id']}")
        t0 = time.monotonic()
        assert r.status_code == 200, r.text
        for node in (n1, n2):
            refused = wait_until(lambda: node.check(s["access_token"]).status_code == 401, 1.0,
                                 step=0)
            assert refused, "the revocation never reached a node"
            delays.append((time.monotonic() - t0) * 1000)
            assert_refused(node.check(s["access_token"]), "session_revoked")
    print(f"\nrevocation seen by the other nodes after (ms, HTTP round trips included): "
          f"{', '.join(f'{d:.2f}' for d in delays)}")
    assert max(delays) < 50, delays
    # The nodes measured it too, from the event's origin timestamp.
    for node in (n1, n2):
        p = cluster_info(node)["propagation"]
        assert p["count"] >= 5 and p["max_ms"] < 50, p
        print(f"node {node.port}: propagation p50 {p['p50_ms']:.3f} ms, max {p['max_ms']:.3f} ms")
    m = n1.get("/metrics").text
    count = re.search(r"^curfew_revocation_propagation_seconds_count (\d+)", m, re.M)
    assert count and int(count.group(1)) >= 5, m
    # The dashboard's feed carries the same histogram (null on a single node).
    stats = n2.admin("GET", "/v1/stats").json()
    assert stats["revocation_propagation_seconds"]["count"] >= 5, stats


def test_revocation_by_subject_and_global_reach_every_node(three):
    n1, n2, n3 = three
    a = n1.new_session(sub="bob")
    b = n2.new_session(sub="carol")
    r = n3.admin("POST", "/v1/revocations", json={"sub": "bob"})
    assert r.status_code == 200, r.text
    for node in (n1, n2):
        assert wait_until(lambda: node.check(a["access_token"]).status_code == 401, 1.0)
        assert node.check(b["access_token"]).status_code == 200
    r = n1.admin("POST", "/v1/revocations", json={"all": True})
    assert r.status_code == 200, r.text
    for node in (n2, n3):
        assert wait_until(lambda: node.check(b["access_token"]).status_code == 401, 1.0)


def race(fn_a, fn_b):
    """Run both at the same instant; returns their results."""
    out = [None, None]
    barrier = threading.Barrier(2)

    def run(i, fn):
        barrier.wait()
        out[i] = fn()

    ts = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate((fn_a, fn_b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_the_same_refresh_token_on_two_nodes_at_once_succeeds_exactly_once(three):
    n1, n2, _ = three
    for _ in range(20):
        s = n1.new_session()
        r1, r2 = race(lambda: n1.refresh(s["refresh_token"]), lambda: n2.refresh(s["refresh_token"]))
        codes = sorted([r1.status_code, r2.status_code])
        assert codes == [200, 400], (r1.text, r2.text)
        loser = r1 if r1.status_code == 400 else r2
        assert_grant_error(loser, "refresh_reuse")
        # Reuse ended the session everywhere, the winner's new tokens included.
        winner = r1 if r1.status_code == 200 else r2
        for node in three:
            assert wait_until(
                lambda: node.check(winner.json()["access_token"]).status_code == 401, 1.0)


def test_refresh_race_inside_the_grace_window_rotates_once(start_node):
    nodes = [start_node(FAST + "refresh_token:\n  reuse_grace: 10s\n") for _ in range(2)]
    n1, n2 = nodes
    for _ in range(10):
        s = n1.new_session()
        r1, r2 = race(lambda: n1.refresh(s["refresh_token"]), lambda: n2.refresh(s["refresh_token"]))
        assert r1.status_code == 200 and r2.status_code == 200, (r1.text, r2.text)
    results = {}
    for node in nodes:
        for m in re.finditer(r'^curfew_refresh_total\{result="(\w+)"\} (\d+)', node.get("/metrics").text, re.M):
            results[m.group(1)] = results.get(m.group(1), 0) + int(m.group(2))
    # Ten races: ten rotations and ten grace siblings, never two rotations of one token.
    assert results.get("rotated") == 10 and results.get("grace") == 10, results


def test_refresh_rotation_is_seen_by_other_nodes(three):
    n1, n2, n3 = three
    s = n1.new_session()
    r = n2.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    # The rotated token works on a third node; the old one is reuse there.
    r = n3.refresh(new["refresh_token"])
    assert r.status_code == 200, r.text
    assert_grant_error(n1.refresh(s["refresh_token"]), "refresh_reuse")


def test_idle_timeout_counts_activity_from_all_nodes(start_node):
    cfg = FAST + "session:\n  idle_timeout: 2s\n"
    n1, n2, n3 = [start_node(cfg) for _ in range(3)]
    s = n1.new_session()
    tok = s["access_token"]
    end = time.monotonic() + 4.5   # more than twice the idle timeout
    i = 0
    while time.monotonic() < end:
        node = (n1, n2)[i % 2]
        assert node.check(tok).status_code == 200, f"refused after {i} checks"
        i += 1
        time.sleep(0.6)
    # Node 3 saw no request at all, only the others' activity.
    assert n3.check(tok).status_code == 200
    time.sleep(2.6)
    for node in (n1, n2, n3):
        assert_refused(node.check(tok), "idle_timeout")


def test_redis_down_every_node_refuses_within_max_staleness_then_recovers(three, redis_server):
    n1, n2, n3 = three
    live = n1.new_session()
    dead = n2.new_session()
    assert n3.admin("DELETE", f"/v1/sessions/{dead['session_id']}").status_code == 200
    redis_server.kill9()
    t0 = time.monotonic()
    for node in three:
        r = wait_until(lambda: node.check(live["access_token"]).status_code == 503, 3.0, step=0.02)
        assert r, "a node kept answering from its cache after Redis died"
        body = assert_json_error(node.check(live["access_token"]), 503, reason="store_unavailable")
        assert body["error"] == "temporarily_unavailable"
    elapsed = time.monotonic() - t0
    # max_staleness is 1s; allow one heartbeat period of slack for the last check.
    assert elapsed < 1.6, elapsed
    # Changes cannot be acknowledged either.
    assert_json_error(n1.create_session(sub="x"), 503, reason="store_unavailable")
    assert_json_error(n1.refresh(live["refresh_token"]), 503, reason="store_unavailable")

    redis_server.start()  # same port, same append-only file
    for node in three:
        assert wait_until(lambda: node.check(live["access_token"]).status_code == 200, 5.0,
                          step=0.05), node.stderr_since_start()
        assert_refused(node.check(dead["access_token"]), "session_revoked")
        assert cluster_info(node)["resyncs"] >= 2
    assert n2.refresh(live["refresh_token"]).status_code == 200


def test_kill9_of_a_node_under_load_loses_nothing_acknowledged(three):
    n1, n2, _ = three
    acked = []
    stop = threading.Event()

    def load():
        http = requests.Session()
        while not stop.is_set():
            try:
                r = http.post(n1.url("/v1/sessions"), headers=n1.admin_headers(),
                              json={"sub": "load"}, timeout=2)
            except requests.RequestException:
                return
            if r.status_code == 201:
                acked.append(r.json())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    n1.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 20, len(acked)
    for s in acked:
        r = n2.check(s["access_token"])
        assert r.status_code == 200, (s["session_id"], r.text)
    # The restarted node has them as well.
    n1.start()
    assert n1.check(acked[-1]["access_token"]).status_code == 200


def test_a_node_joining_later_and_a_restarted_node_lose_nothing(start_node):
    n1 = start_node(FAST)
    s = n1.new_session()
    gone = n1.new_session()
    assert n1.admin("DELETE", f"/v1/sessions/{gone['session_id']}").status_code == 200
    n2 = start_node(FAST)
    assert n2.check(s["access_token"]).status_code == 200
    assert_refused(n2.check(gone["access_token"]), "session_revoked")
    n1.restart()
    assert n1.check(s["access_token"]).status_code == 200
    assert_refused(n1.check(gone["access_token"]), "session_revoked")


def test_garbage_on_the_bus_is_counted_and_ignored(three, redis_server):
    n1, n2, _ = three
    s = n1.new_session()
    redis_server.cli("PUBLISH", "curfew:bus:0", '{"v":1,"node":"short"}')
    redis_server.cli("PUBLISH", "curfew:bus:0", "not json")
    assert wait_until(lambda: cluster_info(n2)["bad_messages"] >= 2, 2.0)
    assert n2.check(s["access_token"]).status_code == 200


def test_bad_store_url_is_a_config_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("store:\n  url: redis://127.0.0.1:99999/0\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode == 2, r
    assert f"{cfg}:2:" in r.stderr and "port must be 1-65535" in r.stderr, r.stderr
    cfg.write_text("store:\n  url: postgres://x\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode == 2 and "neither sqlite nor a Redis URL" in r.stderr, r.stderr


def test_unreachable_redis_at_startup_fails_with_a_clear_message(tmp_path):
    from conftest import free_port
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"store:\n  url: redis://127.0.0.1:{free_port()}/0\n")
    r = run_curfew("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                   str(tmp_path / "d"), "--config", str(cfg))
    assert r.returncode != 0
    assert "cannot reach Redis" in r.stderr, r.stderr


def test_a_session_this_node_never_heard_of_is_fetched_from_redis(three, redis_server):
    """A session can reach Redis before its announcement reaches a node (the
    node's loop was busy): the node asks Redis instead of refusing it."""
    n1, n2, _ = three
    s = n1.new_session(sub="dora")
    sid = s["session_id"]
    # Copy the session under a new id straight into Redis, without a bus message.
    fields = redis_server.cli("HGETALL", f"cf:s:{sid}").splitlines()
    new_sid = "Z" * 24
    assert redis_server.cli("HSET", f"cf:s:{new_sid}", *fields).strip() == str(len(fields) // 2)
    _, claims, _ = jwt_parts(s["access_token"])
    token = n1.forge(dict(claims, sid=new_sid, jti="fetch-test"))
    r = n2.check(token)
    assert r.status_code == 200, r.text
    assert r.headers["X-Curfew-Session"] == new_sid
    # A session Redis does not have either is refused as before.
    ghost = n1.forge(dict(claims, sid="Y" * 24, jti="ghost"))
    assert_refused(n2.check(ghost), "session_not_found")


def cut_the_bus(redis_server):
    """Redis keeps answering commands, but nobody may SUBSCRIBE: every node
    loses the bus while the store stays reachable (a partial partition)."""
    redis_server.cli("ACL", "SETUSER", "default", "-subscribe")
    redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")


def heal_the_bus(redis_server):
    redis_server.cli("ACL", "SETUSER", "default", "+subscribe")


def test_a_node_that_cannot_hear_the_bus_refuses_within_max_staleness(three, redis_server):
    n1 = three[0]
    s = n1.new_session()
    cut_the_bus(redis_server)
    t0 = time.monotonic()
    assert wait_until(lambda: n1.check(s["access_token"]).status_code == 503, 3.0, step=0.02)
    assert time.monotonic() - t0 < 1.6
    assert cluster_info(n1)["link_up"] is False
    heal_the_bus(redis_server)
    assert wait_until(lambda: n1.check(s["access_token"]).status_code == 200, 3.0, step=0.05)


def test_revalidate_mode_serves_from_redis_while_the_bus_is_cut(start_node, redis_server):
    n1 = start_node(FAST + "  on_partition: revalidate\n")
    strict = start_node(FAST)
    live = n1.new_session()
    dead = n1.new_session()
    cut_the_bus(redis_server)
    assert wait_until(lambda: strict.check(live["access_token"]).status_code == 503, 3.0, step=0.05)
    assert cluster_info(n1)["stale"] is True
    # The revalidating node asks Redis for each session: live ones pass...
    assert n1.check(live["access_token"]).status_code == 200
    # ...and a revocation made while it could not hear the bus is still seen.
    assert strict.admin("DELETE", f"/v1/sessions/{dead['session_id']}").status_code == 200
    assert_refused(n1.check(dead["access_token"]), "session_revoked")
    redis_server.kill9()
    # Without Redis there is nothing to revalidate against.
    assert_json_error(n1.check(live["access_token"]), 503, reason="store_unavailable")


def test_store_shorthand_selects_redis(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("store: redis://:s3cret@127.0.0.1:6390/2\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode == 0, r.stderr
    assert 'url: "redis://:s3cret@127.0.0.1:6390/2"' in r.stdout, r.stdout
    cfg.write_text("store: redis://:s3cret@127.0.0.1:0/2\n")
    r = run_curfew("config", "check", str(cfg))
    assert r.returncode == 2 and f"{cfg}:1: store.url:" in r.stderr, r.stderr
    assert "s3cret" not in r.stderr  # a password never reaches an error message


# ---------------------------------------------------------------- signing keys

KEYS = ("issuer: http://curfew.test\nclock_leeway: 1s\n"
        "access_token: { ttl: 2s, max_ttl: 2s }\n")


def kid_of(token):
    return jwt_parts(token)[0]["kid"]


def jwks_kids(node):
    return [k["kid"] for k in node.jwks()["keys"]]


def test_a_rotation_on_one_node_is_honoured_by_the_others(start_node, redis_server):
    import jwt
    n1, n2, n3 = [start_node(FAST + KEYS) for _ in range(3)]
    first = n1.jwks()["keys"][0]["kid"]
    assert all(jwks_kids(n) == [first] for n in (n2, n3)), "the nodes do not share one key"
    # Redis holds the set sealed by the KEK: no private key in clear.
    doc = json.loads(redis_server.cli("GET", "cf:keyset"))
    assert all("d" not in k and k["enc"] == "A256GCM" for k in doc["keys"]), doc
    old = n2.new_session()
    r = n1.admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    new_kid = r.json()["kid"]
    assert new_kid != first
    t0 = time.monotonic()
    for node in (n2, n3):
        assert wait_until(lambda: node.jwks()["keys"][0]["kid"] == new_kid, 2.0), jwks_kids(node)
    print(f"\nrotation visible on every node after {1000 * (time.monotonic() - t0):.1f} ms")
    assert set(jwks_kids(n3)) == {first, new_kid}
    # New tokens from any node carry the new kid and verify everywhere, by PyJWT too.
    fresh = n3.new_session()
    assert kid_of(fresh["access_token"]) == new_kid
    jwk_client = jwt.PyJWKClient(n2.url("/.well-known/jwks.json"), cache_jwk_set=False)
    for tok in (old["access_token"], fresh["access_token"]):
        key = jwk_client.get_signing_key_from_jwt(tok)
        jwt.decode(tok, key.key, algorithms=["EdDSA"], audience="curfew",
                   issuer="http://curfew.test", leeway=1)
        for node in (n1, n2, n3):
            assert node.check(tok).status_code == 200
    # After max_ttl + leeway the old key retires on every node by the same rule.
    for node in (n1, n2, n3):
        assert wait_until(lambda: jwks_kids(node) == [new_kid], 5.0, step=0.1), jwks_kids(node)
    # A node started now gets the cluster's set, not a key of its own.
    n4 = start_node(FAST + KEYS)
    assert jwks_kids(n4) == [new_kid]


def test_racing_rotations_leave_one_key_set(start_node):
    n1, n2 = [start_node(FAST + KEYS) for _ in range(2)]
    for _ in range(5):
        r1, r2 = race(lambda: n1.admin("POST", "/v1/keys/rotate"),
                      lambda: n2.admin("POST", "/v1/keys/rotate"))
        codes = sorted([r1.status_code, r2.status_code])
        assert codes in ([200, 200], [200, 409]), (r1.text, r2.text)
        if codes == [200, 409]:
            loser = r1 if r1.status_code == 409 else r2
            assert loser.json()["error"] == "conflict"
        assert wait_until(lambda: n1.jwks()["keys"][0]["kid"] == n2.jwks()["keys"][0]["kid"], 2.0)
        v1 = n1.admin("GET", "/v1/keys").json()["version"]
        assert wait_until(lambda: n2.admin("GET", "/v1/keys").json()["version"] == v1, 2.0)


def test_scheduled_rotation_happens_once_per_period_for_the_cluster(start_node):
    nodes = [start_node(FAST + KEYS + "keys: { rotate_every: 4s }\n") for _ in range(3)]
    first = nodes[0].admin("GET", "/v1/keys").json()
    v0 = first["version"]
    t0 = first["keys"][0]["activated_at"]  # the schedule counts from the active key's activation
    time.sleep(9)

    def agreed():
        versions = {n.admin("GET", "/v1/keys").json()["version"] for n in nodes}
        kids = {n.jwks()["keys"][0]["kid"] for n in nodes}
        return versions.pop() if len(versions) == 1 and len(kids) == 1 else None

    # A rotation may be under way at the instant we look: the nodes agree within moments.
    v = wait_until(agreed, 2.0, step=0.05)
    assert v is not None, "the nodes did not converge on one key set"
    periods = (time.time() - t0) // 4
    # One rotation per period for the whole cluster (three nodes rotating on their own
    # would make three), give or take the one that may be happening right now.
    assert periods - 1 <= v - v0 <= periods + 1, (v - v0, periods)
    assert v - v0 >= 2

def test_a_cluster_node_needs_the_same_kek(start_node, tmp_path):
    n1 = start_node(FAST)
    with pytest.raises(Exception) as exc:
        start_node(FAST, env={"CURFEW_KEK": "00" * 32})
    assert "CURFEW_KEK the same on every node" in str(exc.value), exc.value
    with pytest.raises(Exception) as exc:
        start_node(FAST, env={"CURFEW_KEK": ""})
    assert "key-encryption key" in str(exc.value), exc.value
    assert n1.check(n1.new_session()["access_token"]).status_code == 200


def test_deploy_cluster_example_runs_three_nodes(tmp_path):
    """deploy/cluster/run.sh, the documented example, really makes a cluster."""
    import os
    import signal
    import subprocess
    from conftest import curfew_bin, free_port
    root = Path(__file__).resolve().parents[2]
    ports = [free_port() for _ in range(3)]
    env = dict(os.environ, CURFEW_BIN=str(curfew_bin()), REDIS_PORT=str(free_port()),
               PORTS=" ".join(map(str, ports)), DIR=str(tmp_path / "cluster"))
    proc = subprocess.Popen(["bash", str(root / "deploy/cluster/run.sh")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("  admin key:"):
                break
        key = lines[-1].split(":", 1)[1].strip()
        h = {"Authorization": f"Bearer {key}"}
        assert key, "".join(lines)
        s = requests.post(f"http://127.0.0.1:{ports[0]}/v1/sessions", headers=h,
                          json={"sub": "alice"}, timeout=5)
        assert s.status_code == 201, s.text
        tok = s.json()["access_token"]
        r = requests.get(f"http://127.0.0.1:{ports[2]}/v1/check",
                         headers={"Authorization": f"Bearer {tok}"}, timeout=5)
        assert r.status_code == 200, r.text
        info = requests.get(f"http://127.0.0.1:{ports[1]}/v1/cluster", headers=h, timeout=5).json()
        assert info["cluster"] is True and info["stale"] is False
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_a_password_protected_redis(tmp_path, start_curfew):
    from conftest import RedisServer
    import secrets
    pw = secrets.token_hex(8)
    redis = RedisServer(tmp_path / "redis-auth", password=pw).start()
    try:
        env = {"CURFEW_KEK": secrets.token_hex(32)}
        node = start_curfew(f"store: {redis.url}\n", env=env)
        s = node.new_session()
        assert node.check(s["access_token"]).status_code == 200
        assert redis.cli("EXISTS", f"cf:s:{s['session_id']}").strip() == "1"
        # A wrong password is a clear start-up error, and the password is not logged.
        wrong = redis.url.replace(pw, "not-the-password")
        with pytest.raises(Exception) as exc:
            start_curfew(f"store: {wrong}\n", env=env)
        assert "cannot reach Redis" in str(exc.value) or "AUTH" in str(exc.value).upper()
        assert "not-the-password" not in str(exc.value) and pw not in node.stderr_text()
    finally:
        redis.kill9()


def test_not_before_epochs_expire_in_redis_once_they_refuse_nothing(start_node, redis_server):
    """A subject's epoch only refuses tokens issued before it, and those expire within
    max_ttl + leeway: Redis forgets it then, so revoked subjects do not pile up."""
    n1 = start_node(FAST + KEYS)   # max_ttl 2s, leeway 1s
    n2 = start_node(FAST + KEYS)
    s = n1.new_session(sub="erin")
    time.sleep(1.1)  # epochs have the one-second resolution of iat
    assert n1.admin("POST", "/v1/revocations", json={"sub": "erin"}).status_code == 200
    assert n1.admin("POST", "/v1/revocations", json={"all": True}).status_code == 200
    ttl = int(redis_server.cli("PTTL", "cf:nb:erin"))
    assert 2000 < ttl <= 3000, ttl
    assert 2000 < int(redis_server.cli("PTTL", "cf:nbg")) <= 3000
    assert_refused(n2.check(s["access_token"]), "revoked_before")
    # A node that joins later still learns the epochs from Redis.
    n3 = start_node(FAST + KEYS)
    assert_refused(n3.check(s["access_token"]), "revoked_before")


def test_cli_cluster_shows_state_and_propagation(three, curfew):
    n1, n2, n3 = three
    s = n1.new_session()
    assert n3.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    env = {"CURFEW_ADMIN_KEY": n1.admin_key}
    assert wait_until(lambda: cluster_info(n2)["propagation"]["window"] >= 1, 2.0)
    r = run_curfew("cluster", "--server", n2.base_url, env=env)
    assert r.returncode == 0, r.stderr
    assert f"node:             {cluster_info(n2)['node']}" in r.stdout
    assert "state:            serving" in r.stdout
    assert re.search(r"propagation: +p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms \(last 1 of 1\)",
                     r.stdout), r.stdout
    r = run_curfew("cluster", "--server", n2.base_url, "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["propagation"]["count"] == 1, r.stdout
    # A single node says so; a wrong key and a bad flag are clear failures.
    r = run_curfew("cluster", "--server", curfew.base_url,
                   env={"CURFEW_ADMIN_KEY": curfew.admin_key})
    assert r.returncode == 0 and "single node (store: sqlite)" in r.stdout, r.stdout
    r = run_curfew("cluster", "--server", n2.base_url, env={"CURFEW_ADMIN_KEY": "wrong"})
    assert r.returncode == 1 and "401" in r.stderr, r.stderr
    r = run_curfew("cluster", "--bogus", env=env)
    assert r.returncode == 2 and "usage: curfew cluster" in r.stderr, r.stderr
