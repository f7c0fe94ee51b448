# SPDX-License-Identifier: MIT
"""Faults in a cluster: every state change made while its node cannot reach
Redis is refused (503 store_unavailable), is applied on no node, and its
retry once Redis answers again is applied exactly once and reaches the
other node over the bus.

Two real curfew nodes on one real redis-server (append-only, fsync always).
Two ways to lose Redis: its clients' connections killed (CLIENT KILL TYPE
normal, what a failover or a proxy restart does), and redis-server killed and
started again on the same port and files. The change is made on node 1; node
2 only watches. test_cluster_revoke.py covers DELETE /v1/sessions/{id} under
CLIENT KILL; this file covers every other change, and both ways.
"""

import contextlib
import secrets
import threading
import time

import pytest

from conftest import jwt_parts, wait_until
from test_faults import failsync_so, preload  # noqa: F401 (a fixture)

CFG = "cluster:\n  max_staleness: 5s\n"
# How long a node may take to hear a change over the bus.
PROPAGATION = 5.0


def ready(node):
    try:
        return node.get("/readyz").status_code == 200
    except Exception:  # noqa: BLE001 (a node mid-reconnect may drop the connection)
        return False


class World:
    """Sessions and API keys of two subjects, one client each shares, made on
    node 1; and what any node shows of them."""

    def __init__(self, n1):
        self.n1 = n1
        tag = secrets.token_hex(3)
        self.a, self.b, self.client = f"ann-{tag}", f"ben-{tag}", f"app-{tag}"
        self.sessions = {}
        self.keys = {}
        self.s1 = self.session(sub=self.a, client_id=self.client)
        self.s2 = self.session(sub=self.a, client_id=f"other-{tag}")
        self.s3 = self.session(sub=self.b, client_id=self.client)
        self.k1 = self.key(sub=self.a, client_id=self.client)
        self.k2 = self.key(sub=self.a)
        self.k3 = self.key(sub=self.b, client_id=self.client)

    def session(self, **body):
        s = self.n1.new_session(**body)
        self.sessions[s["session_id"]] = s
        return s

    def key(self, **body):
        body.setdefault("name", "ci")
        body.setdefault("expires_in", 86400)
        r = self.n1.admin("POST", "/v1/apikeys", json=body)
        assert r.status_code == 201, r.text
        self.keys[r.json()["id"]] = r.json()
        return r.json()

    def learn(self, r):
        """A change that made a session or a key: its tokens or secret are shown only here."""
        doc = r.json() if r.content else {}
        if "key" in doc:
            self.keys[doc["id"]] = doc
        elif "session_id" in doc and "access_token" in doc:
            self.sessions[doc["session_id"]] = doc

    def observe(self, node):
        """Each subject's sessions and keys as ``node`` lists them, and what its checks say."""
        seen = {}
        for sub in (self.a, self.b):
            r = node.admin("GET", "/v1/sessions", params={"sub": sub})
            assert r.status_code == 200, r.text
            for s in r.json()["sessions"]:
                seen[s["session_id"]] = (s["state"], s["end_reason"])
            r = node.admin("GET", "/v1/apikeys", params={"sub": sub})
            assert r.status_code == 200, r.text
            for k in r.json()["keys"]:
                seen[k["id"]] = (k["state"], k["end_reason"], k["successor"])
        keys = node.admin("GET", "/v1/keys").json()
        seen["signing"] = (keys["version"],
                           [k["kid"] for k in keys["keys"] if k["state"] == "active"])
        for sid, s in self.sessions.items():
            seen[sid + ":check"] = node.check(s["access_token"]).status_code
        for kid, k in self.keys.items():
            seen[kid + ":check"] = node.get("/v1/check", headers={"X-API-Key": k["key"]}).status_code
        return seen


def ended(seen, *ids):
    return all(seen[i][0] == "ended" and seen[i + ":check"] == 401 for i in ids)


def alive(seen, *ids):
    return all(seen[i][0] in ("active", "rotating") and seen[i + ":check"] == 200 for i in ids)


def new_ids(before, after):
    return {k for k in after if ":" not in k} - {k for k in before if ":" not in k}


# Each change: (make it on node 1, the status that acknowledges it, what it must have done).

def session_create(w):
    return w.n1.admin("POST", "/v1/sessions", json={"sub": w.a, "client_id": w.client})


