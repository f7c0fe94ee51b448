# SPDX-License-Identifier: MIT
"""A real Caddy (Debian 12's caddy 2.6.2) in front of a real curfew,
configured by the shipped deploy/caddy/Caddyfile (forward_auth to /v1/check).

    client --> caddy (deploy/caddy/Caddyfile) --forward_auth GET--> curfew /v1/check
                 |                               X-Forwarded-Method / X-Forwarded-Uri
                 +--> app (the echo server from test_nginx.py)

The shipped file is used verbatim except for text substitutions its header
documents: curfew's address (127.0.0.1:7070), the app's (127.0.0.1:8080) and
the site address (:8000, made ``http://127.0.0.1:PORT`` bound to loopback).
Caddy runs in the foreground (``caddy run``), never as a system service, with
HOME and the XDG directories in the test's temp dir; the shipped file turns
the admin endpoint off.

caddy must be installed (``apt-get install caddy``; scripts/deps.sh): a
missing caddy fails these tests, it does not skip them.
"""

import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import REPO_ROOT, free_port, stop_process
from test_nginx import EchoApp

SHIPPED = REPO_ROOT / "deploy" / "caddy" / "Caddyfile"
TIMEOUT = 5.0

ROUTES = """\
clock_leeway: 0s
roles: { admin: {} }
routes:
  - path_prefix: /admin
    require_roles: [admin]
  - path: /pay
    methods: [POST]
    max_auth_age: 5m
  - path_prefix: /closed
    deny: true
  - path: /public
    anonymous: true
"""


def caddy_binary():
    path = shutil.which("caddy") or ("/usr/bin/caddy" if os.path.exists("/usr/bin/caddy") else None)
    if path is None:
        pytest.fail("caddy is not installed (Debian 12 package `caddy`, 2.6.2; add it with"
                    " `apt-get install -y caddy` / scripts/deps.sh)")
    return path


def render_shipped(curfew_port, app_port, caddy_port):
    text = SHIPPED.read_text()
    lines = text.splitlines(keepends=True)
    subst = {"127.0.0.1:7070": f"127.0.0.1:{curfew_port}",
             "127.0.0.1:8080": f"127.0.0.1:{app_port}"}
    out, seen, site = [], {k: 0 for k in subst}, 0
    for line in lines:
        if not line.lstrip().startswith("#"):
            for k, v in subst.items():
                if k in line:
                    seen[k] += 1
                    line = line.replace(k, v)
            if line.strip() == ":8000 {":
                site += 1
                line = f"http://127.0.0.1:{caddy_port} {{\n\tbind 127.0.0.1\n"
        out.append(line)
    # curfew's address twice (forward_auth, and the proxy for its own client
    # endpoints), the application's once.
    assert seen == {"127.0.0.1:7070": 2, "127.0.0.1:8080": 1} and site == 1, \
        f"the shipped Caddyfile must name the addresses as its header says ({seen}, site {site})"
    return "".join(out)


class Caddy:
    def __init__(self, workdir, caddyfile_text):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file = self.dir / "Caddyfile"
        self.file.write_text(caddyfile_text)
        self.log = self.dir / "caddy.log"
        self.proc = None
        self.port = None
        for line in caddyfile_text.splitlines():
            if line.startswith("http://127.0.0.1:"):
                self.port = int(line.split(":")[2].split()[0])
        self.env = dict(os.environ, HOME=str(self.dir), XDG_DATA_HOME=str(self.dir / "data"),
                        XDG_CONFIG_HOME=str(self.dir / "config"))

    def validate(self):
        return subprocess.run([caddy_binary(), "validate", "--config", str(self.file),
                               "--adapter", "caddyfile"], env=self.env, cwd=self.dir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=30)

    def start(self):
        v = self.validate()
        assert v.returncode == 0, f"caddy validate rejected the file:\n{v.stdout}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([caddy_binary(), "run", "--config", str(self.file),
                                          "--adapter", "caddyfile"], env=self.env, cwd=self.dir,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"caddy exited with {self.proc.returncode}:\n{self.diag()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"caddy did not listen on {self.port}:\n{self.diag()}")

    def stop(self):
        stop_process(self.proc)

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def diag(self):
        out = [f"--- Caddyfile ---\n{self.file.read_text()}"]
        if self.log.exists():
            out.append(f"--- caddy.log ---\n{self.log.read_text(errors='replace')[-6000:]}")
        return "\n".join(out)


