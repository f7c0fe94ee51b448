# SPDX-License-Identifier: MIT
"""Route rules cannot be escaped by spelling the path differently
(issue 9, defect 1).

Routes compare strings, backends resolve paths. curfew normalizes the path it
is asked about (RFC 3986 §6.2.2: unreserved escapes decoded, other escapes
upper-cased, `//` merged, dot segments removed, `;params` cut) before any
route is matched, and refuses with 400 `invalid_path` a path that servers
read differently (encoded `/` or `\\`, NUL, a `..` above the root, `..;`).

These tests ask /v1/check directly the way each proxy does: nginx
(X-Original-URI), Caddy/Traefik (X-Forwarded-Uri) and Envoy (the path below
/v1/check). The same attacks through the real nginx and Caddy are in
test_nginx_routes.py and test_caddy.py.
"""

import pytest

from conftest import run_curfew

ROUTES = """\
clock_leeway: 0s
roles: { admin: {} }
routes:
  - path_prefix: /admin/
    require_roles: [admin]
  - path_prefix: /internal/
    deny: true
  - path_glob: /api/*/delete
    require_roles: [admin]
  - path_prefix: /public/
    anonymous: true
"""

# Spellings of a path under /public/ that are really /admin/users.
ANON_ESCAPES = [
    "/public/../admin/users",
    "/public/./../admin/users",
    "/public/%2e%2e/admin/users",
    "/public/%2E%2E/admin/users",
    "/public/.%2e/admin/users",
    "/public//../admin/users",
    "/public/x/../../admin/users",
    "/public;x/../admin/users",
    "/public/../admin/users?/public/",
    "/public/../admin/users#/public/",
    "/public/../%61dmin/users",
    "http://evil.example/public/../admin/users",
]

# Spellings of /admin/users (require_roles: admin).
ADMIN_SPELLINGS = [
    "/admin/users",
    "/%61dmin/users",
    "/%61%64%6D%69%6E/users",
    "/ad%6din/users",
    "/x/../admin/users",
    "//admin/users",
    "///admin//users",
    "/./admin/users",
    "/admin;jsessionid=1/users",
    "/admin/users/..",          # trailing /.. -> /admin/
    "/admin/.",
    "/admin/users?x=/public/",
]

# Spellings of /api/7/delete (path_glob: /api/*/delete).
GLOB_SPELLINGS = [
    "/api/7/delete",
    "/api/7//delete",
    "/api/7/./delete",
    "/api//7/delete",
    "/api/%37/delete",
    "/api/7/delete;x=1",
    "/api/7/x/../delete",
    "/api/7/%64elete",
]

# Paths servers disagree on: refused, never guessed.
INVALID = [
    "/admin%2fusers",
    "/admin%2Fusers",
    "/public/..%2fadmin/users",
    "/public/..%2Fadmin/users",
    "/public/%2e%2e%2fadmin/users",
    "/public/..%5cadmin/users",
    "/public/..\\admin/users",
    "/public\\..\\admin\\users",
    "/public/%00/../admin",
    "/..",
    "/../admin/users",
    "/public/../..",
    "/public/../../admin/users",
    "/%2e%2e/admin/users",
    "/public/..;/admin/users",
    "/public/..;x=1/admin/users",
    "/public/.;/admin/users",
    "/public/%zz",
    "/public/%4",
    "*",
    "public/../admin/users",
]


@pytest.fixture
def srv(start_curfew):
    return start_curfew(ROUTES)


def ask(srv, path, token=None, header="X-Original-URI", method="GET"):
    mh = "X-Original-Method" if header == "X-Original-URI" else "X-Forwarded-Method"
    return srv.check(token, headers={header: path, mh: method})


def reason(r):
    return r.json().get("reason")


HEADERS = ["X-Original-URI", "X-Forwarded-Uri"]


@pytest.mark.parametrize("header", HEADERS)
def test_no_token_cannot_reach_admin_through_the_anonymous_route(srv, header):
    for path in ANON_ESCAPES:
        r = ask(srv, path, header=header)
        assert r.status_code == 401 and reason(r) == "missing_token", (path, r.status_code, r.text)
        assert r.headers.get("X-Curfew-Reason") == "missing_token", (path, dict(r.headers))
    # The anonymous route itself still works, in any spelling of it.
    for path in ("/public/x", "/public/a/../b", "/%70ublic/x", "/public//x", "/public/x;y"):
        assert ask(srv, path, header=header).status_code == 200, path


