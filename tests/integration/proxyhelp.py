# SPDX-License-Identifier: MIT
"""Upstreams and clients for the enforcing-proxy tests (test_proxy*.py).

``Upstream`` is a real HTTP/1.1 server on 127.0.0.1 (Python's threading
http.server) with the endpoints the tests need:

  /echo...      JSON: method, path, headers (in order), body (Content-Length or chunked)
  /chunked      a chunked answer in three chunks
  /sse          text/event-stream: ``data: tick N`` every 50 ms until the client leaves
  /big?n=BYTES  a slow large download (Content-Length, 64 KiB every 5 ms)
  /ws           a WebSocket echo (RFC 6455 handshake, frames echoed unmasked)
  /page         an HTML page that opens /ws and /sse and records how each ends
                (window.curfew: the close code and reason, the `curfew` event's data)

The WebSocket client is written out by hand (``ws_connect``/``ws_send``/``ws_recv``)
so that the tests see every byte and need no extra package.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# What a page behind the proxy does with its live connections: one hello on the
# WebSocket (client traffic), then nothing; it shows why each one ended.
PAGE = b"""<!doctype html><meta charset="utf-8"><title>behind curfew</title>
<p id="ws">ws: connecting</p><p id="sse">sse: connecting</p>
<script>
window.curfew = {wsEcho: false, sseTick: false, ws: null, sse: null};
const show = (id, text) => { document.getElementById(id).textContent = text; };
const ws = new WebSocket('ws://' + location.host + '/ws');
ws.onopen = () => ws.send('hello');
ws.onmessage = () => { window.curfew.wsEcho = true; show('ws', 'ws: open'); };
ws.onclose = (e) => {
  window.curfew.ws = {code: e.code, reason: e.reason};
  show('ws', 'ws: your session ended: ' + e.reason);
};
const es = new EventSource('/sse');
es.onmessage = () => { window.curfew.sseTick = true; show('sse', 'sse: streaming'); };
es.addEventListener('curfew', (e) => {
  window.curfew.sse = JSON.parse(e.data);
  es.close();  /* the session is over: do not reconnect */
  show('sse', 'sse: your session ended: ' + window.curfew.sse.reason);
});
</script>
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _echo(self):
        body = self._body()
        self.server.seen.append({"path": self.path, "headers": list(self.headers.items())})
        data = json.dumps({"method": self.command, "path": self.path,
                           "headers": list(self.headers.items()),
                           "body": body.decode("latin-1")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self._echo()

    def do_PUT(self):
        self._echo()

    def do_GET(self):
        p = self.path
        if p.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
            return
        if p.startswith("/sse"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.close_connection = True
            i = 0
            try:
                while True:
                    self.wfile.write(b"data: tick %d\n\n" % i)
                    self.wfile.flush()
                    i += 1
                    time.sleep(0.05)
            except OSError:
                return
        if p.startswith("/big"):
            n = int(p.split("n=")[1]) if "n=" in p else 8 << 20
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while n > 0:
                    k = min(n, len(chunk))
                    self.wfile.write(chunk[:k])
                    n -= k
                    time.sleep(0.005)
            except OSError:
                pass
            return
        if p.startswith("/ws"):
            return self._ws()
        if p.startswith("/page"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        self._echo()

    def _ws(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            while True:
                op, payload = _read_frame(self.rfile.read)
                if op is None or op == 8:
                    return
                self.wfile.write(_frame(op, payload, mask=False))
                self.wfile.flush()
        except OSError:
            return


class Upstream:
    """A threaded HTTP server on 127.0.0.1:<free port>; ``seen`` lists the requests."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.seen = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self):
        return self.httpd.seen

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def proxy_config(upstream_port, proxy_port, extra="", route_extra=""):
    return (f"proxy:\n"
            f"  listeners:\n    - listen: \"127.0.0.1:{proxy_port}\"\n"
            f"  upstreams:\n    app: {{address: \"127.0.0.1:{upstream_port}\", read_timeout: 2s}}\n"
            f"  routes:\n    - upstream: app\n{route_extra}"
            f"{extra}")


# ---- WebSocket frames -------------------------------------------------------

def _frame(op, payload, mask=True):
    head = bytes([0x80 | op])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _read_exact(read, n):
    out = b""
    while len(out) < n:
        chunk = read(n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def _read_frame(read):
    h = _read_exact(read, 2)
    if h is None:
        return None, None
    op, n = h[0] & 0x0F, h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(read, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(read, 8))[0]
    key = _read_exact(read, 4) if h[1] & 0x80 else None
    payload = _read_exact(read, n) if n else b""
    if payload is None:
        return None, None
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return op, payload


def ws_connect(port, token=None, path="/ws", timeout=5.0):
    """Open a WebSocket through the proxy; returns (socket, status line, leftover reader)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    if token:
        req += f"Authorization: Bearer {token}\r\n"
    s.sendall((req + "\r\n").encode())
    f = s.makefile("rb")
    status = f.readline().decode()
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b"", b"\n"):
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return s, f, status, headers


def ws_send(sock, text):
    sock.sendall(_frame(1, text.encode()))


def ws_recv(f):
    """(opcode, payload) of the next frame, or (None, None) at EOF."""
    return _read_frame(f.read)


def ws_wait_close(f, timeout):
    """Read frames until a close frame; returns (code, reason, seconds waited) or None at EOF."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        op, payload = ws_recv(f)
        if op is None:
            return None
        if op == 8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            return code, payload[2:].decode(), time.monotonic() - t0
    return None
