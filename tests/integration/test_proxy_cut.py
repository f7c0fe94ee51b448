# SPDX-License-Identifier: MIT
"""Sessions own connections (docs/proxy.md): for each way a session ends, an
open WebSocket through the proxy gets a close frame 1008 whose reason is the
reason code, and an open SSE stream a final ``event: curfew`` whose data is the
refusal body, at the protocol level. Deadlines are timers: a tunnel dies at its
session's deadline, well before any purge sweep (store.purge_interval is 1h)."""

import base64
import hashlib
import json
import os
import socket
import time

import pytest

from conftest import free_port
from proxyhelp import (WS_GUID, Upstream, _frame, proxy_config, ws_connect, ws_send, ws_recv,
                       ws_wait_close)

CONFIG_EXTRA = "store: {purge_interval: 1h}\n"


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def px(start_curfew, upstream):
    port = free_port()
    srv = start_curfew(proxy_config(upstream.port, port, route_extra="      activity: client\n") +
                       CONFIG_EXTRA)
    srv.proxy_port = port
    return srv


def open_ws(px, s):
    sock, f, status, headers = ws_connect(px.proxy_port, s["access_token"])
    assert status.startswith("HTTP/1.1 101"), status
    ws_send(sock, "ping")
    assert ws_recv(f) == (1, b"ping")
    return sock, f


def open_sse(px, s):
    sock = socket.create_connection(("127.0.0.1", px.proxy_port), timeout=5)
    sock.sendall((f"GET /sse HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {s['access_token']}\r\n"
                  f"Accept: text/event-stream\r\n\r\n").encode())
    f = sock.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 200")
    while f.readline() != b"\r\n":
        pass
    return sock, f


def read_sse_until_curfew(f, timeout):
    """Decode the chunked SSE stream; return (event data, seconds) of `event: curfew`."""
    t0 = time.monotonic()
    buf = b""
    while time.monotonic() - t0 < timeout:
        size = f.readline()
        if not size:
            return None
        n = int(size.strip(), 16)
        if n == 0:
            return None
        buf += f.read(n)
        f.readline()
        if b"event: curfew\n" in buf:
            tail = buf.split(b"event: curfew\n", 1)[1]
            if b"\n\n" in tail:
                data = tail.split(b"\n\n", 1)[0]
                assert data.startswith(b"data: ")
                rest = f.readline()             # the terminating chunk follows
                assert rest.strip() == b"0"
                return json.loads(data[6:]), time.monotonic() - t0
    return None


def assert_cut(ws, sse, reason, timeout=5.0):
    got = ws_wait_close(ws[1], timeout)
    assert got is not None, "no close frame"
    code, why, waited = got
    assert (code, why) == (1008, reason)
    assert ws[1].read() == b""                  # then the TCP close
    ev = read_sse_until_curfew(sse[1], timeout)
    assert ev is not None, "no curfew event"
    body, _ = ev
    assert body["reason"] == reason
    assert body["error"] == "invalid_token"
    return waited


def test_revocation_cuts_at_once(px):
    s = px.new_session(sub="rev")
    ws, sse = open_ws(px, s), open_sse(px, s)
    t0 = time.monotonic()
    assert px.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert_cut(ws, sse, "session_revoked")
    assert time.monotonic() - t0 < 1.0
    m = px.get("/metrics").text
    assert 'curfew_proxy_connections_cut_total{reason="session_revoked"} 2' in m


def test_logout_cuts(px):
    s = px.new_session(sub="out")
    ws, sse = open_ws(px, s), open_sse(px, s)
    assert px.logout(s["access_token"]).status_code == 204
    assert_cut(ws, sse, "logout")


def test_revoke_by_subject_cuts_every_session_of_it(px):
    a, b = px.new_session(sub="subj"), px.new_session(sub="subj")
    other = px.new_session(sub="someone-else")
    ws_a, sse_b = open_ws(px, a), open_sse(px, b)
    ws_o = open_ws(px, other)
    r = px.admin("POST", "/v1/revocations", json={"sub": "subj"})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2
    got = ws_wait_close(ws_a[1], 5)
    assert got[:2] == (1008, "session_revoked")
    ev = read_sse_until_curfew(sse_b[1], 5)
    assert ev[0]["reason"] == "session_revoked"
    ws_send(ws_o[0], "still")                    # another subject's tunnel lives on
    assert ws_recv(ws_o[1]) == (1, b"still")


