# SPDX-License-Identifier: MIT
"""HTTPS on the API listener (issue 14): curfew's own TLS, verified by
independent clients (Python's ssl module, requests, `openssl s_client`), the
refusals (old protocol versions, plain HTTP on the TLS port, missing client
certificates, broken files named FILE:LINE), keep-alive, pipelining and large
bodies through TLS, a stalled handshake, and a certificate reloaded on SIGHUP
without dropping open connections."""

import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (CurfewServer, fail_on_sanitizer_reports, free_port, run_curfew,
                      wait_until)
from tlsutil import Pki


@pytest.fixture
def pki(tmp_path):
    p = Pki(tmp_path / "pki")
    p.server = p.issue("server", "127.0.0.1", server=True)
    p.client = p.issue("alice", "alice", client=True)
    p.selfsigned = p.issue("mallory", "mallory", client=True, self_signed=True)
    return p


def tls_yaml(pki, extra="", client_certs=None, min_version=None):
    y = f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n  client_ca: {pki.ca}\n"
    if client_certs:
        y += f"  client_certs: {client_certs}\n"
    if min_version:
        y += f"  min_version: '{min_version}'\n"
    return y + extra


@pytest.fixture
def start_tls(request, tmp_path, pki):
    """Factory: an HTTPS curfew (scheme https, requests verifying against the test CA)."""
    servers = []

    def _start(config_yaml=None, cert=None, **kw):
        srv = CurfewServer(tmp_path / f"tls{len(servers)}")
        srv.scheme = "https"
        srv.http.verify = str(pki.ca)
        srv.http.cert = tuple(map(str, cert)) if cert else None
        servers.append(srv)
        srv.start(config_yaml if config_yaml is not None else tls_yaml(pki), **kw)
        return srv

    yield _start
    for s in servers:
        s.stop()
    fail_on_sanitizer_reports(servers)


def client_ctx(pki, cert=None, **kw):
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    for k, v in kw.items():
        setattr(ctx, k, v)
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def tls_connect(srv, ctx, timeout=5):
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def read_until_close(s, limit=1 << 20):
    buf = b""
    try:
        while len(buf) < limit:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except (ssl.SSLError, ConnectionResetError, socket.timeout):
        pass
    return buf


def statuses(buf):
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", buf)]


def test_https_verified_by_python_ssl_and_requests(start_tls, pki):
    srv = start_tls()
    r = srv.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    with tls_connect(srv, client_ctx(pki)) as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        cipher = s.cipher()[0]
        assert "GCM" in cipher or "CHACHA20" in cipher, cipher
        # The certificate verified against the test CA for 127.0.0.1 (create_default_context
        # checks the host name): the server presented the configured chain.
        assert s.getpeercert()["subject"][-1][0][1] == "127.0.0.1"
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(read_until_close(s)) == [200]
    # The whole API is there: an admin call and a check over HTTPS.
    tok = srv.new_session(sub="alice")["access_token"]
    assert srv.check(tok).status_code == 200


def test_openssl_s_client(start_tls, pki):
    srv = start_tls()
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}",
                        "-CAfile", str(pki.ca), "-verify_return_error", "-servername", "localhost",
                        "-ign_eof"],
                       input=b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    out = p.stdout.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in out, out[-2000:]
    assert "HTTP/1.1 200 OK" in out and '{"status":"ok"}' in out, out[-2000:]
    # TLS 1.1 and 1.0 are refused by the server (not merely by the client's defaults).
    for flag in ("-tls1_1", "-tls1"):
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", flag,
                            "-cipher", "DEFAULT:@SECLEVEL=0"], input=b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        assert p.returncode != 0 and "HTTP/1.1" not in p.stdout.decode(errors="replace")
    assert srv.get("/healthz").status_code == 200


