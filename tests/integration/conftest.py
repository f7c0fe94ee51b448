# SPDX-License-Identifier: MIT
"""Shared fixtures for curfew's integration tests.

Every test talks to the real ``curfew`` binary over real sockets. A server is
started by a fixture on 127.0.0.1 with a free port and a temporary data dir,
and stopped afterwards (SIGTERM, then SIGKILL).

Binary: ``$CURFEW_BIN``, else ``<repo>/build/curfew`` (repo = two levels above
this file). A relative ``$CURFEW_BIN`` is resolved against the repo root.

Typical use::

    def test_something(curfew):                 # default config, started
        s = curfew.new_session(sub="alice", idle_timeout="2s")
        r = curfew.check(s["access_token"])
        assert r.status_code == 200

    def test_other(start_curfew):               # custom config
        srv = start_curfew("clock_leeway: 0s\\naccess_token: { ttl: 1s }\\n")

    def test_restart(start_curfew):
        srv = start_curfew()
        srv.kill9()
        srv.start()        # same port, data dir, config and admin key

In a config string, ``@PORT@`` and ``@URL@`` are replaced with the server's
port and base URL (``http://127.0.0.1:PORT``), e.g. ``issuer: @URL@``.

Other test files (nginx, durability, ...) may import the helpers directly:
``from conftest import CurfewServer, free_port, forge_token, ...``.
"""

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 5.0          # seconds, for every HTTP call made by the helpers
READY_TIMEOUT = 10.0        # seconds to wait for /healthz after start
STOP_TIMEOUT = 5.0          # seconds between SIGTERM and SIGKILL

# Reason codes the spec (issue 2) makes stable API.
REASONS = {
    "missing_token", "malformed_token", "bad_signature", "unknown_key",
    "token_expired", "token_not_yet_valid", "wrong_issuer", "wrong_audience",
    "session_not_found", "idle_timeout", "absolute_timeout", "logout",
    "session_revoked", "refresh_reuse", "revoked_before", "unknown_refresh_token",
}


def curfew_bin():
    """Path of the binary under test (``$CURFEW_BIN`` or build/curfew)."""
    p = os.environ.get("CURFEW_BIN")
    if p:
        path = Path(p)
        if not path.is_absolute():
            path = REPO_ROOT / path
        return path
    return REPO_ROOT / "build" / "curfew"


def wait_until(pred, timeout, step=0.01):
    """Poll @pred until it returns something true or @timeout seconds pass;
    its last value either way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_curfew(*args, env=None, timeout=10, cwd=None):
    """Run ``curfew ARGS`` to completion; returns subprocess.CompletedProcess."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([str(curfew_bin()), *map(str, args)], env=e, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# JWT helpers (no library magic, so forged tokens are exactly what we say)
# ---------------------------------------------------------------------------

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode())


def jwt_parts(token):
    """(header dict, claims dict, signature bytes) of a compact JWS, unverified."""
    h, p, s = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), b64u_decode(s)


def jws_compact(header, claims, sign=None):
    """Build ``b64(header).b64(claims).b64(sign(signing_input))``.

    ``sign`` is a callable taking the signing input bytes and returning the
    signature bytes; None gives an empty signature (as for ``alg: none``).
    """
    signing_input = (b64u(json.dumps(header, separators=(",", ":")))
                     + "." + b64u(json.dumps(claims, separators=(",", ":"))))
    sig = sign(signing_input.encode()) if sign else b""
    return signing_input + "." + b64u(sig)


def forge_token(private_key, claims, kid, header_extra=None):
    """An EdDSA at+jwt signed with ``private_key`` (an Ed25519PrivateKey)."""
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
    if header_extra:
        header.update(header_extra)
    return jws_compact(header, claims, private_key.sign)


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

class CurfewError(Exception):
    pass


