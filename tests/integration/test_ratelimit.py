# SPDX-License-Identifier: MIT
"""Rate limits and lockout (issue 3): GCRA limits per endpoint class and key,
429 with Retry-After (RFC 9110 §10.2.3) and RateLimit-Policy / RateLimit
headers (IETF httpapi draft), the check_failures class, the lockout after N
failures and its expiry, and the bound on tracked keys.

GCRA arithmetic used for the expectations: rate N/D gives an emission interval
T = D/N; with burst B, B requests pass at once, and after that the next one
conforms T after the first of them. Retry-After is ceil(seconds until then).
Every config below has B == N, so the window is D either way it is counted.

Client IPs come from X-Forwarded-For (the peer 127.0.0.1 is trusted).
"""

import math
import re
import secrets
import time

import pytest
import requests

from conftest import assert_json_error, basic_auth, hash_secret

TRUST = "risk: { trusted_proxies: [127.0.0.1/32] }\n"


def xff(ip):
    return {"X-Forwarded-For": ip}


def parse_ratelimit(value):
    """'limit=3, remaining=0, reset=5' -> {'limit': 3, ...}"""
    out = {}
    for part in value.split(","):
        k, _, v = part.strip().partition("=")
        out[k.strip()] = int(v)
    return out


def assert_429(r, reason, expect_retry=None, burst=None, window=None, tol=1):
    body = assert_json_error(r, 429, error="rate_limited" if reason == "rate_limited" else None,
                             reason=reason)
    assert body.get("error"), body
    ra = r.headers.get("Retry-After")
    assert ra is not None and re.fullmatch(r"\d+", ra), f"Retry-After {ra!r} (want integer seconds)"
    ra = int(ra)
    assert ra >= 1, ra
    if expect_retry is not None:
        want = math.ceil(expect_retry)
        assert abs(ra - want) <= tol, f"Retry-After {ra}, GCRA says {expect_retry:.2f} -> {want}"
    if burst is not None:
        pol = r.headers.get("RateLimit-Policy", "")
        assert re.fullmatch(rf"{burst};\s*w={window}", pol), f"RateLimit-Policy {pol!r}"
        rl = parse_ratelimit(r.headers.get("RateLimit", ""))
        assert rl.get("limit") == burst and rl.get("remaining") == 0, rl
        # reset on a refusal: seconds until quota is available again, i.e. the
        # Retry-After (not until the bucket is full again).
        assert abs(rl.get("reset", -99) - ra) <= 1, (rl, ra)
    assert "X-Curfew-Subject" not in r.headers
    return ra


# ---------------------------------------------------------------------------
# refresh: 3/15s, burst 3, keyed by IP  (T = 5s)
# ---------------------------------------------------------------------------

REFRESH_CFG = TRUST + """\
refresh_token: { reuse_grace: 0s }
rate_limits:
  refresh: { rate: 3/15s, burst: 3, key: [ip] }
"""


def refresh_chain(srv, rt, ip):
    r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt,
                                       "client_id": "web"}, headers=xff(ip))
    return r


@pytest.mark.slow
def test_refresh_429_retry_after_and_headers(start_curfew):
    srv = start_curfew(REFRESH_CFG)
    s = srv.new_session(sub="r", client_id="web")
    rt = s["refresh_token"]
    t0 = time.time()
    for i in range(3):
        r = refresh_chain(srv, rt, "10.1.1.1")
        assert r.status_code == 200, f"refresh {i + 1} of the burst: {r.text}"
        rt = r.json()["refresh_token"]
    r = refresh_chain(srv, rt, "10.1.1.1")
    ra = assert_429(r, "rate_limited", expect_retry=5 - (time.time() - t0), burst=3, window=15)
    assert "access_token" not in r.json()

    # Another IP has its own bucket.
    other = srv.new_session(sub="o", client_id="web")
    r = refresh_chain(srv, other["refresh_token"], "10.2.2.2")
    assert r.status_code == 200, r.text

    # After Retry-After the same (unspent) refresh token works, once.
    time.sleep(ra + 0.3)
    r = refresh_chain(srv, rt, "10.1.1.1")
    assert r.status_code == 200, f"after Retry-After={ra}s: {r.status_code} {r.text}"
    rt = r.json()["refresh_token"]
    t1 = time.time()
    r = refresh_chain(srv, rt, "10.1.1.1")
    # One request conformed at ~t0+5+; the next conforms T = 5s later.
    assert_429(r, "rate_limited", expect_retry=(t0 + 10) - t1, burst=3, window=15)


