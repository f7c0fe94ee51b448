# SPDX-License-Identifier: MIT
"""Certificate chains an attacker builds against tls_client_auth (RFC 8705
§2.1.1), on the real binary over curfew's TLS listener and from a trusted
proxy: a genuine intermediate CA works, while a leaf that signs another leaf
(basicConstraints CA:FALSE), a certificate not yet valid, and a chain whose
intermediate the proxy never forwarded are refused. Certificates are made
with Python's `cryptography`, independently of curfew's OpenSSL code."""

import datetime
import urllib.parse

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from conftest import CurfewServer, assert_json_error, fail_on_sanitizer_reports, jwt_parts
from tlsutil import Pki, name, x5t_s256

DN = "CN=svc,O=curfew tests"


def make(subject, issuer_name, sign_key, ca=False, start=-300, days=30, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + datetime.timedelta(seconds=start))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True, crl_sign=True,
                                          encipher_only=False, decipher_only=False), critical=True)
    return b.sign(sign_key or key, hashes.SHA256()), key


def write(d, stem, chain, key):
    c, k = d / f"{stem}.crt", d / f"{stem}.key"
    c.write_bytes(b"".join(x.public_bytes(serialization.Encoding.PEM) for x in chain))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("chain")
    p = Pki(d)
    p.server = p.issue("server", "127.0.0.1", server=True)
    good = name(("O", "curfew tests"), ("CN", "svc"))
    inter_name = name(("O", "curfew tests"), ("CN", "intermediate"))
    inter, inter_key = make(inter_name, p.ca_name, p.ca_key, ca=True)
    leaf, leaf_key = make(good, inter_name, inter_key)
    p.chained = write(d, "chained", [leaf, inter], leaf_key)
    p.leaf_only = write(d, "leaf_only", [leaf], leaf_key)
    # a plain client certificate of the CA (CA:FALSE) used as an issuer
    fake_name = name(("O", "curfew tests"), ("CN", "alice"))
    fake_ca, fake_key = make(fake_name, p.ca_name, p.ca_key)
    forged, forged_key = make(good, fake_name, fake_key)
    p.leaf_signed = write(d, "leaf_signed", [forged, fake_ca], forged_key)
    early, early_key = make(good, p.ca_name, p.ca_key, start=86400)
    p.not_yet = write(d, "not_yet", [early], early_key)
    return p


def config(pki, tls=True):
    y = (f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n  client_ca: {pki.ca}\n"
         f"  client_certs: optional\n") if tls else f"mtls:\n  client_ca: {pki.ca}\n"
    y += ("clients:\n"
          "  - id: dn\n    type: confidential\n    token_endpoint_auth_method: tls_client_auth\n"
          f"    tls_client_auth_subject_dn: '{DN}'\n    allowed_grants: [client_credentials]\n")
    if not tls:
        y += "risk: { trusted_proxies: [127.0.0.1/32] }\n"
    return y


@pytest.fixture(scope="module")
def servers(pki, tmp_path_factory):
    started = {}

    def get(kind):
        if kind not in started:
            srv = CurfewServer(tmp_path_factory.mktemp(kind))
            if kind == "tls":
                srv.scheme = "https"
                srv.http.verify = str(pki.ca)
            srv.start(config(pki, tls=kind == "tls"))
            started[kind] = srv
        return started[kind]

    yield get
    for s in started.values():
        s.stop()
    fail_on_sanitizer_reports(started.values())


def token(srv, pki, cert=None, headers=None):
    return requests.post(srv.url("/oauth/token"),
                         data={"grant_type": "client_credentials", "client_id": "dn"},
                         headers=headers or {}, verify=str(pki.ca),
                         cert=tuple(map(str, cert)) if cert else None, timeout=5)


def test_certificate_under_an_intermediate_ca_authenticates_over_tls(servers, pki):
    srv = servers("tls")
    r = token(srv, pki, pki.chained)
    assert r.status_code == 200, r.text
    leaf_pem = pki.leaf_only[0]
    assert jwt_parts(r.json()["access_token"])[1]["cnf"] == {"x5t#S256": x5t_s256(leaf_pem)}


@pytest.mark.parametrize("which", ["leaf_signed", "not_yet", "leaf_only"])
def test_forged_early_or_incomplete_chains_are_refused_over_tls(servers, pki, which):
    """leaf_only: the intermediate is neither sent nor in tls.client_ca."""
    r = token(servers("tls"), pki, getattr(pki, which))
    body = assert_json_error(r, 401, error="invalid_client", reason="client_cert_invalid")
    assert "access_token" not in body


@pytest.mark.parametrize("which", ["leaf_signed", "not_yet", "leaf_only", "chained"])
def test_forwarded_chains_are_checked_against_mtls_client_ca(servers, pki, which):
    """A trusted proxy forwards the leaf alone ($ssl_client_escaped_cert):
    it must chain to mtls.client_ca by itself (docs/security.md), so a leaf
    under an intermediate missing there is refused, as are forged ones; a
    header holding the whole chain is read for its first certificate."""
    pem = getattr(pki, which)[0].read_text()
    h = {"X-SSL-Client-Cert": urllib.parse.quote(pem, safe="")}
    r = token(servers("plain"), pki, headers=h)
    assert_json_error(r, 401, error="invalid_client", reason="client_cert_invalid")
