# SPDX-License-Identifier: MIT
"""DPoP proofs verified on the verifier pool (verify_threads), against the
real binary, with proofs made independently of curfew (test_dpop.Key).

The pool moves only the signature check off the loop; these tests hold it to
that: many checks on many connections, valid and invalid proofs interleaved
and pipelined, get exactly the answers the loop alone would give, in order;
a proof with a bad signature does not spend its jti; one proof sent on two
connections at once is accepted exactly once; clients that leave while their
proof is being verified crash and leak nothing, also through the enforcing
proxy; verify_threads is validated with FILE:LINE and restart-only.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import curfew_bin, parse_raw_response
from test_dpop import APP, Key

URI = "/api/items?page=2"
HTU = APP + "/api/items"


def raw_check(token, proof, method="GET", uri=URI, scheme="DPoP"):
    head = [f"GET /v1/check HTTP/1.1", "Host: curfew",
            f"X-Original-Method: {method}", f"X-Original-URI: {uri}",
            "X-Forwarded-Host: app.example", "X-Forwarded-Proto: https",
            f"Authorization: {scheme} {token}"]
    if proof is not None:
        head.append(f"DPoP: {proof}")
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def read_responses(sock, n, timeout=60):
    """The first @n responses on @sock, as (status, headers, body)."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", buf[:head_end])
            end = head_end + 4 + (int(m.group(1)) if m else 0)
            if len(buf) < end:
                break
            out.append(parse_raw_response(buf[:end]))
            buf = buf[end:]
            if len(out) == n:
                return out
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(out)} of {n} responses"
        buf += chunk
    return out


def reason_of(resp):
    status, headers, body = resp
    if status == 200:
        return "ok"
    import json
    return json.loads(body)["reason"]


def metric(srv, name):
    text = srv.get("/metrics").text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def script_for(conn, key, token, other):
    """One connection's pipelined requests and the reason each must get."""
    steps = []
    for i in range(12):
        kind = i % 6
        if kind == 0:          # a good proof
            steps.append((key.proof("GET", HTU, at=token), "ok"))
        elif kind == 1:        # signed by another key than its jwk: bad signature
            forged = Key(key.alg).proof("GET", HTU, at=token, jwk=key.jwk, jti=f"c{conn}-{i}")
            steps.append((forged, "dpop_invalid"))
            # ...and its jti was not spent: the real proof with that jti passes
            steps.append((key.proof("GET", HTU, at=token, jti=f"c{conn}-{i}"), "ok"))
        elif kind == 2:        # another URL
            steps.append((key.proof("GET", APP + "/admin", at=token), "dpop_invalid"))
        elif kind == 3:        # a replay of the previous good proof
            p = key.proof("GET", HTU, at=token)
            steps.append((p, "ok"))
            steps.append((p, "dpop_replay"))
        elif kind == 4:        # the other key's proof: not the key the token is bound to
            steps.append((other.proof("GET", HTU, at=token), "dpop_key_mismatch"))
        else:                  # corrupted signature bytes
            p = key.proof("GET", HTU, at=token)
            h, c, s = p.split(".")
            s = ("A" if s[0] != "A" else "B") + s[1:]
            steps.append((f"{h}.{c}.{s}", "dpop_invalid"))
    return steps


@pytest.mark.parametrize("threads", ["auto", "1", "0"])
def test_interleaved_pipelined_checks_on_many_connections_get_exact_answers_in_order(
        start_curfew, threads):
    srv = start_curfew(f"verify_threads: {threads}\n")
    es, ed = Key("ES256"), Key("EdDSA")
    sess = {"es": (es, srv.new_session(sub="alice", dpop_jkt=es.jkt)),
            "ed": (ed, srv.new_session(sub="bob", dpop_jkt=ed.jkt))}
    conns, scripts = [], []
    for c in range(8):
        key, s = sess["es" if c % 2 == 0 else "ed"]
        other = sess["ed" if c % 2 == 0 else "es"][0]
        scripts.append(script_for(c, key, s["access_token"], other))
        conns.append((s["access_token"], socket.create_connection(("127.0.0.1", srv.port))))
    results = [None] * len(conns)

    def run(i):
        tok, sock = conns[i]
        sock.sendall(b"".join(raw_check(tok, p) for p, _ in scripts[i]))  # one pipelined write
        results[i] = [reason_of(r) for r in read_responses(sock, len(scripts[i]))]

    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    for i, (_, sock) in enumerate(conns):
        sock.close()
        assert results[i] == [want for _, want in scripts[i]], f"connection {i}"
    queued = metric(srv, "curfew_dpop_verify_queued_total")
    assert metric(srv, "curfew_dpop_verify_threads") == (
        len(os.sched_getaffinity(0)) if threads == "auto" else int(threads))
    if threads == "0":
        assert queued == 0
    else:  # every proof that reached the signature went to the pool
        assert queued >= sum(len(s) for s in scripts) - 8 * 4, queued