@pytest.fixture
def stack(start_curfew, tmp_path):
    curfew = start_curfew(ROUTES)
    app = EchoApp()
    caddy = Caddy(tmp_path / "caddy", render_shipped(curfew.port, app.port, free_port()))
    try:
        caddy.start()
        yield curfew, caddy, app
    finally:
        caddy.stop()
        app.close()


def through(caddy, token=None, path="/api/orders?page=2", method="GET", headers=None):
    h = {}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    return requests.request(method, caddy.url(path), headers=h, timeout=TIMEOUT,
                            allow_redirects=False)


def reached(r, caddy, sess, sub, roles=None):
    assert r.status_code == 200, f"through caddy: {r.status_code} {r.text}\n{caddy.diag()}"
    rec = r.json()
    h = {k.lower(): v for k, v in rec["headers"].items()}
    assert h.get("x-curfew-subject") == sub, rec
    assert rec["x_curfew_subject_count"] == 1, rec
    assert h.get("x-curfew-session") == sess["session_id"], rec
    if roles is not None:
        assert h.get("x-curfew-roles", "") == ",".join(roles), rec
    return rec


def refused(r, caddy, app, before, status, reason):
    assert r.status_code == status, f"through caddy: {r.status_code} {r.text}\n{caddy.diag()}"
    assert app.count() == before, "the app was reached although curfew refused"
    assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
    assert r.json().get("reason") == reason, r.text
    return r


# ---------------------------------------------------------------------------

def test_shipped_caddyfile_validates(tmp_path):
    c = Caddy(tmp_path / "c", render_shipped(free_port(), free_port(), free_port()))
    v = c.validate()
    assert v.returncode == 0, v.stdout
    text = SHIPPED.read_text()
    assert "forward_auth 127.0.0.1:7070" in text and "uri /v1/check" in text
    assert "copy_headers X-Curfew-Subject X-Curfew-Session X-Curfew-Roles" in text
    assert "admin off" in text


def test_live_token_reaches_upstream(stack):
    curfew, caddy, app = stack
    sess = curfew.new_session(sub="alice", roles=["user", "ops"])
    rec = reached(through(caddy, sess["access_token"]), caddy, sess, "alice", roles=["user", "ops"])
    assert rec["path"] == "/api/orders?page=2" and rec["method"] == "GET", rec
    r = through(caddy, sess["access_token"], method="POST", path="/api/orders")
    reached(r, caddy, sess, "alice")
    assert app.requests[-1]["method"] == "POST"


def test_forged_identity_headers_do_not_reach_app(stack):
    curfew, caddy, app = stack
    sess = curfew.new_session(sub="carol", roles=["user"])
    forged = {"X-Curfew-Subject": "mallory", "X-Curfew-Session": "forged", "X-Curfew-Roles": "admin"}
    reached(through(caddy, sess["access_token"], headers=forged), caddy, sess, "carol",
            roles=["user"])
    # On an anonymous route curfew sends no identity: the forged values must not pass either.
    r = through(caddy, None, path="/public", headers=forged)
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{caddy.diag()}"
    h = {k.lower(): v for k, v in r.json()["headers"].items()}
    assert "mallory" not in h.get("x-curfew-subject", ""), h
    assert "admin" not in h.get("x-curfew-roles", ""), h


def test_no_token_401_with_curfew_challenge(stack):
    curfew, caddy, app = stack
    before = app.count()
    r = through(caddy, None)
    refused(r, caddy, app, before, 401, "missing_token")
    chall = r.raw.headers.getlist("WWW-Authenticate")
    assert chall == [curfew.check(None).headers["WWW-Authenticate"]], chall
    assert chall == ['Bearer realm="curfew"'], chall


def test_revoked_token_401(stack):
    curfew, caddy, app = stack
    sess = curfew.new_session(sub="dave")
    reached(through(caddy, sess["access_token"]), caddy, sess, "dave")
    assert curfew.logout(sess["access_token"]).status_code == 204
    before = app.count()
    r = refused(through(caddy, sess["access_token"]), caddy, app, before, 401, "logout")
    assert 'error="invalid_token"' in r.headers.get("WWW-Authenticate", "")


