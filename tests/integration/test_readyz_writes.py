# SPDX-License-Identifier: MIT
"""/readyz says 200 only when the node also takes writes (issue 15, Done-when 4).

After Redis returns, the bus (subscription) may reconnect before the command
connection (the store reconnects on a 100 ms tick): readiness that followed
the bus alone sent a load balancer's traffic to a node whose next session
creation answered 503. Here a client does what a load balancer's first
request after a green health check does: a write at the first 200.
Measured against a real redis-server.
"""
import threading
import time

from conftest import wait_until
from test_faults_cluster import Resp

CFG = "cluster:\n  max_staleness: 1s\n"


def status(node, path="/readyz"):
    try:
        return node.get(path, timeout=2).status_code
    except Exception:  # noqa: BLE001 (a node mid-reconnect may drop the connection)
        return 0


def test_readyz_is_503_while_only_the_command_connection_is_down(start_node, redis_server):
    # Heartbeats go out on the command connection: with it down the bus falls
    # silent and the node goes stale after max_staleness. Sample well before.
    node = start_node("cluster:\n  max_staleness: 4s\n")
    assert wait_until(lambda: status(node) == 200, 5)
    live = node.new_session(sub="w")
    r = Resp(redis_server.port)
    me = {r.call("CLIENT", "ID")}
    codes = []
    with r.killing_commands(me):  # the node's command connection; the bus (pubsub) stays
        time.sleep(0.2)
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            resp = node.get("/readyz")
            codes.append(resp.status_code)
            if resp.status_code == 503:
                body = resp.json()
                assert body["reason"] == "store_unavailable", body
                assert "command connection" in body["error_description"], body
            time.sleep(0.01)
        assert node.check(live["access_token"]).status_code == 200  # the bus is up: checks served
    # Killed every 5 ms, reconnected every 100 ms: down most of the time.
    assert codes.count(503) > len(codes) // 2, codes
    assert wait_until(lambda: status(node) == 200, 5)
    assert node.create_session(sub="y").status_code == 201


def test_first_200_after_redis_returns_takes_a_write(start_node, redis_server):
    node = start_node(CFG)
    assert wait_until(lambda: status(node) == 200, 5)
    for trial in range(5):
        live = node.new_session(sub=f"t{trial}")
        redis_server.kill9()
        assert wait_until(lambda: status(node) == 503, 5, step=0.005)
        time.sleep(0.05 * trial)  # vary where the restart falls in the reconnect tick
        starter = threading.Thread(target=redis_server.start)
        starter.start()
        try:
            assert wait_until(lambda: status(node) == 200, 15, step=0.002), \
                node.stderr_since_start()[-2000:]
            created = node.create_session(sub=f"after{trial}")
            revoked = node.admin("DELETE", f"/v1/sessions/{live['session_id']}")
        finally:
            starter.join()
        assert created.status_code == 201, (trial, created.status_code, created.text, node.stderr_since_start()[-3000:])
        assert revoked.status_code == 200, (trial, revoked.status_code, revoked.text)