def session_create_done(w, r, before, after):
    new = new_ids(before, after)
    assert new == {r.json()["session_id"]}, "exactly one session"
    assert alive(after, *new)


def refresh(w):
    return w.n1.refresh(w.s1["refresh_token"])


def refresh_done(w, r, before, after):
    tokens = r.json()
    assert w.n1.check(tokens["access_token"]).status_code == 200
    # Rotated exactly once: the presented token is now spent (a reuse within
    # the grace, not a second rotation from the refused attempts).
    assert alive(after, w.s1["session_id"])
    assert new_ids(before, after) == set()
    w.rotated = tokens


def ends(ended_ids, alive_ids):
    """What a revocation must have done: these ended, those untouched."""
    def ident(w, name):
        obj = getattr(w, name)
        return obj.get("session_id") or obj["id"]

    def done(w, r, before, after):
        assert ended(after, *[ident(w, i) for i in ended_ids]), after
        assert alive(after, *[ident(w, i) for i in alive_ids]), after
        assert new_ids(before, after) == set()
    return done


def apikey_create_done(w, r, before, after):
    assert new_ids(before, after) == {r.json()["id"]}, "exactly one key"
    assert alive(after, r.json()["id"])


def apikey_rotate_done(w, r, before, after):
    new = r.json()["id"]
    assert new_ids(before, after) == {new}, "exactly one successor"
    assert after[w.k1["id"]] == ("rotating", None, new)
    assert alive(after, new, w.k1["id"])


def signing_rotate_done(w, r, before, after):
    assert after["signing"] == (before["signing"][0] + 1, [r.json()["kid"]])
    assert r.json()["previous"] == before["signing"][1][0]


CHANGES = {
    "session_create": (session_create, 201, session_create_done),
    "refresh": (refresh, 200, refresh_done),
    "session_delete": (lambda w: w.n1.admin("DELETE", f"/v1/sessions/{w.s1['session_id']}"), 200,
                       ends(["s1"], ["s2", "s3"])),
    "logout": (lambda w: w.n1.logout(w.s1["access_token"]), 204,
               ends(["s1"], ["s2", "s3"])),
    "oauth_revoke": (lambda w: w.n1.revoke(w.s1["refresh_token"]), 200,
                     ends(["s1"], ["s2", "s3"])),
    "revoke_subject": (lambda w: w.n1.admin("POST", "/v1/revocations", json={"sub": w.a}), 200,
                       ends(["s1", "s2"], ["s3"])),
    "revoke_client": (lambda w: w.n1.admin("POST", "/v1/revocations", json={"client_id": w.client}),
                      200, ends(["s1", "s3"], ["s2"])),
    "revoke_all": (lambda w: w.n1.admin("POST", "/v1/revocations", json={"all": True}), 200,
                   ends(["s1", "s2", "s3"], ["k1", "k2", "k3"])),
    "apikey_create": (lambda w: w.n1.admin("POST", "/v1/apikeys", json={
        "sub": w.a, "name": "ci", "expires_in": 600}), 201, apikey_create_done),
    "apikey_rotate": (lambda w: w.n1.admin("POST", f"/v1/apikeys/{w.k1['id']}/rotate"), 201,
                      apikey_rotate_done),
    "apikey_delete": (lambda w: w.n1.admin("DELETE", f"/v1/apikeys/{w.k1['id']}"), 200,
                      ends(["k1"], ["k2", "k3"])),
    "apikey_revoke_owner": (lambda w: w.n1.admin("POST", "/v1/apikeys/revocations",
                                                 json={"sub": w.a}), 200,
                            ends(["k1", "k2"], ["k3"])),
    "apikey_revoke_client": (lambda w: w.n1.admin("POST", "/v1/apikeys/revocations",
                                                  json={"client_id": w.client}), 200,
                             ends(["k1", "k3"], ["k2"])),
    "signing_key_rotate": (lambda w: w.n1.admin("POST", "/v1/keys/rotate"), 200,
                           signing_rotate_done),
}


def assert_refused_by_store(r):
    assert r.status_code == 503, f"{r.status_code} {r.text}"
    assert r.json()["reason"] == "store_unavailable", r.text
    assert r.headers.get("Retry-After") == "1", r.headers


