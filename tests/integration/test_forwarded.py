# SPDX-License-Identifier: MIT
"""The client address behind trusted proxies when X-Forwarded-For arrives as
several field lines (issue 9 #2).

RFC 9110 §5.3: the field lines of a list field combine, in order, into one
list. A proxy that adds its own line (HAProxy's `option forwardfor` does)
leaves the client's own line first; reading only that line let a client
choose its address, and so dodge lockout, IP-keyed rate limits and IP binding.
Every request here is written on a raw socket so that the split lines reach
the server exactly as a proxy would send them.

The TCP peer is always 127.0.0.1 (trusted); 10.9.0.0/16 is a second tier of
trusted proxies; 203.0.113.x are real clients, 198.51.100.x what they claim.
"""

import secrets

import pytest

from conftest import parse_raw_response

TRUST = "risk: { trusted_proxies: [127.0.0.1/32, 10.9.0.0/16] }\n"

BIND_CFG = """\
clock_leeway: 0s
limits: { max_header_bytes: 32768 }
risk:
  ip_binding: exact
  on_ip_change: step_up
  trusted_proxies: [127.0.0.1/32, 10.9.0.0/16]
"""


class Raw:
    """(status, headers, body JSON) of a request written byte for byte."""

    def __init__(self, data):
        import json
        self.status_code, self.headers, body = parse_raw_response(data)
        self.json = json.loads(body) if body else {}


def raw(srv, method, path, lines, name="X-Forwarded-For", extra=(), body=b"",
        ctype="application/json"):
    head = [f"{method} {path} HTTP/1.1", "Host: curfew"]
    head += [f"{k}: {v}" for k, v in extra]
    head += [f"{name}: {v}" for v in lines]
    if body:
        head += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    head += ["Connection: close", "", ""]
    data = srv.raw("\r\n".join(head).encode() + body)
    assert data, f"no answer to {lines!r}"
    return Raw(data)


def raw_check(srv, token, lines, name="X-Forwarded-For"):
    return raw(srv, "GET", "/v1/check", lines, name, extra=[("Authorization", f"Bearer {token}")])


def bound(srv, ip):
    """A session bound by the backend to ``ip``; returns its access token."""
    return srv.new_session(ip=ip)["access_token"]


def seen_as(srv, lines, ip, name="X-Forwarded-For"):
    """True if a request with these header lines comes from ``ip``."""
    r = raw_check(srv, bound(srv, ip), lines, name)
    assert r.status_code in (200, 401), (r.status_code, r.json)
    if r.status_code == 401:
        assert r.json.get("reason") == "ip_changed", r.json
    return r.status_code == 200


