# SPDX-License-Identifier: MIT
"""Live responses against docs/openapi.yaml (issue 15, Done-when 5).

A tour drives the real binary through every documented operation, its
success and its main refusals (400, 401, 403, 404, 409, 415, 429, 503 where
the document lists them), and checks each answer against the document: the
status is one the operation documents, the Content-Type is the documented
media type, the JSON body validates against the response schema (jsonschema,
Draft 2020-12 as OpenAPI 3.1 says, local $refs resolved in the document),
every header the response marks required is present and matches its schema,
and no curfew header (X-Curfew-*, WWW-Authenticate, Retry-After,
Access-Control-*, RateLimit*, DPoP-Nonce) is sent that the response does not
document.

Five servers: the main one (its fsyncs fail on demand, LD_PRELOAD
tests/faults/failsync.c, for the 503s), one with rate limits, one with a
lockout, one with DPoP nonces and a cookie-mode client, and a cluster node
whose Redis is killed. test_every_documented_answer_is_toured fails when the
document lists an answer nothing provokes.

The checker must be able to fail: test_checker_catches_drift feeds it
mutated copies of real answers and expects each to be refused."""

import copy
import json
import re
import secrets
import subprocess

import jsonschema
import pytest
import yaml

from conftest import (REPO_ROOT, CurfewServer, RedisServer, curfew_bin,
                      fail_on_sanitizer_reports, hash_secret, wait_until)

SPEC_PATH = REPO_ROOT / "docs" / "openapi.yaml"
SHIM_SRC = REPO_ROOT / "tests" / "faults" / "failsync.c"
ORIGIN = "https://app.example.com"
SECRET = "s3cret-" + secrets.token_hex(8)
# Headers whose presence is API: each one sent must be documented on that response.
API_HEADER = re.compile(r"^(x-curfew-.*|www-authenticate|retry-after|access-control-.*|"
                        r"ratelimit.*|dpop-nonce)$", re.I)


def load_spec():
    return yaml.safe_load(SPEC_PATH.read_text())


class Checker:
    """Checks responses against the document; collects problems instead of
    stopping at the first, so one run lists every discrepancy."""

    def __init__(self, spec):
        self.spec = spec
        self.resolver = jsonschema.RefResolver.from_schema(spec)
        self.problems = []
        self.seen = {}          # (path, method) -> set of statuses
        self.samples = {}       # (path, method, status) -> first response

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
        return node

    def errors(self, schema, value):
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in v.iter_errors(value)]

    def problems_of(self, path, method, status, headers, body, head=False):
        """Every way a response (status, headers dict, body bytes) departs from
        the document's ``path`` ``method``; [] when it matches."""
        op = self.spec["paths"][path][method.lower()]
        doc = op["responses"].get(str(status))
        if doc is None:
            return [f"status {status} is not documented ({body[:160]!r})"]
        doc = self.deref(doc)
        out = []
        hdrs = {k.lower(): v for k, v in headers.items()}
        documented = {k.lower(): self.deref(h) for k, h in doc.get("headers", {}).items()}
        for name, h in documented.items():
            if name not in hdrs:
                if h.get("required"):
                    out.append(f"required header {name} is missing")
                continue
            schema = h.get("schema", {})
            value = hdrs[name]
            if schema.get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]+", value):
                    out.append(f"header {name}: {value!r} is not an integer")
                    continue
                value = int(value)
            out += [f"header {name}: {e}" for e in self.errors(schema, value)]
        out += [f"header {k} is sent but not documented" for k in hdrs
                if API_HEADER.match(k) and k not in documented]
        content = doc.get("content")
        ctype = hdrs.get("content-type", "").split(";")[0].strip().lower()
        if not content:
            if body and not head:
                out.append(f"no body is documented, got {body[:120]!r}")
            return out
        if ctype not in content:
            return out + [f"Content-Type {ctype!r} is not one of {sorted(content)}"]
        if head or ctype != "application/json":
            return out
        try:
            value = json.loads(body)
        except ValueError as exc:
            return out + [f"body is not JSON: {exc}"]
        return out + self.errors(content[ctype].get("schema", {}), value)

    def check(self, r, path, method=None, expect=None):
        """Check a requests.Response as an answer of ``path`` (the template
        as in the document); record it; return it."""
        method = (method or r.request.method).lower()
        where = f"{method.upper()} {path} -> {r.status_code}"
        if expect is not None and r.status_code != expect:
            self.problems.append(f"{where}: the tour expected {expect} ({r.text[:160]})")
        for p in self.problems_of(path, method, r.status_code, r.headers, r.content,
                                  head=method == "head"):
            self.problems.append(f"{where}: {p}")
        self.seen.setdefault((path, method), set()).add(r.status_code)
        self.samples.setdefault((path, method, r.status_code), r)
        return r


def failsync(tmp):
    out = tmp / "failsync.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out), str(SHIM_SRC), "-ldl"],
                   check=True, timeout=60)
    libs = subprocess.run(["ldd", str(curfew_bin())], capture_output=True, text=True).stdout
    asan = [w for w in libs.split() if "libasan" in w and w.startswith("/")]
    return ":".join(asan[:1] + [str(out)])