def test_route_rules_through_caddy(stack):
    curfew, caddy, app = stack
    user = curfew.new_session(sub="u", roles=["user"])
    admin = curfew.new_session(sub="a", roles=["admin"])
    before = app.count()
    r = refused(through(caddy, user["access_token"], path="/admin/users?x=1", method="DELETE"),
                caddy, app, before, 403, "insufficient_role")
    assert 'error="insufficient_scope"' in r.headers.get("WWW-Authenticate", ""), dict(r.headers)
    reached(through(caddy, admin["access_token"], path="/admin/users", method="DELETE"), caddy,
            admin, "a")
    reached(through(caddy, user["access_token"], path="/orders"), caddy, user, "u")

    before = app.count()
    refused(through(caddy, admin["access_token"], path="/closed/x"), caddy, app, before, 403,
            "route_denied")

    old = curfew.new_session(sub="o", auth_time=int(time.time()) - 900)
    before = app.count()
    r = refused(through(caddy, old["access_token"], path="/pay", method="POST"), caddy, app, before,
                401, "step_up_required")
    www = r.headers.get("WWW-Authenticate", "")
    assert 'error="insufficient_user_authentication"' in www and "max_age=300" in www, www
    # GET /pay: the route is POST only.
    reached(through(caddy, old["access_token"], path="/pay"), caddy, old, "o")

    before = app.count()
    r = through(caddy, None, path="/public")
    assert r.status_code == 200 and app.count() == before + 1, r.text


def test_client_cannot_spoof_the_original_request(stack):
    """Behind Caddy, a client-sent X-Original-URI / -Method must not make
    curfew judge another path than the one Caddy forwards."""
    curfew, caddy, app = stack
    user = curfew.new_session(sub="u", roles=["user"])
    spoof = {"X-Original-URI": "/public", "X-Original-Method": "GET"}
    before = app.count()
    refused(through(caddy, user["access_token"], path="/admin/users", headers=spoof), caddy, app,
            before, 403, "insufficient_role")
    refused(through(caddy, None, path="/admin/users", headers=spoof), caddy, app, before, 401,
            "missing_token")


# ---------------------------------------------------------------------------
# issue 9 #1 and #14 through the real Caddy
# ---------------------------------------------------------------------------

import contextlib

from test_route_attacks import (E2E_REASONS, E2E_ROUTES, StaticBackend, assert_no_route_bypass,
                                assert_reasons_survive, raw_request)


@contextlib.contextmanager
def caddy_in_front_of(curfew, backend, tmp_path):
    caddy = Caddy(tmp_path / "caddy", render_shipped(curfew.port, backend.port, free_port()))
    try:
        caddy.start()
        yield caddy
    finally:
        caddy.stop()
        backend.close()


def test_route_rules_cannot_be_escaped_through_caddy(start_curfew, tmp_path):
    curfew = start_curfew(E2E_ROUTES)
    with caddy_in_front_of(curfew, StaticBackend(tmp_path / "www"), tmp_path) as caddy:
        assert_no_route_bypass(caddy.port, curfew)


def test_refusal_reasons_survive_caddy(start_curfew, tmp_path):
    curfew = start_curfew(E2E_REASONS)
    with caddy_in_front_of(curfew, EchoApp(), tmp_path) as caddy:
        def get(path, tok, method):
            return through(caddy, tok, path=path, method=method)
        assert_reasons_survive(get, curfew, "caddy")


def test_invalid_path_is_400_with_reason_through_caddy(stack):
    curfew, caddy, app = stack
    before = app.count()
    status, headers, body = raw_request(caddy.port, "/public/..%2fadmin/users")
    assert status == 400 and app.count() == before, (status, body)
    assert headers.get("X-Curfew-Reason") == "invalid_path" and '"reason":"invalid_path"' in body


def test_curfew_client_endpoints_pass_without_a_check(stack):
    curfew, caddy, app = stack
    # (not a 1 s token: its exp is whole seconds, so it can expire a millisecond
    # after the refresh and the last check would say token_expired, not logout)
    sess = curfew.new_session(sub="ref", access_ttl="30s")
    before = app.count()
    r = requests.post(caddy.url("/oauth/token"), data={"grant_type": "refresh_token",
                      "refresh_token": sess["refresh_token"]},
                      headers={"Authorization": f"Bearer {sess['access_token']}"}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json().get("access_token"), f"{r.status_code} {r.text}"
    new = r.json()
    r = requests.get(caddy.url("/.well-known/jwks.json"), timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["keys"], r.text
    r = requests.post(caddy.url("/v1/logout"), headers={"Authorization": f"Bearer {new['access_token']}"},
                      timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert app.count() == before, "curfew's endpoints were sent to the application"
    r = through(caddy, new["access_token"], path="/x")
    assert r.status_code == 401 and r.json()["reason"] == "logout", r.text
    # The admin API is not exposed, and a dot segment does not leave the check.
    status, _, _ = raw_request(caddy.port, "/oauth/../admin/users")
    assert status == 401 and app.count() == before, status
    status, _, _ = raw_request(caddy.port, "/v1/sessions")
    assert status == 401 and app.count() == before, status
