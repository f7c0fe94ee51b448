# SPDX-License-Identifier: MIT
"""A client certificate chain has a size limit on curfew's TLS listener
(docs/security.md): at most 10 certificates and 32 KiB of Certificate
message. A client sending more (many certificates, or one enormous one) fails
the handshake, is refused from the message's length before it is buffered,
and the next client is served; a flood of megabyte chains does not grow the
server's memory. Chains made with Python's `cryptography`, sent by Python's
ssl (OpenSSL as a client sends every certificate of its chain file)."""

import datetime
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import curfew_bin, rss_kib
from test_tls import client_ctx, pki, read_until_close, start_tls, statuses, tls_connect, tls_yaml  # noqa: F401


def asan_build():
    libs = subprocess.run(["ldd", str(curfew_bin())], capture_output=True, text=True).stdout
    return "libasan" in libs


def junk_cert(i, extra_sans=0):
    """A self-signed certificate; @extra_sans DNS names make it large."""
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, f"junk{i}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1)))
    if extra_sans:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(f"host{n:05d}.padding.example") for n in range(extra_sans)]), critical=False)
    return b.sign(key, hashes.SHA256()), key


def chain_file(pki, stem, leaf_cert, leaf_key, extra):
    """PEM: @leaf_cert then the certificates of @extra, and its key."""
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    c, k = pki.dir / f"{stem}.crt", pki.dir / f"{stem}.key"
    c.write_bytes(pem(leaf_cert) + b"".join(pem(x) for x in extra))
    k.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    return c, k


def alice(pki):
    cert = x509.load_pem_x509_certificate(pki.client[0].read_bytes())
    key = serialization.load_pem_private_key(pki.client[1].read_bytes(), None)
    return cert, key


def served(srv, pki, cert):
    """True when a client presenting @cert gets an answer (TLS 1.3: a refused
    certificate shows on the first read, after the client's handshake)."""
    try:
        with tls_connect(srv, client_ctx(pki, cert=cert)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return statuses(read_until_close(s)) == [200]
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout):
        return False


@pytest.fixture
def srv(start_tls, pki):
    return start_tls(tls_yaml(pki, client_certs="optional"))


def test_ten_certificates_are_served_eleven_are_refused(srv, pki):
    leaf, key = alice(pki)
    extra = [junk_cert(i)[0] for i in range(10)]
    ten = chain_file(pki, "ten", leaf, key, extra[:9])
    eleven = chain_file(pki, "eleven", leaf, key, extra)
    assert served(srv, pki, ten)
    assert not served(srv, pki, eleven)
    assert served(srv, pki, pki.client)  # the next client
    many = chain_file(pki, "many", leaf, key, extra * 4)
    assert not served(srv, pki, many)
    assert served(srv, pki, None) and served(srv, pki, pki.client)


def test_one_enormous_certificate_is_refused(srv, pki):
    big, big_key = junk_cert(0, extra_sans=1400)  # about 38 KB of DER: above 32 KiB, below OpenSSL's default 100 KiB
    assert len(big.public_bytes(serialization.Encoding.DER)) > 34000
    assert not served(srv, pki, chain_file(pki, "big", big, big_key, []))
    assert served(srv, pki, pki.client)


def test_megabyte_chains_do_not_grow_the_server(srv, pki):
    leaf, key = alice(pki)
    filler, _ = junk_cert(1, extra_sans=200)  # ~7 KB each
    mega = chain_file(pki, "mega", leaf, key, [filler] * 200)  # ~1.4 MB
    assert served(srv, pki, pki.client)
    for _ in range(5):  # the allocator's first pages for a refused handshake
        assert not served(srv, pki, mega)
    before = rss_kib(srv.proc.pid)
    for _ in range(40):
        assert not served(srv, pki, mega)
    grown = rss_kib(srv.proc.pid) - before
    # 40 x 1.4 MB were sent. An ASan build keeps freed blocks in its quarantine.
    bound = 32 * 1024 if asan_build() else 4 * 1024
    assert grown < bound, f"RSS grew {grown} KiB over 40 refused 1.4 MB chains"
    assert served(srv, pki, pki.client)
