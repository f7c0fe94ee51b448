# SPDX-License-Identifier: MIT
"""Refused checks are logged with their reason (issue 15, Done-when 1, part).

One line per refused /v1/check at info: reason, route rule, client,
fingerprints of subject and session, client address; never a token, key or
full session id. A flood is rate-limited (CF_REFUSAL_LOG_PER_SEC = 20 lines a
second) and what was left out is counted in an event=log_dropped line.
"""
import re
import time

import requests

from conftest import wait_until

CONF = """\
clock_leeway: 0s
log_level: info
routes:
  - path_prefix: /internal/
    deny: true
"""


def refused_lines(srv):
    return [l for l in srv.stderr_text().splitlines() if "event=check_refused" in l]


def test_refused_checks_say_why_without_secrets(start_curfew):
    srv = start_curfew(CONF)
    s = srv.new_session(sub="alice-secret-name")
    tok, sid = s["access_token"], s["session_id"]
    assert srv.check(None).status_code == 401
    assert srv.check("garbage.token.here").status_code == 401
    r = srv.check(tok, headers={"X-Original-URI": "/internal/x", "X-Original-Method": "GET"})
    assert r.status_code == 403
    assert srv.admin("DELETE", f"/v1/sessions/{sid}").status_code == 200
    assert srv.check(tok).status_code == 401
    assert wait_until(lambda: len(refused_lines(srv)) >= 4, 3), srv.stderr_text()[-2000:]
    lines = refused_lines(srv)
    reasons = [re.search(r"reason=(\S+)", l).group(1) for l in lines]
    assert reasons[:4] == ["missing_token", "malformed_token", "route_denied", "session_revoked"], lines
    assert "route=0" in lines[2] and "route=-" in lines[0], lines
    assert all("ip=127.0.0.1" in l for l in lines), lines
    revoked = lines[3]
    assert re.search(r"sid=[0-9a-f]{12} ", revoked) and re.search(r"sub=[0-9a-f]{12} ", revoked), revoked
    log = srv.stderr_text()
    for secret in (tok, sid, s["refresh_token"], srv.admin_key, "alice-secret-name", "garbage.token"):
        assert secret not in log


def test_a_flood_of_refusals_is_rate_limited_with_a_dropped_count(start_curfew):
    srv = start_curfew(CONF)
    http = requests.Session()
    n = 600
    t0 = time.monotonic()
    for _ in range(n):
        assert http.get(srv.url("/v1/check"), timeout=5).status_code == 401
    took = time.monotonic() - t0
    # The count of a flood that stopped is written by the flush timer.
    assert wait_until(lambda: "event=log_dropped" in srv.stderr_text(), 5), srv.stderr_text()[-1500:]
    lines = refused_lines(srv)
    dropped = sum(int(m) for m in re.findall(r"event=log_dropped what=check_refused n=(\d+)",
                                             srv.stderr_text()))
    seconds = int(took) + 2
    assert len(lines) <= 20 * seconds, (len(lines), took)
    assert len(lines) + dropped == n, (len(lines), dropped)
    # The metrics still count every refusal.
    m = srv.get("/metrics").text
    assert re.search(r'curfew_checks_total\{[^}]*reason="missing_token"[^}]*\} 600', m), \
        [l for l in m.splitlines() if "missing_token" in l]
