# SPDX-License-Identifier: MIT
"""The enforcing proxy, HTTP side (docs/proxy.md): real upstreams on 127.0.0.1,
real sockets, every byte looked at. Identity headers in, forged ones out,
refusals identical to /v1/check's, keep-alive re-decided, chunked both ways,
502 for a dead upstream, and the smuggling and path tricks a proxy must not
fall for."""

import json
import socket
import subprocess
import time

import pytest
import requests

from conftest import curfew_bin, free_port, recv_all, parse_raw_response
from proxyhelp import Upstream, proxy_config


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def px(start_curfew, upstream):
    port = free_port()
    srv = start_curfew(proxy_config(upstream.port, port) +
                       "roles: {admin: {}}\nroutes:\n  - path_prefix: /admin/\n    deny: true\n")
    srv.proxy_port = port
    srv.purl = lambda path: f"http://127.0.0.1:{port}{path}"
    return srv


def raw(port, data, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        return recv_all(s, timeout)


def test_proxied_request_carries_the_identity_and_loses_forged_headers(px, upstream):
    s = px.new_session(sub="alice", roles=["admin"])
    r = requests.get(px.purl("/echo/a?x=1"), timeout=5, headers={
        "Authorization": f"Bearer {s['access_token']}",
        "X-Curfew-Subject": "mallory", "x-curfew-roles": "admin", "X-Curfew-Anything": "1",
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["path"] == "/echo/a?x=1"
    h = got["headers"]
    curfew = [(k, v) for k, v in h if k.lower().startswith("x-curfew-")]
    assert ("X-Curfew-Subject", "alice") in curfew
    assert ("X-Curfew-Session", s["session_id"]) in curfew
    assert ("X-Curfew-Roles", "admin") in curfew
    assert len(curfew) == 4, curfew            # Subject, Session, Roles, Expires-In: nothing forged
    exp = dict(curfew)["X-Curfew-Expires-In"]
    assert 0 < int(exp) <= 600
    xff = [v for k, v in h if k.lower() == "x-forwarded-for"]
    assert xff == ["203.0.113.9, 127.0.0.1"]     # the client's list, then the address we saw
    assert [v for k, v in h if k.lower() == "x-forwarded-host"] == [f"127.0.0.1:{px.proxy_port}"]
    assert [v for k, v in h if k.lower() == "x-forwarded-proto"] == ["http"]


def test_refusals_are_the_bytes_v1_check_gives(px):
    s = px.new_session(sub="bob")
    px.admin("DELETE", f"/v1/sessions/{s['session_id']}")
    cases = [None, "not.a.jwt", s["access_token"]]
    for tok in cases:
        h = {"Authorization": f"Bearer {tok}"} if tok else {}
        a = requests.get(px.purl("/echo/x"), headers=h, timeout=5)
        b = px.check(tok, path="/v1/check/echo/x")
        assert a.status_code == b.status_code and a.status_code == 401
        assert a.content == b.content
        for k in ("WWW-Authenticate", "Content-Type", "X-Curfew-Reason", "Retry-After"):
            assert a.headers.get(k) == b.headers.get(k), k
    assert json.loads(a.content)["reason"] == "session_revoked"


def test_route_policies_apply_to_the_normalized_path(px, upstream):
    s = px.new_session(sub="carol")
    h = {"Authorization": f"Bearer {s['access_token']}"}
    for path in ("/admin/x", "/public/../admin/x", "/%61dmin/x", "//admin/x", "/public/%2e%2e/admin/x"):
        r = requests.get(px.purl("/") , timeout=5)  # warm
        data = raw(px.proxy_port, f"GET {path} HTTP/1.1\r\nHost: a\r\nAuthorization: {h['Authorization']}\r\n\r\n".encode())
        status, hdrs, body = parse_raw_response(data)
        assert status == 403, (path, data[:200])
        assert json.loads(body)["reason"] == "route_denied"
    assert not any("admin" in q["path"] for q in upstream.seen)
    # what was decided is what is served: the normalized path reaches the upstream
    r = requests.get(px.purl("/public/./x/../y"), headers=h, timeout=5)
    assert r.json()["path"] == "/public/y"
    data = raw(px.proxy_port, f"GET /a/%2fb HTTP/1.1\r\nHost: a\r\nAuthorization: {h['Authorization']}\r\n\r\n".encode())
    assert parse_raw_response(data)[0] == 400


def test_keep_alive_redecides_every_request(px, upstream):
    s = px.new_session(sub="dave")
    req = f"GET /echo/1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {s['access_token']}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", px.proxy_port), timeout=5) as c:
        f = c.makefile("rb")
        for _ in range(3):
            c.sendall(req)
            assert f.readline().startswith(b"HTTP/1.1 200")
            n = 0
            while True:
                line = f.readline()
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                if line == b"\r\n":
                    break
            f.read(n)
        assert px.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
        for _ in range(2):                      # refused, as /v1/check would, and still open
            c.sendall(req)
            head, body = _read_response(f)
            assert head.startswith(b"HTTP/1.1 401") and b"Connection: keep-alive" in head, head
            assert json.loads(body)["reason"] == "session_revoked"
    assert len(upstream.seen) == 3


def test_chunked_both_ways_and_large_bodies_stream(px):
    s = px.new_session(sub="erin")
    h = {"Authorization": f"Bearer {s['access_token']}"}

    def gen():
        for i in range(50):
            yield b"part%02d;" % i
    r = requests.post(px.purl("/echo/up"), data=gen(), headers=h, timeout=5)
    assert r.status_code == 200
    assert r.json()["body"] == "".join("part%02d;" % i for i in range(50))
    assert ("Transfer-Encoding", "chunked") in [tuple(x) for x in r.json()["headers"]]
    r = requests.get(px.purl("/chunked"), headers=h, timeout=5)
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.text == "one,two,three"
    r = requests.get(px.purl("/big?n=3000000"), headers=h, timeout=20, stream=True)
    got = sum(len(c) for c in r.iter_content(65536))
    assert got == 3000000


def test_a_dead_upstream_is_a_json_502(start_curfew):
    port, dead = free_port(), free_port()
    srv = start_curfew(proxy_config(dead, port))
    s = srv.new_session(sub="frank")
    r = requests.get(f"http://127.0.0.1:{port}/x", headers={"Authorization": f"Bearer {s['access_token']}"},
                     timeout=5)
    assert r.status_code == 502
    assert r.json()["reason"] == "upstream_unavailable"
    assert r.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("head,status", [
    ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
    ("Content-Length: 5\r\nContent-Length: 6\r\n", 400),
    ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
    ("Transfer-Encoding: gzip, chunked\r\n", 400),
    ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400),
    ("X-A: 1\r\n  folded\r\n", 400),
    ("Content-Length : 5\r\n", 400),
])
def test_smuggling_shapes_are_refused_before_any_upstream_byte(px, upstream, head, status):
    s = px.new_session(sub="gina")
    data = raw(px.proxy_port, (f"POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer "
                               f"{s['access_token']}\r\n{head}\r\n0\r\n\r\nGET /admin/x HTTP/1.1\r\n"
                               f"Host: a\r\n\r\n").encode())
    got, headers, body = parse_raw_response(data)
    assert got == status, data[:300]
    # the proxy's own refusal names its reason like every other refusal
    assert headers.get("x-curfew-reason") == json.loads(body)["reason"] != "", data[:300]
    assert upstream.seen == []