# (lines as sent, the address the server must see, the address the client claimed)
CASES = [
    # The proxy appended its line after the client's: the exact case.
    (["198.51.100.1", "203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    # Two tiers: the inner trusted proxy's hop is skipped.
    (["198.51.100.1", "203.0.113.7", "10.9.0.1"], "203.0.113.7", "198.51.100.1"),
    (["198.51.100.1, 203.0.113.7", "10.9.0.1"], "203.0.113.7", "198.51.100.1"),
    (["198.51.100.1", "203.0.113.7, 10.9.0.1", "10.9.0.2"], "203.0.113.7", "198.51.100.1"),
    # Blanks and empty elements in the client's part.
    (["  198.51.100.1 , ,, ", " 203.0.113.7 "], "203.0.113.7", "198.51.100.1"),
    (["", "203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    ([",", "203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    # Garbage the client wrote before the proxy's line.
    (["unknown", "203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    (["198.51.100.1:443", "203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    (["not an address, 198.51.100.1", "203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    # IPv6, bracketed or not, and the IPv4-mapped form.
    (["2001:db8::66", "[2001:db8::7]"], "2001:db8::7", "2001:db8::66"),
    (["198.51.100.1", "::ffff:203.0.113.7"], "203.0.113.7", "198.51.100.1"),
    (["2001:db8::66", "2001:db8::7", "10.9.0.3"], "2001:db8::7", "2001:db8::66"),
    # An entry the server cannot read stops the walk at the last good hop (the
    # peer): never at the client's claim left of it.
    (["198.51.100.1", "203.0.113.7:4444"], "127.0.0.1", "198.51.100.1"),
    (["198.51.100.1", "[2001:db8::7]:4444"], "127.0.0.1", "198.51.100.1"),
    (["198.51.100.1", "203.0.113.7 10.9.0.1"], "127.0.0.1", "198.51.100.1"),
]


@pytest.mark.parametrize("lines,want,claimed", CASES, ids=[repr(c[0]) for c in CASES])
def test_every_field_line_counts(start_curfew, lines, want, claimed):
    srv = start_curfew(BIND_CFG)
    assert seen_as(srv, lines, want), f"{lines!r}: not seen as {want}"
    assert not seen_as(srv, lines, claimed), f"{lines!r}: the client's claim {claimed} believed"


def test_header_name_case_and_single_line_unchanged(start_curfew):
    srv = start_curfew(BIND_CFG)
    # Field names are case-insensitive; both spellings are one field.
    r = raw(srv, "GET", "/v1/check", [], extra=[("Authorization", "Bearer " + bound(srv, "203.0.113.7")),
                                                 ("x-forwarded-for", "198.51.100.1"),
                                                 ("X-FORWARDED-FOR", "203.0.113.7")])
    assert r.status_code == 200, r.json
    # One line, as nginx sends it, still works as before.
    assert seen_as(srv, ["198.51.100.1, 203.0.113.7"], "203.0.113.7")


def test_overlong_list_never_yields_the_clients_claim(start_curfew):
    srv = start_curfew(BIND_CFG)
    hops = ", ".join("10.9.%d.%d" % (i // 250, i % 250 + 1) for i in range(1500))  # ~17 KB
    lines = ["198.51.100.1", "203.0.113.7, " + hops]
    assert len(lines[1]) > 8192
    # Past what the server reads, the walk stops at the last hop it could read
    # (a trusted proxy), never at anything further left.
    assert not seen_as(srv, lines, "198.51.100.1")
    assert not seen_as(srv, lines, "203.0.113.7")
    # A long list that fits is walked to the client.
    short = ", ".join("10.9.0.%d" % (i % 250 + 1) for i in range(400))
    assert seen_as(srv, ["198.51.100.1", "203.0.113.7, " + short], "203.0.113.7")
    # Many lines.
    assert seen_as(srv, ["198.51.100.%d" % i for i in range(40)] + ["203.0.113.7"] + ["10.9.0.1"] * 10,
                   "203.0.113.7")


def test_x_real_ip_lines(start_curfew):
    srv = start_curfew(BIND_CFG)
    # X-Real-IP holds one address: with two lines, the proxy's is the last.
    assert seen_as(srv, ["198.51.100.1", "203.0.113.7"], "203.0.113.7", name="X-Real-IP")
    assert not seen_as(srv, ["198.51.100.1", "203.0.113.7"], "198.51.100.1", name="X-Real-IP")
    # RFC 7239 Forwarded is not read: the address stays the peer's.
    assert not seen_as(srv, ["for=198.51.100.1"], "198.51.100.1", name="Forwarded")
    assert seen_as(srv, ["for=198.51.100.1"], "127.0.0.1", name="Forwarded")


def test_ip_binding_not_bypassed_by_a_claimed_line(start_curfew):
    srv = start_curfew(BIND_CFG.replace("on_ip_change: step_up", "on_ip_change: revoke"))
    s = srv.new_session(ip="203.0.113.7")
    # The token was stolen and is used from 198.51.100.9, which claims the
    # victim's address in its own line; the proxy appends the real one.
    r = raw_check(srv, s["access_token"], ["203.0.113.7", "198.51.100.9"])
    assert r.status_code == 401 and r.json.get("reason") == "ip_changed", r.json
    assert srv.session(s["session_id"])["state"] == "ended"


def test_lockout_not_bypassed_by_a_new_claim_each_time(start_curfew):
    srv = start_curfew(TRUST + "lockout: { max_failures: 3, window: 30s, duration: 30s }\n")
    good = srv.new_session()["access_token"]
    for i in range(3):
        r = raw_check(srv, "not.a.jwt", [f"198.51.100.{i}", "203.0.113.7"])
        assert r.status_code == 401, r.json
    r = raw_check(srv, good, ["198.51.100.99", "203.0.113.7"])
    assert r.status_code == 429 and r.json.get("reason") == "locked_out", (r.status_code, r.json)
    # Another real client behind the same proxy is not locked out.
    assert raw_check(srv, good, ["198.51.100.1", "203.0.113.8"]).status_code == 200


def test_ip_rate_limit_not_bypassed_by_a_new_claim_each_time(start_curfew):
    srv = start_curfew(TRUST + "rate_limits:\n  check_failures: { rate: 2/60s, burst: 2, key: [ip] }\n")
    for i in range(2):
        r = raw_check(srv, "not.a.jwt", [f"198.51.100.{i}", "203.0.113.7"])
        assert r.status_code == 401, r.json
    r = raw_check(srv, "not.a.jwt", ["198.51.100.50", "203.0.113.7"])
    assert r.status_code == 429 and r.json.get("reason") == "rate_limited", (r.status_code, r.json)
    # The IP-keyed refresh limit, through the same door.
    srv = start_curfew(TRUST + "rate_limits:\n  refresh: { rate: 1/60s, burst: 1, key: [ip] }\n")
    codes = []
    for i in range(2):
        body = ("grant_type=refresh_token&refresh_token=" + secrets.token_hex(16)).encode()
        r = raw(srv, "POST", "/oauth/token", [f"198.51.100.{i}", "203.0.113.7"], body=body,
                ctype="application/x-www-form-urlencoded")
        codes.append(r.status_code)
    assert codes[-1] == 429, codes