def test_one_proof_on_many_connections_at_once_is_accepted_once(curfew):
    key = Key("ES256")
    s = curfew.new_session(sub="alice", dpop_jkt=key.jkt)
    tok = s["access_token"]
    for round_ in range(5):
        p = key.proof("GET", HTU, at=tok)
        socks = [socket.create_connection(("127.0.0.1", curfew.port)) for _ in range(6)]
        req = raw_check(tok, p)
        barrier = threading.Barrier(len(socks))
        got = [None] * len(socks)

        def run(i):
            barrier.wait()
            socks[i].sendall(req)
            got[i] = reason_of(read_responses(socks[i], 1)[0])

        ts = [threading.Thread(target=run, args=(i,)) for i in range(len(socks))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        for so in socks:
            so.close()
        assert sorted(got) == ["dpop_replay"] * 5 + ["ok"], (round_, got)


def test_clients_leaving_mid_verification_crash_nothing(start_curfew):
    curfew = start_curfew("verify_threads: 2\n")
    key = Key("ES256")
    s = curfew.new_session(sub="alice", dpop_jkt=key.jkt)
    tok = s["access_token"]
    before = metric(curfew, "curfew_dpop_verify_queued_total")
    for rst in (False, True):
        socks = []
        for _ in range(60):
            so = socket.create_connection(("127.0.0.1", curfew.port))
            # several pipelined checks: the first is verifying when the client leaves
            so.sendall(b"".join(raw_check(tok, key.proof("GET", HTU, at=tok)) for _ in range(3)))
            socks.append(so)
        for so in socks:
            if rst:  # RST instead of FIN
                so.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            so.close()
    # The server is alive, answers in order, and went through the pool for those clients.
    deadline = time.monotonic() + 30
    while metric(curfew, "curfew_dpop_verify_queued_total") - before < 60 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metric(curfew, "curfew_dpop_verify_queued_total") - before >= 60
    r = curfew.get("/v1/check", headers={
        "Authorization": f"DPoP {tok}", "DPoP": key.proof("GET", HTU, at=tok),
        "X-Original-Method": "GET", "X-Original-URI": URI,
        "X-Forwarded-Host": "app.example", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200, r.text
    assert curfew.proc.poll() is None


def test_stop_while_proofs_are_verifying_exits_cleanly(start_curfew):
    curfew = start_curfew("verify_threads: 2\n")
    key = Key("EdDSA")
    s = curfew.new_session(sub="alice", dpop_jkt=key.jkt)
    tok = s["access_token"]
    socks = [socket.create_connection(("127.0.0.1", curfew.port)) for _ in range(40)]
    for so in socks:
        so.sendall(raw_check(tok, key.proof("GET", HTU, at=tok)))
    curfew.proc.send_signal(signal.SIGTERM)
    assert curfew.proc.wait(30) == 0
    for so in socks:
        so.close()


# -- configuration ---------------------------------------------------------------------

def config_check(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return subprocess.run([str(curfew_bin()), "config", "check", str(path)],
                          capture_output=True, text=True, timeout=30), path


@pytest.mark.parametrize("value", ["-1", "257", "1000000000000000000000", "two", "1.5", "auto2",
                                   "''", "[]", "{}", "0x2", "AUTO", "+1"])
def test_bad_verify_threads_is_refused_with_file_and_line(tmp_path, value):
    p, path = config_check(tmp_path, f"log_level: info\nverify_threads: {value}\n")
    assert p.returncode != 0, p.stdout
    assert f"{path}:2:" in p.stderr, p.stderr
    assert "verify_threads" in p.stderr, p.stderr


@pytest.mark.parametrize("value, dumped", [("auto", "auto"), ("0", "0"), ("1", "1"), ("256", "256")])
def test_good_verify_threads_is_accepted_and_dumped(tmp_path, value, dumped):
    p, _ = config_check(tmp_path, f"verify_threads: {value}\n")
    assert p.returncode == 0, p.stderr
    assert re.search(rf"^verify_threads: {dumped}$", p.stdout, re.M), p.stdout


def test_default_is_auto(tmp_path):
    p, _ = config_check(tmp_path, "log_level: info\n")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^verify_threads: auto$", p.stdout, re.M), p.stdout


def test_verify_threads_is_restart_only(start_curfew):
    srv = start_curfew("verify_threads: 1\n")
    srv.config_path.write_text("verify_threads: 2\n")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "verify_threads" not in srv.stderr_since_start() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "verify_threads" in srv.stderr_since_start()
    assert metric(srv, "curfew_dpop_verify_threads") == 1


# -- the enforcing proxy decides with /v1/check's handler: its proofs go through the pool too --

def test_proxied_dpop_requests_wait_for_the_pool_and_are_answered_right(start_curfew):
    from proxyhelp import Upstream, proxy_config
    from conftest import free_port

    up = Upstream()
    try:
        port = free_port()
        srv = start_curfew(proxy_config(up.port, port) + "verify_threads: 2\n")
        key = Key("ES256")
        tok = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
        htu = f"http://127.0.0.1:{port}/echo/a"

        def req(proof):
            return (f"GET /echo/a HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Authorization: DPoP {tok}\r\nDPoP: {proof}\r\n\r\n").encode()

        # Clients that leave while their proof is verified, then a keep-alive connection
        # with good, forged and replayed proofs pipelined.
        for _ in range(20):
            so = socket.create_connection(("127.0.0.1", port))
            so.sendall(req(key.proof("GET", htu, at=tok)))
            so.close()
        good = key.proof("GET", htu, at=tok)
        forged = Key("ES256").proof("GET", htu, at=tok, jwk=key.jwk)
        steps = [(good, 200), (forged, 401), (good, 401), (key.proof("GET", htu, at=tok), 200)]
        with socket.create_connection(("127.0.0.1", port)) as so:
            so.sendall(b"".join(req(p) for p, _ in steps))
            got = [r[0] for r in read_responses(so, len(steps))]
        assert got == [want for _, want in steps]
        assert metric(srv, "curfew_dpop_verify_queued_total") >= 4
        assert srv.proc.poll() is None
    finally:
        up.close()
