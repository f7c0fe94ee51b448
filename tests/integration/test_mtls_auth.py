# SPDX-License-Identifier: MIT
"""Client authentication with a TLS client certificate (RFC 8705 §2) on the
real binary, written as an attacker would try it: confidential clients
registered with token_endpoint_auth_method tls_client_auth (a subject DN or a
SAN, the certificate chained to the configured CA) or
self_signed_tls_client_auth (a pinned x5t#S256). Certificates are made here
with Python's `cryptography`, independently of curfew's OpenSSL code. The
certificate comes from curfew's own TLS listener or, from a trusted proxy
only, in X-SSL-Client-Cert. Tokens issued this way are certificate-bound."""

import ipaddress
import urllib.parse

import pytest
import requests
from cryptography import x509

from conftest import (CurfewServer, assert_json_error, basic_auth, fail_on_sanitizer_reports,
                      free_port, hash_secret, jwt_parts, run_curfew)
from tlsutil import Pki, issue_custom, name, x5t_s256

DN = "CN=svc,O=curfew tests"  # RFC 4514: most specific RDN first


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    p = Pki(d)
    p.server = p.issue("server", "127.0.0.1", server=True)
    rogue = Pki(d / "rogue", name="rogue")  # another CA, same names
    good = name(("O", "curfew tests"), ("CN", "svc"))
    dns = x509.DNSName("svc.example")
    uri = x509.UniformResourceIdentifier("spiffe://example.org/svc")
    p.good = issue_custom(p, "good", good, sans=[dns, uri])
    p.good2 = issue_custom(p, "good2", good)  # the same client, a second certificate
    p.wrong_cn = issue_custom(p, "wrong_cn", name(("O", "curfew tests"), ("CN", "svc2")))
    p.reordered = issue_custom(p, "reordered", name(("CN", "svc"), ("O", "curfew tests")))
    # one RDN whose value holds the text of the whole DN: a string compare of
    # unescaped DNs would take it for CN=svc,O=curfew tests
    p.escaped = issue_custom(p, "escaped", name(("CN", "svc,O=curfew tests")))
    p.extra_rdn = issue_custom(p, "extra", name(("O", "curfew tests"), ("OU", "x"), ("CN", "svc")))
    p.rogue = issue_custom(p, "rogue", good, sans=[dns, uri], signer=rogue)
    p.expired = issue_custom(p, "expired", good, sans=[dns, uri], expired=True)
    p.self_good = issue_custom(p, "self_good", good, self_signed=True)
    p.self_other = issue_custom(p, "self_other", good, self_signed=True)
    p.self_expired = issue_custom(p, "self_expired", good, self_signed=True, expired=True)
    p.san_evil = issue_custom(p, "san_evil", name(("CN", "evil")),
                              sans=[x509.DNSName("svc.example.evil.test"),
                                    x509.DNSName("*.example"),
                                    x509.UniformResourceIdentifier("spiffe://example.org/svc/x")])
    p.san_dns = issue_custom(p, "san_dns", name(("CN", "other")), sans=[x509.DNSName("SVC.example")])
    p.san_ip = issue_custom(p, "san_ip", name(("CN", "ip")),
                            sans=[x509.IPAddress(ipaddress.ip_address("10.1.2.3"))])
    return p


def config(pki, trusted=None, tls=True):
    y = ""
    if tls:
        y += (f"tls:\n  cert: {pki.server[0]}\n  key: {pki.server[1]}\n  client_ca: {pki.ca}\n"
              f"  client_certs: optional\n")
    else:
        y += f"mtls:\n  client_ca: {pki.ca}\n"
    y += ("clients:\n"
          "  - id: dn\n    type: confidential\n    token_endpoint_auth_method: tls_client_auth\n"
          f"    tls_client_auth_subject_dn: '{DN}'\n    allowed_grants: [client_credentials]\n"
          "  - id: dns\n    type: confidential\n    token_endpoint_auth_method: tls_client_auth\n"
          "    tls_client_auth_san_dns: svc.example\n    allowed_grants: [client_credentials]\n"
          "  - id: uri\n    type: confidential\n    token_endpoint_auth_method: tls_client_auth\n"
          "    tls_client_auth_san_uri: spiffe://example.org/svc\n"
          "    allowed_grants: [client_credentials]\n"
          "  - id: ip\n    type: confidential\n    token_endpoint_auth_method: tls_client_auth\n"
          "    tls_client_auth_san_ip: 10.1.2.3\n    allowed_grants: [client_credentials]\n"
          "  - id: pinned\n    type: confidential\n"
          "    token_endpoint_auth_method: self_signed_tls_client_auth\n"
          f"    tls_client_auth_x5t_s256: {x5t_s256(pki.self_good[0])}\n"
          "    allowed_grants: [client_credentials]\n"
          "  - id: secret\n    type: confidential\n"
          f"    secret_hash: \"{hash_secret('s3cret-s3cret')}\"\n"
          "    allowed_grants: [client_credentials]\n")
    if trusted:
        y += f"risk: {{ trusted_proxies: [{trusted}] }}\n"
    return y