def test_expect_100_continue_is_answered_after_the_decision(px):
    s = px.new_session(sub="hank")
    with socket.create_connection(("127.0.0.1", px.proxy_port), timeout=5) as c:
        c.sendall((f"POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {s['access_token']}\r\n"
                   f"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n").encode())
        c.settimeout(3)
        first = c.recv(100)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        c.sendall(b"hello")
        data = first[25:] + recv_all(c, 1.0)
        assert b'"body": "hello"' in data
    # refused: no 100, the refusal, and the body is never read
    data = raw(px.proxy_port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 401")


def test_connection_limits_per_address(start_curfew, upstream):
    port = free_port()
    srv = start_curfew(proxy_config(upstream.port, port,
                                    extra="  max_connections_per_address: 2\n"))
    a = socket.create_connection(("127.0.0.1", port))
    b = socket.create_connection(("127.0.0.1", port))
    time.sleep(0.1)
    data = raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 503"), data
    a.close()
    b.close()
    time.sleep(0.1)
    assert raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").startswith(b"HTTP/1.1 401")


def _read_response(f):
    """One response from a socket file: (status line + headers as bytes, body)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        assert line, head
        head += line
    n = int(dict(l.split(b": ", 1) for l in head.split(b"\r\n")[1:-2]).get(b"Content-Length", b"0"))
    return head, f.read(n)


def _no_date(head):
    return b"\r\n".join(l for l in head.split(b"\r\n") if not l.startswith(b"Date: "))


def test_a_refusal_keeps_the_connection_alive_as_v1_check_does(px, upstream):
    """A client cannot tell the proxy from /v1/check by its refusals: same bytes
    (Connection: keep-alive included) and the connection stays usable, for a
    request without a body, with a small body, chunked, and pipelined."""
    s = px.new_session(sub="kim")
    with socket.create_connection(("127.0.0.1", px.port), timeout=5) as a:
        fa = a.makefile("rb")
        a.sendall(b"GET /v1/check/echo/x HTTP/1.1\r\nHost: a\r\n\r\n")
        check_head, check_body = _read_response(fa)
    with socket.create_connection(("127.0.0.1", px.proxy_port), timeout=5) as c:
        f = c.makefile("rb")
        c.sendall(b"GET /echo/x HTTP/1.1\r\nHost: a\r\n\r\n")
        head, body = _read_response(f)
        assert b"Connection: keep-alive\r\n" in head, head
        assert (_no_date(head), body) == (_no_date(check_head), check_body)
        c.sendall(b"POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        head, body = _read_response(f)
        assert head.startswith(b"HTTP/1.1 401") and b"Connection: keep-alive" in head, head
        c.sendall(b"POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n0\r\n\r\n")
        head, body = _read_response(f)
        assert head.startswith(b"HTTP/1.1 401") and b"Connection: keep-alive" in head, head
        # pipelined: a refusal, then an allowed request, in one write
        c.sendall(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                  + f"GET /echo/ok HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {s['access_token']}\r\n\r\n".encode())
        head, body = _read_response(f)
        assert head.startswith(b"HTTP/1.1 401"), head
        head, body = _read_response(f)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert json.loads(body)["path"] == "/echo/ok"
    # the refused bodies never reached the upstream
    assert [q["path"] for q in upstream.seen] == ["/echo/ok"]


def test_a_refusal_closes_when_the_body_is_not_read(px):
    """Expect: 100-continue (the body may never come), a body over limits.max_body_bytes,
    and Connection: close still end the connection after the refusal."""
    for req in (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
                b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"):
        data = raw(px.proxy_port, req)
        assert data.startswith(b"HTTP/1.1 401") and b"Connection: close\r\n" in data, data


def test_an_upstream_may_be_a_host_name_resolved_at_start(start_curfew, upstream):
    port = free_port()
    srv = start_curfew(proxy_config(upstream.port, port).replace("127.0.0.1:" + str(upstream.port),
                                                                 f"localhost:{upstream.port}"))
    s = srv.new_session(sub="named")
    r = requests.get(f"http://127.0.0.1:{port}/echo/n", timeout=5,
                     headers={"Authorization": f"Bearer {s['access_token']}"})
    assert r.status_code == 200 and r.json()["path"] == "/echo/n", r.text


def test_an_upstream_name_that_does_not_resolve_stops_the_start(start_curfew):
    port = free_port()
    srv = start_curfew(proxy_config(1, port).replace("127.0.0.1:1", "no-such-host.invalid:80"),
                       wait=False)
    assert srv.proc.wait(15) != 0
    err = srv.stderr_since_start()
    assert "event=proxy_resolve_failed upstream=app addr=no-such-host.invalid:80" in err, err


@pytest.mark.parametrize("addr,say", [
    ("bad_name:80", "expected HOST:PORT"), ("-x.example:80", "expected HOST:PORT"),
    ("x..example:80", "expected HOST:PORT"), ("app:0", "expected HOST:PORT"),
    ("app:65536", "expected HOST:PORT"), ("999.1.1.1:80", "is not an IPv4 address"),
    ("app", "HOST:PORT"), ("a" * 64 + ".example:80", "expected HOST:PORT"),
])
def test_bad_upstream_addresses_are_config_errors(tmp_path, addr, say):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"proxy:\n  upstreams:\n    app: {{address: \"{addr}\"}}\n")
    p = subprocess.run([str(curfew_bin()), "config", "check", str(cfg)], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode != 0
    assert p.stderr.startswith(f"{cfg}:3: proxy.upstreams.app.address: ") and say in p.stderr, p.stderr


@pytest.mark.parametrize("host_len", [1000, 4000, 7600])
def test_a_long_host_is_forwarded_twice_without_overrunning(px, upstream, host_len):
    # Host's value goes to the upstream twice (Host and X-Forwarded-Host): the
    # head built for it once had room for every byte once, so a long Host from
    # an allowed client overran the heap (a crash, or worse, before 2026-12).
    s = px.new_session(sub="hank")
    host = "h" * host_len
    req = (f"GET /echo/long HTTP/1.1\r\nHost: {host}\r\n"
           f"Authorization: Bearer {s['access_token']}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", px.proxy_port), timeout=5) as c:
        f = c.makefile("rb")
        for _ in range(3):
            c.sendall(req)
            head, body = _read_response(f)
            assert head.startswith(b"HTTP/1.1 200"), head
            got = dict((k.lower(), v) for k, v in json.loads(body)["headers"])
            assert got["host"] == host and got["x-forwarded-host"] == host
    r = requests.get(px.purl("/echo/after"), timeout=5,
                     headers={"Authorization": f"Bearer {s['access_token']}"})
    assert r.status_code == 200
