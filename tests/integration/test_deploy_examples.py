# SPDX-License-Identifier: MIT
"""The Traefik and ingress-nginx examples (deploy/traefik, deploy/kubernetes;
issue 15, packaging). Neither proxy is packaged in Debian, so they are not
run here; what can be checked without them is: the files parse, they ask
curfew's real check endpoint, the identity headers they copy (and strip) are
exactly those the real binary sends on a 200, for a session and for an API
key, and curfew judges the request the way each proxy describes it (Traefik's
X-Forwarded-Method/-Uri; the X-Original-URI the ingress snippet sets).
"""

import re
from urllib.parse import urlsplit

import yaml

from conftest import REPO_ROOT

TRAEFIK = REPO_ROOT / "deploy" / "traefik" / "curfew.yaml"
INGRESS = REPO_ROOT / "deploy" / "kubernetes" / "ingress-nginx.yaml"

DENY_INTERNAL = """\
clock_leeway: 0s
roles: { reader: {} }
routes:
  - path_prefix: /internal/
    deny: true
"""


def traefik():
    return yaml.safe_load(TRAEFIK.read_text())["http"]


def ingresses():
    docs = [d for d in yaml.safe_load_all(INGRESS.read_text()) if d]
    assert {d["kind"] for d in docs} == {"Ingress"}
    return docs


def annotations():
    mine = [d for d in ingresses() if "annotations" in d["metadata"]]
    assert len(mine) == 1
    return mine[0]["metadata"]["annotations"]


def identity_headers_of_200s(srv):
    """The X-Curfew-* headers of a 200 for a session and for an API key."""
    tok = srv.new_session(sub="alice", roles=["reader"])["access_token"]
    r = srv.get("/v1/check", headers={"Authorization": f"Bearer {tok}",
                                      "X-Forwarded-Uri": "/x", "X-Forwarded-Method": "GET"})
    assert r.status_code == 200, r.text
    session = {h for h in r.headers if h.lower().startswith("x-curfew-")}
    k = srv.admin("POST", "/v1/apikeys", json={"sub": "svc", "name": "ci", "client_id": "web",
                                               "expires_in": 600})
    assert k.status_code == 201, k.text
    r = srv.get("/v1/check", headers={"X-API-Key": k.json()["key"]})
    assert r.status_code == 200, r.text
    apikey = {h for h in r.headers if h.lower().startswith("x-curfew-")}
    assert {"X-Curfew-Subject", "X-Curfew-Session"} <= session
    assert "X-Curfew-Key" in apikey
    return session | apikey


def test_both_files_parse_and_ask_curfews_check_endpoint():
    mw = traefik()["middlewares"]
    url = urlsplit(mw["curfew-auth"]["forwardAuth"]["address"])
    assert (url.scheme, url.path, url.query) == ("http", "/v1/check", "")
    url = urlsplit(annotations()["nginx.ingress.kubernetes.io/auth-url"])
    assert (url.path, url.query) == ("/v1/check", "")
    # The ports of curfew's service are the one the auth URL names.
    port = url.port
    for d in ingresses():
        for rule in d["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                svc = p["backend"]["service"]
                if svc["name"] == "curfew":
                    assert svc["port"]["number"] == port


def test_copied_headers_are_exactly_those_curfew_sends_on_a_200(start_curfew):
    sent = identity_headers_of_200s(start_curfew())
    mw = traefik()["middlewares"]
    assert set(mw["curfew-auth"]["forwardAuth"]["authResponseHeaders"]) == sent
    # Every one of them is also stripped from the client's request first,
    # and the chain strips before it authenticates.
    strip = mw["curfew-strip"]["headers"]["customRequestHeaders"]
    assert set(strip) == sent and set(strip.values()) == {""}
    assert mw["curfew"]["chain"]["middlewares"] == ["curfew-strip", "curfew-auth"]
    listed = annotations()["nginx.ingress.kubernetes.io/auth-response-headers"].split(",")
    assert set(listed) == sent and len(listed) == len(sent)


def test_traefik_forwards_only_what_curfew_reads():
    fa = traefik()["middlewares"]["curfew-auth"]["forwardAuth"]
    # A client must not choose the method or URI curfew judges.
    assert fa["trustForwardHeader"] is False
    fwd = {h.lower() for h in fa["authRequestHeaders"]}
    assert {"authorization", "cookie", "dpop", "x-api-key"} <= fwd
    assert not {h for h in fwd if h.startswith(("x-original-", "x-forwarded-"))}
    assert "x-ssl-client-cert" not in fwd
    # curfew's own endpoints bypass the check, everything else goes through it.
    routers = traefik()["routers"]
    assert routers["app"]["middlewares"] == ["curfew"]
    assert routers["curfew-endpoints"]["service"] == "curfew"
    assert routers["curfew-endpoints"]["priority"] > routers["app"]["priority"]


def test_ingress_snippet_sets_the_uri_curfew_reads_and_clears_client_ones():
    snippet = annotations()["nginx.ingress.kubernetes.io/auth-snippet"]
    sets = dict(re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(.+?);\s*$", snippet, re.M))
    assert sets["X-Original-URI"] == "$request_uri"
    assert sets["X-Forwarded-Uri"] == '""' and sets["X-Forwarded-Method"] == '""'
    key = annotations()["nginx.ingress.kubernetes.io/auth-cache-key"]
    for part in ("$http_authorization", "$http_cookie", "$request_uri", "$host", "$request_method",
                 # what sessions can be bound to: a cached allow must not serve another
                 # address or device (tests/integration/test_nginx_lua_cache.py, through nginx)
                 "$remote_addr", "$http_x_forwarded_for", "$http_x_real_ip", "$http_x_device_id"):
        assert part in key.split("|"), part
    # single-use DPoP proofs are never answered from the cache
    assert re.search(r"^\s*proxy_cache_bypass \$http_dpop;", snippet, re.M)
    assert re.search(r"^\s*proxy_no_cache \$http_dpop;", snippet, re.M)


def test_curfew_judges_the_request_as_each_example_forwards_it(start_curfew):
    srv = start_curfew(DENY_INTERNAL)
    tok = srv.new_session(sub="alice", roles=["reader"])["access_token"]
    auth = {"Authorization": f"Bearer {tok}"}

    def check(**h):
        return srv.get("/v1/check", headers={**auth, **h})

    # Traefik: X-Forwarded-Method and X-Forwarded-Uri (raw, normalized by curfew).
    assert check(**{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/app/x"}).status_code == 200
    for uri in ("/internal/x", "/app/../internal/x", "/app/%2e%2e/internal/x"):
        r = check(**{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": uri})
        assert r.status_code == 403 and r.json()["reason"] == "route_denied", uri
    # ingress-nginx with the snippet: X-Original-URI set by nginx, and the
    # client's X-Forwarded-Uri cleared (an empty header), so the one the
    # snippet sets is judged.
    r = check(**{"X-Original-Method": "GET", "X-Original-URI": "/internal/x",
                 "X-Forwarded-Uri": "", "X-Forwarded-Method": ""})
    assert r.status_code == 403 and r.json()["reason"] == "route_denied"
    r = check(**{"X-Original-Method": "GET", "X-Original-URI": "/app/x", "X-Forwarded-Uri": ""})
    assert r.status_code == 200