def test_refresh_reuse_cuts(px):
    s = px.new_session(sub="reuse")
    ws, sse = open_ws(px, s), open_sse(px, s)
    assert px.refresh(s["refresh_token"]).status_code == 200
    r = px.refresh(s["refresh_token"])          # the old one again: theft
    assert r.status_code == 400
    assert_cut(ws, sse, "refresh_reuse")


def test_idle_deadline_is_a_timer_not_a_sweep(px):
    s = px.new_session(sub="idle", idle_timeout="2s")
    ws, sse = open_ws(px, s), open_sse(px, s)
    t0 = time.monotonic()
    waited = assert_cut(ws, sse, "idle_timeout", timeout=6)
    assert 1.0 < time.monotonic() - t0 < 3.5, waited


def test_client_traffic_keeps_a_tunnel_alive_then_the_absolute_deadline_cuts(px):
    s = px.new_session(sub="abs", idle_timeout="2s", absolute_timeout="4s")
    sock, f = open_ws(px, s)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:           # activity: client -> touches the session
        ws_send(sock, "beat")
        assert ws_recv(f) == (1, b"beat")
        time.sleep(0.4)
    got = ws_wait_close(f, 3)
    assert got is not None and got[:2] == (1008, "absolute_timeout")
    assert 3.0 < time.monotonic() - t0 < 5.5


def test_the_cut_is_audited(start_curfew, upstream, tmp_path):
    port = free_port()
    audit = tmp_path / "audit.jsonl"
    srv = start_curfew(proxy_config(upstream.port, port) + f"audit: {{path: \"{audit}\"}}\n")
    srv.proxy_port = port
    s = srv.new_session(sub="aud")
    sock, f = open_ws(srv, s)
    srv.admin("DELETE", f"/v1/sessions/{s['session_id']}")
    assert ws_wait_close(f, 5)[:2] == (1008, "session_revoked")

    def cut_line():
        for line in audit.read_text().splitlines() if audit.exists() else []:
            e = json.loads(line)
            if e["event"] == "connection_cut":
                return e
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and cut_line() is None:
        time.sleep(0.05)
    e = cut_line()
    assert e is not None
    assert e["reason"] == "session_revoked" and e["kind"] == "websocket"
    assert e["bytes_up"] > 0 and e["bytes_down"] > 0 and e["age_seconds"] >= 0