class CurfewServer:
    """One curfew process on 127.0.0.1:<free port> with its own data dir.

    Attributes:
      port, base_url, data_dir (Path), workdir (Path), config_path (Path|None),
      admin_key (str|None: None means the server generates one; after start,
      ``generated_admin_key`` holds the one it printed, if any),
      proc (Popen|None), stderr_path (Path, appended across restarts).
    """

    def __init__(self, workdir, admin_key="random", port=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.port = port or free_port()
        self.admin_key = secrets.token_urlsafe(32) if admin_key == "random" else admin_key
        self.generated_admin_key = None
        self.config_yaml = None
        self.config_path = None
        self.extra_env = {}
        self.extra_args = []
        self.proc = None
        self.stderr_path = self.workdir / "curfew.stderr"
        self.stdout_path = self.workdir / "curfew.stdout"
        self._stderr_offset = 0
        self.http = requests.Session()
        self.starts = 0
        self.scheme = "http"  # "https" with tls.cert; self.http.verify then names the CA file

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path="/"):
        return self.base_url + path

    def write_config(self, config_yaml):
        self.config_yaml = config_yaml
        # CURFEW_TEST_VERIFY_THREADS=N runs a suite with verify_threads: N
        # (0: every DPoP proof verified on the loop, as before the pool).
        vt = os.environ.get("CURFEW_TEST_VERIFY_THREADS")
        if vt is not None and "verify_threads:" not in (config_yaml or ""):
            config_yaml = f"verify_threads: {vt}\n" + (config_yaml or "")
        if config_yaml is None:
            self.config_path = None
            return
        text = config_yaml.replace("@PORT@", str(self.port)).replace("@URL@", self.base_url)
        self.config_path = self.workdir / "curfew.yaml"
        self.config_path.write_text(text)

    def start(self, config_yaml=..., env=None, args=None, wait=True):
        """Start the server. ``config_yaml``: YAML text (None = no --config);
        omitted = keep the previous one. ``env``: extra environment variables.
        ``args``: extra arguments after ``serve``. Waits for /healthz unless
        ``wait`` is false. Returns self."""
        if self.proc is not None and self.proc.poll() is None:
            raise CurfewError("already running")
        if config_yaml is not ...:
            self.write_config(config_yaml)
        if env is not None:
            self.extra_env = dict(env)
        if args is not None:
            self.extra_args = list(args)
        binary = curfew_bin()
        if not binary.exists():
            pytest.fail(f"curfew binary not found at {binary} (set CURFEW_BIN or build it)")
        e = dict(os.environ)
        e.pop("CURFEW_ADMIN_KEY", None)
        if self.admin_key is not None:
            e["CURFEW_ADMIN_KEY"] = self.admin_key
        e.update(self.extra_env)
        cmd = [str(binary), "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        cmd += self.extra_args
        self._stderr_offset = self.stderr_path.stat().st_size if self.stderr_path.exists() else 0
        for attempt in range(20):        # the binary may be mid-relink (ETXTBSY, EACCES)
            try:
                with open(self.stderr_path, "ab") as err, open(self.stdout_path, "ab") as out:
                    self.proc = subprocess.Popen(cmd, stdout=out, stderr=err,
                                                 stdin=subprocess.DEVNULL,
                                                 cwd=str(self.workdir), env=e)
                break
            except (PermissionError, OSError) as exc:
                if attempt == 19:
                    raise CurfewError(f"cannot run {binary}: {exc}") from exc
                time.sleep(0.25)
        self.starts += 1
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise CurfewError(f"curfew exited with status {rc} before it was ready;"
                                  f" stderr:\n{self.stderr_since_start()}")
            try:
                r = requests.get(self.url("/healthz"), timeout=1, verify=self.http.verify,
                                 cert=self.http.cert)
                if r.status_code == 200:
                    self._read_generated_key()
                    return
                last = f"status {r.status_code}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.05)
        raise CurfewError(f"curfew not ready after {timeout}s ({last}); stderr:\n"
                          f"{self.stderr_since_start()}")

    def _read_generated_key(self):
        marker = "admin key (shown once):"
        for line in self.stderr_since_start().splitlines():
            if marker in line:
                self.generated_admin_key = line.split(marker, 1)[1].strip().split()[0]

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after ``timeout``. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()
        return self.proc.returncode

    def sanitizer_reports(self):
        """What AddressSanitizer, LeakSanitizer, UBSan or ThreadSanitizer said on stderr
        (CURFEW_BIN=build-asan/curfew or build-tsan/curfew), or "" when nothing: checked
        at teardown."""
        text = self.stderr_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",
                       "FATAL: ThreadSanitizer"):
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return ""

    def kill9(self):
        """SIGKILL, no chance to clean up. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.http.close()
        return self.proc.returncode

    def restart(self, hard=False, **start_kw):
        """Stop (SIGTERM, or SIGKILL if ``hard``) and start again with the same
        port, data dir, config and admin key. Retries briefly if the port is
        still held by the old socket."""
        self.kill9() if hard else self.stop()
        deadline = time.monotonic() + 5
        while True:
            try:
                return self.start(**start_kw)
            except CurfewError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        """Everything the server wrote on stderr, across restarts."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_since_start(self):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(self._stderr_offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    # -- HTTP helpers -------------------------------------------------------

    def admin_headers(self, key=None):
        k = key or self.admin_key or self.generated_admin_key
        return {"Authorization": f"Bearer {k}"}

    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        kw.setdefault("verify", self.http.verify)  # REQUESTS_CA_BUNDLE would beat the session's
        return self.http.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def admin(self, method, path, **kw):
        headers = dict(self.admin_headers())
        headers.update(kw.pop("headers", {}) or {})
        return self.request(method, path, headers=headers, **kw)

    def create_session(self, **body):
        """POST /v1/sessions with the admin key; returns the raw response."""
        return self.admin("POST", "/v1/sessions", json=body)

    def new_session(self, **body):
        """POST /v1/sessions (``sub`` defaults to a random name), assert 201,
        return the JSON body (access_token, refresh_token, session_id, ...)."""
        body.setdefault("sub", "user-" + secrets.token_hex(4))
        r = self.create_session(**body)
        assert r.status_code == 201, f"POST /v1/sessions {body} -> {r.status_code} {r.text}"
        data = r.json()
        return data

    def check(self, token=None, path="/v1/check", method="GET", headers=None):
        """Forward-auth check with ``Authorization: Bearer token`` (none if token is None)."""
        h = {}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        return self.request(method, path, headers=h)

    def refresh(self, refresh_token, client_id=None, grant_type="refresh_token", **extra):
        """POST /oauth/token with a form-encoded refresh grant."""
        form = {"grant_type": grant_type, "refresh_token": refresh_token}
        if client_id is not None:
            form["client_id"] = client_id
        form.update(extra)
        return self.post("/oauth/token", data=form)

    def revoke(self, token, hint=None):
        form = {"token": token}
        if hint:
            form["token_type_hint"] = hint
        return self.post("/oauth/revoke", data=form)

    def introspect(self, token, key=...):
        headers = self.admin_headers() if key is ... else (
            {"Authorization": f"Bearer {key}"} if key else {})
        return self.post("/oauth/introspect", data={"token": token}, headers=headers)

    def logout(self, access_token):
        return self.post("/v1/logout", headers={"Authorization": f"Bearer {access_token}"})

    def session(self, session_id):
        """GET /v1/sessions/{id}; asserts 200 and returns the session object."""
        r = self.admin("GET", f"/v1/sessions/{session_id}")
        assert r.status_code == 200, f"GET session -> {r.status_code} {r.text}"
        return r.json()

    def jwks(self):
        r = self.get("/.well-known/jwks.json")
        assert r.status_code == 200, r.text
        return r.json()

    def kid(self):
        return self.jwks()["keys"][0]["kid"]

    def keyset(self):
        """DATA_DIR/keyset.json, parsed (private keys in clear unless a KEK is set)."""
        return json.loads((self.data_dir / "keyset.json").read_text())

    def signing_key(self, kid=None):
        """The server's Ed25519 private key: the active key of DATA_DIR/keyset.json
        (or the key named ``kid``), or DATA_DIR/signing-key.pem before migration."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        path = self.data_dir / "keyset.json"
        if not path.exists():
            return load_pem_private_key((self.data_dir / "signing-key.pem").read_bytes(), None)
        for k in self.keyset()["keys"]:
            if (kid is None and k["deactivated_at"] == 0) or k["kid"] == kid:
                if "d" in k:
                    return Ed25519PrivateKey.from_private_bytes(b64u_decode(k["d"]))
                return Ed25519PrivateKey.from_private_bytes(self._unseal(k))
        raise CurfewError(f"no key {kid or '(active)'} in {path}")

    def _unseal(self, k):
        """A private key sealed with the server's KEK (CURFEW_KEK, hex): AES-256-GCM,
        the kid as associated data, as docs/operations.md describes."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        kek = bytes.fromhex(self.extra_env["CURFEW_KEK"])
        return AESGCM(kek).decrypt(b64u_decode(k["iv"]), b64u_decode(k["ct"]) + b64u_decode(k["tag"]),
                                   k["kid"].encode())

    def forge(self, claims, kid=None, header_extra=None):
        """Sign ``claims`` with the server's real key (default: its real kid)."""
        return forge_token(self.signing_key(), claims, kid or self.kid(), header_extra)

    def raw(self, data, read_timeout=3.0):
        """Send raw bytes on a fresh connection; return all bytes read until the
        server closes or ``read_timeout`` passes without data."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=HTTP_TIMEOUT) as s:
            try:
                s.sendall(data)
            except OSError:
                pass
            return recv_all(s, read_timeout)


def recv_all(sock, timeout):
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def parse_raw_response(data):
    """(status, {lower-name: value}, body bytes) of the first HTTP response in ``data``."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = headers.get("content-length")
    if n is not None:
        body = body[: int(n)]
    return status, headers, body


