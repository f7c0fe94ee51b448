# SPDX-License-Identifier: MIT
"""The HTTP server, the command line, the config file and the data dir."""

import json
import os
import re
import socket
import stat
import time

import pytest
import yaml

from conftest import (CurfewServer, assert_json_error, curfew_bin, parse_raw_response, recv_all,
                      run_curfew)


def raw_status(data):
    assert data, "no response (connection closed or timed out)"
    return parse_raw_response(data)


def assert_raw_json_error(data, status):
    st, headers, body = raw_status(data)
    assert st == status, data[:300]
    assert headers.get("content-type", "").startswith("application/json"), headers
    b = json.loads(body)
    assert b.get("error"), b
    return headers, b


def connect(srv, timeout=5):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)


def read_response(sock, timeout=5):
    """Read exactly one Content-Length-framed response from a keep-alive socket."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(65536)
        if not b:
            raise AssertionError(f"connection closed mid-response: {buf!r}")
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        b = sock.recv(65536)
        if not b:
            raise AssertionError("connection closed mid-body")
        rest += b
    return parse_raw_response(head + b"\r\n\r\n" + rest[:n]), rest[n:]


def wait_closed(sock, timeout):
    """Seconds until the peer closed ``sock`` (data ignored), or None on timeout."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < timeout:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
        if not b:
            return time.monotonic() - t0
    return None


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


# -- basic endpoints ------------------------------------------------------------------------

def test_healthz(curfew):
    r = curfew.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_query_string_is_ignored_for_routing(curfew):
    assert curfew.get("/healthz?probe=1").status_code == 200
    assert curfew.get("/.well-known/jwks.json?x=y").json()["keys"]
    s = curfew.new_session(sub="alice")
    assert curfew.admin("GET", f"/v1/sessions/{s['session_id']}?verbose=1").json()["sub"] == "alice"


@pytest.mark.parametrize("path", ["/", "/v2/check", "/v1/sessionsx", "/oauth/tokens",
                                  "/.well-known/nothing", "/healthz/x", "/v1"])
def test_unknown_path_is_404(curfew, path):
    r = curfew.get(path, headers=curfew.admin_headers())
    assert_json_error(r, 404, error="not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/oauth/token", {"POST"}),
    ("PUT", "/oauth/revoke", {"POST"}),
    ("GET", "/oauth/introspect", {"POST"}),
    ("DELETE", "/healthz", {"GET"}),
    ("POST", "/.well-known/jwks.json", {"GET"}),
    ("PUT", "/.well-known/oauth-authorization-server", {"GET"}),
    ("PUT", "/v1/sessions", {"GET", "POST"}),
    ("POST", "/v1/sessions/abc", {"GET", "DELETE"}),
    ("GET", "/v1/logout", {"POST"}),
    ("GET", "/v1/revocations", {"POST"}),
])
def test_wrong_method_is_405_with_allow(curfew, method, path, allowed):
    r = curfew.request(method, path, headers=curfew.admin_headers())
    assert_json_error(r, 405)
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= allow, r.headers.get("Allow")
    assert not ({"PUT", "PATCH"} & allow - allowed), allow


def test_post_without_length_is_411(curfew):
    req = (f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {curfew.admin_key}\r\n"
           "Content-Type: application/json\r\nConnection: close\r\n\r\n").encode()
    assert_raw_json_error(curfew.raw(req), 411)
    req = (b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n")
    assert_raw_json_error(curfew.raw(req), 411)


def test_chunked_body_is_accepted(curfew):
    body = json.dumps({"sub": "chunky"}).encode()
    chunks = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    req = (f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {curfew.admin_key}\r\n"
           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n").encode() + chunks
    st, _, b = raw_status(curfew.raw(req))
    assert st == 201, b
    assert json.loads(b)["access_token"]


def _send_big_body(srv, path, ctype, n, chunked=False):
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin_key}\r\n"
            f"Content-Type: {ctype}\r\nConnection: close\r\n")
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {n}\r\n\r\n"
    body = b"a" * n
    if chunked:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (n, body)
    with connect(srv) as s:
        s.sendall(head.encode())
        s.settimeout(1.0)
        try:
            first = s.recv(65536)          # a server may answer on the headers alone
        except socket.timeout:
            first = b""
        if not first:
            try:
                s.sendall(body)
            except OSError:
                pass
        return first + recv_all(s, 3.0)