@pytest.mark.parametrize("header", HEADERS)
def test_user_without_role_cannot_reach_admin_in_any_spelling(srv, header):
    user = srv.new_session(sub="u", roles=["user"])["access_token"]
    admin = srv.new_session(sub="a", roles=["admin"])["access_token"]
    for path in ADMIN_SPELLINGS:
        r = ask(srv, path, user, header=header)
        assert r.status_code == 403 and reason(r) == "insufficient_role", (path, r.status_code, r.text)
        assert r.headers.get("X-Curfew-Reason") == "insufficient_role"
        assert ask(srv, path, admin, header=header).status_code == 200, path
    for path in GLOB_SPELLINGS:
        for m in ("GET", "DELETE"):
            r = ask(srv, path, user, header=header, method=m)
            assert r.status_code == 403 and reason(r) == "insufficient_role", (path, r.text)
    # Paths beside the glob are not caught by it.
    for path in ("/api/7/deleted", "/api/7/8/delete", "/api/delete"):
        assert ask(srv, path, user, header=header).status_code == 200, path


@pytest.mark.parametrize("header", HEADERS)
def test_deny_route_cannot_be_escaped(srv, header):
    tok = srv.new_session(sub="d", roles=["admin"])["access_token"]
    for path in ("/internal/secret", "/%69nternal/secret", "/%69%6E%74ernal/secret",
                 "//internal/secret", "/x/../internal/secret", "/public/../internal/secret",
                 "/internal;a/secret", "/internal/./secret"):
        r = ask(srv, path, tok, header=header)
        assert r.status_code == 403 and reason(r) == "route_denied", (path, r.status_code, r.text)
        r = ask(srv, path, None, header=header)
        assert r.status_code == 403 and reason(r) == "route_denied", (path, r.status_code, r.text)


@pytest.mark.parametrize("header", HEADERS)
def test_ambiguous_paths_are_refused_with_invalid_path(srv, header):
    admin = srv.new_session(sub="a", roles=["admin"])["access_token"]
    for path in INVALID:
        for tok in (None, admin):
            r = ask(srv, path, tok, header=header)
            assert r.status_code == 400, (path, r.status_code, r.text)
            body = r.json()
            assert body == {"error": "invalid_request", "error_description": body["error_description"],
                            "reason": "invalid_path"}, (path, body)
            assert r.headers.get("X-Curfew-Reason") == "invalid_path"
            assert "X-Curfew-Subject" not in r.headers


def test_paths_are_case_sensitive_and_decoded_once(srv):
    """RFC 3986 §6.2.2.1: the path is case-sensitive, so /ADMIN is another
    path (a backend that folds case needs case-folded rules; docs/api.md).
    %25 decodes to a literal '%', never to the start of a second escape."""
    user = srv.new_session(sub="u", roles=["user"])["access_token"]
    for path in ("/ADMIN/users", "/Admin/users", "/%2561dmin/users", "/%25%36%31dmin/users",
                 "/admin"):
        r = ask(srv, path, user)
        assert r.status_code == 200, (path, r.status_code, r.text)
    assert ask(srv, "/public/%252e%252e/admin/users").status_code == 200


def test_very_long_paths(srv):
    # 1500 segments up and 1501 back down: /admin/users, a 7.5 KB header.
    path = "/public/" + "x/" * 1500 + "../" * 1501 + "admin/users"
    r = ask(srv, path)
    assert r.status_code == 401 and reason(r) == "missing_token", r.text
    r = ask(srv, "/public/" + "x/" * 1500 + "../" * 1502 + "admin/users")
    assert r.status_code == 400 and reason(r) == "invalid_path", r.text
    assert ask(srv, "/public/" + "a" * 7000).status_code == 200
    # Longer than the header limit: refused by the parser, not a crash.
    r = ask(srv, "/public/" + "a" * 9000)
    assert r.status_code == 431, r.status_code
    assert srv.check(None).status_code == 401


def test_duplicate_path_headers_are_refused(srv):
    for name in ("X-Original-URI", "X-Forwarded-Uri"):
        raw = (f"GET /v1/check HTTP/1.1\r\nHost: x\r\n{name}: /public/x\r\n"
               f"{name}: /admin/users\r\nConnection: close\r\n\r\n").encode()
        out = srv.raw(raw)
        assert out.startswith(b"HTTP/1.1 400"), out[:200]
        assert b"X-Curfew-Reason: invalid_path" in out, out


