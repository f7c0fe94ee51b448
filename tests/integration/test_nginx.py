# SPDX-License-Identifier: MIT
"""A real nginx in front of a real curfew, configured by the shipped
deploy/nginx/curfew.conf (auth_request to /v1/check).

Topology (all on 127.0.0.1, free ports, started and stopped by the fixtures):

    client --> nginx (deploy/nginx/curfew.conf) --auth_request--> curfew /v1/check
                  |
                  +--> app: a Python http.server that echoes, as JSON, the
                       X-Curfew-* headers it received

The shipped config is used verbatim except for three text substitutions that
its header documents: the curfew address (127.0.0.1:7070), the app address
(127.0.0.1:8080) and nginx's own ``listen 8000``.

nginx must be installed (``make test`` / scripts/deps.sh install it): a missing
nginx fails these tests, it does not skip them.
"""

import json
import os
import shutil
import subprocess
import threading
import time
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_port

SHIPPED_CONF = REPO_ROOT / "deploy" / "nginx" / "curfew.conf"
CURFEW_ADDR = "127.0.0.1:7070"
APP_ADDR = "127.0.0.1:8080"
LISTEN = "listen 8000;"
CACHE_PATH = "proxy_cache_path /var/lib/nginx/curfew-checks "
TIMEOUT = 5.0


# ---------------------------------------------------------------------------
# The protected application: echoes what nginx forwarded
# ---------------------------------------------------------------------------

class EchoApp:
    """A threaded HTTP server that answers every request with 200 and a JSON
    body {"method", "path", "headers": {...X-Curfew-* and Authorization...}},
    and remembers every request it received."""

    def __init__(self):
        app = self
        self.requests = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True      # headers and body are separate writes

            def log_message(self, *args):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                seen = {k: v for k, v in self.headers.items()
                        if k.lower().startswith("x-curfew-") or k.lower() == "authorization"}
                rec = {"method": self.command, "path": self.path, "headers": seen,
                       "x_curfew_subject_count": len(self.headers.get_all("X-Curfew-Subject") or [])}
                with app.lock:
                    app.requests.append(rec)
                body = json.dumps(rec).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# nginx as a non-daemon child with a generated config
# ---------------------------------------------------------------------------