def test_a_slow_reader_is_cut_at_once_not_after_the_buffered_bytes(px):
    """A download the client reads slowly: when its session ends, the client must
    not go on reading the megabytes the proxy's side still holds for it (a graceful
    close would deliver them first, at the client's pace). The cut resets the
    connection: only what already sat in the client's own receive buffer arrives."""
    s = px.new_session(sub="slow")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)   # before connect: the window
    sock.settimeout(5)
    sock.connect(("127.0.0.1", px.proxy_port))
    rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    sock.sendall((f"GET /big?n={200 << 20} HTTP/1.1\r\nHost: a\r\n"
                  f"Authorization: Bearer {s['access_token']}\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(4096)
    assert got.startswith(b"HTTP/1.1 200"), got[:100]
    time.sleep(1.0)                              # the buffers on both sides fill up
    assert px.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    t0, after = time.monotonic(), 0
    try:
        while time.monotonic() - t0 < 10:
            chunk = sock.recv(16384)             # about 160 KB/s
            if not chunk:
                break
            after += len(chunk)
            time.sleep(0.1)
    except ConnectionResetError:
        pass
    waited = time.monotonic() - t0
    sock.close()
    assert after <= rcvbuf + 65536, (after, rcvbuf)
    assert waited < 1.5, (waited, after)


def test_a_cut_client_that_never_reads_is_reset_after_a_grace(start_curfew, upstream):
    """A WebSocket client that stopped reading cannot take its close frame; the
    cut must still end the connection (reset after a grace of 2 s), not hold it
    and its slot forever: with one connection allowed per address, a new one is
    served afterwards."""
    port = free_port()
    srv = start_curfew(proxy_config(upstream.port, port, extra="  max_connections_per_address: 1\n"))
    srv.proxy_port = port
    s = srv.new_session(sub="deaf")
    sock, f = open_ws(srv, s)
    sock.setblocking(False)
    frame = b"\x82\xfe\xff\xff" + b"\0\0\0\0" + b"x" * 65535   # masked (zero key) binary frames
    sent, pending, t0 = 0, frame, time.monotonic()
    while time.monotonic() - t0 < 5:                # echoed back and never read: every buffer fills
        try:
            n = sock.send(pending)                  # whole frames only: a partial one is finished
            sent += n
            pending = pending[n:] or frame
        except BlockingIOError:
            if time.monotonic() - t0 > 1.5:
                break
            time.sleep(0.05)
    assert sent > 1 << 20, sent
    assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    time.sleep(3.5)
    data = raw_request(port, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 401"), data[:200]    # the slot is free again (not 503)
    sock.close()


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(data)
        c.settimeout(3)
        return c.recv(4096)


# ---- a cut while the upstream is inside a frame --------------------------------------------

def _raw_upstream_tunnel(start_curfew):
    """curfew proxying to a socket this test drives by hand (no thread: every byte is sent
    exactly when the test says). Returns (curfew, client socket, client reader, upstream
    socket, session)."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    port = free_port()
    srv = start_curfew(proxy_config(ls.getsockname()[1], port) + CONFIG_EXTRA)
    s = srv.new_session(sub="midframe")
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    c.sendall((f"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {s['access_token']}\r\n\r\n").encode())
    ls.settimeout(5)
    u, _ = ls.accept()
    ls.close()
    u.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        head += u.recv(4096)
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    u.sendall((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    f = c.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 101")
    while f.readline() != b"\r\n":
        pass
    return srv, c, f, u, s


def _read_n(f, n):
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


@pytest.mark.parametrize("size,split", [
    (20000, 1),          # inside the frame's header
    (20000, 4),          # the header complete, no payload byte yet
    (20000, 5000),       # inside the payload
    (65536, 10),         # the rest is exactly the bound (64 KiB)
    (125, 2),            # a small frame, header of two bytes
])
def test_a_cut_inside_an_upstream_frame_finishes_it_then_sends_the_close(start_curfew, size,
                                                                         split):
    srv, c, f, u, s = _raw_upstream_tunnel(start_curfew)
    payload = bytes(i % 251 for i in range(size))
    frame = _frame(2, payload, mask=False)
    u.sendall(frame[:split])
    assert _read_n(f, split) == frame[:split]           # the client is inside the frame
    assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    c.sendall(_frame(1, b"after the cut"))              # dropped: never reaches the upstream
    # The rest of the frame, and a next frame right behind it in the same segment: the frame
    # in flight is finished, nothing after it is forwarded.
    u.sendall(frame[split:] + _frame(1, b"next frame"))
    assert _read_n(f, len(frame) - split) == frame[split:]
    got = ws_wait_close(f, 3)
    assert got is not None and got[:2] == (1008, "session_revoked"), got
    assert f.read() == b""                              # then the TCP close
    rest = b""
    try:
        while True:
            chunk = u.recv(65536)
            if not chunk:
                break
            rest += chunk
    except OSError:
        pass
    assert b"after the cut" not in rest and len(rest) < 16, rest   # the upstream is closed


def test_a_frame_whose_rest_is_over_the_bound_is_cut_without_a_close_frame(start_curfew):
    srv, c, f, u, s = _raw_upstream_tunnel(start_curfew)
    frame = _frame(2, bytes(65537), mask=False)         # the rest one byte over 64 KiB
    u.sendall(frame[:10])
    assert _read_n(f, 10) == frame[:10]
    t0 = time.monotonic()
    assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert f.read() == b""                              # no close frame: the TCP close, at once
    assert time.monotonic() - t0 < 1.5


def test_an_upstream_that_does_not_finish_its_frame_in_time_is_cut(start_curfew):
    srv, c, f, u, s = _raw_upstream_tunnel(start_curfew)
    frame = _frame(2, bytes(1000), mask=False)
    u.sendall(frame[:500])
    assert _read_n(f, 500) == frame[:500]
    t0 = time.monotonic()
    assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert f.read() == b""                              # the frame never ends: closed, no close frame
    assert time.monotonic() - t0 < 1.5                  # 100 ms bound, not the 2 s finish grace
    u.sendall(frame[500:])                              # too late: not forwarded (no error either)