def refused_under_client_kill(nodes, redis_server, do):
    """Kill every client connection, then make the change at once; until one
    attempt lands on the dead connection, start over with a fresh world."""
    n1, _ = nodes
    for _ in range(30):
        assert wait_until(lambda: all(ready(n) for n in nodes), 10)
        w = World(n1)
        before = [w.observe(n) for n in nodes]
        redis_server.cli("CLIENT", "KILL", "TYPE", "normal")
        r = do(w)
        if r.status_code == 503:
            return w, before, r
        time.sleep(0.2)  # the node reconnected first: not a fault test, try again
    pytest.fail("no change ever met a killed connection")


def refused_with_redis_down(nodes, redis_server, do):
    n1, _ = nodes
    w = World(n1)
    before = [w.observe(n) for n in nodes]
    redis_server.kill9()
    try:
        r = do(w)
    finally:
        redis_server.start()
    return w, before, r


def retry(do, w, within=5.0):
    """What a client told Retry-After does: ask again while refused, each
    refusal as honest as the first (a killed connection is made again on
    the store's next 100 ms tick)."""
    deadline = time.monotonic() + within
    while True:
        r = do(w)
        if r.status_code != 503 or time.monotonic() > deadline:
            return r
        assert_refused_by_store(r)
        time.sleep(0.05)


FAULTS = {"client_kill": refused_under_client_kill, "redis_down": refused_with_redis_down}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_change_that_cannot_reach_redis_is_applied_nowhere_and_its_retry_everywhere(
        start_node, redis_server, fault, change):
    nodes = [start_node(CFG), start_node(CFG)]
    do, ok, done = CHANGES[change]
    w, before, r = FAULTS[fault](nodes, redis_server, do)
    assert_refused_by_store(r)
    assert wait_until(lambda: all(ready(n) for n in nodes), 15), "nodes never resynchronised"
    # Applied nowhere: not on the node that was refused, not on the other.
    for node, seen in zip(nodes, before):
        assert w.observe(node) == seen, f"node {node.port} changed"
    r = retry(do, w)
    assert r.status_code == ok, f"{r.status_code} {r.text}"
    w.learn(r)
    after = w.observe(nodes[0])
    done(w, r, before[0], after)
    # Broadcast: the other node shows the same, soon.
    if not wait_until(lambda: w.observe(nodes[1]) == after, PROPAGATION):
        other = w.observe(nodes[1])
        differ = [(k, other.get(k), after[k]) for k in after if other.get(k) != after[k]]
        pytest.fail(f"not broadcast: {differ}\n{nodes[1].stderr_since_start()[-3000:]}")
    # Durable in Redis: a node started now loads exactly this (once ready: /healthz
    # answers before its Redis links are up, and until then reads say 503).
    fresh = start_node(CFG)
    assert wait_until(lambda: ready(fresh), 15), "the new node never became ready"
    assert w.observe(fresh) == after