@pytest.fixture(scope="module")
def servers(pki, tmp_path_factory):
    started = {}

    def get(kind):
        if kind not in started:
            srv = CurfewServer(tmp_path_factory.mktemp(kind))
            if kind != "plain_proxy":
                srv.scheme = "https"
                srv.http.verify = str(pki.ca)
            srv.start(config(pki, trusted="127.0.0.1/32" if "proxy" in kind else None,
                             tls=kind != "plain_proxy"))
            started[kind] = srv
        return started[kind]

    yield get
    for s in started.values():
        s.stop()
    fail_on_sanitizer_reports(started.values())


def token(srv, pki, client_id, cert=None, headers=None, data=None):
    d = {"grant_type": "client_credentials", "client_id": client_id}
    d.update(data or {})
    return requests.post(srv.url("/oauth/token"), data=d, headers=headers or {},
                         verify=str(pki.ca), cert=tuple(map(str, cert)) if cert else None,
                         timeout=5)


def issued(r):
    assert r.status_code == 200, r.text
    return r.json()


def refused(r, reason):
    body = assert_json_error(r, 401, error="invalid_client", reason=reason)
    assert "access_token" not in body
    return body


# -- tls_client_auth by subject DN -------------------------------------------------------

def test_subject_dn_client_gets_a_certificate_bound_token(servers, pki):
    srv = servers("tls")
    for cert in (pki.good, pki.good2):
        body = issued(token(srv, pki, "dn", cert))
        at = body["access_token"]
        claims = jwt_parts(at)[1]
        assert claims["sub"] == "dn" and claims["cnf"] == {"x5t#S256": x5t_s256(cert[0])}
        ok = requests.get(srv.url("/v1/check"), headers={"Authorization": f"Bearer {at}"},
                          verify=str(pki.ca), cert=tuple(map(str, cert)), timeout=5)
        assert ok.status_code == 200, ok.text
        other = pki.good2 if cert == pki.good else pki.good
        r = requests.get(srv.url("/v1/check"), headers={"Authorization": f"Bearer {at}"},
                         verify=str(pki.ca), cert=tuple(map(str, other)), timeout=5)
        assert_json_error(r, 401, reason="cert_mismatch")


@pytest.mark.parametrize("which", ["wrong_cn", "reordered", "escaped", "extra_rdn", "san_dns"])
def test_a_certificate_with_another_dn_is_refused(servers, pki, which):
    refused(token(servers("tls"), pki, "dn", getattr(pki, which)), "client_cert_mismatch")


@pytest.mark.parametrize("which", ["rogue", "expired", "self_good"])
def test_a_certificate_not_chaining_to_client_ca_or_expired_is_refused(servers, pki, which):
    # same subject DN and SANs as the good one: only the chain or the dates differ
    refused(token(servers("tls"), pki, "dn", getattr(pki, which)), "client_cert_invalid")
    refused(token(servers("tls"), pki, "dns", getattr(pki, which)), "client_cert_invalid")


def test_no_certificate_is_refused(servers, pki):
    refused(token(servers("tls"), pki, "dn"), "client_cert_required")


