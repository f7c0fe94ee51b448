# SPDX-License-Identifier: MIT
"""Every error answer has one shape, {"error", "error_description", "reason"},
and the status, error and description docs/api.md promise for its reason.

The expectations are read from docs/api.md itself (the reason table and the
limits table), so a drift between the server and the docs fails here."""
import json
import pathlib
import re
import socket

import pytest
import requests

from conftest import (basic_auth, hash_secret, parse_raw_response, www_authenticate_params)

ROOT = pathlib.Path(__file__).resolve().parents[2]
API_MD = (ROOT / "docs/api.md").read_text()
KINDS = ("bearer", "token", "api")


def doc_reasons():
    """{reason: {"bearer": (status, error), "token": ..., "api": ..., "desc": text}}."""
    block = API_MD[API_MD.index("<!-- BEGIN curfew reasons -->"):API_MD.index("<!-- END curfew reasons -->")]
    out = {}
    for line in block.splitlines():
        m = re.match(r"\| `([a-z_]+)` \| (.*) \|$", line)
        if not m:
            continue
        cells = [c.strip() for c in m.group(2).split(" | ")]
        row = {"desc": cells[3]}
        for kind, cell in zip(KINDS, cells[:3]):
            st, err = re.fullmatch(r"(\d+) `([a-z_]+)`", cell).groups()
            row[kind] = (int(st), err)
        out[m.group(1)] = row
    assert len(out) >= 40, out
    return out


def doc_limits():
    """{reason: (status, error)} from the "Limits and protocol errors" table."""
    sec = API_MD[API_MD.index("### Limits and protocol errors"):]
    sec = sec[:sec.index("\n### ")]
    out = {}
    for line in sec.splitlines():
        m = re.match(r"\| .* \| (\d+)[^|]* \| `([a-z_]+)` \| `([a-z_]+)` \|$", line)
        if m:
            out[m.group(3)] = (int(m.group(1)), m.group(2))
    assert len(out) >= 12, out
    return out


REASONS = doc_reasons()
LIMITS = doc_limits()


def check_body(status, ctype, body, kind, reason, www=None):
    """The common assertions: shape, the docs row of ``reason`` for ``kind``."""
    assert ctype.startswith("application/json"), ctype
    doc = json.loads(body)
    assert set(doc) == {"error", "error_description", "reason"}, doc
    assert all(isinstance(v, str) and v for v in doc.values()), doc
    assert doc["reason"] == reason, doc
    assert reason in REASONS, f"{reason} is not in docs/api.md's reason table"
    assert (status, doc["error"]) == REASONS[reason][kind], (status, doc, REASONS[reason])
    if reason in LIMITS:
        assert (status, doc["error"]) == LIMITS[reason], (status, doc, LIMITS[reason])
    if kind == "bearer" and status in (400, 401, 403) and reason != "missing_token":
        scheme, params = www_authenticate_params(www or "")
        assert scheme == "Bearer" and params.get("realm") == "curfew", www
        assert params.get("error") == doc["error"], www
        assert params.get("error_description") == REASONS[reason]["desc"], www
    return doc


def check(r, kind, reason):
    doc = check_body(r.status_code, r.headers.get("Content-Type", ""), r.content, kind, reason,
                     r.headers.get("WWW-Authenticate"))
    # api.md: every error answer with a reason also carries it as X-Curfew-Reason
    assert r.headers.get("X-Curfew-Reason") == reason, dict(r.headers)
    return doc


def check_raw(data, reason, kind="api"):
    status, headers, body = parse_raw_response(data)
    doc = check_body(status, headers.get("content-type", ""), body, kind, reason,
                     headers.get("www-authenticate"))
    # the HTTP layer's own answers too (411, 413, 431, 505, ...): a proxy sees only headers
    assert headers.get("x-curfew-reason") == reason, headers
    return doc