@pytest.mark.parametrize("path,ctype", [("/v1/sessions", "application/json"),
                                        ("/oauth/token", "application/x-www-form-urlencoded")])
def test_body_over_16k_is_413(curfew, path, ctype):
    assert_raw_json_error(_send_big_body(curfew, path, ctype, 20000), 413)
    assert curfew.get("/healthz").status_code == 200


def test_chunked_body_over_16k_is_413(curfew):
    assert_raw_json_error(_send_big_body(curfew, "/v1/sessions", "application/json", 20000,
                                         chunked=True), 413)


def test_body_just_under_16k_is_fine(curfew):
    core = json.dumps({"sub": "alice"})
    body = " " * (16000 - len(core)) + core          # JSON allows leading whitespace
    r = curfew.admin("POST", "/v1/sessions", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text[:200]


@pytest.mark.parametrize("headers", [
    {"X-Big": "a" * 9000},
    {f"X-H{i}": "b" * 100 for i in range(90)},
], ids=["one-big-header", "many-headers"])
def test_header_block_over_8k_is_431(curfew, headers):
    req = "GET /healthz HTTP/1.1\r\nHost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
    assert_raw_json_error(curfew.raw(req.encode()), 431)
    assert curfew.get("/healthz").status_code == 200


def test_header_block_under_8k_is_fine(curfew):
    r = curfew.get("/healthz", headers={"X-Pad": "p" * 7000})
    assert r.status_code == 200


@pytest.mark.parametrize("req", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS ClientHello
], ids=["garbage", "no-target", "no-colon", "bad-length", "two-lengths", "bad-chunk", "tls"])
def test_malformed_http_is_400(curfew, req):
    data = curfew.raw(req)
    assert_raw_json_error(data, 400)
    assert curfew.get("/healthz").status_code == 200     # and nothing crashed