# ---------------------------------------------------------------------------
# Assertions shared by the suites
# ---------------------------------------------------------------------------

def assert_json_error(r, status, error=None, reason=None):
    """Status, JSON content type, error/reason fields; returns the body."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}"
    body = r.json()
    if error is not None:
        assert body.get("error") == error, body
    if reason is not None:
        assert body.get("reason") == reason, body
    return body


def assert_refused(r, reason, status=401, error="invalid_token"):
    """A /v1/check-style refusal: status, WWW-Authenticate (RFC 6750) and JSON reason."""
    body = assert_json_error(r, status, reason=reason)
    assert body.get("error") and body.get("error_description"), body
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer "), f"WWW-Authenticate {www!r}"
    assert 'realm="curfew"' in www, www
    if error is None:
        assert "error=" not in www, www
    else:
        assert f'error="{error}"' in www, www
        assert 'error_description="' in www, www
    assert "X-Curfew-Subject" not in r.headers
    return body


def assert_grant_error(r, reason, error="invalid_grant"):
    body = assert_json_error(r, 400, error=error, reason=reason)
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    assert body.get("error_description"), body
    return body


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than 3 seconds")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in getattr(item, "_curfew_servers", []):
            text = srv.stderr_text()
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            rep.sections.append((f"curfew stderr (port {srv.port})", text))


def fail_on_sanitizer_reports(servers):
    for srv in servers:
        report = srv.sanitizer_reports()
        if report:
            pytest.fail(f"curfew on port {srv.port} reported a memory, UB or thread error:\n{report}")


@pytest.fixture
def start_curfew(request, tmp_path):
    """Factory: ``start_curfew(config_yaml=None, env=None, args=None,
    admin_key="random", wait=True)`` starts a server and returns its
    CurfewServer; every server is stopped at teardown."""
    servers = []
    request.node._curfew_servers = servers

    def _start(config_yaml=None, env=None, args=None, admin_key="random", wait=True):
        srv = CurfewServer(tmp_path / f"curfew{len(servers)}", admin_key=admin_key)
        servers.append(srv)
        srv.start(config_yaml, env=env, args=args, wait=wait)
        return srv

    yield _start
    for srv in servers:
        srv.stop()
    fail_on_sanitizer_reports(servers)


@pytest.fixture
def curfew(start_curfew):
    """A server on the default config (plus the test-friendly bits above)."""
    return start_curfew()


# ---------------------------------------------------------------------------
# Helpers for the policy suites (issue 3: clients, routes, risk, rate limits,
# cookies). Added at the end; nothing above depends on them.
# ---------------------------------------------------------------------------

def hash_secret(secret, iterations=1000):
    """``curfew hash-secret --iterations N`` with ``secret`` on stdin (no
    trailing newline); asserts exit 0 and returns the encoded hash."""
    binary = curfew_bin()
    if not binary.exists():
        pytest.fail(f"curfew binary not found at {binary}")
    p = subprocess.run([str(binary), "hash-secret", "--iterations", str(iterations)],
                       input=secret, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert p.returncode == 0, f"curfew hash-secret exited {p.returncode}: {p.stderr}"
    out = p.stdout.strip()
    assert out and "\n" not in out, f"hash-secret printed {p.stdout!r}"
    return out


def basic_auth(client_id, secret):
    """``Authorization: Basic`` value per RFC 6749 §2.3.1: id and secret are
    form-urlencoded first, then ``id:secret`` is base64-encoded."""
    from urllib.parse import quote_plus
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def www_authenticate_params(value):
    """Parse a challenge ``Scheme k="v", k2=v2`` into (scheme, {k: v})."""
    import re
    scheme, _, rest = value.partition(" ")
    params = {}
    for m in re.finditer(r'([A-Za-z0-9_\-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)', rest):
        params[m.group(1).lower()] = m.group(3) if m.group(3) is not None else m.group(2)
    return scheme, params


def set_cookie_headers(r):
    """Every Set-Cookie line of a requests response (not merged)."""
    return r.raw.headers.getlist("Set-Cookie")


def parse_set_cookie(line):
    """(name, value, {lower attr: value or True}) of one Set-Cookie line."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name.strip(), value.strip(), attrs


