# SPDX-License-Identifier: MIT
"""Revocation-safe decision caching behind nginx (issue 15, Done-when 2).

With check.cache_max_age set, curfew marks an allowed /v1/check cacheable
(X-Accel-Expires, Cache-Control: private, max-age) and the shipped nginx
config caches the auth subrequest keyed by the credentials and the request.
The promise: a revocation takes effect through the cache no later than
cache_max_age after curfew acknowledged it. Measured over many trials, each
revoking at a random phase of the cache entry's life; the max is reported.
"""
import random
import re
import time

import pytest
import requests

from test_nginx import EchoApp, Nginx, render_shipped_conf, through

MAX_AGE = 2.0
TRIALS = 10


def checks_total(curfew):
    m = curfew.get("/metrics").text
    return sum(float(v) for v in re.findall(r"^curfew_checks_total\{[^}]*\} (\S+)$", m, re.M))


@pytest.fixture
def cached(start_curfew, tmp_path):
    curfew = start_curfew(f"clock_leeway: 0s\ncheck:\n  cache_max_age: {MAX_AGE:g}s\n")
    app = EchoApp()
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        yield curfew, ngx, app
    finally:
        ngx.stop()
        app.close()


def test_check_answers_carry_a_bounded_cache_lifetime(start_curfew):
    srv = start_curfew("check:\n  cache_max_age: 5s\naccess_token: { ttl: 3s }\n")
    tok = srv.new_session(sub="a")["access_token"]
    r = srv.check(tok)
    assert r.status_code == 200
    cc = r.headers["Cache-Control"]
    m = re.fullmatch(r"private, max-age=(\d+)", cc)
    assert m and 1 <= int(m.group(1)) <= 3, cc          # the token's 3 s, not the 5 s
    xa = r.headers["X-Accel-Expires"]
    assert xa.startswith("@") and int(xa[1:]) + 1 <= time.time() + 3 + 0.5, xa
    # Refusals are never cacheable.
    for bad in (srv.check(None), srv.check("x.y.z")):
        assert "X-Accel-Expires" not in bad.headers and "max-age" not in bad.headers.get(
            "Cache-Control", ""), bad.headers


def test_cache_off_by_default_means_no_store(curfew):
    r = curfew.check(curfew.new_session(sub="b")["access_token"])
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "X-Accel-Expires" not in r.headers


def test_cached_allows_skip_curfew_and_keep_identity_headers(cached):
    curfew, ngx, app = cached
    s = curfew.new_session(sub="carol", roles=["r1"])
    http = requests.Session()
    before = checks_total(curfew)
    for _ in range(30):
        r = http.get(ngx.url("/api/x"), headers={"Authorization": f"Bearer {s['access_token']}"},
                     timeout=5)
        assert r.status_code == 200
        assert r.json()["headers"].get("X-Curfew-Subject") == "carol", r.json()
    asked = checks_total(curfew) - before
    assert asked <= 5, f"curfew asked {asked} times for 30 requests: the cache is not used"
    # Another path is another entry; refusals are not cached.
    before = checks_total(curfew)
    for _ in range(5):
        assert http.get(ngx.url("/api/x"), timeout=5).status_code == 401
    assert checks_total(curfew) - before == 5


def test_a_revoked_token_is_refused_through_the_cache_within_cache_max_age(cached):
    curfew, ngx, app = cached
    http = requests.Session()
    delays = []
    for i in range(TRIALS):
        s = curfew.new_session(sub=f"rev{i}")
        h = {"Authorization": f"Bearer {s['access_token']}"}
        assert http.get(ngx.url("/api/r"), headers=h, timeout=5).status_code == 200  # cached now
        time.sleep(random.uniform(0, MAX_AGE))     # revoke at any phase of the entry's life
        r = curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}")
        t_ack = time.monotonic()
        assert r.status_code == 200
        while True:
            t_sent = time.monotonic()
            r = http.get(ngx.url("/api/r"), headers=h, timeout=5)
            if r.status_code == 401:
                break
            assert r.status_code == 200
            assert t_sent - t_ack < MAX_AGE + 1, "the revoked token is still served"
            time.sleep(0.01)
        delays.append(t_sent - t_ack)
    print(f"revoked -> refused through nginx: max {max(delays):.3f}s over {TRIALS} trials"
          f" (cache_max_age {MAX_AGE}s), all {[round(d, 2) for d in delays]}")
    assert max(delays) <= MAX_AGE, delays
    assert any(d > 0.05 for d in delays), "the cache was never used: the test proves nothing"