# ---------------------------------------------------------------------------
# check_failures: 2/20s, burst 2, keyed by IP  (T = 10s)
# ---------------------------------------------------------------------------

CHECK_CFG = TRUST + """\
rate_limits:
  check_failures: { rate: 2/20s, burst: 2, key: [ip] }
"""


def test_check_failures_limit(start_curfew):
    srv = start_curfew(CHECK_CFG)
    s = srv.new_session(sub="c")
    good = s["access_token"]
    # Successful checks are not counted.
    for _ in range(5):
        assert srv.check(good, headers=xff("10.3.3.3")).status_code == 200
    t0 = time.time()
    for _ in range(2):
        r = srv.check("not.a.jwt", headers=xff("10.3.3.3"))
        assert r.status_code == 401, r.text
    r = srv.check("not.a.jwt", headers=xff("10.3.3.3"))
    assert_429(r, "rate_limited", expect_retry=10 - (time.time() - t0), burst=2, window=20)
    # Now even a valid token from that IP is refused.
    r = srv.check(good, headers=xff("10.3.3.3"))
    ra = assert_429(r, "rate_limited")
    assert ra <= 20, ra
    # Other IPs are unaffected, for good and bad tokens alike.
    assert srv.check(good, headers=xff("10.4.4.4")).status_code == 200
    assert srv.check("not.a.jwt", headers=xff("10.4.4.4")).status_code == 401


# ---------------------------------------------------------------------------
# session_create keyed by api_key, client_credentials keyed by client_id
# ---------------------------------------------------------------------------

def test_session_create_limit_per_api_key(start_curfew):
    srv = start_curfew(TRUST + "rate_limits:\n  session_create: { rate: 2/20s, burst: 2, key: [api_key] }\n")
    t0 = time.time()
    for _ in range(2):
        assert srv.create_session(sub="x").status_code == 201
    r = srv.create_session(sub="x")
    assert_429(r, "rate_limited", expect_retry=10 - (time.time() - t0), burst=2, window=20)
    # A wrong key is a different key (and gets its own refusal, not 201).
    r = srv.admin("POST", "/v1/sessions", json={"sub": "x"},
                  headers={"Authorization": "Bearer wrong-" + secrets.token_hex(8)})
    assert r.status_code in (401, 429), r.text


def test_client_credentials_limit_per_client(start_curfew):
    a, b = "sa-" + secrets.token_hex(8), "sb-" + secrets.token_hex(8)
    cfg = TRUST + f"""\
clients:
  - id: job-a
    type: confidential
    secret_hash: "{hash_secret(a)}"
    allowed_grants: [client_credentials]
  - id: job-b
    type: confidential
    secret_hash: "{hash_secret(b)}"
    allowed_grants: [client_credentials]
rate_limits:
  client_credentials: {{ rate: 2/20s, burst: 2, key: [client_id] }}
"""
    srv = start_curfew(cfg)

    def cc(cid, secret, ip):
        return srv.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers={**basic_auth(cid, secret), **xff(ip)})
    t0 = time.time()
    assert cc("job-a", a, "10.0.0.1").status_code == 200
    assert cc("job-a", a, "10.0.0.2").status_code == 200
    r = cc("job-a", a, "10.0.0.3")          # another IP, same client: still limited
    assert_429(r, "rate_limited", expect_retry=10 - (time.time() - t0), burst=2, window=20)
    assert cc("job-b", b, "10.0.0.1").status_code == 200


# ---------------------------------------------------------------------------
# Lockout
# ---------------------------------------------------------------------------

LOCK_CFG = TRUST + """\
lockout: { max_failures: 3, window: 2s, duration: 3s }
"""


