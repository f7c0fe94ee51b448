# SPDX-License-Identifier: MIT
"""Hostile TLS clients against curfew's own HTTPS listener (issue 14): slow
clients that feed the handshake or a TLS record a byte at a time, a client
asking to renegotiate, TLS 1.0/1.1 ClientHellos written by hand (so the
refusal is the server's, not the client library's), and a crowd of
handshakes while another client is served.
"""

import socket
import ssl
import struct
import subprocess
import threading
import time

from test_tls import client_ctx, pki, read_until_close, start_tls, statuses, tls_connect, tls_yaml  # noqa: F401


def drip(sock, data, gap, limit):
    """Send @data a byte every @gap seconds until the server closes; the
    seconds that took, or None when it was still open after @limit."""
    sock.settimeout(0.02)
    t0 = time.monotonic()
    for i in range(len(data)):
        try:
            sock.send(data[i:i + 1])
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            return None
        time.sleep(gap)
    return None


def client_hello(ctx):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_handshake_dripped_a_byte_at_a_time_is_cut_at_client_timeout(start_tls, pki):
    srv = start_tls(tls_yaml(pki, extra="limits:\n  client_timeout: 1s\n"))
    hello = client_hello(client_ctx(pki))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        took = drip(s, hello, 0.25, 8)
    assert took is not None and took < 4, took
    assert srv.get("/healthz").status_code == 200


def test_tls_record_dripped_after_the_handshake_is_cut_at_client_timeout(start_tls, pki):
    """After the handshake, the bytes of a record begun wait inside OpenSSL
    and none reaches the HTTP reader: a byte every half second kept such a
    connection open for ever (client_timeout 1s), a slowloris that plain
    HTTP's request deadline did not see."""
    srv = start_tls(tls_yaml(pki, extra="limits:\n  client_timeout: 1s\n"))
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        tls = tls_connect(srv, client_ctx(pki, maximum_version=version))
        raw = socket.socket(fileno=tls.detach())  # below TLS: write records by hand
        try:
            took = drip(raw, b"\x17\x03\x03" + struct.pack(">H", 2000) + b"A" * 2000, 0.5, 8)
        finally:
            raw.close()
        assert took is not None and took < 4, (version, took)
    # a real request that arrives slowly but within the deadline is still served
    with tls_connect(srv, client_ctx(pki)) as s:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n\r\n"):
            s.sendall(part)
            time.sleep(0.2)
        assert statuses(read_until_close(s)) == [200]
    assert srv.get("/healthz").status_code == 200


def test_client_initiated_renegotiation_is_refused(start_tls, pki):
    srv = start_tls(tls_yaml(pki, client_certs="optional"))
    # `R` on its own line makes s_client renegotiate (TLS 1.2 has renegotiation)
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-tls1_2",
                        "-CAfile", str(pki.ca)],
                       input=b"R\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    out = p.stdout.decode(errors="replace")
    assert "RENEGOTIATING" in out, out[-1500:]
    assert "no renegotiation" in out, out[-1500:]
    assert srv.get("/healthz").status_code == 200


def hello_bytes(version):
    """A minimal ClientHello of @version (0x0301 TLS 1.0, 0x0302 TLS 1.1) with
    no supported_versions extension: what an old client sends."""
    suites = [0xC02F, 0xC02B, 0xC013, 0xC009, 0x002F]
    ext = (struct.pack(">HHH", 0x000A, 4, 2) + struct.pack(">H", 0x0017) +      # groups: P-256
           struct.pack(">HHB", 0x000B, 2, 1) + b"\x00" +                        # point formats
           struct.pack(">HHHHHH", 0x000D, 8, 6, 0x0403, 0x0804, 0x0401) +      # sig algs
           struct.pack(">HH", 0xFF01, 1) + b"\x00")                             # reneg info
    body = (struct.pack(">H", version) + b"\x11" * 32 + b"\x00" +
            struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", c) for c in suites) +
            b"\x01\x00" + struct.pack(">H", len(ext)) + ext)
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def test_tls10_and_tls11_client_hellos_get_a_protocol_version_alert(start_tls, pki):
    srv = start_tls()
    for version in (0x0301, 0x0302):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(hello_bytes(version))
            data = read_until_close(s)
        # an alert record (21), fatal (2), protocol_version (70); never a ServerHello (22 .. 2)
        assert data[:1] == b"\x15" and data[5:7] == b"\x02\x46", (hex(version), data[:16])
    # the same hello at TLS 1.2 gets a ServerHello: the refusal above is about the version
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(hello_bytes(0x0303))
        s.settimeout(5)
        data = s.recv(16)
    assert data[:1] == b"\x16" and data[5:6] == b"\x02", data
    assert srv.get("/healthz").status_code == 200


def test_a_crowd_of_handshakes_does_not_stall_an_established_client(start_tls, pki):
    """Eight threads doing full handshakes (and junk ClientHellos) as fast as
    they can for three seconds; a client on an established keep-alive
    connection is answered throughout."""
    srv = start_tls()
    stop = threading.Event()
    made = [0]

    def crowd(junk):
        ctx = client_ctx(pki)
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
                    if junk:
                        raw.sendall(b"\x16\x03\x01\x00\x30" + b"\x01" * 48)
                    else:
                        ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
                made[0] += 1
            except (OSError, ssl.SSLError):
                pass

    ts = [threading.Thread(target=crowd, args=(i % 4 == 3,)) for i in range(8)]
    worst = 0.0
    with tls_connect(srv, client_ctx(pki)) as s:
        for t in ts:
            t.start()
        try:
            t_end = time.monotonic() + 3
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                buf = b""
                while b'{"status":"ok"}' not in buf:
                    chunk = s.recv(4096)
                    assert chunk, buf
                    buf += chunk
                worst = max(worst, time.monotonic() - t0)
                time.sleep(0.05)
        finally:
            stop.set()
            for t in ts:
                t.join()
    assert made[0] > 20, made
    assert worst < 1.5, worst
    assert srv.running