@pytest.mark.parametrize("how", ["post", "basic", "basic_empty", "secret_of_another"])
def test_a_secret_never_stands_in_for_or_beside_the_certificate(servers, pki, how):
    srv = servers("tls")
    headers, data = {}, {}
    if how == "post":
        data = {"client_secret": "anything"}
    elif how == "basic":
        headers = basic_auth("dn", "anything")
    elif how == "basic_empty":
        headers = basic_auth("dn", "")
    else:  # the valid secret of the secret client, with the tls client's id
        data = {"client_secret": "s3cret-s3cret"}
    for cert in (None, pki.good):
        refused(token(srv, pki, "dn", cert, headers=headers, data=data), "client_cert_required")
    # and the secret client is not reachable with a certificate instead of its secret
    r = token(srv, pki, "secret", pki.good)
    assert_json_error(r, 401, error="invalid_client", reason="invalid_client")


def test_unknown_client_with_a_good_certificate_is_refused(servers, pki):
    assert_json_error(token(servers("tls"), pki, "nobody", pki.good), 401, error="invalid_client")


# -- tls_client_auth by SAN ---------------------------------------------------------------

def test_san_clients(servers, pki):
    srv = servers("tls")
    issued(token(srv, pki, "dns", pki.good))
    issued(token(srv, pki, "dns", pki.san_dns))  # dNSName compares case-insensitively
    issued(token(srv, pki, "uri", pki.good))
    issued(token(srv, pki, "ip", pki.san_ip))
    # suffixes, wildcards, longer URIs and names in the CN are not the SAN
    for client in ("dns", "uri", "ip"):
        refused(token(srv, pki, client, pki.san_evil), "client_cert_mismatch")
    refused(token(srv, pki, "uri", pki.san_dns), "client_cert_mismatch")
    refused(token(srv, pki, "ip", pki.good), "client_cert_mismatch")


# -- self_signed_tls_client_auth -----------------------------------------------------------

def test_self_signed_client_by_thumbprint(servers, pki):
    srv = servers("tls")
    body = issued(token(srv, pki, "pinned", pki.self_good))
    assert jwt_parts(body["access_token"])[1]["cnf"] == {"x5t#S256": x5t_s256(pki.self_good[0])}
    # same subject, another key: another thumbprint
    refused(token(srv, pki, "pinned", pki.self_other), "client_cert_mismatch")
    # a CA-issued certificate with the same subject is not the pinned one either
    refused(token(srv, pki, "pinned", pki.good), "client_cert_mismatch")
    refused(token(srv, pki, "pinned", pki.self_expired), "client_cert_invalid")
    refused(token(srv, pki, "pinned"), "client_cert_required")
    refused(token(srv, pki, "pinned", pki.self_good, data={"client_secret": "x"}),
            "client_cert_required")


# -- through a proxy -------------------------------------------------------------------------

def escaped(cert_path):
    """nginx's $ssl_client_escaped_cert: the PEM, URL-encoded."""
    return urllib.parse.quote(cert_path.read_text(), safe="")


def test_forwarded_certificate_from_an_untrusted_peer_is_ignored(servers, pki):
    srv = servers("tls")  # no trusted proxies
    for client, cert in (("dn", pki.good), ("pinned", pki.self_good)):
        r = token(srv, pki, client, headers={"X-SSL-Client-Cert": escaped(cert[0])})
        refused(r, "client_cert_required")


def test_forwarded_certificate_from_a_trusted_proxy(servers, pki):
    # curfew behind a TLS-terminating proxy: plain HTTP, mtls.client_ca checks the chain
    srv = servers("plain_proxy")

    def fwd(client, cert, **kw):
        return token(srv, pki, client, headers={"X-SSL-Client-Cert": escaped(cert[0])}, **kw)

    body = issued(fwd("dn", pki.good))
    at = body["access_token"]
    assert jwt_parts(at)[1]["cnf"] == {"x5t#S256": x5t_s256(pki.good[0])}
    issued(fwd("pinned", pki.self_good))
    issued(fwd("uri", pki.good))
    refused(fwd("dn", pki.reordered), "client_cert_mismatch")
    refused(fwd("dn", pki.rogue), "client_cert_invalid")
    refused(fwd("dn", pki.expired), "client_cert_invalid")
    refused(fwd("dn", pki.self_good), "client_cert_invalid")
    refused(fwd("pinned", pki.self_other), "client_cert_mismatch")
    refused(fwd("dn", pki.good, data={"client_secret": "x"}), "client_cert_required")
    # two headers (the client's and the proxy's), garbage, or nothing: no certificate
    two = [("X-SSL-Client-Cert", escaped(pki.good[0])), ("X-SSL-Client-Cert", escaped(pki.good[0]))]
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.putrequest("POST", "/oauth/token")
    body_bytes = b"grant_type=client_credentials&client_id=dn"
    for k, v in two + [("Content-Type", "application/x-www-form-urlencoded"),
                       ("Content-Length", str(len(body_bytes)))]:
        conn.putheader(k, v)
    conn.endheaders(body_bytes)
    resp = conn.getresponse()
    assert resp.status == 401 and b"client_cert_required" in resp.read()
    for junk in ("-----BEGIN CERTIFICATE-----%0Agarbage%0A-----END CERTIFICATE-----", "%00%ff", "x"):
        r = token(srv, pki, "dn", headers={"X-SSL-Client-Cert": junk})
        refused(r, "client_cert_required")


