# SPDX-License-Identifier: MIT
"""Certificate-bound access tokens (RFC 8705 §3) on the real binary: a
client_credentials token requested over curfew's TLS listener with a client
certificate carries cnf.x5t#S256 (computed here independently) and is
accepted only with that certificate, on the TLS listener or forwarded by a
trusted proxy as nginx's $ssl_client_escaped_cert; another certificate, none,
or a forwarded one from an untrusted peer is cert_mismatch."""

import urllib.parse

import pytest
import requests

from conftest import CurfewServer, assert_json_error, basic_auth, fail_on_sanitizer_reports, hash_secret, jwt_parts
from tlsutil import Pki, x5t_s256

SECRET = "machine-secret-0123456789"


@pytest.fixture
def pki(tmp_path):
    p = Pki(tmp_path / "pki")
    p.server = p.issue("server", "127.0.0.1", server=True)
    p.client = p.issue("alice", "alice", client=True)
    p.other = p.issue("bob", "bob", client=True)
    p.selfsigned = p.issue("mallory", "mallory", client=True, self_signed=True)
    return p


def config(pki, trusted=None):
    y = (f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n  client_ca: {pki.ca}\n"
         f"  client_certs: optional\n"
         f"clients:\n  - id: machine\n    type: confidential\n"
         f"    secret_hash: \"{hash_secret(SECRET)}\"\n    allowed_grants: [client_credentials]\n")
    if trusted:
        y += f"risk: {{ trusted_proxies: [{trusted}] }}\n"
    return y


@pytest.fixture
def start(tmp_path, pki):
    servers = []

    def _start(trusted=None):
        srv = CurfewServer(tmp_path / f"m{len(servers)}")
        srv.scheme = "https"
        srv.http.verify = str(pki.ca)
        servers.append(srv)
        srv.start(config(pki, trusted))
        return srv

    yield _start
    for s in servers:
        s.stop()
    fail_on_sanitizer_reports(servers)


def token(srv, pki, cert):
    r = requests.post(srv.url("/oauth/token"), data={"grant_type": "client_credentials"},
                      headers=basic_auth("machine", SECRET), verify=str(pki.ca),
                      cert=tuple(map(str, cert)) if cert else None, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def check(srv, pki, at, cert=None, headers=None):
    h = {"Authorization": f"Bearer {at}"}
    h.update(headers or {})
    return requests.get(srv.url("/v1/check"), headers=h, verify=str(pki.ca),
                        cert=tuple(map(str, cert)) if cert else None, timeout=5)


@pytest.mark.parametrize("which", ["client", "selfsigned"])
def test_token_bound_to_the_certificate_it_was_requested_with(start, pki, which):
    srv = start()
    cert = getattr(pki, which)
    body = token(srv, pki, cert)
    assert body["token_type"] == "Bearer"
    assert jwt_parts(body["access_token"])[1]["cnf"] == {"x5t#S256": x5t_s256(cert[0])}
    r = check(srv, pki, body["access_token"], cert)
    assert r.status_code == 200, r.text
    assert r.headers["X-Curfew-Subject"] == "machine"


@pytest.mark.parametrize("present", [None, "other", "selfsigned"])
def test_bound_token_refused_with_another_certificate_or_none(start, pki, present):
    srv = start()
    at = token(srv, pki, pki.client)["access_token"]
    r = check(srv, pki, at, getattr(pki, present) if present else None)
    body = assert_json_error(r, 401, reason="cert_mismatch")
    assert r.headers["WWW-Authenticate"].startswith("Bearer "), r.headers
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert "X-Curfew-Subject" not in r.headers, body


def test_token_without_a_certificate_is_unbound(start, pki):
    srv = start()
    body = token(srv, pki, None)
    assert "cnf" not in jwt_parts(body["access_token"])[1]
    assert check(srv, pki, body["access_token"], pki.other).status_code == 200


def escaped(cert_path):
    """nginx's $ssl_client_escaped_cert: the PEM, URL-encoded."""
    return urllib.parse.quote(cert_path.read_text(), safe="")


def test_certificate_forwarded_by_a_trusted_proxy(start, pki):
    srv = start(trusted="127.0.0.1/32")
    at = token(srv, pki, pki.client)["access_token"]
    # the proxy terminated TLS and forwards the client's certificate
    assert check(srv, pki, at, headers={"X-SSL-Client-Cert": escaped(pki.client[0])}).status_code == 200
    r = check(srv, pki, at, headers={"X-SSL-Client-Cert": escaped(pki.other[0])})
    assert_json_error(r, 401, reason="cert_mismatch")
    for junk in ("", "-----BEGIN CERTIFICATE-----%0Agarbage%0A-----END CERTIFICATE-----", "x" * 9000):
        r = check(srv, pki, at, headers={"X-SSL-Client-Cert": junk})
        assert r.status_code in (401, 431, 400), r.text
        assert r.status_code != 200


def test_forwarded_certificate_from_an_untrusted_peer_is_ignored(start, pki):
    srv = start()  # no trusted proxies: a client cannot claim a certificate in a header
    at = token(srv, pki, pki.client)["access_token"]
    r = check(srv, pki, at, headers={"X-SSL-Client-Cert": escaped(pki.client[0])})
    assert_json_error(r, 401, reason="cert_mismatch")
