# SPDX-License-Identifier: MIT
"""Mutual TLS through the REAL nginx, configured by the shipped
deploy/nginx/curfew.conf with the TLS lines its comments give in place of
`listen 8000;` (ssl_verify_client optional_no_ca). curfew listens in plain
HTTP behind it, trusts nginx's address (risk.trusted_proxies) and checks the
chain of forwarded certificates itself (mtls.client_ca).

Shown here, as an attacker would try it: a certificate-bound token works
through nginx with its certificate and is refused (cert_mismatch) with
another, with none, and with a forged X-SSL-Client-Cert header; a
tls_client_auth client authenticates through nginx with its certificate,
and neither a forged header nor a certificate from another CA (which
optional_no_ca lets through) passes for it."""

import urllib.parse

import pytest
import requests

from conftest import basic_auth, hash_secret, jwt_parts
from test_nginx import EchoApp, Nginx, render_shipped_conf
from tlsutil import Pki, issue_custom, name, x5t_s256

SECRET = "machine-secret-0123456789"


@pytest.fixture
def pki(tmp_path):
    p = Pki(tmp_path / "pki")
    p.server = p.issue("server", "127.0.0.1", server=True)
    p.svc = issue_custom(p, "svc", name(("O", "curfew tests"), ("CN", "svc")))
    p.other = p.issue("bob", "bob", client=True)
    rogue = Pki(tmp_path / "pki" / "rogue", name="rogue")
    p.rogue = issue_custom(p, "rogue", name(("O", "curfew tests"), ("CN", "svc")), signer=rogue)
    return p


@pytest.fixture
def stack(start_curfew, tmp_path, pki):
    curfew = start_curfew(
        f"mtls:\n  client_ca: {pki.ca}\n"
        "risk:\n  trusted_proxies: [127.0.0.1/32]\n"
        "clients:\n"
        "  - id: svc\n    type: confidential\n    token_endpoint_auth_method: tls_client_auth\n"
        "    tls_client_auth_subject_dn: 'CN=svc,O=curfew tests'\n"
        "    allowed_grants: [client_credentials]\n"
        "  - id: machine\n    type: confidential\n"
        f"    secret_hash: \"{hash_secret(SECRET)}\"\n    allowed_grants: [client_credentials]\n")
    app = EchoApp()
    tls = (f"listen 127.0.0.1:@NGINX_PORT@ ssl;\n"
           f"    ssl_certificate     {pki.server[0]};\n"
           f"    ssl_certificate_key {pki.server[1]};\n"
           f"    ssl_verify_client   optional_no_ca;")
    conf = render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@")
    conf = conf.replace("listen 127.0.0.1:@NGINX_PORT@;", tls, 1)
    assert "ssl_verify_client   optional_no_ca;" in conf
    ngx = Nginx(tmp_path / "nginx", conf)
    try:
        ngx.start()
        yield curfew, ngx, app
    finally:
        ngx.stop()
        app.close()


def url(ngx, path):
    return f"https://127.0.0.1:{ngx.port}{path}"


def send(ngx, pki, method, path, cert=None, **kw):
    return requests.request(method, url(ngx, path), verify=str(pki.ca),
                            cert=tuple(map(str, cert)) if cert else None, timeout=5, **kw)


def forged(cert_path):
    return {"X-SSL-Client-Cert": urllib.parse.quote(cert_path.read_text(), safe="")}


def refused_check(r, ngx, reason="cert_mismatch"):
    assert r.status_code == 401, f"{r.status_code} {r.text}\n{ngx.diag()}"
    assert r.headers.get("X-Curfew-Reason") == reason, (dict(r.headers), r.text)
    assert r.json()["reason"] == reason


@pytest.mark.parametrize("client", ["secret", "tls_client_auth"])
def test_bound_token_through_nginx(stack, pki, client):
    curfew, ngx, app = stack
    if client == "secret":
        r = send(ngx, pki, "POST", "/oauth/token", pki.svc, headers=basic_auth("machine", SECRET),
                 data={"grant_type": "client_credentials"})
    else:
        r = send(ngx, pki, "POST", "/oauth/token", pki.svc,
                 data={"grant_type": "client_credentials", "client_id": "svc"})
    assert r.status_code == 200, f"{r.text}\n{ngx.diag()}"
    at = r.json()["access_token"]
    assert jwt_parts(at)[1]["cnf"] == {"x5t#S256": x5t_s256(pki.svc[0])}
    auth = {"Authorization": f"Bearer {at}"}

    ok = send(ngx, pki, "GET", "/api/orders", pki.svc, headers=auth)
    assert ok.status_code == 200, f"{ok.text}\n{ngx.diag()}"
    seen = {k.lower(): v for k, v in ok.json()["headers"].items()}
    assert seen["x-curfew-subject"] == ("machine" if client == "secret" else "svc")
    before = app.count()
    refused_check(send(ngx, pki, "GET", "/api/orders", pki.other, headers=auth), ngx)
    refused_check(send(ngx, pki, "GET", "/api/orders", None, headers=auth), ngx)
    # the bound certificate is public: sending it as a header must not stand in for the handshake
    refused_check(send(ngx, pki, "GET", "/api/orders", None, headers={**auth, **forged(pki.svc[0])}),
                  ngx)
    refused_check(send(ngx, pki, "GET", "/api/orders", pki.other,
                       headers={**auth, **forged(pki.svc[0])}), ngx)
    assert app.count() == before, "the app was reached although curfew refused"
    # and the right certificate still works after all that
    assert send(ngx, pki, "GET", "/api/orders", pki.svc, headers=auth).status_code == 200


def test_tls_client_auth_through_nginx_cannot_be_forged(stack, pki):
    curfew, ngx, app = stack
    data = {"grant_type": "client_credentials", "client_id": "svc"}
    # the client's certificate is public: a header claiming it is not a handshake
    r = send(ngx, pki, "POST", "/oauth/token", None, headers=forged(pki.svc[0]), data=data)
    assert r.status_code == 401 and r.json()["reason"] == "client_cert_required", r.text
    r = send(ngx, pki, "POST", "/oauth/token", pki.other, headers=forged(pki.svc[0]), data=data)
    assert r.status_code == 401 and r.json()["reason"] == "client_cert_mismatch", r.text
    # optional_no_ca lets any certificate through the handshake: curfew checks the chain
    r = send(ngx, pki, "POST", "/oauth/token", pki.rogue, data=data)
    assert r.status_code == 401 and r.json()["reason"] == "client_cert_invalid", r.text
    r = send(ngx, pki, "POST", "/oauth/token", pki.svc, data={**data, "client_secret": "x"})
    assert r.status_code == 401 and r.json()["reason"] == "client_cert_required", r.text
    r = send(ngx, pki, "POST", "/oauth/token", pki.svc, data=data)
    assert r.status_code == 200, r.text