CONFIG = """\
risk: {{ trusted_proxies: [127.0.0.1/32] }}
refresh_token: {{ reuse_grace: 0s }}
cors: {{ allowed_origins: [{origin}] }}
roles: {{ admin: {{}}, user: {{}} }}
clients:
  - {{ id: web, type: public }}
  - id: backend
    type: confidential
    secret_hash: "{hash}"
    allowed_grants: [refresh_token, client_credentials]
    scope: "orders"
routes:
  - {{ path_prefix: /closed, deny: true }}
  - {{ path_prefix: /admin, require_roles: [admin] }}
  - {{ path: /public, anonymous: true }}
metrics: {{ token: metrics-{token} }}
"""
# A second server for 429s: its limits would get in the tour's way on the first.
LIMITED = """\
risk: { trusted_proxies: [127.0.0.1/32] }
rate_limits:
  refresh: { rate: 2/1m, burst: 2, key: [ip] }
  session_create: { rate: 1/1m, burst: 1, key: [ip] }
  check_failures: { rate: 1/1m, burst: 1, key: [ip] }
"""
LOCKOUT = """\
risk: { trusted_proxies: [127.0.0.1/32] }
lockout: { max_failures: 3, window: 1m, duration: 1m }
"""


def xff(ip):
    return {"X-Forwarded-For": ip}


