# SPDX-License-Identifier: MIT
"""The decision cache (check.cache_max_age, the shipped nginx config) must not
weaken sender-constrained tokens: a DPoP proof replayed through nginx, or a
certificate-bound token presented without its certificate, must reach curfew
and be refused, not be answered from nginx's cache. curfew therefore marks
every allow that a DPoP proof or a client certificate decided `no-store`;
plain bearer allows stay cacheable."""
import requests

from test_dpop import APP, Key, check
from test_nginx import EchoApp, Nginx, render_shipped_conf


def cacheable(r):
    return "X-Accel-Expires" in r.headers or "max-age" in r.headers.get("Cache-Control", "")


def test_allows_decided_by_a_dpop_proof_are_never_cacheable(start_curfew):
    srv = start_curfew("check:\n  cache_max_age: 5s\n")
    plain = srv.new_session(sub="p")["access_token"]
    assert cacheable(srv.check(plain))  # the baseline: a bearer allow is cacheable
    key = Key()
    bound = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    r = check(srv, bound, key.proof("GET", APP + "/api/items", at=bound))
    assert r.status_code == 200, r.text
    assert not cacheable(r) and r.headers["Cache-Control"] == "no-store", r.headers
    # an unbound token under the DPoP scheme with a proof: the proof was judged, so no-store too
    r = check(srv, plain, key.proof("GET", APP + "/api/items", at=plain))
    assert r.status_code == 200 and not cacheable(r), r.headers


def test_dpop_proof_replayed_through_the_nginx_cache_is_refused(start_curfew, tmp_path):
    srv = start_curfew("clock_leeway: 0s\ncheck:\n  cache_max_age: 30s\n")
    app = EchoApp()
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(srv.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        key = Key()
        at = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
        url = ngx.url("/api/orders")
        p = key.proof("GET", url, at=at)
        h = {"Authorization": f"DPoP {at}", "DPoP": p}
        r = requests.get(url, headers=h, timeout=5)
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{ngx.diag()}"
        before = app.count()
        r = requests.get(url, headers=h, timeout=5)  # the captured request, sent again
        assert r.status_code == 401, r.text
        assert "dpop_replay" in r.headers.get("WWW-Authenticate", "") + r.text, (r.headers, r.text)
        assert app.count() == before
    finally:
        ngx.stop()
        app.close()


def test_allows_decided_by_a_client_certificate_are_never_cacheable(tmp_path):
    """nginx's cache key holds no certificate: a cacheable allow for a
    certificate-bound token would serve the token to anyone, certificate or not,
    for cache_max_age."""
    from conftest import CurfewServer, basic_auth, fail_on_sanitizer_reports, hash_secret
    from tlsutil import Pki
    pki = Pki(tmp_path / "pki")
    server, client = pki.issue("server", "127.0.0.1", server=True), pki.issue("a", "a", client=True)
    srv = CurfewServer(tmp_path / "srv")
    srv.scheme = "https"
    srv.http.verify = str(pki.ca)
    try:
        srv.start(f"tls:\n  cert: {server[0]}\n  key: {server[1]}\n  client_ca: {pki.ca}\n"
                  f"  client_certs: optional\ncheck:\n  cache_max_age: 5s\n"
                  f"clients:\n  - id: machine\n    type: confidential\n"
                  f"    secret_hash: \"{hash_secret('machine-secret-0123456789')}\"\n"
                  f"    allowed_grants: [client_credentials]\n")
        cert = tuple(map(str, client))
        at = requests.post(srv.url("/oauth/token"), data={"grant_type": "client_credentials"},
                           headers=basic_auth("machine", "machine-secret-0123456789"),
                           verify=str(pki.ca), cert=cert, timeout=5).json()["access_token"]
        r = requests.get(srv.url("/v1/check"), headers={"Authorization": f"Bearer {at}"},
                         verify=str(pki.ca), cert=cert, timeout=5)
        assert r.status_code == 200, r.text
        assert not cacheable(r) and r.headers["Cache-Control"] == "no-store", r.headers
        unbound = srv.new_session(sub="u")["access_token"]
        r = requests.get(srv.url("/v1/check"), headers={"Authorization": f"Bearer {unbound}"},
                         verify=str(pki.ca), cert=cert, timeout=5)
        assert r.status_code == 200 and cacheable(r), r.headers  # a certificate beside an unbound token changes nothing
    finally:
        srv.stop()
        fail_on_sanitizer_reports([srv])