# ---------------------------------------------------------------------------
# A node whose own disk fails: in a cluster Redis holds the key set, and the
# node's keyset.json is only a copy. A copy that cannot be written must not
# leave the node on a set the cluster has left: it would refuse its peers'
# tokens as unknown_key (and report a rotation Redis stored as failed).
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rotated_on", ["the_failing_node", "another_node"])
def test_a_node_whose_disk_fails_follows_the_clusters_key_set(
        start_node, redis_server, failsync_so, tmp_path, rotated_on):  # noqa: F811
    flag = tmp_path / "fail-fsync"
    sick = start_node(CFG, env={"LD_PRELOAD": preload(failsync_so),
                                "CURFEW_FAILSYNC_FLAG": str(flag)})
    well = start_node(CFG)
    version = well.admin("GET", "/v1/keys").json()["version"]
    flag.write_text("x")
    r = (sick if rotated_on == "the_failing_node" else well).admin("POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    kid = r.json()["kid"]

    def signing(node):
        doc = node.admin("GET", "/v1/keys").json()
        return doc["version"], [k["kid"] for k in doc["keys"] if k["state"] == "active"]

    for node in (sick, well):
        assert wait_until(lambda: signing(node) == (version + 1, [kid]), PROPAGATION), (
            node.port, signing(node))
    # Each node accepts what the other now signs.
    for a, b in ((sick, well), (well, sick)):
        s = a.new_session(sub="lee")
        assert jwt_parts(s["access_token"])[0]["kid"] == kid
        assert b.check(s["access_token"]).status_code == 200
    # Once its disk is back, a restart loads the cluster's set (from Redis).
    flag.unlink()
    sick.restart(hard=True)
    assert signing(sick) == (version + 1, [kid])


# ---------------------------------------------------------------------------
# A key-set announcement heard while the command connection is down: the
# bus (a subscription) still delivers it, but the fetch of the new set
# fails. The node must fetch again once it can, or it stays on the old set
# and refuses every token its peers sign (unknown_key) until some later
# resynchronisation.
# ---------------------------------------------------------------------------

class Resp:
    """A minimal RESP client: the killer below must not spawn redis-cli."""

    def __init__(self, port):
        import socket
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        line = self.f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        return line[1:].strip().decode()

    def normal_clients(self):
        out = set()
        for line in self.call("CLIENT", "LIST", "TYPE", "normal").splitlines():
            fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            out.add(fields["id"])
        return out

    def close(self):
        self.s.close()

    @contextlib.contextmanager
    def killing_commands(self, spare):
        """While inside: every 5 ms, kill each normal connection not in @spare."""
        stop = threading.Event()

        def kill():
            while not stop.is_set():
                for cid in self.normal_clients() - spare:
                    self.call("CLIENT", "KILL", "ID", cid)
                time.sleep(0.005)

        killer = threading.Thread(target=kill)
        killer.start()
        try:
            yield
        finally:
            stop.set()
            killer.join()
            self.close()


def test_a_rotation_heard_while_the_command_link_is_down_is_fetched_later(
        start_node, redis_server):
    n1 = start_node(CFG)
    r = Resp(redis_server.port)
    keep = r.normal_clients()  # node 1's command connection and this one
    n2 = start_node(CFG)
    assert wait_until(lambda: ready(n2), 10)
    version = n2.admin("GET", "/v1/keys").json()["version"]
    with r.killing_commands(keep):  # node 2's
        time.sleep(0.3)
        rot = n1.admin("POST", "/v1/keys/rotate")
        assert rot.status_code == 200, rot.text
        time.sleep(0.5)  # node 2 heard the notice; its fetches meet dead connections
    kid = rot.json()["kid"]

    def follows():
        doc = n2.admin("GET", "/v1/keys").json()
        return doc["version"] == version + 1 and [
            k["kid"] for k in doc["keys"] if k["state"] == "active"] == [kid]

    assert wait_until(follows, PROPAGATION), n2.admin("GET", "/v1/keys").json()
    s = n1.new_session(sub="max")
    assert n2.check(s["access_token"]).status_code == 200


def test_an_alert_revocation_refused_by_redis_is_made_once_it_is_back(start_node, redis_server):
    """The action is retried, not dropped, and a store that refuses at once
    (no connection) does not spin the loop: the node keeps answering."""
    rule = ("alerts:\n  rules:\n    - {kind: check_failures_per_subject, threshold: 2, "
            "window: 1m, action: revoke_subject}\n")
    n1, n2 = start_node(CFG + rule), start_node(CFG)
    ended = n1.new_session(sub="rex")
    live = n1.new_session(sub="rex")
    assert n1.admin("DELETE", f"/v1/sessions/{ended['session_id']}").status_code == 200
    assert wait_until(lambda: n2.check(ended["access_token"]).status_code == 401, PROPAGATION)
    r = Resp(redis_server.port)
    me = {r.call("CLIENT", "ID")}
    with r.killing_commands(me):
        time.sleep(0.2)
        for _ in range(2):  # the rule fires; its commit meets no connection
            assert n1.check(ended["access_token"]).status_code == 401
        t0 = time.monotonic()
        assert n1.get("/healthz").status_code == 200 and time.monotonic() - t0 < 1
        time.sleep(0.3)
        still = n1.check(live["access_token"])
        assert still.status_code == 200, still.text + n1.stderr_since_start()[-2500:]  # not applied
    for node in (n1, n2):
        assert wait_until(lambda: node.check(live["access_token"]).status_code == 401, PROPAGATION), (
            node.port, node.check(live["access_token"]).text)
    assert "alert_action_retry" in n1.stderr_since_start()