def test_min_version_13_refuses_tls12(start_tls, pki):
    srv = start_tls(tls_yaml(pki, min_version="1.3"))
    ctx = client_ctx(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError):
        tls_connect(srv, ctx).close()
    with tls_connect(srv, client_ctx(pki)) as s:
        assert s.version() == "TLSv1.3"
    # CBC and non-forward-secret TLS 1.2 suites are not offered at all.
    srv2 = start_tls()
    for cipher in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"):
        ctx = client_ctx(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(cipher)
        with pytest.raises(ssl.SSLError):
            tls_connect(srv2, ctx).close()


def test_plain_http_and_garbage_on_tls_port(start_tls, pki):
    srv = start_tls()
    for junk in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                 b"\x16\x03\x03\xff\xff" + b"A" * 70000, b"\x00" * 100):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(junk)
            data = read_until_close(s)
            assert b"HTTP/1.1 200" not in data and b"HTTP/1.1 500" not in data
    assert srv.get("/healthz").status_code == 200
    assert srv.running


def test_keepalive_pipelining_and_large_body_over_tls(start_tls, pki):
    srv = start_tls()
    with tls_connect(srv, client_ctx(pki)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 20 +
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(read_until_close(s)) == [200] * 21
    # A body spanning several TLS records, and one over limits.max_body_bytes.
    tok = srv.new_session(sub="bob")
    big = {"sub": "carol", "roles": ["r%d" % i for i in range(8)], "pad": "x" * 12000}
    r = srv.admin("POST", "/v1/sessions", json=big)
    assert r.status_code in (201, 400), r.text
    r = srv.admin("POST", "/v1/sessions", json={"sub": "d", "pad": "y" * 40000})
    assert r.status_code == 413 and r.json()["reason"] == "payload_too_large"
    assert srv.check(tok["access_token"]).status_code == 200


def test_stalled_handshake_times_out_and_others_are_served(start_tls, pki):
    srv = start_tls(tls_yaml(pki, extra="limits:\n  client_timeout: 1s\n"))
    stalled = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
        stalled.append(s)
    assert srv.get("/healthz").status_code == 200
    t0 = time.monotonic()
    for s in stalled:
        s.settimeout(5)
        read_until_close(s)
        s.close()
    assert time.monotonic() - t0 < 4.5


def test_client_certificates_required(start_tls, pki):
    srv = start_tls(tls_yaml(pki, client_certs="required"), cert=pki.client)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with tls_connect(srv, client_ctx(pki)) as s:  # TLS 1.3: the refusal comes on first read
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if not s.recv(100):
                raise ConnectionResetError("closed")
    with tls_connect(srv, client_ctx(pki, cert=pki.client)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(read_until_close(s)) == [200]


def test_client_certificates_optional(start_tls, pki):
    srv = start_tls(tls_yaml(pki, client_certs="optional"))
    for cert in (None, pki.client, pki.selfsigned):
        with tls_connect(srv, client_ctx(pki, cert=cert)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert statuses(read_until_close(s)) == [200]


def test_sighup_reloads_certificate_keeping_open_connections(start_tls, pki, tmp_path):
    srv = start_tls()
    old = tls_connect(srv, client_ctx(pki))
    old.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in old.recv(4096)
    # A renewed certificate from another CA, written over the same files.
    pki2 = Pki(tmp_path / "pki2", name="ca2")
    c, k = pki2.issue("server", "127.0.0.1", server=True)
    pki.server[0].write_bytes(c.read_bytes())
    pki.server[1].write_bytes(k.read_bytes())
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=tls_reloaded" in srv.stderr_since_start(), 5)
    with tls_connect(srv, client_ctx(pki2)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(read_until_close(s)) == [200]
    with pytest.raises(ssl.SSLError):
        tls_connect(srv, client_ctx(pki)).close()
    old.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(read_until_close(old)) == [200]
    old.close()
    # A broken file on reload keeps the previous certificate and says why.
    pki.server[1].write_text("not a key\n")
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=tls_reload_failed" in srv.stderr_since_start(), 5)
    with tls_connect(srv, client_ctx(pki2)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(read_until_close(s)) == [200]


@pytest.mark.parametrize("case", ["missing_key", "garbage_cert", "mismatch", "key_only",
                                  "ca_without_cert", "bad_ca", "bad_version", "bad_mode"])
def test_config_errors_name_file_and_line(tmp_path, pki, case):
    other_key = pki.issue("other", "x")[1]
    bad = tmp_path / "garbage.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    text, key, want = {
        "missing_key": (f"tls:\n  cert: {pki.server[0]}\n  key: {tmp_path}/nope.key\n", "tls.key",
                        "cannot open"),
        "garbage_cert": (f"tls:\n  cert: {bad}\n  key: {pki.server[1]}\n", "tls.cert",
                         "no PEM certificate"),
        "mismatch": (f"tls:\n  cert: {pki.server[0]}\n  key: {other_key}\n", "tls.key",
                     "does not match"),
        "key_only": (f"tls:\n  key: {pki.server[1]}\n", "tls.key", "only meaningful"),
        "ca_without_cert": (f"tls:\n  client_ca: {pki.ca}\n", "tls.client_ca", "only meaningful"),
        "bad_ca": (f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n  client_ca: {bad}\n",
                   "tls.client_ca", "no PEM CA"),
        "bad_version": (f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n"
                        "  min_version: '1.1'\n", "tls.min_version", ""),
        "bad_mode": (f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n"
                     "  client_certs: sometimes\n", "tls.client_certs", ""),
    }[case]
    p = tmp_path / "c.yaml"
    p.write_text(text)
    line = next(i + 1 for i, l in enumerate(text.splitlines())
                if l.strip().startswith(key.split(".")[1] + ":"))
    r = run_curfew("config", "check", str(p))
    assert r.returncode != 0, r.stdout
    assert f"{p}:{line}: {key}" in r.stderr and want in r.stderr, r.stderr
    # serve refuses it the same way, before listening.
    r = run_curfew("serve", "--config", str(p), "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                   str(tmp_path / "d"), timeout=20)
    assert r.returncode != 0 and f"{p}:{line}: {key}" in r.stderr, r.stderr


def test_cli_over_https_with_cacert(start_tls, pki, tmp_path):
    srv = start_tls()
    srv.new_session(sub="alice")
    env = {"CURFEW_ADMIN_KEY": srv.admin_key}
    url = f"https://127.0.0.1:{srv.port}"
    r = run_curfew("sessions", "ls", "--server", url, "--cacert", str(pki.ca), "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert "alice" in r.stdout
    r = run_curfew("stats", "--cacert=" + str(pki.ca), "--server", f"https://localhost:{srv.port}",
                   env=env)
    assert r.returncode == 0, r.stderr
    # Without the CA (the system's CAs do not know the test CA), with another CA, and with a
    # host name the certificate does not carry: refused before the admin key is sent.
    other = Pki(tmp_path / "other", name="other")
    for args in ([], ["--cacert", str(other.ca)]):
        r = run_curfew("sessions", "ls", "--server", url, *args, env=env)
        assert r.returncode != 0 and "certificate not trusted" in r.stderr, r.stderr
    r = run_curfew("sessions", "ls", "--server", f"https://127.0.0.2:{srv.port}", "--cacert",
                   str(pki.ca), env=env)
    assert r.returncode != 0 and "curfew: cannot connect to" in r.stderr, r.stderr
    r = run_curfew("sessions", "ls", "--server", url, "--cacert", str(tmp_path / "nope.pem"),
                   env=env)
    assert r.returncode == 2 and "--cacert: cannot read" in r.stderr, r.stderr
    # http:// to the TLS port: a clear failure, no hang.
    r = run_curfew("stats", "--server", f"http://127.0.0.1:{srv.port}", env=env, timeout=20)
    assert r.returncode != 0