def cookies_by_name(r):
    """{name: (value, attrs)} from a response's Set-Cookie lines; fails on a
    name set twice."""
    out = {}
    for line in set_cookie_headers(r):
        name, value, attrs = parse_set_cookie(line)
        assert name not in out, f"cookie {name} set twice: {set_cookie_headers(r)}"
        out[name] = (value, attrs)
    return out


def rss_kib(pid):
    """Resident set size of a process in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise CurfewError(f"no VmRSS for pid {pid}")


def assert_challenge(r, status, reason, error, www_scheme="Bearer"):
    """Status, JSON reason and a WWW-Authenticate challenge with ``error``;
    returns (body, params of the challenge)."""
    body = assert_json_error(r, status, reason=reason)
    www = r.headers.get("WWW-Authenticate", "")
    scheme, params = www_authenticate_params(www)
    assert scheme == www_scheme, f"WWW-Authenticate {www!r}"
    assert params.get("realm") == "curfew", www
    if error is not None:
        assert params.get("error") == error, www
    assert "X-Curfew-Subject" not in r.headers, dict(r.headers)
    return body, params


# ---------------------------------------------------------------------------
# Cluster: a real redis-server (Debian's redis-server package) and nodes
# ---------------------------------------------------------------------------

def stop_process(proc, timeout=10):
    """SIGTERM a helper process (Caddy, Redis...), SIGKILL it after ``timeout``."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RedisServer:
    """redis-server on 127.0.0.1 with an append-only file fsynced on every
    write (what docs/operations.md recommends), in its own directory, so a
    kill and restart keeps what it acknowledged."""

    def __init__(self, workdir, password=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = password
        self.proc = None
        self.extra = []  # more redis-server arguments for the next start()

    @property
    def url(self):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.fail("redis-server is not installed (scripts/deps.sh installs it)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
             "--daemonize", "no", "--protected-mode", "no"]
            + (["--requirepass", self.password] if self.password else []) + self.extra,
            stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: " + (self.dir / "redis.log").read_text())
            if self.cli("PING").strip() == "PONG":
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def cli(self, *args):
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        r = subprocess.run(["redis-cli", "-p", str(self.port), *auth, *args], capture_output=True,
                           text=True, timeout=10)
        return r.stdout

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        stop_process(self.proc)


@pytest.fixture
def redis_server(tmp_path):
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.kill9()


@pytest.fixture
def start_node(request, tmp_path, redis_server):
    """Factory: ``start_node(extra_yaml="", activity_flush="200ms", env=None)`` starts one
    more curfew node on the test's Redis, in its own data directory. All nodes
    share one admin key and one key-encryption key (CURFEW_KEK); the signing
    keys come from Redis."""
    nodes = []
    admin_key = secrets.token_urlsafe(32)
    kek = secrets.token_hex(32)

    def _start(extra_yaml="", activity_flush="200ms", wait=True, env=None):
        srv = CurfewServer(tmp_path / f"node{len(nodes) + 1}", admin_key=admin_key)
        nodes.append(srv)
        srv.start(f"store:\n  url: {redis_server.url}\n  activity_flush: {activity_flush}\n"
                  + extra_yaml, wait=wait, env=dict({"CURFEW_KEK": kek}, **(env or {})))
        return srv

    yield _start
    for srv in nodes:
        srv.stop()
    fail_on_sanitizer_reports(nodes)
