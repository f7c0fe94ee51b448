# SPDX-License-Identifier: MIT
"""Alert webhooks over https:// (issue 14): a receiver made here (Python's
http.server wrapped in ssl, its certificate from a CA made in the test) gets
the alert when alerts.webhook_ca names that CA; a receiver whose certificate
another CA signed, one whose certificate does not name the URL's host, and
one checked against the system's CAs only get nothing: delivery fails,
logged and counted (curfew_alert_webhook_total{result="failed"}), and curfew
keeps serving."""

import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import run_curfew
from tlsutil import Pki

RULE = "{kind: check_failures_per_ip, threshold: 1, window: 1ms}"


class TlsReceiver:
    """An HTTPS webhook receiver with @cert/@key on @host; records POSTed JSON bodies."""

    def __init__(self, cert, key, host="127.0.0.1"):
        self.bodies = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        # handshake in the handler thread, so a client that gives up blocks nothing
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def received(self):
        with self.lock:
            return list(self.bodies)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pki(tmp_path):
    p = Pki(tmp_path / "pki")
    p.server = p.issue("receiver", "localhost", server=True)  # SANs: localhost, 127.0.0.1
    p.rogue = Pki(tmp_path / "pki" / "rogue", name="rogue")
    p.rogue_server = p.rogue.issue("rogue_receiver", "localhost", server=True)
    return p


@pytest.fixture
def receivers():
    made = []

    def make(*a, **kw):
        r = TlsReceiver(*a, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def config(url, ca=None):
    y = f"alerts:\n  webhook: {url}\n"
    if ca is not None:
        y += f"  webhook_ca: {ca}\n"
    return y + f"  rules:\n    - {RULE}\n"


def webhook_counts(srv):
    text = srv.get("/metrics").text
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^curfew_alert_webhook_total\{result="(\w+)"\} (\d+)$', text, re.M)}


def wait_for(pred, timeout=15.0):
    deadline = time.time() + timeout
    while not pred() and time.time() < deadline:
        time.sleep(0.05)
    return pred()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_alert_delivered_over_https_to_a_receiver_of_the_configured_ca(start_curfew, pki,
                                                                        receivers, host):
    rx = receivers(*pki.server)
    srv = start_curfew(config(f"https://{host}:{rx.port}/hook", pki.ca))
    assert srv.check("nope").status_code == 401
    assert wait_for(lambda: rx.received()), srv.stderr_text()[-3000:]
    assert rx.received()[0]["alert"] == "check_failures_per_ip"
    assert wait_for(lambda: webhook_counts(srv).get("sent") == 1), webhook_counts(srv)
    assert webhook_counts(srv)["failed"] == 0


@pytest.mark.parametrize("case", ["other_ca", "wrong_host", "system_cas"])
def test_receiver_that_does_not_verify_gets_nothing(start_curfew, pki, receivers, case):
    if case == "other_ca":  # a certificate for the right name from a CA curfew was not given
        rx = receivers(*pki.rogue_server)
        url, ca = f"https://localhost:{rx.port}/hook", pki.ca
    elif case == "wrong_host":  # the right CA, but the certificate names another host
        rx = receivers(*pki.server, host="127.0.0.2")
        url, ca = f"https://127.0.0.2:{rx.port}/hook", pki.ca
    else:  # no alerts.webhook_ca: the system's CAs do not know the test CA
        rx = receivers(*pki.server)
        url, ca = f"https://localhost:{rx.port}/hook", None
    srv = start_curfew(config(url, ca))
    assert srv.check("nope").status_code == 401
    assert wait_for(lambda: webhook_counts(srv).get("failed") == 1), srv.stderr_text()[-3000:]
    assert rx.received() == []
    assert webhook_counts(srv)["sent"] == 0
    log = srv.stderr_text()
    assert "event=alert_webhook_failed" in log
    line = next(l for l in log.splitlines() if "event=alert_webhook_failed" in l)
    assert "tls:" in line, line
    # curfew carries on
    s = srv.new_session()
    assert srv.check(s["access_token"]).status_code == 200
    assert srv.running


def test_plain_http_url_to_a_tls_receiver_is_a_failure_not_a_crash(start_curfew, pki, receivers):
    rx = receivers(*pki.server)
    srv = start_curfew(config(f"http://127.0.0.1:{rx.port}/hook"))
    assert srv.check("nope").status_code == 401
    assert wait_for(lambda: webhook_counts(srv).get("failed") == 1), srv.stderr_text()[-3000:]
    assert rx.received() == [] and srv.running


@pytest.mark.parametrize("case", ["garbage_ca", "missing_ca", "bad_scheme"])
def test_webhook_config_errors(tmp_path, pki, case):
    bad = tmp_path / "garbage.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    text, key, want = {
        "garbage_ca": (config("https://localhost:9/hook", bad), "webhook_ca", "no PEM CA"),
        "missing_ca": (config("https://localhost:9/hook", tmp_path / "nope.pem"), "webhook_ca",
                       "no PEM CA"),
        "bad_scheme": (config("httpx://localhost:9/hook"), "webhook", "http:// or https://"),
    }[case]
    p = tmp_path / "c.yaml"
    p.write_text(text)
    line = next(i + 1 for i, l in enumerate(text.splitlines()) if l.strip().startswith(key + ":"))
    r = run_curfew("config", "check", str(p))
    assert r.returncode != 0, r.stdout
    assert f"{p}:{line}: " in r.stderr and want in r.stderr, r.stderr


class DripReceiver:
    """Accepts one connection, reads the ClientHello, then sends the header
    of a 16 KB TLS record and its bytes one a second: each read of the
    client's succeeds within any per-read timeout, the handshake never ends.
    Records how long the client kept the connection."""

    def __init__(self, gap=1.0, limit=20.0):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.gap, self.limit = gap, limit
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        t0 = time.monotonic()
        c.settimeout(0.2)
        try:
            c.recv(4096)
            c.sendall(b"\x16\x03\x03\x3f\xff")
            while time.monotonic() - t0 < self.limit:
                c.sendall(b"\x02")
                try:
                    if c.recv(4096) == b"":
                        break
                except TimeoutError:
                    pass
                time.sleep(self.gap)
        except OSError:
            pass
        self.held.append(time.monotonic() - t0)
        c.close()

    def close(self):
        self.sock.close()


def test_receiver_dripping_the_handshake_cannot_hold_the_webhook(start_curfew, pki):
    """A receiver (or anyone on the path) that feeds the handshake a byte a
    second passed every per-read timeout and held the webhook thread for
    hours: alerts stopped going out and a shutdown waited for it. Each
    attempt now has a deadline as a whole."""
    rx = DripReceiver()
    try:
        srv = start_curfew(config(f"https://localhost:{rx.port}/hook", pki.ca))
        assert srv.check("nope").status_code == 401
        assert wait_for(lambda: rx.held, timeout=25), "the webhook kept the connection for 20 s"
        assert rx.held[0] < 9, rx.held
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 8
    finally:
        rx.close()
