# SPDX-License-Identifier: MIT
"""/readyz tells a load balancer the truth (issue 15, Done-when 4).

/healthz is liveness. /readyz answers 503 with a JSON reason exactly while
the node refuses decisions: a cluster node that has not heard the bus for
cluster.max_staleness (Redis killed), or that is resynchronising. It is 200
again once Redis is back. Measured against a real redis-server.
"""
import time

from conftest import wait_until

MAX_STALENESS = 1.0
SLACK = 1.0   # the heartbeat period and a loaded 2-core machine


def test_single_node_is_ready(curfew):
    r = curfew.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    assert r.headers["Cache-Control"] == "no-store"
    assert curfew.request("HEAD", "/readyz").status_code == 200
    r = curfew.post("/readyz")
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_readyz_goes_503_within_max_staleness_when_redis_dies_and_back(start_node, redis_server):
    node = start_node(f"cluster:\n  max_staleness: {MAX_STALENESS:g}s\n")
    live = node.new_session(sub="r")
    assert wait_until(lambda: node.get("/readyz").status_code == 200, 3)
    for _ in range(2):
        redis_server.kill9()
        t_kill = time.monotonic()
        ok = wait_until(lambda: node.get("/readyz").status_code == 503, MAX_STALENESS + SLACK + 2,
                        step=0.02)
        took = time.monotonic() - t_kill
        assert ok, node.stderr_since_start()[-2000:]
        assert took <= MAX_STALENESS + SLACK, f"503 only after {took:.2f}s"
        r = node.get("/readyz")
        body = r.json()
        assert body["status"] == "not_ready" and body["reason"] == "store_unavailable", body
        assert body["error_description"], body
        assert r.headers.get("Retry-After") == "1"
        # Ready says exactly what /v1/check does: it refuses now.
        assert node.check(live["access_token"]).status_code == 503
        assert node.get("/healthz").status_code in (200, 503)   # liveness: the process is up
        redis_server.start()
        t_back = time.monotonic()
        assert wait_until(lambda: node.get("/readyz").status_code == 200, 10, step=0.02), \
            node.stderr_since_start()[-2000:]
        print(f"stale after {took:.2f}s, ready {time.monotonic() - t_back:.2f}s after redis returned")
        assert node.check(live["access_token"]).status_code == 200