def nginx_binary():
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if path is None:
        pytest.fail("nginx is not installed (Debian package `nginx`, installed by scripts/deps.sh"
                    " via `make test`); the nginx integration test cannot run without it")
    v = subprocess.run([path, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if "--with-http_auth_request_module" not in v.stdout:
        pytest.fail(f"{path} lacks ngx_http_auth_request_module:\n{v.stdout}")
    return path


def render_shipped_conf(curfew_port, app_port, nginx_port):
    """deploy/nginx/curfew.conf with the three documented substitutions
    (made in directive lines only; comments are left as they are)."""
    subst = {CURFEW_ADDR: f"127.0.0.1:{curfew_port}", APP_ADDR: f"127.0.0.1:{app_port}",
             LISTEN: f"listen 127.0.0.1:{nginx_port};",
             CACHE_PATH: "proxy_cache_path @NGINX_DIR@/curfew-checks "}
    lines = SHIPPED_CONF.read_text().splitlines(keepends=True)
    code = [i for i, line in enumerate(lines) if not line.lstrip().startswith("#")]
    for needle, value in subst.items():
        hits = [i for i in code if needle in lines[i]]
        assert len(hits) == 1, (f"{SHIPPED_CONF} must contain {needle!r} in exactly one directive"
                                f" (found {len(hits)}); the test substitutes it")
        lines[hits[0]] = lines[hits[0]].replace(needle, value)
    return "".join(lines)


class Nginx:
    def __init__(self, workdir, site_conf):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bin = nginx_binary()
        self.port = free_port()
        self.error_log = self.dir / "error.log"
        self.pid_file = self.dir / "nginx.pid"
        (self.dir / "curfew.conf").write_text(site_conf.replace("@NGINX_PORT@", str(self.port))
                                              .replace("@NGINX_DIR@", str(self.dir)))
        temp = "\n".join(f"    {d}_temp_path {self.dir / d};"
                         for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {self.dir / 'access.log'};\n"
            f"{temp}\n"
            f"    include {self.dir / 'curfew.conf'};\n"
            "}\n")
        self.proc = None

    def cmd(self, *extra):
        return [self.bin, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                "-e", str(self.error_log),
                "-g", f"daemon off; pid {self.pid_file}; error_log {self.error_log} info;", *extra]

    def start(self):
        t = subprocess.run(self.cmd("-t"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        assert t.returncode == 0, f"nginx -t rejected the config:\n{t.stdout}\n{self.diag()}"
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"nginx exited with {self.proc.returncode}:\n{self.diag()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"nginx did not listen on {self.port}:\n{self.diag()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()          # SIGTERM: fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def diag(self):
        out = []
        for name in ("nginx.conf", "curfew.conf", "error.log"):
            p = self.dir / name
            if p.exists():
                text = p.read_text(errors="replace")
                out.append(f"--- {name} ---\n{text[-6000:]}")
        return "\n".join(out)


@pytest.fixture
def stack(start_curfew, tmp_path):
    """(curfew, nginx, app) wired together with the shipped config."""
    curfew = start_curfew("refresh_token: { reuse_grace: 0s }\n")
    app = EchoApp()
    conf = render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@")
    ngx = Nginx(tmp_path / "nginx", conf)
    try:
        ngx.start()
        yield curfew, ngx, app
    finally:
        ngx.stop()
        app.close()


def through(ngx, token=None, path="/api/orders?page=2", method="GET", headers=None):
    h = {}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    return requests.request(method, ngx.url(path), headers=h, timeout=TIMEOUT,
                            allow_redirects=False)


def www_authenticate_all(r):
    """Every WWW-Authenticate header line of a requests response (not merged)."""
    return r.raw.headers.getlist("WWW-Authenticate")


def assert_reached_app(r, ngx, sess, sub, roles=None):
    assert r.status_code == 200, f"through nginx: {r.status_code} {r.text}\n{ngx.diag()}"
    rec = r.json()
    h = {k.lower(): v for k, v in rec["headers"].items()}
    assert h.get("x-curfew-subject") == sub, rec
    assert rec["x_curfew_subject_count"] == 1, rec
    assert h.get("x-curfew-session") == sess["session_id"], rec
    if roles is not None:
        # nginx drops a header whose value is empty, so "no roles" may arrive as absent.
        assert h.get("x-curfew-roles", "") == ",".join(roles), rec
    exp_in = int(h.get("x-curfew-expires-in", "-1"))
    assert 0 < exp_in <= int(sess["expires_in"]), rec
    return rec


def assert_refused_through_nginx(r, ngx, app_count_before, app, direct=None):
    """401 from nginx, exactly one WWW-Authenticate, equal to curfew's own
    answer for the same token (``direct``), and the app was not reached."""
    assert r.status_code == 401, f"through nginx: {r.status_code} {r.text}\n{ngx.diag()}"
    chall = www_authenticate_all(r)
    assert len(chall) == 1, f"want exactly one WWW-Authenticate, got {chall}"
    assert chall[0].startswith("Bearer ") and 'realm="curfew"' in chall[0], chall
    if direct is not None:
        assert direct.status_code == 401, f"curfew direct: {direct.status_code} {direct.text}"
        assert chall[0] == direct.headers.get("WWW-Authenticate"), (chall, dict(direct.headers))
    assert app.count() == app_count_before, "the app was reached although curfew refused"
    return chall[0]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_shipped_conf_passes_nginx_t(tmp_path):
    conf = render_shipped_conf(free_port(), free_port(), free_port())
    ngx = Nginx(tmp_path / "nginx", conf)
    t = subprocess.run(ngx.cmd("-t"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert t.returncode == 0, t.stdout
    assert "auth_request /_curfew_check;" in conf
    assert "keepalive" in conf


def test_live_token_reaches_upstream_with_identity_headers(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="alice", roles=["admin", "ops"], client_id="web")
    r = through(ngx, sess["access_token"])
    rec = assert_reached_app(r, ngx, sess, "alice", roles=["admin", "ops"])
    assert rec["path"] == "/api/orders?page=2" and rec["method"] == "GET"
    # The token itself is still passed on (the app may want it).
    assert rec["headers"].get("Authorization") == f"Bearer {sess['access_token']}"
    # Other methods are protected the same way.
    r = through(ngx, sess["access_token"], method="POST", path="/api/orders")
    assert_reached_app(r, ngx, sess, "alice")
    assert app.requests[-1]["method"] == "POST"


def test_many_requests_over_keepalive_all_pass(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="bob")
    with requests.Session() as s:
        for i in range(50):
            r = s.get(ngx.url(f"/p/{i}"), headers={"Authorization": f"Bearer {sess['access_token']}"},
                      timeout=TIMEOUT)
            assert_reached_app(r, ngx, sess, "bob")
    assert app.count() == 50


def test_client_cannot_forge_identity_headers(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="carol")
    forged = {"X-Curfew-Subject": "mallory", "X-Curfew-Session": "forged",
              "X-Curfew-Roles": "admin"}
    r = through(ngx, sess["access_token"], headers=forged)
    assert_reached_app(r, ngx, sess, "carol", roles=[])
    # And without a token the forged headers get nowhere.
    before = app.count()
    r = through(ngx, None, headers=forged)
    assert_refused_through_nginx(r, ngx, before, app)


def test_no_token_gets_401_with_curfew_challenge(stack):
    curfew, ngx, app = stack
    before = app.count()
    r = through(ngx, None)
    chall = assert_refused_through_nginx(r, ngx, before, app, direct=curfew.check(None))
    assert chall == 'Bearer realm="curfew"', chall      # RFC 6750 §3.1: no error without a token
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_garbage_token_gets_401_invalid_token(stack):
    curfew, ngx, app = stack
    before = app.count()
    r = through(ngx, "not.a.jwt")
    chall = assert_refused_through_nginx(r, ngx, before, app, direct=curfew.check("not.a.jwt"))
    assert 'error="invalid_token"' in chall and 'error_description="' in chall, chall


def test_revocation_by_subject_then_same_request_is_401(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="dave")
    other = curfew.new_session(sub="erin")
    assert_reached_app(through(ngx, sess["access_token"]), ngx, sess, "dave")

    r = curfew.admin("POST", "/v1/revocations", json={"sub": "dave"})
    assert r.status_code == 200, r.text
    assert r.json().get("sessions_ended") == 1, r.text

    before = app.count()
    r = through(ngx, sess["access_token"])
    direct = curfew.check(sess["access_token"])
    chall = assert_refused_through_nginx(r, ngx, before, app, direct=direct)
    assert 'error="invalid_token"' in chall, chall
    assert direct.json().get("reason") in ("session_revoked", "revoked_before"), direct.text
    # Another subject is untouched.
    assert_reached_app(through(ngx, other["access_token"]), ngx, other, "erin")


def test_deleted_session_then_same_request_is_401(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="frank")
    assert_reached_app(through(ngx, sess["access_token"]), ngx, sess, "frank")

    r = curfew.admin("DELETE", f"/v1/sessions/{sess['session_id']}")
    assert r.status_code == 200, r.text

    before = app.count()
    r = through(ngx, sess["access_token"])
    direct = curfew.check(sess["access_token"])
    assert_refused_through_nginx(r, ngx, before, app, direct=direct)
    assert direct.json().get("reason") == "session_revoked", direct.text


def test_oauth_revoke_then_401_and_refreshed_token_passes(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="grace", client_id="spa")
    r = curfew.refresh(sess["refresh_token"], client_id="spa")
    assert r.status_code == 200, r.text
    new = r.json()
    new.setdefault("session_id", sess["session_id"])
    assert_reached_app(through(ngx, new["access_token"]), ngx, new, "grace")

    r = curfew.revoke(new["refresh_token"], hint="refresh_token")
    assert r.status_code == 200, r.text
    for token in (sess["access_token"], new["access_token"]):
        before = app.count()
        direct = curfew.check(token)
        assert_refused_through_nginx(through(ngx, token), ngx, before, app, direct=direct)
        assert direct.json().get("reason") == "logout", direct.text


def test_check_location_is_not_reachable_from_outside(stack):
    curfew, ngx, app = stack
    sess = curfew.new_session(sub="heidi")
    r = through(ngx, sess["access_token"], path="/_curfew_check")
    # `internal`: a client asking for it directly gets 404, never curfew's answer.
    assert r.status_code == 404, r.text
    assert "X-Curfew-Subject" not in r.headers