@pytest.mark.slow
def test_lockout_and_expiry(start_curfew):
    srv = start_curfew(LOCK_CFG)
    s = srv.new_session(sub="l", client_id="web")
    good = s["access_token"]
    for i in range(3):
        r = srv.check("not.a.jwt", headers=xff("10.5.5.5"))
        assert r.status_code == 401, f"failure {i + 1}: {r.status_code} {r.text}"
    t_lock = time.time()
    r = srv.check(good, headers=xff("10.5.5.5"))
    ra = assert_429(r, "locked_out", expect_retry=3 - (time.time() - t_lock))
    assert ra <= 3, ra
    # Refreshes and token requests from that IP are refused too.
    r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                       "refresh_token": s["refresh_token"]}, headers=xff("10.5.5.5"))
    assert_429(r, "locked_out")
    # Other IPs are not.
    assert srv.check(good, headers=xff("10.6.6.6")).status_code == 200
    # The lock expires.
    time.sleep(max(0.0, t_lock + 3 - time.time()) + 0.6)
    r = srv.check(good, headers=xff("10.5.5.5"))
    assert r.status_code == 200, f"after the lock: {r.status_code} {r.text}"
    # The refused refresh did not spend the token.
    r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                       "refresh_token": s["refresh_token"]}, headers=xff("10.5.5.5"))
    assert r.status_code == 200, r.text
    # And the failure count started over: one failure does not lock again.
    assert srv.check("not.a.jwt", headers=xff("10.5.5.5")).status_code == 401
    assert srv.check(r.json()["access_token"], headers=xff("10.5.5.5")).status_code == 200


def test_lockout_counts_failed_refreshes(start_curfew):
    srv = start_curfew(LOCK_CFG)
    s = srv.new_session(sub="l", client_id="web")
    for i in range(3):
        r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                           "refresh_token": "bogus-" + secrets.token_hex(16)},
                     headers=xff("10.7.7.7"))
        assert r.status_code == 400 and r.json().get("reason") == "unknown_refresh_token", r.text
    assert_429(srv.check(s["access_token"], headers=xff("10.7.7.7")), "locked_out")


@pytest.mark.slow
def test_lockout_window(start_curfew):
    srv = start_curfew(LOCK_CFG)
    s = srv.new_session(sub="w")
    for _ in range(2):
        assert srv.check("not.a.jwt", headers=xff("10.8.8.8")).status_code == 401
    time.sleep(2.6)                   # the first two fall out of the 2s window
    for _ in range(2):
        assert srv.check("not.a.jwt", headers=xff("10.8.8.8")).status_code == 401
    r = srv.check(s["access_token"], headers=xff("10.8.8.8"))
    assert r.status_code == 200, f"4 failures spread over more than the window: {r.status_code} {r.text}"


# ---------------------------------------------------------------------------
# Memory bound
# ---------------------------------------------------------------------------

def test_tracked_keys_are_bounded(start_curfew):
    srv = start_curfew(TRUST + """\
rate_limits:
  check_failures: { rate: 1/1m, burst: 1, key: [ip] }
  max_keys: 64
""")
    first = "10.9.0.1"
    assert srv.check("not.a.jwt", headers=xff(first)).status_code == 401
    assert_429(srv.check("not.a.jwt", headers=xff(first)), "rate_limited")
    # An attacker rotating addresses: every new key starts fresh (401, not 429),
    # and the server keeps answering.
    with requests.Session() as h:
        for i in range(3000):
            ip = f"10.{20 + i // 65536}.{(i // 256) % 256}.{i % 256}"
            r = h.get(srv.url("/v1/check"), headers={"Authorization": "Bearer not.a.jwt", **xff(ip)},
                      timeout=5)
            assert r.status_code == 401, f"key {i} ({ip}): {r.status_code} {r.text}"
    assert srv.get("/healthz").status_code == 200
    # Only the most recent 64 keys are tracked: the first one was evicted ...
    assert srv.check("not.a.jwt", headers=xff(first)).status_code == 401
    # ... while the most recent one is still limited.
    last = f"10.{20 + 2999 // 65536}.{(2999 // 256) % 256}.{2999 % 256}"
    assert_429(srv.check("not.a.jwt", headers=xff(last)), "rate_limited")