def tour(c, srv, flag):
    """Every documented operation, success and refusals, checked by ``c``."""
    A = srv.admin_headers()
    basic = ("backend", SECRET)
    g = srv.get
    s = srv.new_session(sub="alice", roles=["user"], scope="read", client_id="web")
    plain = srv.new_session(sub="bob")

    # /v1/sessions
    c.check(srv.admin("POST", "/v1/sessions", json={"sub": "carol", "roles": ["admin"]}),
            "/v1/sessions", expect=201)
    c.check(srv.admin("POST", "/v1/sessions", json={"sub": "x", "bogus": 1}), "/v1/sessions",
            expect=400)
    c.check(srv.admin("POST", "/v1/sessions", data="{", headers={"Content-Type": "application/json"}),
            "/v1/sessions", expect=400)
    c.check(srv.admin("POST", "/v1/sessions", data="sub=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
            "/v1/sessions", expect=415)
    c.check(srv.post("/v1/sessions", json={"sub": "x"}), "/v1/sessions", expect=401)
    c.check(srv.admin("GET", "/v1/sessions"), "/v1/sessions", expect=200)
    c.check(srv.admin("GET", "/v1/sessions?sub=alice&limit=1"), "/v1/sessions", expect=200)
    page = srv.admin("GET", "/v1/sessions?limit=1").json()
    c.check(srv.admin("GET", "/v1/sessions?limit=1&cursor=" + page["next_cursor"]),
            "/v1/sessions", expect=200)
    c.check(srv.admin("GET", "/v1/sessions?cursor=garbage"), "/v1/sessions", expect=400)
    c.check(g("/v1/sessions"), "/v1/sessions", expect=401)

    item = "/v1/sessions/{session_id}"
    c.check(srv.admin("GET", f"/v1/sessions/{s['session_id']}"), item, expect=200)
    c.check(srv.admin("GET", "/v1/sessions/nope"), item, expect=404)
    c.check(g(f"/v1/sessions/{s['session_id']}"), item, expect=401)

    # /v1/check: allowed (session, anonymous route, API key), refused. The 200's
    # headers depend on the credential, which the document can only say in words.
    def identity(r, *names):
        missing = [n for n in names if n not in r.headers]
        if missing:
            c.problems.append(f"GET /v1/check -> 200: {missing} missing ({dict(r.headers)})")
    identity(c.check(srv.check(s["access_token"]), "/v1/check", "get", expect=200),
             "X-Curfew-Subject", "X-Curfew-Session", "X-Curfew-Roles", "X-Curfew-Expires-In")
    c.check(srv.check(plain["access_token"], method="POST"), "/v1/check", "get", expect=200)
    c.check(srv.check(None, headers={"X-Original-URI": "/public"}), "/v1/check", "get", expect=200)
    c.check(srv.check(None), "/v1/check", "get", expect=401)
    c.check(srv.check("not.a.jwt"), "/v1/check", "get", expect=401)
    c.check(srv.check("a b"), "/v1/check", "get", expect=400)
    c.check(srv.check(s["access_token"], headers={"X-Original-URI": "/closed/x"}),
            "/v1/check", "get", expect=403)
    c.check(srv.check(s["access_token"], headers={"X-Original-URI": "/admin/x"}),
            "/v1/check", "get", expect=403)
    c.check(srv.check(s["access_token"], headers={"X-Original-URI": "/a/%2e%2e/%2e%2e/x"}),
            "/v1/check", "get", expect=400)
    c.check(srv.check(s["access_token"], path="/v1/check/some/path"), "/v1/check", "get",
            expect=200)

    # API keys
    k = c.check(srv.admin("POST", "/v1/apikeys", json={"sub": "bot", "expires_in": 3600,
                                                      "roles": ["user"], "networks": ["127.0.0.0/8"]}),
                "/v1/apikeys", expect=201).json()
    c.check(srv.admin("POST", "/v1/apikeys", json={"sub": "bot", "expires_in": -1}),
            "/v1/apikeys", expect=400)
    c.check(srv.admin("POST", "/v1/apikeys", data="x", headers={"Content-Type": "text/plain"}),
            "/v1/apikeys", expect=415)
    c.check(srv.post("/v1/apikeys", json={"sub": "bot"}), "/v1/apikeys", expect=401)
    identity(c.check(srv.check(k["key"]), "/v1/check", "get", expect=200), "X-Curfew-Subject",
             "X-Curfew-Key", "X-Curfew-Roles", "X-Curfew-Client", "X-Curfew-Expires-In")
    c.check(srv.check(None, headers={"X-API-Key": k["key"]}), "/v1/check", "get", expect=200)
    q = srv.admin("POST", "/v1/apikeys", json={"sub": "q", "expires_in": "1h", "quota_per_day": 1,
                                                "client_id": "web", "idle_expiry": "1d"})
    c.check(q, "/v1/apikeys", expect=201)
    c.check(srv.check(q.json()["key"]), "/v1/check", "get", expect=200)
    c.check(srv.check(q.json()["key"]), "/v1/check", "get", expect=429)     # quota_exceeded
    c.check(srv.admin("GET", "/v1/apikeys/" + q.json()["id"]), "/v1/apikeys/{key_id}", expect=200)
    c.check(srv.admin("GET", "/v1/apikeys"), "/v1/apikeys", expect=200)
    c.check(srv.admin("GET", "/v1/apikeys?sub=bot"), "/v1/apikeys", expect=200)
    c.check(g("/v1/apikeys"), "/v1/apikeys", expect=401)
    kitem = "/v1/apikeys/{key_id}"
    c.check(srv.admin("GET", f"/v1/apikeys/{k['id']}"), kitem, expect=200)
    c.check(srv.admin("GET", "/v1/apikeys/nope"), kitem, expect=404)
    c.check(g(f"/v1/apikeys/{k['id']}"), kitem, expect=401)
    krot = "/v1/apikeys/{key_id}/rotate"
    new = c.check(srv.admin("POST", f"/v1/apikeys/{k['id']}/rotate", json={"overlap": 60}),
                  krot, expect=201).json()
    c.check(srv.admin("GET", f"/v1/apikeys/{k['id']}"), kitem, expect=200)     # rotating
    c.check(srv.admin("POST", f"/v1/apikeys/{k['id']}/rotate"), krot, expect=409)
    c.check(srv.admin("POST", "/v1/apikeys/nope/rotate"), krot, expect=404)
    c.check(srv.admin("POST", f"/v1/apikeys/{new['id']}/rotate", json={"overlap": "soon"}), krot,
            expect=400)
    c.check(srv.post(f"/v1/apikeys/{k['id']}/rotate"), krot, expect=401)
    c.check(srv.admin("DELETE", f"/v1/apikeys/{new['id']}"), kitem, expect=200)
    c.check(srv.admin("DELETE", "/v1/apikeys/nope"), kitem, expect=404)
    c.check(srv.delete(f"/v1/apikeys/{new['id']}"), kitem, expect=401)
    c.check(srv.check(new["key"]), "/v1/check", "get", expect=401)
    krev = "/v1/apikeys/revocations"
    c.check(srv.admin("POST", krev, json={"sub": "bot"}), krev, expect=200)
    c.check(srv.admin("POST", krev, json={"sub": "bot", "client_id": "web"}), krev, expect=400)
    c.check(srv.admin("POST", krev, data="x", headers={"Content-Type": "text/plain"}), krev,
            expect=415)
    c.check(srv.post(krev, json={"sub": "bot"}), krev, expect=401)

    # /oauth/introspect
    intro = "/oauth/introspect"
    c.check(srv.introspect(s["access_token"]), intro, expect=200)
    c.check(srv.introspect(s["refresh_token"]), intro, expect=200)
    c.check(srv.introspect(plain["access_token"]), intro, expect=200)
    c.check(srv.introspect("garbage"), intro, expect=200)
    c.check(srv.post(intro, data={"token": s["access_token"]}, auth=basic), intro, expect=200)
    c.check(srv.introspect(s["access_token"], key=None), intro, expect=401)
    c.check(srv.introspect(s["access_token"], key="wrong"), intro, expect=401)
    c.check(srv.post(intro, data={"token_type_hint": "x"}, headers=A), intro, expect=400)
    c.check(srv.post(intro, json={"token": "x"}, headers=A), intro, expect=415)

    # /oauth/token: refresh, client credentials, refusals
    tok = "/oauth/token"
    s2 = c.check(srv.refresh(s["refresh_token"], client_id="web"), tok, expect=200).json()
    c.check(srv.refresh(s["refresh_token"], client_id="web"), tok, expect=400)   # reuse
    c.check(srv.refresh("nope"), tok, expect=400)
    c.check(srv.post(tok, data={"grant_type": "password"}), tok, expect=400)
    c.check(srv.post(tok, data={"grant_type": "client_credentials"}, auth=basic), tok, expect=200)
    c.check(srv.post(tok, data={"grant_type": "client_credentials", "scope": "everything"},
                     auth=basic), tok, expect=400)
    c.check(srv.post(tok, data={"grant_type": "client_credentials"}, auth=("backend", "wrong")),
            tok, expect=401)
    c.check(srv.post(tok, json={"grant_type": "refresh_token"}), tok, expect=415)
    c.check(srv.post(tok, data={"grant_type": "refresh_token", "refresh_token": "x"},
                     headers={"Origin": "https://evil.example.com"}), tok, expect=403)

    # /oauth/revoke
    rev = "/oauth/revoke"
    s3 = srv.new_session(sub="dave", client_id="backend")
    c.check(srv.revoke("unknown"), rev, expect=200)
    c.check(srv.post(rev, data={"token_type_hint": "x"}), rev, expect=400)
    c.check(srv.post(rev, json={"token": "x"}), rev, expect=415)
    c.check(srv.revoke(s3["refresh_token"]), rev, expect=401)       # confidential, no auth
    c.check(srv.post(rev, data={"token": s3["refresh_token"], "client_id": "web"}), rev,
            expect=400)                                              # another client's
    c.check(srv.post(rev, data={"token": "x"}, headers={"Origin": "https://evil.example.com"}),
            rev, expect=403)
    c.check(srv.post(rev, data={"token": s3["refresh_token"]}, auth=basic), rev, expect=200)

    # /v1/logout
    bye = srv.new_session(sub="gina")
    c.check(srv.logout(bye["access_token"]), "/v1/logout", expect=204)
    c.check(srv.logout(bye["access_token"]), "/v1/logout", expect=401)
    c.check(srv.logout(s2["access_token"]), "/v1/logout", expect=401)      # ended by reuse
    c.check(srv.post("/v1/logout"), "/v1/logout", expect=401)
    c.check(srv.post("/v1/logout", headers={"Authorization": "Bearer a b"}), "/v1/logout",
            expect=400)
    c.check(srv.post("/v1/logout", headers={"Authorization": f"Bearer {plain['access_token']}",
                                            "Origin": "https://evil.example.com"}),
            "/v1/logout", expect=403)

    # CORS preflights
    for p in ("/oauth/token", "/oauth/revoke", "/v1/logout"):
        c.check(srv.request("OPTIONS", p, headers={"Origin": ORIGIN,
                                                   "Access-Control-Request-Method": "POST"}),
                p, expect=204)
        c.check(srv.request("OPTIONS", p, headers={"Origin": "https://evil.example.com",
                                                   "Access-Control-Request-Method": "POST"}),
                p, expect=403)
    c.check(srv.post("/oauth/revoke", data={"token": "x"}, headers={"Origin": ORIGIN}),
            "/oauth/revoke", expect=200)

    # ending sessions
    c.check(srv.admin("DELETE", f"/v1/sessions/{plain['session_id']}"), item, expect=200)
    c.check(srv.admin("GET", f"/v1/sessions/{plain['session_id']}"), item, expect=200)
    c.check(srv.admin("DELETE", "/v1/sessions/nope"), item, expect=404)
    c.check(srv.delete(f"/v1/sessions/{plain['session_id']}"), item, expect=401)
    c.check(srv.check(plain["access_token"]), "/v1/check", "get", expect=401)
    rv = "/v1/revocations"
    c.check(srv.admin("POST", rv, json={"sub": "carol"}), rv, expect=200)
    c.check(srv.admin("POST", rv, json={"client_id": "web"}), rv, expect=200)
    c.check(srv.admin("POST", rv, json={"sub": "carol", "all": True}), rv, expect=400)
    c.check(srv.admin("POST", rv, data="x", headers={"Content-Type": "text/plain"}), rv, expect=415)
    c.check(srv.post(rv, json={"all": True}), rv, expect=401)

    # keys, cluster, reload, stats
    c.check(srv.admin("GET", "/v1/keys"), "/v1/keys", expect=200)
    c.check(g("/v1/keys"), "/v1/keys", expect=401)
    c.check(srv.admin("POST", "/v1/keys/rotate"), "/v1/keys/rotate", expect=200)
    c.check(srv.admin("GET", "/v1/keys"), "/v1/keys", expect=200)
    c.check(srv.post("/v1/keys/rotate"), "/v1/keys/rotate", expect=401)
    c.check(srv.admin("GET", "/v1/cluster"), "/v1/cluster", expect=200)
    c.check(g("/v1/cluster"), "/v1/cluster", expect=401)
    c.check(srv.admin("POST", "/v1/config/reload"), "/v1/config/reload", expect=200)
    c.check(srv.post("/v1/config/reload"), "/v1/config/reload", expect=401)
    good = srv.config_path.read_text()
    srv.config_path.write_text(good + "bogus_option: 1\n")
    c.check(srv.admin("POST", "/v1/config/reload"), "/v1/config/reload", expect=409)
    srv.config_path.write_text(good)
    c.check(srv.admin("GET", "/v1/stats"), "/v1/stats", expect=200)
    c.check(srv.admin("HEAD", "/v1/stats"), "/v1/stats", expect=200)
    c.check(g("/v1/stats"), "/v1/stats", expect=401)
    c.check(srv.request("HEAD", "/v1/stats"), "/v1/stats", expect=401)

    # open endpoints
    c.check(g("/.well-known/jwks.json"), "/.well-known/jwks.json", expect=200)
    c.check(g("/.well-known/oauth-authorization-server"), "/.well-known/oauth-authorization-server",
            expect=200)
    for p in ("/healthz", "/readyz"):
        c.check(g(p), p, expect=200)
        c.check(srv.request("HEAD", p), p, expect=200)
    mt = {"Authorization": f"Bearer metrics-{srv.metrics_token}"}
    c.check(g("/metrics", headers=mt), "/metrics", expect=200)
    c.check(srv.request("HEAD", "/metrics", headers=mt), "/metrics", expect=200)
    c.check(g("/metrics"), "/metrics", expect=401)
    c.check(srv.request("HEAD", "/metrics"), "/metrics", expect=401)
    c.check(g("/dashboard"), "/dashboard", expect=200)

    # odd requests to every operation: whatever comes back must be documented
    probe(c, srv)

    # a store that refuses its commits: 503 where the document lists it
    fresh = srv.new_session(sub="erin")
    k2 = srv.admin("POST", "/v1/apikeys", json={"sub": "bot2", "expires_in": 3600}).json()
    flag.write_text("1")
    try:
        c.check(srv.admin("POST", "/v1/sessions", json={"sub": "y"}), "/v1/sessions", expect=503)
        c.check(srv.refresh(fresh["refresh_token"]), tok, expect=503)
        c.check(srv.revoke(fresh["refresh_token"]), rev, expect=503)
        c.check(srv.logout(fresh["access_token"]), "/v1/logout", expect=503)
        c.check(srv.admin("DELETE", f"/v1/sessions/{fresh['session_id']}"), item, expect=503)
        c.check(srv.admin("POST", rv, json={"sub": "erin"}), rv, expect=503)
        c.check(srv.admin("POST", "/v1/apikeys", json={"sub": "z", "expires_in": 60}),
                "/v1/apikeys", expect=503)
        c.check(srv.admin("DELETE", f"/v1/apikeys/{k2['id']}"), kitem, expect=503)
        c.check(srv.admin("POST", f"/v1/apikeys/{k2['id']}/rotate"), krot, expect=503)
        c.check(srv.admin("POST", krev, json={"sub": "bot2"}), krev, expect=503)
        c.check(srv.admin("POST", "/v1/keys/rotate"), "/v1/keys/rotate", expect=503)
    finally:
        flag.unlink()



def probe(c, srv):
    """No credentials, a wrong key, and for POSTs bodies a client gets wrong
    (broken JSON, not an object, a wrong type, a wrong Content-Type, a bad
    escape, too large): no expectation but the document's."""
    admin = srv.admin_headers()
    js, form = {"Content-Type": "application/json"}, {"Content-Type": "application/x-www-form-urlencoded"}
    bodies = [(js, "{"), (js, "[]"), (js, '{"sub": 1}'), (js, '{"sub": "a", "sub": "b"}'),
              ({"Content-Type": "text/plain"}, "x"), (form, "token=%zz&token=1"),
              (form, "grant_type=client_credentials&token=x"),
              (js, '{"sub": "' + "a" * 20000 + '"}')]
    for path, item in c.spec["paths"].items():
        url = re.sub(r"\{[a-z_]+\}", "nope", path)
        for m in ("get", "post", "delete", "head"):
            if m not in item:
                continue
            tries = [{}, {"headers": {"Authorization": "Bearer wrong"}},
                     {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}, {"headers": admin}]
            if m == "post":
                tries += [{"headers": {**admin, **h}, "data": d} for h, d in bodies]
            for kw in tries:
                c.check(srv.request(m.upper(), url, **kw), path, m)


def limited_tour(c, srv):
    """429 rate_limited, each limit from an address of its own (X-Forwarded-For)."""
    tok = "/oauth/token"
    c.check(srv.check("x.y.z", headers=xff("198.51.100.1")), "/v1/check", "get", expect=401)
    c.check(srv.check("x.y.z", headers=xff("198.51.100.1")), "/v1/check", "get", expect=429)
    for _ in range(2):                       # session_create: 1/1m from one address
        last = srv.admin("POST", "/v1/sessions", json={"sub": "h"}, headers=xff("198.51.100.4"))
    c.check(last, "/v1/sessions", expect=429)
    for i in range(3):                       # refresh: 2/1m from one address
        last = srv.post(tok, data={"grant_type": "refresh_token", "refresh_token": f"n{i}"},
                        headers=xff("198.51.100.2"))
    c.check(last, tok, expect=429)


def lockout_tour(c, srv):
    """429 locked_out: after 3 refused checks, that address's token requests too."""
    tok, rev = "/oauth/token", "/oauth/revoke"
    s = srv.new_session(sub="frank")
    for _ in range(3):                       # lockout after 3 refused checks
        c.check(srv.check("x.y.z", headers=xff("198.51.100.3")), "/v1/check", "get", expect=401)
    c.check(srv.check(s["access_token"], headers=xff("198.51.100.3")), "/v1/check", "get",
            expect=429)
    c.check(srv.post(rev, data={"token": "x"}, headers=xff("198.51.100.3")), rev, expect=429)
    c.check(srv.post("/oauth/introspect", data={"token": s["access_token"]},
                     headers={**srv.admin_headers(), **xff("198.51.100.3")}), "/oauth/introspect", expect=429)
    c.check(srv.post("/v1/logout", headers={"Authorization": f"Bearer {s['access_token']}",
                                            **xff("198.51.100.3")}), "/v1/logout")
    c.check(srv.post(tok, data={"grant_type": "refresh_token", "refresh_token": s["refresh_token"]},
                     headers=xff("198.51.100.3")), tok, expect=429)


DPOP = """\
dpop: { nonce: true }
clients:
  - { id: spa, type: public, cookie: true }
cookie:
  allowed_origins: [https://app.example.com]
  csrf_header: X-CSRF
"""


def dpop_tour(c, srv):
    """DPoP challenges and nonces, and cookie mode (no refresh_token in the body)."""
    from test_dpop import Key, check, forwarded
    tok, htu = "/oauth/token", "https://app.example/api/items"
    key = Key()
    s = c.check(srv.create_session(sub="dora", dpop_jkt=key.jkt), "/v1/sessions",
                expect=201).json()
    at = s["access_token"]
    r = c.check(check(srv, at, key.proof("GET", htu, at=at)), "/v1/check", "get", expect=401)
    nonce = r.headers.get("DPoP-Nonce", "")
    c.check(check(srv, at, key.proof("GET", htu, at=at, nonce=nonce)), "/v1/check", "get",
            expect=200)
    c.check(check(srv, at, scheme="Bearer"), "/v1/check", "get", expect=401)
    c.check(srv.refresh(s["refresh_token"]), tok, expect=400)
    form = {"grant_type": "refresh_token", "refresh_token": s["refresh_token"]}
    r = c.check(srv.post(tok, data=form, headers={"DPoP": key.proof("POST", srv.url(tok))}), tok,
                expect=400)
    nonce = r.headers.get("DPoP-Nonce", "")
    c.check(srv.post(tok, data=form, headers={"DPoP": key.proof("POST", srv.url(tok), nonce=nonce)}),
            tok, expect=200)

    r = c.check(srv.create_session(sub="cookie", client_id="spa"), "/v1/sessions", expect=201)
    rt, at = r.cookies.get("__Host-curfew_rt"), r.cookies.get("__Host-curfew_at")
    browser = {"Origin": ORIGIN, "X-CSRF": "1"}
    r = c.check(srv.post(tok, data={"grant_type": "refresh_token", "client_id": "spa"},
                         headers={"Cookie": f"__Host-curfew_rt={rt}", **browser}), tok, expect=200)
    at = r.cookies.get("__Host-curfew_at")
    c.check(srv.post("/v1/logout", headers={"Cookie": f"__Host-curfew_at={at}"}), "/v1/logout",
            expect=403)                                  # csrf_rejected
    c.check(srv.post("/v1/logout", headers={"Cookie": f"__Host-curfew_at={at}", **browser}),
            "/v1/logout", expect=204)


def cluster_tour(c, node, redis):
    """A cluster node: its /v1/cluster, and what it answers once Redis is gone
    and it is past cluster.max_staleness (1s)."""
    c.check(node.admin("GET", "/v1/cluster"), "/v1/cluster", expect=200)
    s = node.new_session(sub="kim")
    c.check(node.check(s["access_token"]), "/v1/check", "get", expect=200)
    redis.kill9()
    assert wait_until(lambda: node.get("/readyz").status_code == 503, 10, step=0.02)
    c.check(node.get("/readyz"), "/readyz", expect=503)
    c.check(node.request("HEAD", "/readyz"), "/readyz", expect=503)
    c.check(node.check(s["access_token"]), "/v1/check", "get", expect=503)
    c.check(node.introspect(s["access_token"]), "/oauth/introspect", expect=503)
    c.check(node.admin("GET", "/v1/sessions"), "/v1/sessions", expect=503)
    c.check(node.admin("GET", f"/v1/sessions/{s['session_id']}"), "/v1/sessions/{session_id}",
            expect=503)
    c.check(node.admin("POST", "/v1/keys/rotate"), "/v1/keys/rotate", expect=503)
    c.check(node.admin("GET", "/v1/cluster"), "/v1/cluster", expect=200)


@pytest.fixture(scope="module")
def toured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    token = secrets.token_hex(8)
    srv = CurfewServer(tmp / "srv")
    flag = tmp / "fail-fsync"
    srv.metrics_token = token
    srv.start(CONFIG.format(origin=ORIGIN, hash=hash_secret(SECRET), token=token),
              env={"LD_PRELOAD": failsync(tmp), "CURFEW_FAILSYNC_FLAG": str(flag)})
    lim = CurfewServer(tmp / "limited")
    lock = CurfewServer(tmp / "lockout")
    dp = CurfewServer(tmp / "dpop")
    redis = RedisServer(tmp / "redis")
    node = CurfewServer(tmp / "node")
    c = Checker(load_spec())
    try:
        tour(c, srv, flag)
        lim.start(LIMITED)
        limited_tour(c, lim)
        lock.start(LOCKOUT)
        lockout_tour(c, lock)
        dp.start(DPOP)
        dpop_tour(c, dp)
        redis.start()
        node.start(f"store: {{ url: {redis.url} }}\ncluster: {{ max_staleness: 1s }}\n",
                   env={"CURFEW_KEK": secrets.token_hex(32)})
        cluster_tour(c, node, redis)
    finally:
        for x in (srv, lim, lock, dp, node):
            x.stop()
        redis.kill9()
    fail_on_sanitizer_reports([srv, lim, lock, dp, node])
    return c


def test_live_responses_match_the_document(toured):
    assert not toured.problems, "\n".join(toured.problems)


def test_every_operation_is_exercised(toured):
    spec = toured.spec
    missing = []
    for path, item in spec["paths"].items():
        for m in item:
            if m not in ("get", "post", "delete", "head", "options"):
                continue
            got = toured.seen.get((path, m), set())
            if not any(200 <= s < 300 for s in got):
                missing.append(f"{m.upper()} {path}: no success answer was checked")
    assert not missing, "\n".join(missing)


# Documented answers the tour cannot provoke on one node, and where they are tested.
NOT_TOURED = {
    ("/v1/keys/rotate", "post", 409): "two cluster nodes rotating in the same instant: "
        "test_keys_refusals.py::test_two_nodes_rotating_at_the_same_instant_exactly_one_wins",
}


def test_every_documented_answer_is_toured(toured):
    """Each (operation, status) of the document is provoked by the tour, or
    named above with the test that provokes it elsewhere."""
    untoured = []
    for path, item in toured.spec["paths"].items():
        for m, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for status in op["responses"]:
                key = (path, m, int(status))
                if int(status) not in toured.seen.get((path, m), set()) and key not in NOT_TOURED:
                    untoured.append(f"{m.upper()} {path} {status}")
    assert not untoured, "documented, never provoked:\n" + "\n".join(untoured)
    stale = [k for k in NOT_TOURED if k[2] in toured.seen.get(k[:2], set())]
    assert not stale, f"toured now, drop from NOT_TOURED: {stale}"


def test_reason_enum_is_the_binarys_reason_list():
    out = subprocess.run([str(curfew_bin()), "reasons"], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    names = re.findall(r"^\| `([a-z_]+)` \|", out, re.M)
    assert len(names) > 40, out[:400]
    reason = load_spec()["components"]["schemas"]["Reason"]["enum"]
    assert reason == names, (set(reason) ^ set(names), len(reason), len(names))


def test_checker_catches_drift(toured):
    """A checker that cannot fail proves nothing: mutate real answers and
    expect each mutation to be refused."""
    c = Checker(toured.spec)

    def sample(path, method, status):
        r = toured.samples[(path, method, status)]
        return dict(r.headers), json.loads(r.content) if r.content else None

    def refused(path, method, status, headers, body):
        raw = json.dumps(body).encode() if body is not None else b""
        return c.problems_of(path, method, status, headers, raw)

    h, body = sample("/v1/sessions", "post", 201)
    assert refused("/v1/sessions", "post", 201, h, body) == []     # the real one passes
    for mutate in (lambda b: b.pop("access_token"),
                   lambda b: b.update(expires_in="600"),
                   lambda b: b.update(token_type="bearer"),
                   lambda b: b.update(extra=1)):
        b = copy.deepcopy(body)
        mutate(b)
        assert refused("/v1/sessions", "post", 201, h, b), b

    h, body = sample("/v1/check", "get", 401)
    assert refused("/v1/check", "get", 401, h, body) == []
    b = dict(body, reason="no_such_reason")
    assert refused("/v1/check", "get", 401, h, b)
    assert refused("/v1/check", "get", 401, {k: v for k, v in h.items()
                                             if k.lower() != "www-authenticate"}, body)
    assert refused("/v1/check", "get", 401, dict(h, **{"Content-Type": "text/plain"}), body)
    assert refused("/v1/check", "get", 418, h, body)
    assert refused("/v1/check", "get", 401, dict(h, **{"X-Curfew-Secret": "1"}), body)

    h, body = sample("/v1/sessions/{session_id}", "get", 200)
    assert refused("/v1/sessions/{session_id}", "get", 200, h, body) == []
    for mutate in (lambda b: b.update(end_reason="session_revoked"),
                   lambda b: b.update(state="gone"),
                   lambda b: b.pop("idle_expires_at"),
                   lambda b: b.update(roles="user")):
        b = copy.deepcopy(body)
        mutate(b)
        assert refused("/v1/sessions/{session_id}", "get", 200, h, b), b

    # a counter for a reason that does not exist, a key's secret in a listing,
    # a reason on an active introspection, a 503 without Retry-After
    h, body = sample("/v1/stats", "get", 200)
    assert refused("/v1/stats", "get", 200, h, body) == []
    assert refused("/v1/stats", "get", 200, h, dict(body, checks_denied=dict(body["checks_denied"],
                                                                            bogus=0)))
    h, body = sample("/v1/apikeys", "get", 200)
    assert refused("/v1/apikeys", "get", 200, h, body) == []
    assert refused("/v1/apikeys", "get", 200, h, {"keys": [dict(body["keys"][0], key="cfk_x")]})
    h, body = sample("/oauth/introspect", "post", 200)
    assert refused("/oauth/introspect", "post", 200, h, dict(body, reason="logout"))
    h, body = sample("/v1/sessions", "post", 503)
    assert refused("/v1/sessions", "post", 503, h, body) == []
    assert refused("/v1/sessions", "post", 503, {k: v for k, v in h.items()
                                                 if k.lower() != "retry-after"}, body)

    h, _ = sample("/v1/check", "get", 429)
    assert refused("/v1/check", "get", 429, {k: v for k, v in h.items()
                                             if k.lower() != "retry-after"}, _)
    assert refused("/v1/check", "get", 429, dict(h, **{"Retry-After": "soon"}), _)


def test_refused_origin_answers_like_its_endpoint(start_curfew):
    """A page's origin its session's client does not allow: /v1/logout's 403
    carries the RFC 6750 challenge (api.md: every 400, 401 and 403 there does),
    /oauth/token's and /oauth/revoke's are no-store like their other refusals.
    Before, all three answered as the admin API did: neither."""
    srv = start_curfew("clients:\n  - {id: web, type: public, allowed_origins: [" + ORIGIN + "]}\n")
    s = srv.new_session(sub="ivy", client_id="web")
    evil = {"Origin": "https://evil.example.com"}
    r = srv.post("/v1/logout", headers={"Authorization": f"Bearer {s['access_token']}", **evil})
    assert r.status_code == 403 and r.json()["reason"] == "origin_not_allowed", r.text
    assert r.headers.get("WWW-Authenticate") == (
        'Bearer realm="curfew", error="access_denied", error_description="a CORS preflight from an'
        ' origin in no cors or client allowed_origins list, or a call from an origin its client'
        ' does not allow (or a missing, repeated or malformed Origin)"'), r.headers
    for path, form in (("/oauth/token", {"grant_type": "refresh_token",
                                         "refresh_token": s["refresh_token"], "client_id": "web"}),
                       ("/oauth/revoke", {"token": s["refresh_token"], "client_id": "web"})):
        r = srv.post(path, data=form, headers=evil)
        assert r.status_code == 403 and r.json()["reason"] == "origin_not_allowed", r.text
        assert r.headers.get("Cache-Control") == "no-store", (path, r.headers)
        assert "Access-Control-Allow-Origin" not in r.headers, r.headers
    # none of the refused calls changed anything: the session lives
    assert srv.check(s["access_token"]).status_code == 200


def schemas_of(spec):
    """(where, schema) for every schema of the document: components, bodies, headers, parameters."""
    out = [(f"components/schemas/{k}", v) for k, v in spec["components"]["schemas"].items()]
    out += [(f"components/headers/{k}", v["schema"]) for k, v in spec["components"]["headers"].items()]
    for path, item in spec["paths"].items():
        for m, op in item.items():
            if not isinstance(op, dict):
                continue
            for status, resp in op.get("responses", {}).items():
                for ctype, media in resp.get("content", {}).items():
                    out.append((f"{m} {path} {status} {ctype}", media.get("schema", {})))
                for name, h in resp.get("headers", {}).items():
                    if "schema" in h:
                        out.append((f"{m} {path} {status} {name}", h["schema"]))
            for ctype, media in op.get("requestBody", {}).get("content", {}).items():
                out.append((f"{m} {path} request {ctype}", media.get("schema", {})))
    return out


def test_every_schema_is_json_schema_2020_12():
    spec = load_spec()
    bad = []
    for where, schema in schemas_of(spec):
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            bad.append(f"{where}: {exc.message}")
    assert not bad, "\n".join(bad)
    assert "nullable" not in SPEC_PATH.read_text(), "OpenAPI 3.0's nullable: write type: [X, 'null']"


def test_no_json_answer_is_left_unconstrained():
    """{type: object} accepts any drift: every JSON answer but HEAD's names its fields."""
    spec = load_spec()
    c = Checker(spec)
    loose = []
    for path, item in spec["paths"].items():
        for m, op in item.items():
            if m == "head" or not isinstance(op, dict):
                continue
            for status, resp in op.get("responses", {}).items():
                media = c.deref(resp).get("content", {}).get("application/json")
                if media is None:
                    continue
                schema = c.deref(media["schema"])
                if not set(schema) & {"required", "oneOf", "allOf", "anyOf"}:
                    loose.append(f"{m.upper()} {path} {status}")
    assert not loose, "\n".join(loose)
