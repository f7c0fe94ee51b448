# SPDX-License-Identifier: MIT
"""The admin CLI does not hang on a server that does not answer: a server
that accepts and then says nothing, or drips its answer a byte a second
(each byte just inside any per-read timeout), or that does not even accept
(a full listen queue), makes the command exit 1 within its bounds with one
line: `curfew: URL: no answer within N s (...)`.

Bounds (docs/operations.md, curfew(1)): 10 s for the connection and for
each wait for data, 30 s for the whole request, or $CURFEW_TIMEOUT seconds.
The servers here are Python sockets on 127.0.0.1.
"""
import socket
import threading
import time

import pytest

from conftest import run_curfew

ENV = {"CURFEW_ADMIN_KEY": "k" * 32}


class Server:
    """Accepts on 127.0.0.1; @mode: "silent" (reads, says nothing), "drip"
    (a valid HTTP head, then one body byte a second, forever)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.mode == "drip":
                threading.Thread(target=self.drip, args=(c,), daemon=True).start()

    def drip(self, c):
        try:
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n")
            while not self.stop.is_set():
                c.sendall(b" ")
                time.sleep(1)
        except OSError:
            pass

    def close(self):
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def server(request):
    s = Server(request.param)
    yield s
    s.close()


def run(port, env=None, limit=40):
    t0 = time.monotonic()
    r = run_curfew("stats", "--server", f"http://127.0.0.1:{port}", env=dict(ENV, **(env or {})),
                   timeout=limit)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("server", ["silent"], indirect=True)
def test_a_silent_server_is_given_up_after_the_idle_timeout(server):
    r, took = run(server.port)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.strip() == (f"curfew: http://127.0.0.1:{server.port}: no answer within 10 s "
                                "(nothing received)"), r.stderr
    assert 9 <= took < 14, took


@pytest.mark.parametrize("server", ["drip"], indirect=True)
def test_a_dripping_server_is_given_up_at_the_deadline(server):
    """A byte a second never trips the idle timeout: only the deadline ends it."""
    r, took = run(server.port, env={"CURFEW_TIMEOUT": "4"})
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.strip() == (f"curfew: http://127.0.0.1:{server.port}: no answer within 4 s "
                                "(the whole request; CURFEW_TIMEOUT)"), r.stderr
    assert 3.5 <= took < 7, took


@pytest.mark.parametrize("server", ["drip"], indirect=True)
def test_the_default_deadline_is_30_s(server):
    r, took = run(server.port, limit=60)
    assert r.returncode == 1 and "no answer within 30 s" in r.stderr, r.stderr
    assert 29 <= took < 35, took


def test_a_server_that_never_accepts_is_given_up_at_connect():
    """A listen queue that is full: SYNs go unanswered, as into a partition."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    port = s.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the backlog (nobody accepts)
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        time.sleep(0.2)
        r, took = run(port, env={"CURFEW_TIMEOUT": "3"})
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "no answer within 3 s" in r.stderr, r.stderr
        assert took < 6, took
    finally:
        for f in fillers:
            f.close()
        s.close()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "5s", "86401"])
def test_a_bad_curfew_timeout_is_a_usage_error(value):
    r = run_curfew("stats", "--server", "http://127.0.0.1:9", env=dict(ENV, CURFEW_TIMEOUT=value))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip() == (f"curfew stats: CURFEW_TIMEOUT: expected whole seconds from 1 to "
                                f"86400, got '{value}'"), r.stderr
