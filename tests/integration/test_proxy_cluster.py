# SPDX-License-Identifier: MIT
"""Issue 11, done-when 3: in a three-node cluster (one real redis-server), a
revocation acknowledged on node 1 cuts the tunnels held through node 3's
proxy: a WebSocket gets its close frame 1008 with the reason, an SSE stream
its final `event: curfew`. Node 3 learns of the end only from the bus."""
import time

import pytest

from conftest import free_port
from proxyhelp import Upstream, proxy_config, ws_wait_close, ws_send, ws_recv
from test_proxy_cut import open_sse, open_ws, read_sse_until_curfew

CFG = "cluster:\n  max_staleness: 5s\n"
# Bus propagation plus the cut, on a machine shared with other test runs.
CUT_WITHIN = 1.5


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def cluster(start_node, upstream):
    n1, n2 = start_node(CFG), start_node(CFG)
    port = free_port()
    n3 = start_node(CFG + proxy_config(upstream.port, port))
    n3.proxy_port = port
    return n1, n2, n3


def test_session_revoked_on_node1_cuts_tunnels_on_node3(cluster):
    n1, n2, n3 = cluster
    s = n2.new_session(sub="far")               # created on a third node, even
    keep = n1.new_session(sub="near")
    ws, sse = open_ws(n3, s), open_sse(n3, s)
    ws_keep = open_ws(n3, keep)
    t0 = time.monotonic()
    assert n1.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    got = ws_wait_close(ws[1], 5)
    assert got is not None and got[:2] == (1008, "session_revoked"), got
    assert time.monotonic() - t0 < CUT_WITHIN
    assert ws[1].read() == b""                  # then the TCP close
    ev = read_sse_until_curfew(sse[1], 5)
    assert ev is not None and ev[0]["reason"] == "session_revoked", ev
    assert time.monotonic() - t0 < CUT_WITHIN
    ws_send(ws_keep[0], "alive")                # another session's tunnel is untouched
    assert ws_recv(ws_keep[1]) == (1, b"alive")
    m = n3.get("/metrics").text
    assert 'curfew_proxy_connections_cut_total{reason="session_revoked"} 2' in m


def test_subject_revoked_on_node1_cuts_every_tunnel_of_it_on_node3(cluster):
    n1, n2, n3 = cluster
    a, b = n1.new_session(sub="subj"), n2.new_session(sub="subj")
    ws, sse = open_ws(n3, a), open_sse(n3, b)
    t0 = time.monotonic()
    r = n1.admin("POST", "/v1/revocations", json={"sub": "subj"})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2
    got = ws_wait_close(ws[1], 5)
    assert got is not None and got[0] == 1008 and got[1] in ("session_revoked", "revoked_before")
    ev = read_sse_until_curfew(sse[1], 5)
    assert ev is not None and ev[0]["reason"] in ("session_revoked", "revoked_before"), ev
    assert time.monotonic() - t0 < CUT_WITHIN


def test_logout_on_node1_cuts_on_node3(cluster):
    n1, _, n3 = cluster
    s = n1.new_session(sub="bye")
    ws = open_ws(n3, s)
    assert n1.logout(s["access_token"]).status_code == 204
    got = ws_wait_close(ws[1], 5)
    assert got is not None and got[:2] == (1008, "logout"), got