# -- configuration ---------------------------------------------------------------------------

CLIENT = "clients:\n  - id: c\n    type: confidential\n"


@pytest.mark.parametrize("case", ["dn_and_san", "none", "plus_rdn", "hex_value", "bad_ip",
                                  "with_secret", "x5t_short", "x5t_for_tls", "public", "no_ca",
                                  "bad_type"])
def test_config_errors_name_the_client(tmp_path, pki, case):
    ca = f"mtls:\n  client_ca: {pki.ca}\n"
    m = "    token_endpoint_auth_method: tls_client_auth\n"
    s = "    token_endpoint_auth_method: self_signed_tls_client_auth\n"
    text, want = {
        "dn_and_san": (ca + CLIENT + m + f"    tls_client_auth_subject_dn: '{DN}'\n"
                       "    tls_client_auth_san_dns: a.example\n", "exactly one"),
        "none": (ca + CLIENT + m, "exactly one"),
        "plus_rdn": (ca + CLIENT + m + "    tls_client_auth_subject_dn: 'CN=a+UID=b,O=x'\n",
                     "multi-valued"),
        "hex_value": (ca + CLIENT + m + "    tls_client_auth_subject_dn: 'CN=#0403616263'\n", "hex"),
        "bad_ip": (ca + CLIENT + m + "    tls_client_auth_san_ip: 10.0.0.300\n", "not an IP"),
        "with_secret": (ca + CLIENT + m + f"    tls_client_auth_subject_dn: '{DN}'\n"
                        f"    secret_hash: \"{hash_secret('x')}\"\n", "one method per client"),
        "x5t_short": (CLIENT + s + "    tls_client_auth_x5t_s256: abc\n", "43 base64url"),
        "x5t_for_tls": (ca + CLIENT + m + f"    tls_client_auth_subject_dn: '{DN}'\n"
                        "    tls_client_auth_x5t_s256: abc\n", "only with"),
        "public": ("clients:\n  - id: c\n" + m + f"    tls_client_auth_subject_dn: '{DN}'\n",
                   "confidential"),
        "no_ca": (CLIENT + m + f"    tls_client_auth_subject_dn: '{DN}'\n", "mtls.client_ca"),
        "bad_type": (ca + CLIENT + m + "    tls_client_auth_subject_dn: 'XX=a'\n", "attribute"),
    }[case]
    p = tmp_path / "c.yaml"
    p.write_text(text)
    r = run_curfew("config", "check", str(p))
    assert r.returncode != 0, r.stdout
    assert f"{p}:" in r.stderr and want in r.stderr, r.stderr
    r = run_curfew("serve", "--config", str(p), "--listen", f"127.0.0.1:{free_port()}",
                   "--data-dir", str(tmp_path / "d"), timeout=20)
    assert r.returncode != 0 and want in r.stderr, r.stderr


def test_dn_types_are_case_insensitive_and_spaces_around_separators_ignored(tmp_path, pki):
    srv = CurfewServer(tmp_path / "s")
    srv.scheme = "https"
    srv.http.verify = str(pki.ca)
    y = config(pki).replace(f"'{DN}'", "'cn = svc , o = curfew tests'")
    try:
        srv.start(y)
        issued(token(srv, pki, "dn", pki.good))
        refused(token(srv, pki, "dn", pki.reordered), "client_cert_mismatch")
    finally:
        srv.stop()
    fail_on_sanitizer_reports([srv])
