# SPDX-License-Identifier: MIT
"""DPoP replays an attacker can time (RFC 9449 §11.1): a captured proof must
stay spent for as long as its iat lets it verify, whatever the clock of the
client that made it, a reload or a restart do meanwhile.

Proofs are made independently of curfew's code (test_dpop.Key: Python's
`cryptography` + PyJWT). The windows are shortened to seconds so the attack
fits in a test; the arithmetic is the same at the defaults (60 s + 30 s).
"""

import os
import signal
import time

from conftest import wait_until
from test_dpop import APP, Key, assert_dpop_refused, check


def hup(srv, text):
    tmp = srv.config_path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, srv.config_path)
    before = srv.stderr_text().count("event=reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: srv.stderr_text().count("event=reloaded") > before, 5), \
        srv.stderr_text()[-2000:]


def test_proof_dated_ahead_stays_spent_until_its_iat_is_stale(start_curfew):
    """A client clock ahead by up to clock_leeway is accepted, so its proof
    verifies until iat + dpop.window, i.e. up to window + leeway after it was
    used. The jti must be remembered that long: the replay cache turned over
    after 1-2 windows counted from the use, and the captured proof then
    passed a second time."""
    srv = start_curfew("dpop: { window: 2s }\nclock_leeway: 10s\n")
    key = Key()
    at = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    p = key.proof("GET", APP + "/api/items", at=at, iat=int(time.time()) + 8)
    assert check(srv, at, p).status_code == 200
    assert_dpop_refused(check(srv, at, p), "dpop_replay")
    time.sleep(5.2)  # two windows and more: a cache aged by dpop.window alone has forgotten it
    # the proof's iat is still within [now - window, now + leeway]: only the cache stands
    assert_dpop_refused(check(srv, at, p), "dpop_replay")
    # fresh proofs still pass meanwhile
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at)).status_code == 200


def test_reload_that_widens_the_window_does_not_reopen_spent_proofs(start_curfew):
    """SIGHUP may widen dpop.window (or clock_leeway): proofs spent under the
    old window must not become replayable because the cache still turned
    over at the old pace."""
    srv = start_curfew("dpop: { window: 2s }\nclock_leeway: 0s\n")
    key = Key()
    at = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    p = key.proof("GET", APP + "/api/items", at=at)
    assert check(srv, at, p).status_code == 200
    hup(srv, "dpop: { window: 60s }\nclock_leeway: 0s\n")
    assert_dpop_refused(check(srv, at, p), "dpop_replay")
    time.sleep(4.5)
    assert_dpop_refused(check(srv, at, p), "dpop_replay")


def test_restart_does_not_reopen_spent_proofs(start_curfew):
    """The replay cache lives in memory: after a restart it is empty. A proof
    made before the start cannot be told from a replay during its window, so
    it is refused; proofs made after the start pass."""
    srv = start_curfew("clock_leeway: 0s\n")
    key = Key()
    s = srv.new_session(sub="alice", dpop_jkt=key.jkt)
    at = s["access_token"]
    p = key.proof("GET", APP + "/api/items", at=at)
    assert check(srv, at, p).status_code == 200
    srv.stop()
    time.sleep(1.1)  # the restart falls in a later second than the proof's iat
    srv.start()
    assert_dpop_refused(check(srv, at, p), "dpop_invalid")
    assert check(srv, at, key.proof("GET", APP + "/api/items", at=at)).status_code == 200


def test_reload_that_resizes_the_replay_cache_is_refused_by_name(start_curfew):
    """The table is sized once at start: a SIGHUP changing dpop.replay_cache
    was reported as reloaded while the old size stayed in force."""
    srv = start_curfew("dpop: { replay_cache: 16, window: 60s }\nclock_leeway: 0s\n")
    tmp = srv.config_path.with_suffix(".tmp")
    tmp.write_text("dpop: { replay_cache: 1000, window: 60s }\nclock_leeway: 0s\n")
    os.replace(tmp, srv.config_path)
    before = srv.stderr_text().count("event=reload_refused")
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: srv.stderr_text().count("event=reload_refused") > before, 5), \
        srv.stderr_text()[-2000:]
    last = srv.stderr_text().split("event=reload_refused")[-1].splitlines()[0]
    assert "restart_only=dpop.replay_cache" in last, last
    # the cache still holds 16 a window: the 17th new proof is refused, counted
    key = Key()
    at = srv.new_session(sub="alice", dpop_jkt=key.jkt)["access_token"]
    codes = [check(srv, at, key.proof("GET", APP + "/api/items", at=at)).status_code
             for _ in range(17)]
    assert codes == [200] * 16 + [401], codes
