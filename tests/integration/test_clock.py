# SPDX-License-Identifier: MIT
"""Wall-clock steps (issue 9, defect 11). libfaketime (Debian's libfaketime)
steps the server's wall clock only, at run time, through a timestamp file;
the monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1), which is
what an NTP step does to a real host.

  +1 h then back: sessions with a shorter idle timeout are refused while the
      clock says so, but not ended for good before the step is confirmed
      (clock_step_hold), so they are alive after the correction and after a
      restart. A step that lasts the hold is real and does end them.
  -1 h: outstanding access tokens stay valid (their iat is excused by the
      step), a recently seen rate-limit key does not wait an hour, a lockout
      ends after its duration. Every step is logged and counted."""

import re
import secrets
import time
from pathlib import Path

import conftest
import pytest

from conftest import assert_json_error, jwt_parts

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
TRUST = "risk: { trusted_proxies: [127.0.0.1/32] }\n"


class WallClock:
    """The server's wall-clock offset, changed while it runs."""

    def __init__(self, path):
        self.path = path
        self.set(0)

    def set(self, seconds):
        # libfaketime reads the file on every clock read (FAKETIME_NO_CACHE).
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{seconds:+d}\n")
        tmp.replace(self.path)

    def env(self):
        assert LIBFAKETIME.exists(), "libfaketime is missing: run scripts/deps.sh"
        return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(self.path),
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.fixture
def wall(tmp_path):
    return WallClock(tmp_path / "faketime.rc")


def wait_until(pred, timeout, step=0.05):
    return conftest.wait_until(pred, timeout, step)


def steps_metric(srv, direction):
    text = srv.get("/metrics").text
    m = re.search(r'^curfew_clock_steps_total\{direction="%s"\} (\d+)$' % direction, text, re.M)
    return int(m.group(1)) if m else None


def step_logged(srv, direction):
    return re.search(r"event=clock_step direction=%s step_ms=-?\d+" % direction,
                     srv.stderr_text())


def wait_step_seen(srv, direction, n=1):
    """The step is detected within a second even with no request (a timer looks)."""
    assert wait_until(lambda: step_logged(srv, direction), 3.0), srv.stderr_text()[-2000:]
    assert wait_until(lambda: steps_metric(srv, direction) == n, 3.0), steps_metric(srv, direction)


def wait_sweeps(srv, n):
    """Wait until at least @n purge sweeps have run (purge_interval: 100ms)."""
    time.sleep(0.1 * n + 0.2)


# ---------------------------------------------------------------------------
# +1 h, then corrected
# ---------------------------------------------------------------------------

FWD_CFG = (
    "store: { purge_interval: 100ms, purge_after: 0s }\nclock_step_hold: 1m\n"
    "session: { idle_timeout: 3h }\n")


def test_forward_step_then_correction_ends_no_session(start_curfew, wall):
    srv = start_curfew(FWD_CFG, env=wall.env())
    short = srv.new_session(sub="alice", idle_timeout="10m")
    long_ = srv.new_session(sub="bob", idle_timeout="2h")
    assert srv.check(short["access_token"]).status_code == 200
    assert steps_metric(srv, "forward") == 0 and steps_metric(srv, "backward") == 0

    wall.set(3600)
    wait_step_seen(srv, "forward")
    # While the clock says an hour has passed, the short session is refused:
    # that is all the clock can tell (and it fails towards expiry)...
    r = srv.check(short["access_token"])
    assert r.status_code == 401 and r.json()["reason"] in ("idle_timeout", "token_expired"), r.text
    # (Access tokens live 10 minutes: the long session's has expired too, but
    # the session lives and refreshes.)
    r = srv.refresh(long_["refresh_token"])
    assert r.status_code == 200, r.text
    long_ = r.json()
    wait_sweeps(srv, 5)
    assert "event=purge_deferred why=clock_step_unconfirmed" in srv.stderr_text()
    # ...and a refresh on it does not end it either.
    r = srv.refresh(short["refresh_token"])
    assert r.status_code == 400, r.text

    wall.set(0)  # NTP corrects the step
    wait_step_seen(srv, "backward")
    wait_sweeps(srv, 5)
    r = srv.check(short["access_token"])
    assert r.status_code == 200, r.text
    info = srv.session(short["session_id"])
    assert info["state"] == "active" and info["end_reason"] is None, info
    r = srv.refresh(short["refresh_token"])
    assert r.status_code == 200, r.text
    fresh = r.json()
    # The token issued during the wrong hour carries an iat an hour ahead: the
    # step back excuses it while this process remembers the step.
    r = srv.check(long_["access_token"])
    assert r.status_code == 200, r.text

    srv.restart(hard=True)  # nothing durable says it ended
    r = srv.check(fresh["access_token"])
    assert r.status_code == 200, r.text
    r = srv.refresh(long_["refresh_token"])
    assert r.status_code == 200, r.text