def test_keep_alive_serves_several_requests_on_one_connection(curfew):
    s_ = curfew.new_session(sub="alice")
    check = (f"GET /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s_['access_token']}"
             "\r\n\r\n").encode()
    with connect(curfew) as s:
        for req in (HEALTH, check, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", check, HEALTH):
            s.sendall(req)
            (st, headers, _), extra = read_response(s)
            assert extra == b""
            assert st in (200, 404)
            assert headers.get("connection", "").lower() != "close", headers


def test_pipelined_requests_answered_in_order(curfew):
    with connect(curfew) as s:
        s.sendall(HEALTH + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + HEALTH)
        statuses = []
        buf = b""
        s.settimeout(5)
        while len(statuses) < 3:
            chunk = s.recv(65536)
            assert chunk, f"closed after {statuses}"
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                n = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
                if len(rest) < n:
                    break
                statuses.append(int(head.split()[1]))
                buf = rest[n:]
        assert statuses == [200, 404, 200], statuses


def test_connection_close_is_honoured(curfew):
    with connect(curfew) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_all(s, 3.0)        # returns when the server closes
    assert parse_raw_response(data)[0] == 200


def test_http10_without_keep_alive_closes(curfew):
    t0 = time.monotonic()
    data = curfew.raw(b"GET /healthz HTTP/1.0\r\n\r\n", read_timeout=3.0)
    assert parse_raw_response(data)[0] == 200
    assert time.monotonic() - t0 < 2.5


SLOW = "limits: { client_timeout: 1s }\n"


def test_slow_client_is_closed(start_curfew):
    srv = start_curfew(SLOW)
    with connect(srv) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")    # never finishes the headers
        closed = wait_closed(s, 4.0)
    assert closed is not None, "half-sent request still open after 4 s"
    assert 0.5 <= closed <= 3.5, closed
    assert srv.get("/healthz").status_code == 200


def test_slow_body_is_closed(start_curfew):
    srv = start_curfew(SLOW)
    with connect(srv) as s:
        s.sendall((f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin_key}"
                   "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode())
        closed = wait_closed(s, 4.0)
    assert closed is not None and closed <= 3.5, closed


def test_idle_keep_alive_connection_is_closed(start_curfew):
    srv = start_curfew(SLOW)
    with connect(srv) as s:
        s.sendall(HEALTH)
        (st, _, _), _ = read_response(s)
        assert st == 200
        closed = wait_closed(s, 4.0)
    assert closed is not None and closed <= 3.5, closed


def test_silent_connection_is_closed(start_curfew):
    srv = start_curfew(SLOW)
    with connect(srv) as s:
        closed = wait_closed(s, 4.0)
    assert closed is not None and closed <= 3.5, closed


def test_max_connections(start_curfew):
    srv = start_curfew("limits: { max_connections: 4 }\n")
    held = []
    try:
        for _ in range(4):
            s = connect(srv)
            s.sendall(HEALTH)
            (st, _, _), _ = read_response(s)
            assert st == 200
            held.append(s)
        # a fifth connection is not served while four are open
        with connect(srv) as extra:
            try:
                extra.sendall(HEALTH)
            except OSError:
                pass
            data = recv_all(extra, 1.5)
        if data:
            assert parse_raw_response(data)[0] != 200, data[:200]
        # freeing one slot lets a new client in
        held.pop().close()
        deadline = time.monotonic() + 3
        while True:
            try:
                r = srv.get("/healthz", timeout=1)
                if r.status_code == 200:
                    break
            except Exception:  # noqa: BLE001 - refused/reset while the slot frees
                pass
            assert time.monotonic() < deadline, "no slot freed after closing a connection"
            time.sleep(0.1)
    finally:
        for s in held:
            s.close()


# -- command line ---------------------------------------------------------------------------

def test_version():
    p = run_curfew("version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "curfew 0.1.0", p.stdout


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["version", "--help"],
                                  ["config", "check", "--help"], ["config", "--help"]])
def test_help_exits_0(args):
    p = run_curfew(*args)
    assert p.returncode == 0, (p.returncode, p.stderr)
    out = p.stdout + p.stderr
    assert "usage" in out.lower(), out


def test_serve_help_names_its_options():
    p = run_curfew("serve", "--help")
    for opt in ("--config", "--listen", "--data-dir"):
        assert opt in p.stdout + p.stderr, opt


@pytest.mark.parametrize("args", [["serve", "--bogus"], ["--bogus"], ["version", "--bogus"],
                                  ["config", "check", "--bogus", "x.yaml"], ["serve", "--listen"]])
def test_bad_flags_exit_2(args, tmp_path):
    p = run_curfew(*args, cwd=tmp_path, timeout=5)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip(), "no message on stderr"
    assert not (tmp_path / "data").exists()


def test_unknown_subcommand_fails(tmp_path):
    p = run_curfew("frobnicate", cwd=tmp_path, timeout=5)
    assert p.returncode != 0
    assert p.stderr.strip()


# -- config -------------------------------------------------------------------------------------

BAD_CONFIGS = [
    ("unknown-key", "listen: 127.0.0.1:7070\naudience: x\nbogus_key: 1\n", 3),
    ("nested-unknown-key", "session:\n  idle_timeout: 5m\n  idel_timeout: 1s\n", 3),
    ("bad-duration", "audience: x\nsession:\n  idle_timeout: 5 minutes\n", 3),
    ("bad-duration-unit", "clock_leeway: 10y\n", 1),
    ("bad-duration-flow", "# comment\naccess_token: { ttl: 10x, max_ttl: 15m }\n", 2),
    ("bad-type-int", "limits:\n  max_connections: many\n", 2),
    ("bad-type-map", "audience: x\nsession: 5\n", 2),
    ("bad-type-seq", "issuer: [a, b]\n", 1),
]


@pytest.mark.parametrize("name,text,line", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_config_check_reports_file_and_line(tmp_path, name, text, line):
    (tmp_path / "bad.yaml").write_text(text)
    p = run_curfew("config", "check", "bad.yaml", cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert re.search(rf"(^|\s)bad\.yaml:{line}: \S", p.stderr, re.M), p.stderr


def test_config_check_absolute_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("audience: x\nnope: 1\n")
    p = run_curfew("config", "check", str(path))
    assert p.returncode == 2
    assert f"{path}:2: " in p.stderr, p.stderr


def test_config_check_yaml_syntax_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("audience: x\nsession: [\n")
    p = run_curfew("config", "check", "bad.yaml", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert re.search(r"(^|\s)bad\.yaml:\d+: \S", p.stderr, re.M), p.stderr


def test_config_check_missing_file(tmp_path):
    p = run_curfew("config", "check", "nope.yaml", cwd=tmp_path)
    assert p.returncode != 0
    assert "nope.yaml" in p.stderr


def test_config_check_prints_effective_config(tmp_path):
    (tmp_path / "ok.yaml").write_text(
        "audience: api://orders\nsession:\n  idle_timeout: 5m\nlimits: { max_connections: 7 }\n")
    p = run_curfew("config", "check", "ok.yaml", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load(p.stdout)
    for k in ("listen", "issuer", "audience", "data_dir", "access_token", "session",
              "refresh_token", "clock_leeway", "limits", "store", "log_level"):
        assert k in cfg, (k, p.stdout)
    assert cfg["audience"] == "api://orders"
    assert cfg["listen"] == "127.0.0.1:7070"
    assert cfg["issuer"] == "http://127.0.0.1:7070"
    assert cfg["limits"]["max_connections"] == 7
    assert str(cfg["session"]["idle_timeout"]) in ("5m", "300s", "300")
    assert str(cfg["session"]["absolute_timeout"]) in ("12h", "43200s", "43200")
    for k in ("ttl", "max_ttl"):
        assert k in cfg["access_token"]
    assert "reuse_grace" in cfg["refresh_token"]
    # the printed config is itself a valid config
    (tmp_path / "again.yaml").write_text(p.stdout)
    p2 = run_curfew("config", "check", "again.yaml", cwd=tmp_path)
    assert p2.returncode == 0, p2.stderr
    assert yaml.safe_load(p2.stdout) == cfg


@pytest.mark.parametrize("dur,ok", [("500ms", True), ("30s", True), ("15m", True), ("12h", True),
                                    ("30d", True), ("45", True), ("-5s", False), ("", False),
                                    ("s", False), ("abc", False), ("5 minutes", False)])
def test_duration_syntax(tmp_path, dur, ok):
    (tmp_path / "c.yaml").write_text(f"clock_leeway: '{dur}'\n" if dur != "45" else "clock_leeway: 45\n")
    p = run_curfew("config", "check", "c.yaml", cwd=tmp_path)
    if ok:
        assert p.returncode == 0, (dur, p.stderr)
    else:
        assert p.returncode == 2, (dur, p.stdout)
        assert re.search(r"(^|\s)c\.yaml:1: \S", p.stderr, re.M), p.stderr


def test_serve_with_bad_config_exits_2(tmp_path):
    (tmp_path / "bad.yaml").write_text("audience: x\nsession:\n  idle_timeout: never\n")
    port = CurfewServer(tmp_path / "x").port
    p = run_curfew("serve", "--config", "bad.yaml", "--listen", f"127.0.0.1:{port}",
                   "--data-dir", str(tmp_path / "d"), cwd=tmp_path, timeout=10)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert re.search(r"(^|\s)bad\.yaml:3: \S", p.stderr, re.M), p.stderr


def test_sigterm_is_graceful(curfew):
    assert curfew.get("/healthz").status_code == 200
    assert curfew.stop() == 0, curfew.stderr_text()


# -- admin key, signing key, data dir, logs ---------------------------------------------------

ADMIN_MARKER = "admin key (shown once):"


def _all_files(d):
    for root, _, files in os.walk(d):
        for f in files:
            yield os.path.join(root, f)


def test_admin_key_generated_once_and_only_hash_stored(start_curfew):
    srv = start_curfew(admin_key=None)
    lines = [ln for ln in srv.stderr_text().splitlines() if ADMIN_MARKER in ln]
    assert len(lines) == 1, srv.stderr_text()
    key = srv.generated_admin_key
    assert key and len(key) >= 20, lines
    # it works, and a wrong one does not
    assert srv.post("/v1/sessions", json={"sub": "a"},
                    headers={"Authorization": f"Bearer {key}"}).status_code == 201
    r = srv.post("/v1/sessions", json={"sub": "a"}, headers={"Authorization": f"Bearer {key}x"})
    assert_json_error(r, 401, reason="admin_unauthorized")
    assert (srv.data_dir / "admin-key.sha256").exists()
    srv.stop()
    for f in _all_files(srv.data_dir):
        with open(f, "rb") as fh:
            assert key.encode() not in fh.read(), f"admin key stored in clear in {f}"
    # a restart prints nothing about it and the same key still works
    srv.start()
    assert ADMIN_MARKER not in srv.stderr_since_start(), srv.stderr_since_start()
    assert srv.post("/v1/sessions", json={"sub": "a"},
                    headers={"Authorization": f"Bearer {key}"}).status_code == 201


def test_env_admin_key_is_not_printed(start_curfew):
    srv = start_curfew()
    assert ADMIN_MARKER not in srv.stderr_text()
    assert srv.admin_key not in srv.stderr_text()
    assert srv.create_session(sub="a").status_code == 201


def test_data_dir_files(curfew):
    key = curfew.data_dir / "keyset.json"
    assert key.exists()
    mode = stat.S_IMODE(key.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert (curfew.data_dir / "curfew.db").exists()
    assert not (curfew.data_dir / "signing-key.pem").exists()
    assert curfew.keyset()["keys"][0]["d"]


def test_signing_key_persists_across_restart(curfew):
    keys = (curfew.data_dir / "keyset.json").read_bytes()
    kid = curfew.kid()
    curfew.restart()
    assert (curfew.data_dir / "keyset.json").read_bytes() == keys
    assert curfew.kid() == kid


def test_no_secret_in_logs(start_curfew):
    srv = start_curfew("log_level: debug\n")
    secrets_seen = [srv.admin_key]
    for i in range(3):
        s = srv.new_session(sub=f"user{i}", client_id="web")
        secrets_seen += [s["access_token"], s["refresh_token"]]
        assert srv.check(s["access_token"]).status_code == 200
        r = srv.refresh(s["refresh_token"], client_id="web")
        assert r.status_code == 200
        secrets_seen += [r.json()["access_token"], r.json()["refresh_token"]]
        srv.refresh(s["refresh_token"])                          # reuse
        srv.introspect(r.json()["access_token"])
        srv.check(r.json()["access_token"] + "x")                # bad signature
        srv.refresh(r.json()["refresh_token"], client_id="other")
    s = srv.new_session(sub="bye")
    secrets_seen += [s["access_token"], s["refresh_token"]]
    srv.revoke(s["refresh_token"])
    srv.logout(s["access_token"])
    srv.post("/v1/sessions", json={"sub": "x"}, headers={"Authorization": "Bearer wrong-admin-key"})
    secrets_seen.append("wrong-admin-key")
    key_lines = [k["d"] for k in srv.keyset()["keys"]]
    assert srv.stop() == 0
    log = srv.stderr_text()
    for sec in secrets_seen:
        assert sec not in log, f"secret {sec[:8]}... appears whole in the log"
        if sec.count(".") == 2:                                  # a JWT: no signature either
            assert sec.split(".")[2] not in log
    for ln in key_lines:
        assert ln not in log, "signing key material in the log"


def test_stderr_is_captured_per_server(start_curfew):
    a = start_curfew()
    b = start_curfew()
    assert a.port != b.port and a.data_dir != b.data_dir
    assert a.stderr_path != b.stderr_path
    assert curfew_bin().exists()


# -- robustness -------------------------------------------------------------------------------

def test_request_sent_byte_by_byte(curfew):
    s_ = curfew.new_session(sub="alice")
    req = (f"GET /v1/check/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s_['access_token']}\r\n"
           "Connection: close\r\n\r\n").encode()
    with connect(curfew) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(req), 7):
            s.sendall(req[i:i + 7])
            time.sleep(0.002)
        data = recv_all(s, 3.0)
    st, headers, _ = parse_raw_response(data)
    assert st == 200, data[:300]
    assert headers["x-curfew-subject"] == "alice"


def test_post_body_in_pieces_and_pipelined_after(curfew):
    body = json.dumps({"sub": "pieces"}).encode()
    head = (f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {curfew.admin_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with connect(curfew) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(head + body[:5])
        time.sleep(0.1)
        s.sendall(body[5:] + HEALTH)                 # rest of body + a pipelined request
        (st, _, b), rest = read_response(s)
        assert st == 201, b
        if not rest:
            (st2, _, _), _ = read_response(s)
        else:
            st2 = parse_raw_response(rest)[0]
        assert st2 == 200


def test_expect_100_continue(curfew):
    body = json.dumps({"sub": "expect"}).encode()
    head = (f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {curfew.admin_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    with connect(curfew) as s:
        s.sendall(head)
        s.settimeout(1.0)
        try:
            interim = s.recv(65536)                  # optional "100 Continue"
        except socket.timeout:
            interim = b""
        if interim:
            assert interim.startswith(b"HTTP/1.1 100"), interim[:100]
        s.sendall(body)
        data = recv_all(s, 3.0)
    data = data.split(b"\r\n\r\n", 1)[1] if data.startswith(b"HTTP/1.1 100") else data
    st, _, b = parse_raw_response(data)
    assert st == 201, data[:300]


def test_many_concurrent_clients(curfew):
    import threading
    import requests
    s_ = curfew.new_session(sub="alice")
    codes = []
    lock = threading.Lock()

    def worker():
        with requests.Session() as h:
            for _ in range(20):
                r = h.get(curfew.url("/v1/check"), timeout=10,
                          headers={"Authorization": f"Bearer {s_['access_token']}"})
                with lock:
                    codes.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(codes) == 600 and set(codes) == {200}, {c: codes.count(c) for c in set(codes)}


@pytest.mark.parametrize("body", [
    b"[" * 5000 + b"]" * 5000,
    b'{"sub": "\xff\xfe"}',
    b'{"sub": "a\\u0000b"}',
    b'{"sub": "alice", "sub": 5}',
    b"\x00" * 100,
    b'{"sub": "alice"} trailing',
], ids=["deep-nesting", "bad-utf8", "nul-escape", "dup-key", "nuls", "trailing"])
def test_hostile_json_is_rejected_cleanly(curfew, body):
    r = curfew.admin("POST", "/v1/sessions", data=body, headers={"Content-Type": "application/json"})
    assert_json_error(r, 400, error="invalid_request")
    assert curfew.get("/healthz").status_code == 200


def test_long_and_odd_session_ids_are_404(curfew):
    for sid in ("a" * 3000, "%00", "..%2f..%2fhealthz", "x'%20OR%201=1--", "%ff%fe"):
        r = curfew.admin("GET", f"/v1/sessions/{sid}")
        assert r.status_code in (404, 400), (sid, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
    assert curfew.get("/healthz").status_code == 200


@pytest.mark.parametrize("size", [3000, 7000])
def test_long_garbage_tokens_are_refused_cleanly(curfew, size):
    tok = "eyJ" + "A" * size + "." + "B" * 100 + "." + "C" * 86
    r = curfew.check(tok)
    assert r.status_code == 401, r.text
    assert r.json()["reason"] in ("malformed_token", "bad_signature", "unknown_key")
    assert curfew.get("/healthz").status_code == 200


def test_refresh_tokens_stored_only_as_hashes(curfew):
    rts = []
    for i in range(3):
        s = curfew.new_session(sub=f"h{i}")
        rts.append(s["refresh_token"])
        r = curfew.refresh(s["refresh_token"])
        assert r.status_code == 200
        rts.append(r.json()["refresh_token"])
    assert curfew.stop() == 0
    import base64 as b64
    for f in _all_files(curfew.data_dir):
        with open(f, "rb") as fh:
            data = fh.read()
        for rt in rts:
            raw = b64.urlsafe_b64decode(rt + "=" * (-len(rt) % 4))
            assert rt.encode() not in data, f"refresh token in clear in {f}"
            assert raw not in data, f"raw refresh token bytes in {f}"
            assert raw.hex().encode() not in data, f"hex refresh token in {f}"


def test_port_in_use_fails_cleanly(tmp_path):
    """A taken port is a startup error: a log line, a message, exit status 1, no abort."""
    import socket as _socket
    taken = _socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        p = run_curfew("serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"),
                       env={"CURFEW_ADMIN_KEY": "k"}, timeout=10)
    finally:
        taken.close()
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "http_bind_failed" in p.stderr
    assert "cannot start" in p.stderr
