#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""WebSocket helpers for bench/proxy.sh (no package beyond the standard library).

  proxy_ws.py upstream PORT
      A WebSocket upstream (asyncio): answers the handshake, then reads and drops
      whatever comes. Holds thousands of idle tunnels cheaply.

  proxy_ws.py cut --api URL --key KEY --proxy PORT --n N --mode subject|idle [--idle SECONDS]
      Creates N sessions, opens one WebSocket through the proxy with each, then
      ends them all at once: by one revocation of their subject (latency from
      the revocation's acknowledgement to each client seeing the close frame, and
      from the revocation request's sending, since the cuts go out before the
      answer does), or
      by letting them reach their idle deadline (latency from each session's
      deadline, taken as the time its upgrade request was sent plus the idle
      timeout: the check that allowed it touched the session after that, so the
      figure errs on the high side). Prints one JSON line.

  proxy_ws.py rss --api URL --key KEY --proxy PORT --n N --pid PID
      One session, N WebSockets through the proxy; the proxy process's RSS
      (VmRSS) before and after, and the difference per tunnel. Prints one JSON line.

The client side is one thread on epoll: each close is timed the moment its
socket turns readable, before any parsing.
"""
import argparse
import asyncio
import base64
import http.client
import json
import os
import selectors
import socket
import sys
import threading
import time


def upstream(port):
    async def handle(reader, writer):
        try:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        writer.close()

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        async with srv:
            await srv.serve_forever()
    asyncio.run(main())


class Api:
    def __init__(self, url, key):
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.c = http.client.HTTPConnection(host, int(port), timeout=30)
        self.h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method, path, doc=None):
        self.c.request(method, path, body=json.dumps(doc) if doc is not None else None, headers=self.h)
        r = self.c.getresponse()
        data = r.read()
        if r.status >= 300:
            sys.exit(f"{method} {path}: {r.status} {data[:200]!r}")
        return json.loads(data) if data else {}


def ws_open(port, token):
    """A WebSocket through the proxy; returns (socket, monotonic time the request was sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    t = time.monotonic()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"the proxy closed during the handshake: {head[:200]!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit(f"no upgrade: {head[:300]!r}")
    s.setblocking(False)
    return s, t


def wait_closes(socks, timeout):
    """Monotonic time each socket first turned readable (the close frame), by index."""
    sel = selectors.EpollSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    seen, frames = {}, {}
    end = time.monotonic() + timeout
    while len(seen) < len(socks) and time.monotonic() < end:
        for k, _ in sel.select(0.5):
            now = time.monotonic()
            i = k.data
            seen.setdefault(i, now)
            try:
                data = k.fileobj.recv(256)
            except (BlockingIOError, ConnectionError):
                data = b""
            frames.setdefault(i, data)
            sel.unregister(k.fileobj)
    sel.close()
    return seen, frames


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


def cut(a):
    api = Api(a.api, a.key)
    sub = f"cut-{os.getpid()}"
    body = {"sub": sub}
    if a.mode == "idle":
        body["idle_timeout"] = f"{a.idle}s"
    tokens = [api.call("POST", "/v1/sessions", body)["access_token"] for _ in range(a.n)]
    opened = [ws_open(a.proxy, t) for t in tokens]
    socks = [s for s, _ in opened]
    spread = opened[-1][1] - opened[0][1]
    ack = {}
    if a.mode == "subject":
        def revoke():
            ack["sent"] = time.monotonic()
            r = api.call("POST", "/v1/revocations", {"sub": sub})
            ack["t"] = time.monotonic()
            ack["ended"] = r.get("sessions_ended")
        th = threading.Thread(target=revoke)
        time.sleep(0.5)
        th.start()
        seen, frames = wait_closes(socks, 30)
        th.join()
        lat = [(t - ack["t"]) * 1000 for t in seen.values()]
        sent = [(t - ack["sent"]) * 1000 for t in seen.values()]
        extra = {"ack_after_request_ms": round((ack["t"] - ack["sent"]) * 1000, 2),
                 "from_request_p50_ms": round(pct(sent, 50), 2),
                 "from_request_p99_ms": round(pct(sent, 99), 2),
                 "from_request_max_ms": round(max(sent), 2)}
    else:
        seen, frames = wait_closes(socks, a.idle + 30)
        lat = [(t - (opened[i][1] + a.idle)) * 1000 for i, t in seen.items()]
        extra = {}
    reasons = {}
    for data in frames.values():
        r = data[4:4 + data[1]].decode("latin-1", "replace") if len(data) >= 4 and data[0] == 0x88 else "?"
        reasons[r] = reasons.get(r, 0) + 1
    for s in socks:
        s.close()
    print(json.dumps({"mode": a.mode, "n": a.n, "closed": len(seen), "reasons": reasons,
                      "sessions_ended": ack.get("ended"), "open_spread_s": round(spread, 3),
                      "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                      "max_ms": round(max(lat), 2), "min_ms": round(min(lat), 2), **extra}))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss(a):
    api = Api(a.api, a.key)
    token = api.call("POST", "/v1/sessions", {"sub": "rss", "idle_timeout": "1h"})["access_token"]
    warm = [ws_open(a.proxy, token)[0] for _ in range(50)]  # first-use allocations out of the way
    for s in warm:
        s.close()
    time.sleep(1.0)
    before = rss_kib(a.pid)
    socks = [ws_open(a.proxy, token)[0] for _ in range(a.n)]
    time.sleep(1.0)
    after = rss_kib(a.pid)
    for s in socks:
        s.close()
    print(json.dumps({"n": a.n, "rss_before_kib": before, "rss_after_kib": after,
                      "kib_per_tunnel": round((after - before) / a.n, 2)}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upstream")
    u.add_argument("port", type=int)
    for name in ("cut", "rss"):
        c = sub.add_parser(name)
        c.add_argument("--api", required=True)
        c.add_argument("--key", required=True)
        c.add_argument("--proxy", type=int, required=True)
        c.add_argument("--n", type=int, default=1000)
        c.add_argument("--mode", choices=("subject", "idle"), default="subject")
        c.add_argument("--idle", type=int, default=5)
        c.add_argument("--pid", type=int)
    a = p.parse_args()
    if a.cmd == "upstream":
        upstream(a.port)
    elif a.cmd == "cut":
        cut(a)
    else:
        rss(a)


if __name__ == "__main__":
    main()