def test_forward_step_that_lasts_the_hold_is_confirmed(start_curfew, wall):
    srv = start_curfew("store: { purge_interval: 100ms }\nclock_step_hold: 1s\n", env=wall.env())
    short = srv.new_session(sub="alice", idle_timeout="10m")
    wall.set(3600)
    wait_step_seen(srv, "forward")
    time.sleep(1.0)     # the hold
    wait_sweeps(srv, 5)  # then the sweeps end it for good
    wall.set(0)
    wait_step_seen(srv, "backward")
    r = srv.check(short["access_token"])
    assert_json_error(r, 401, reason="idle_timeout")
    srv.restart(hard=True)
    r = srv.check(short["access_token"])
    assert r.status_code == 401, r.text


# ---------------------------------------------------------------------------
# -1 h
# ---------------------------------------------------------------------------

def test_backward_step_keeps_outstanding_tokens_valid(start_curfew, wall):
    srv = start_curfew("store: { purge_interval: 100ms }\n", env=wall.env())
    sessions = [srv.new_session(sub=f"u{i}") for i in range(3)]
    wall.set(-3600)
    wait_step_seen(srv, "backward")
    for s in sessions:
        r = srv.check(s["access_token"])
        assert r.status_code == 200, r.text
    r = srv.refresh(sessions[0]["refresh_token"])
    assert r.status_code == 200, r.text
    assert srv.check(r.json()["access_token"]).status_code == 200
    assert steps_metric(srv, "forward") == 0
    line = step_logged(srv, "backward").group(0)
    assert int(line.rsplit("=", 1)[1]) < -3590 * 1000
    # The excuse is the step (plus clock_leeway, 30s), not a free pass: a token
    # whose iat lies beyond it is still from the future.
    claims = jwt_parts(sessions[1]["access_token"])[1]
    real_now = int(time.time())
    for ahead, status in ((0, 200), (25, 200), (60, 401), (600, 401), (10 ** 9, 401)):
        forged = srv.forge(dict(claims, iat=real_now + ahead, exp=real_now + ahead + 300,
                                jti=secrets.token_hex(8)))
        r = srv.check(forged)
        assert r.status_code == status, (ahead, r.text)
        if status == 401:
            assert r.json()["reason"] == "token_not_yet_valid", (ahead, r.text)
    forged = srv.forge(dict(claims, nbf=real_now + 600, jti=secrets.token_hex(8)))
    assert_json_error(srv.check(forged), 401, reason="token_not_yet_valid")


def test_backward_step_does_not_make_a_rate_limit_wait_an_hour(start_curfew, wall):
    srv = start_curfew(TRUST + "rate_limits:\n  refresh: { rate: 2/4s, burst: 2, key: [ip] }\n",
                       env=wall.env())
    s = srv.new_session(sub="rl")
    ip = {"X-Forwarded-For": "10.9.9.9"}
    rt = s["refresh_token"]
    for _ in range(2):
        r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                     headers=ip)
        assert r.status_code == 200, r.text
        rt = r.json()["refresh_token"]
    r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                 headers=ip)
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) <= 2

    wall.set(-3600)
    wait_step_seen(srv, "backward")
    r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                 headers=ip)
    if r.status_code == 429:  # at most the rest of the real interval, never ~3590 s
        assert int(r.headers["Retry-After"]) <= 2, r.headers
        time.sleep(int(r.headers["Retry-After"]))
        r = srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                     headers=ip)
    assert r.status_code == 200, r.text


def test_backward_step_does_not_stretch_a_lockout(start_curfew, wall):
    srv = start_curfew(TRUST + "lockout: { max_failures: 3, window: 1m, duration: 2s }\n",
                       env=wall.env())
    s = srv.new_session(sub="lk")
    ip = {"X-Forwarded-For": "10.8.8.8"}
    for _ in range(3):
        r = srv.post("/oauth/token", data={"grant_type": "refresh_token",
                                           "refresh_token": "bogus-" + secrets.token_hex(16)},
                     headers=ip)
        assert r.status_code == 400, r.text
    t_lock = time.monotonic()
    r = srv.check(s["access_token"], headers=ip)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) <= 2, r.text

    wall.set(-3600)
    wait_step_seen(srv, "backward")
    r = srv.check(s["access_token"], headers=ip)
    if r.status_code == 429:
        assert int(r.headers["Retry-After"]) <= 2, r.headers
    time.sleep(max(0.0, t_lock + 2.2 - time.monotonic()))
    r = srv.check(s["access_token"], headers=ip)
    assert r.status_code == 200, r.text


def test_a_step_is_an_audit_line(start_curfew, wall, tmp_path):
    audit = tmp_path / "audit.jsonl"
    srv = start_curfew(f"audit: {{ path: {audit} }}\n", env=wall.env())
    wall.set(-120)
    wait_step_seen(srv, "backward")
    assert wait_until(lambda: audit.exists() and '"event":"clock_step"' in audit.read_text(), 3.0)
    line = [l for l in audit.read_text().splitlines() if '"clock_step"' in l][0]
    assert '"direction":"backward"' in line and '"step_ms":-1' in line, line