def test_docs_tables_parse():
    # Every reason in the limits table is a reason of the reason table, with the same answer.
    for reason, answer in LIMITS.items():
        assert REASONS[reason]["api"] == answer, reason


# ---- the HTTP layer ------------------------------------------------------------


def test_malformed_http_is_invalid_request(curfew):
    check_raw(curfew.raw(b"GET / HTTP/1.1\r\nHost x\r\n\r\n"), "invalid_request")
    check_raw(curfew.raw(b"\x00\x01garbage\r\n\r\n"), "invalid_request")


def test_http_version_not_supported(curfew):
    check_raw(curfew.raw(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"), "http_version_not_supported")


def test_post_without_length_is_length_required(curfew):
    check_raw(curfew.raw(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n"), "length_required")


def test_body_over_the_cap_is_payload_too_large(curfew):
    head = b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    check_raw(curfew.raw(head + b"Content-Length: 16385\r\n\r\n"), "payload_too_large")
    # Negative and absurd lengths are malformed, not a crash.
    check_raw(curfew.raw(head + b"Content-Length: 99999999999999999999999\r\n\r\n"), "invalid_request")


def test_headers_over_the_cap_are_headers_too_large(curfew):
    check_raw(curfew.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n"),
              "headers_too_large")
    many = b"".join(b"X-%d: y\r\n" % i for i in range(70))
    check_raw(curfew.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"), "headers_too_large")


def test_slow_request_is_request_timeout(start_curfew):
    srv = start_curfew("limits: { client_timeout: 1s }\n")
    check_raw(srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n", read_timeout=4), "request_timeout")


def test_connection_over_the_cap_is_too_many_connections(start_curfew):
    srv = start_curfew("limits: { max_connections: 2 }\n")
    held = []
    try:
        for _ in range(2):  # served once, so both are surely accepted and counted
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            held.append(s)
        check_raw(srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), "too_many_connections")
    finally:
        for s in held:
            s.close()


# ---- routing and bodies ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1/sessionsX", "/v1/%2e%2e/healthz", "/dashboard/nope.js"])
def test_unknown_path_is_not_found(curfew, path):
    check(curfew.get(path), "api", "not_found")


@pytest.mark.parametrize("method,path", [("GET", "/v1/logout"), ("PUT", "/v1/sessions"),
                                         ("DELETE", "/oauth/token"), ("POST", "/healthz"),
                                         ("POST", "/dashboard")])
def test_wrong_method_is_method_not_allowed(curfew, method, path):
    r = curfew.request(method, path, data=b"{}" if method in ("POST", "PUT") else None)
    check(r, "api", "method_not_allowed")
    assert r.headers.get("Allow"), r.headers


def test_admin_errors(curfew):
    r = curfew.post("/v1/sessions", json={"sub": "a"})
    check(r, "api", "admin_unauthorized")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="curfew-admin"'
    h = curfew.admin_headers()
    check(curfew.post("/v1/sessions", headers={**h, "Content-Type": "text/plain"}, data=b"{}"),
          "api", "unsupported_media_type")
    # The last two: the parser's message quotes bytes that are not UTF-8 (a bad
    # escape before them); the answer had no body at all (found by fuzz_body).
    for bad in (b"{", b"[1]", b'{"sub":"a","sub":"b"}', b"\xff", b'{"a":"\\\xd1\xb1\x05"}',
                b'{"sub":"a","x":"\\\x00\xff"}'):
        check(curfew.post("/v1/sessions", headers={**h, "Content-Type": "application/json"}, data=bad),
              "api", "invalid_json")
    check(curfew.post("/v1/sessions", headers=h, json={}), "api", "invalid_request")
    check(curfew.post("/v1/sessions", headers=h, json={"sub": 7}), "api", "invalid_request")
    check(curfew.get("/v1/sessions/" + "A" * 22, headers=h), "api", "session_not_found")
    check(curfew.post("/v1/revocations", headers=h, json={}), "api", "invalid_request")


def test_metrics_token_refusal(start_curfew):
    srv = start_curfew("metrics: { token: s3cret-token-for-scrapes }\n")
    r = srv.get("/metrics")
    check(r, "api", "metrics_unauthorized")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="curfew-metrics"'


# ---- /oauth/* ----------------------------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_token_endpoint_errors(curfew):
    def post(data, path="/oauth/token", headers=FORM):
        return curfew.post(path, headers=headers, data=data)

    r = post(b"grant_type=password&username=a")
    check(r, "token", "unsupported_grant_type")
    assert r.headers.get("Cache-Control") == "no-store"
    check(post(b"refresh_token=x"), "token", "invalid_request")
    check(post(b"grant_type=refresh_token"), "token", "invalid_request")
    check(post(b"grant_type=refresh_token&grant_type=refresh_token&refresh_token=x"), "token",
          "invalid_request")
    check(post(b"grant_type=refresh_token&refresh_token=%zz"), "token", "invalid_request")
    check(post(b"grant_type=refresh_token&refresh_token=nope"), "token", "unknown_refresh_token")
    check(post(b"grant_type=client_credentials"), "token", "unsupported_grant_type")
    check(post(b"{}", headers={"Content-Type": "application/json"}), "token", "unsupported_media_type")
    check(post(b"", path="/oauth/revoke"), "token", "invalid_request")
    check(post(b"token=x", path="/oauth/introspect"), "api", "admin_unauthorized")


def test_refresh_of_an_ended_session(curfew):
    s = curfew.new_session(sub="alice")
    curfew.logout(s["access_token"])
    check(curfew.refresh(s["refresh_token"]), "token", "logout")


def test_client_errors(start_curfew):
    secret = "correct horse battery"
    srv = start_curfew(f"""
clients:
  - id: svc
    type: confidential
    secret_hash: "{hash_secret(secret)}"
    allowed_grants: [client_credentials]
    scope: read
  - id: web
""")
    r = srv.post("/oauth/token", headers={**FORM, **basic_auth("svc", "wrong")},
                 data=b"grant_type=client_credentials")
    check(r, "token", "invalid_client")
    assert r.headers["WWW-Authenticate"] == 'Basic realm="curfew"'
    check(srv.post("/oauth/token", headers={**FORM, **basic_auth("svc", secret)},
                   data=b"grant_type=client_credentials&scope=write"), "token", "invalid_scope")
    check(srv.post("/oauth/token", headers={**FORM, **basic_auth("svc", secret)},
                   data=b"grant_type=refresh_token&refresh_token=x"), "token", "unauthorized_client")
    check(srv.post("/oauth/token", headers={**FORM, **basic_auth("svc", secret)},
                   data=b"grant_type=client_credentials&client_secret=x"), "token", "invalid_request")


# ---- /v1/check and /v1/logout ---------------------------------------------------------


def test_bearer_refusals(curfew):
    r = curfew.check()
    check(r, "bearer", "missing_token")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="curfew"'
    check(curfew.check(headers={"Authorization": "Bearer a b"}), "bearer", "invalid_request")
    check(curfew.check("not.a.jwt"), "bearer", "malformed_token")
    s = curfew.new_session(sub="bob")
    curfew.admin("DELETE", "/v1/sessions/" + s["session_id"])
    check(curfew.check(s["access_token"]), "bearer", "session_revoked")
    check(curfew.post("/v1/logout", headers={"Authorization": "Bearer " + s["access_token"]}),
          "bearer", "session_revoked")
    check(curfew.post("/v1/logout"), "bearer", "missing_token")


def test_every_documented_reason_names_a_real_code():
    # The wire names in the other docs tables all appear in the reason table.
    end_reasons = {"revoked"}  # session end reasons, not refusal codes
    for name in re.findall(r"reason `([a-z_]+)`", API_MD):
        assert name in REASONS or name in end_reasons, name