def test_envoy_style_path_below_check_is_normalized(srv):
    """Envoy appends the original path to /v1/check; sent raw so that no
    client library removes the dot segments first."""
    def raw(path):
        return srv.raw(f"GET /v1/check{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert raw("/public/x").startswith(b"HTTP/1.1 200")
    for path in ("/public/../admin/users", "/public/%2e%2e/admin/users", "/public//../admin/users"):
        out = raw(path)
        assert out.startswith(b"HTTP/1.1 401") and b"missing_token" in out, (path, out[:300])
    out = raw("/public/..%2fadmin/users")
    assert out.startswith(b"HTTP/1.1 400") and b"invalid_path" in out, out[:300]


def test_without_routes_the_path_is_not_judged(start_curfew):
    """No routes, no path rule to escape: an app that uses %2F is unaffected."""
    srv = start_curfew("clock_leeway: 0s\n")
    tok = srv.new_session(sub="a")["access_token"]
    assert srv.check(tok, headers={"X-Original-URI": "/files/a%2Fb"}).status_code == 200


def test_policy_explain_matches_the_normalized_path(srv):
    cfg = srv.config_path
    r = run_curfew("policy", "explain", "--config", cfg, "--path", "/public/../%61dmin/users")
    assert r.returncode == 0, r.stderr
    assert "normalized path: /admin/users" in r.stdout and "path_prefix: /admin/" in r.stdout, r.stdout
    r = run_curfew("policy", "explain", "--config", cfg, "--path", "/public/..%2fadmin/users")
    assert r.returncode == 0, r.stderr
    assert "invalid_path" in r.stdout and "anonymous" not in r.stdout, r.stdout


def test_every_refusal_names_its_reason_in_a_header(start_curfew):
    """X-Curfew-Reason (issue 9, defect 14): a proxy sees headers only."""
    srv = start_curfew(ROUTES + "rate_limits:\n  check_failures: { rate: 2/60s, burst: 2, key: [ip] }\n")
    # An accepted check carries none.
    ok = ask(srv, "/public/x")
    assert ok.status_code == 200 and "X-Curfew-Reason" not in ok.headers
    r = ask(srv, "/x", "garbage")
    assert r.status_code == 401 and r.headers["X-Curfew-Reason"] == reason(r) == "malformed_token"
    r = ask(srv, "/internal/x")
    assert r.status_code == 403 and r.headers["X-Curfew-Reason"] == "route_denied"
    ask(srv, "/x")
    r = ask(srv, "/x")
    assert r.status_code == 429 and r.headers["X-Curfew-Reason"] == reason(r) == "rate_limited", r.text
    assert int(r.headers["Retry-After"]) >= 1


# ---------------------------------------------------------------------------
# Helpers for the same attacks end to end, through the real nginx and Caddy
# (used by test_nginx_routes.py and test_caddy.py)
# ---------------------------------------------------------------------------

import http.client
import re
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from conftest import REPO_ROOT, www_authenticate_params

E2E_ROUTES = ROUTES + """\
  - path: /pay
    methods: [POST]
    max_auth_age: 5m
"""
E2E_REASONS = E2E_ROUTES + """\
rate_limits:
  check_failures: { rate: 8/60s, burst: 8, key: [ip] }
"""

SECRETS = {"admin/users": "ADMIN-SECRET", "internal/secret": "INTERNAL-SECRET",
           "api/7/delete": "DELETE-DONE", "public/x": "PUBLIC-OK", "pay": "PAID"}

# Every variant of issue 9 #1, as the client sends it (raw, never cleaned by
# a client library): none may give a caller without the role the secret.
E2E_ATTACKS = [
    "/public/../admin/users", "/public/%2e%2e/admin/users", "/public/.%2E/admin/users",
    "/public//../admin/users", "/public/x/../../admin/users", "/public;x/../admin/users",
    "/public/../%61dmin/users", "/public/..;/admin/users", "/public/..%2fadmin/users",
    "/public/..%2Fadmin/users", "/public/..%5cadmin/users", "/public/..\\admin/users",
    "/%61dmin/users", "/%61%64%6d%69%6e/users", "/x/../admin/users", "//admin/users",
    "///admin//users", "/./admin/users", "/admin;x/users", "/admin%2fusers",
    "/admin/users/..", "/admin/users/.", "/ADMIN/users", "/Admin/users", "/%2561dmin/users",
    "/public/" + "x/" * 1000 + "../" * 1001 + "admin/users",
    "/%69nternal/secret", "//internal/secret", "/public/../internal/secret",
    "/internal/./secret", "/%2e/internal/secret",
    "/api/7//delete", "/api/7/./delete", "/api/%37/delete", "/api//7/delete",
    "/api/7/x/../delete", "/public/../api/7/delete",
]


class StaticBackend:
    """Python's http.server serving files, as a static backend does: it
    percent-decodes the whole path and removes dot segments before it opens
    a file, i.e. it normalizes (more than RFC 3986 does)."""

    def __init__(self, root):
        self.root = root
        for rel, secret in SECRETS.items():
            f = root / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(secret)

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                return self.do_GET()

            do_DELETE = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def raw_request(port, path, token=None, method="GET"):
    """(status, headers, body) for ``path`` sent byte for byte as given."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        if token is not None:
            c.putheader("Authorization", f"Bearer {token}")
        c.putheader("Content-Length", "0")
        c.endheaders()
        r = c.getresponse()
        return r.status, r.headers, r.read().decode(errors="replace")
    finally:
        c.close()


def assert_no_route_bypass(port, curfew):
    """Through a proxy on ``port`` in front of a StaticBackend."""
    user = curfew.new_session(sub="u", roles=["user"])["access_token"]
    admin = curfew.new_session(sub="a", roles=["admin"])["access_token"]
    # The backend really serves the secrets, so each check below can fail.
    assert raw_request(port, "/admin/users", admin)[2] == "ADMIN-SECRET"
    assert raw_request(port, "/api/7/delete", admin, "DELETE")[2] == "DELETE-DONE"
    assert raw_request(port, "/public/x")[2] == "PUBLIC-OK"
    assert raw_request(port, "/%61dmin/users", admin)[2] == "ADMIN-SECRET"
    leaks = []
    for path in E2E_ATTACKS:
        for who, tok in (("no token", None), ("user", user)):
            for method in ("GET", "DELETE"):
                status, _, body = raw_request(port, path, tok, method)
                if any(s in body for s in ("ADMIN-SECRET", "INTERNAL-SECRET", "DELETE-DONE")):
                    leaks.append((path[:60], who, method, status))
    assert not leaks, f"route rules escaped: {leaks}"


def docs_descriptions():
    """{reason: description} from the reason table of docs/api.md."""
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    # | `reason` | check | oauth | other | description |: the last column.
    return dict(re.findall(r"^\| `([a-z_]+)` \|(?:[^|\n]*\|){3} ([^|\n]+?) \|$",
                           text[text.index("## Reason codes"):], re.M))


def assert_reasons_survive(get, curfew, label):
    """token_expired, idle_timeout, session_revoked, insufficient_role,
    step_up_required and rate_limited through a proxy: ``get(path, token,
    method)`` asks through it. Each refusal must carry curfew's status,
    X-Curfew-Reason, a JSON body with the reason, exactly curfew's
    WWW-Authenticate, whose description is the one docs/api.md gives."""
    docs = docs_descriptions()
    expiring = curfew.new_session(sub="e", access_ttl="1s")
    idle = curfew.new_session(sub="i", idle_timeout="1s")
    revoked = curfew.new_session(sub="r")
    user = curfew.new_session(sub="u", roles=["user"])
    old = curfew.new_session(sub="o", auth_time=int(time.time()) - 900)
    assert curfew.admin("DELETE", f"/v1/sessions/{revoked['session_id']}").status_code == 200
    time.sleep(2.2)
    cases = [
        ("token_expired", expiring["access_token"], "/x", "GET", 401),
        ("idle_timeout", idle["access_token"], "/x", "GET", 401),
        ("session_revoked", revoked["access_token"], "/x", "GET", 401),
        ("insufficient_role", user["access_token"], "/admin/users", "GET", 403),
        ("step_up_required", old["access_token"], "/pay", "POST", 401),
    ]
    for reason, tok, path, method, status in cases:
        r = get(path, tok, method)
        direct = curfew.check(tok, headers={"X-Original-URI": path, "X-Original-Method": method})
        assert direct.status_code == status and direct.json()["reason"] == reason, direct.text
        assert r.status_code == status, f"{label} {reason}: {r.status_code} {r.text}"
        assert r.headers.get("X-Curfew-Reason") == reason, (label, reason, dict(r.headers))
        assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
        body = r.json()
        assert body["reason"] == reason and body["error"] == direct.json()["error"], (label, body)
        chall = r.raw.headers.getlist("WWW-Authenticate")
        assert chall == [direct.headers["WWW-Authenticate"]], (label, reason, chall)
        _, params = www_authenticate_params(chall[0])
        assert params["error_description"] == docs[reason], (label, reason, params)
        assert body["error_description"] == docs[reason], (label, body)
    # rate_limited: failed checks from this address until the limit answers.
    for _ in range(20):
        r = get("/x", "not.a.jwt", "GET")
        if r.status_code == 429:
            break
        assert r.status_code == 401, (label, r.status_code, r.text)
    assert r.status_code == 429, (label, r.status_code, r.text)
    assert r.headers.get("X-Curfew-Reason") == "rate_limited", (label, dict(r.headers))
    assert r.json()["reason"] == "rate_limited", (label, r.text)
    assert r.headers.get("Retry-After", "").isdigit() and int(r.headers["Retry-After"]) >= 1
