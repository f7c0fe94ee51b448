# SPDX-License-Identifier: MIT
"""Faults on one node: a store that refuses a commit must leave nothing behind.

Every state change goes decide -> commit -> apply on acknowledgement -> reply.
These tests make the commit fail the way disks fail, with an LD_PRELOAD shim
(tests/faults/failsync.c) that turns fsync/fdatasync into EIO while a flag
file exists, and with a data dir on a small tmpfs filled to the last byte.
Each asserts that a refused change (503 store_unavailable) changed nothing in
memory, that its retry once the disk is back is applied and written, and,
after kill -9 and a restart, that the server holds exactly what it
acknowledged.

Also the last second of a session and sub-second lifetimes (issue 9 #6):
no 500, no half-applied rotation, no session left in the index.
"""

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import CurfewServer, assert_grant_error, assert_refused, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIM_SRC = REPO_ROOT / "tests" / "faults" / "failsync.c"


@pytest.fixture(scope="module")
def failsync_so(tmp_path_factory):
    """The fsync-failing shim, built from source with the system compiler."""
    out = tmp_path_factory.mktemp("shim") / "failsync.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out), str(SHIM_SRC), "-ldl"],
                   check=True, timeout=60)
    return out


def preload(shim):
    """LD_PRELOAD for the binary under test: an ASan build needs its runtime first."""
    from conftest import curfew_bin
    libs = subprocess.run(["ldd", str(curfew_bin())], capture_output=True, text=True).stdout
    asan = [w for w in libs.split() if "libasan" in w and w.startswith("/")]
    return ":".join(asan[:1] + [str(shim)])


@pytest.fixture
def faulty(start_curfew, failsync_so, tmp_path):
    """A server whose fsyncs fail while ``srv.flag`` exists."""
    flag = tmp_path / "fail-fsync"
    srv = start_curfew(env={"LD_PRELOAD": preload(failsync_so), "CURFEW_FAILSYNC_FLAG": str(flag)})
    srv.flag = flag
    return srv


def assert_store_unavailable(r):
    assert r.status_code == 503, f"{r.status_code} {r.text}"
    assert r.json()["reason"] == "store_unavailable", r.text
    assert r.headers.get("Retry-After") == "1"


class disk_fails:
    """Context: fsync fails inside the block."""

    def __init__(self, srv):
        self.flag = srv.flag

    def __enter__(self):
        self.flag.write_text("x")

    def __exit__(self, *exc):
        self.flag.unlink()


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"mount tmpfs (tests run as root): {r.stderr}"
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path):
    """Fill the file system holding ``path`` to the last byte; returns the filler."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * size) == size:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


class Faulted:
    """A server and a switch (a context) that makes its store refuse commits."""

    def __init__(self, srv, on, off):
        self.srv, self._on, self._off = srv, on, off

    def __enter__(self):
        self._on()

    def __exit__(self, *exc):
        self._off()


@pytest.fixture(params=["fsync_eio", "full_disk"])
def make_faulted(request, start_curfew, tmp_path):
    """Factory, ``make_faulted(config_yaml=None)``: a started server whose
    disk refuses commits inside ``with`` in one of the two ways a disk
    refuses: fsync answering EIO, and no space left."""
    started = []

    def _make(config_yaml=None):
        if request.param == "fsync_eio":
            flag = tmp_path / "fail-fsync"
            srv = start_curfew(config_yaml, env={
                "LD_PRELOAD": preload(request.getfixturevalue("failsync_so")),
                "CURFEW_FAILSYNC_FLAG": str(flag)})
            return Faulted(srv, lambda: flag.write_text("x"), flag.unlink)
        disk = request.getfixturevalue("tiny_disk")
        srv = CurfewServer(tmp_path / "node")
        srv.data_dir = disk / "data"
        started.append(srv)
        srv.start(config_yaml)
        filler = []
        return Faulted(srv, lambda: filler.append(fill(disk)), lambda: filler.pop().unlink())

    yield _make
    for srv in started:
        srv.stop()


@pytest.fixture
def faulted(make_faulted):
    return make_faulted()


def test_shim_makes_fsync_fail_only_while_the_flag_exists(failsync_so, tmp_path):
    flag = tmp_path / "flag"
    code = ("import os,sys\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT)\n"
            "try:\n os.fsync(fd); print('ok')\nexcept OSError as e: print(e.errno)\n")
    env = dict(os.environ, LD_PRELOAD=str(failsync_so), CURFEW_FAILSYNC_FLAG=str(flag))
    run = lambda: subprocess.run(["python3", "-c", code, str(tmp_path / "f")], env=env,
                                 capture_output=True, text=True, timeout=30).stdout.strip()
    assert run() == "ok"
    flag.write_text("")
    assert run() == "5"  # EIO
    flag.unlink()
    assert run() == "ok"


# ---------------------------------------------------------------------------
# Refresh (issue 10 defect 1)
# ---------------------------------------------------------------------------

def test_refresh_whose_commit_fails_is_retryable_not_theft(faulted):
    srv = faulted.srv
    s = srv.new_session(sub="alice")
    with faulted:
        assert_store_unavailable(srv.refresh(s["refresh_token"]))
        # Memory did not move: the same token is still current, not "reused".
        assert_store_unavailable(srv.refresh(s["refresh_token"]))
    assert srv.session(s["session_id"])["state"] == "active"
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    assert srv.check(new["access_token"]).status_code == 200
    assert srv.check(s["access_token"]).status_code == 200
    # The acknowledged rotation survives kill -9; the spent token is spent.
    srv.restart(hard=True)
    assert srv.check(new["access_token"]).status_code == 200
    r = srv.refresh(new["refresh_token"])
    assert r.status_code == 200, r.text
    assert_grant_error(srv.refresh(s["refresh_token"]), "refresh_reuse")


def test_failed_refresh_does_not_survive_a_restart(faulted):
    srv = faulted.srv
    s = srv.new_session(sub="bob")
    with faulted:
        r = srv.refresh(s["refresh_token"])
    assert_store_unavailable(r)
    srv.restart(hard=True)
    # The refused rotation was never written: the presented token is still current.
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------------
# Every other state change (issue 10 defect 3, single node)
# ---------------------------------------------------------------------------

def test_create_refused_leaves_no_session(faulted):
    srv = faulted.srv
    sub = "carol-" + secrets.token_hex(3)
    with faulted:
        assert_store_unavailable(srv.create_session(sub=sub))
    r = srv.admin("GET", "/v1/sessions", params={"sub": sub})
    assert r.status_code == 200 and r.json()["total"] == 0, r.text
    srv.restart(hard=True)
    r = srv.admin("GET", "/v1/sessions", params={"sub": sub})
    assert r.json()["total"] == 0, r.text


def ends_by_delete(srv, s):
    return srv.admin("DELETE", f"/v1/sessions/{s['session_id']}")


def ends_by_logout(srv, s):
    return srv.logout(s["access_token"])


def ends_by_oauth_revoke_access(srv, s):
    return srv.revoke(s["access_token"])


def ends_by_oauth_revoke_refresh(srv, s):
    return srv.revoke(s["refresh_token"])


def ends_by_subject(srv, s):
    return srv.admin("POST", "/v1/revocations", json={"sub": s["sub"]})


def ends_by_client(srv, s):
    return srv.admin("POST", "/v1/revocations", json={"client_id": s["client_id"]})


def ends_by_all(srv, s):
    return srv.admin("POST", "/v1/revocations", json={"all": True})


def ends_by_all_before(srv, s):
    return srv.admin("POST", "/v1/revocations", json={"all": True, "before": int(time.time())})


ENDINGS = {
    "delete": (ends_by_delete, {200}, "session_revoked"),
    "logout": (ends_by_logout, {204}, "logout"),
    "oauth_revoke_access": (ends_by_oauth_revoke_access, {200}, "logout"),
    "oauth_revoke_refresh": (ends_by_oauth_revoke_refresh, {200}, "logout"),
    "revoke_subject": (ends_by_subject, {200}, None),
    "revoke_client": (ends_by_client, {200}, "session_revoked"),
    "revoke_all": (ends_by_all, {200}, None),
    "revoke_all_before": (ends_by_all_before, {200}, None),
}


@pytest.mark.parametrize("how", list(ENDINGS))
def test_refused_end_is_not_applied_and_its_retry_is_durable(faulted, how):
    srv = faulted.srv
    end, ok, reason = ENDINGS[how]
    sub = "dave-" + secrets.token_hex(3)
    client = "app-" + secrets.token_hex(3)
    if how == "revoke_all_before":
        time.sleep(1.05)  # the session must start before the cut-off second
        s = srv.new_session(sub=sub, client_id=client)
        time.sleep(1.05)
    else:
        s = srv.new_session(sub=sub, client_id=client)
    s["sub"], s["client_id"] = sub, client
    with faulted:
        assert_store_unavailable(end(srv, s))
    # Refused: nothing changed. The session lives, its tokens work.
    assert srv.session(s["session_id"])["state"] == "active"
    assert srv.check(s["access_token"]).status_code == 200
    # Retried with the disk back: applied and written, then acknowledged.
    r = end(srv, s)
    assert r.status_code in ok, f"{r.status_code} {r.text}"
    refused = srv.check(s["access_token"])
    assert refused.status_code == 401
    srv.restart(hard=True)
    again = srv.check(s["access_token"])
    assert again.status_code == 401, again.text
    if reason is not None:
        assert_refused(again, reason)
    else:
        assert again.json()["reason"] in ("session_revoked", "revoked_before"), again.text
    assert srv.refresh(s["refresh_token"]).status_code == 400


def test_refused_revocation_by_subject_sets_no_epoch(faulted):
    """A not-before that the disk refused must not refuse tokens in memory."""
    srv = faulted.srv
    s = srv.new_session(sub="erin")
    with faulted:
        assert_store_unavailable(srv.admin("POST", "/v1/revocations", json={"sub": "erin"}))
    time.sleep(1.05)
    # A session created after the refused revocation, and the old one, both live.
    t = srv.new_session(sub="erin")
    assert srv.check(s["access_token"]).status_code == 200
    assert srv.check(t["access_token"]).status_code == 200


def test_client_credentials_grant_refused_leaves_no_session(make_faulted):
    """The grant makes a session (its access token names it): refused, none."""
    from test_clients import BACKEND_SECRET, cc, clients_config
    f = make_faulted(clients_config())
    srv = f.srv

    def backend_sessions():
        r = srv.admin("GET", "/v1/sessions", params={"client_id": "backend"})
        assert r.status_code == 200, r.text
        return r.json()["total"]

    with f:
        for _ in range(2):
            r = cc(srv, "backend", BACKEND_SECRET, scope="orders")
            assert_store_unavailable(r)
            assert "access_token" not in r.json()
            assert backend_sessions() == 0
    r = cc(srv, "backend", BACKEND_SECRET, scope="orders")
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert backend_sessions() == 1 and srv.check(token).status_code == 200
    srv.restart(hard=True)
    assert backend_sessions() == 1 and srv.check(token).status_code == 200


# ---------------------------------------------------------------------------
# Ends that a refusal implies: the refusal says the session ended, so it is
# answered only once that is durable; until then the session is unchanged.
# ---------------------------------------------------------------------------

REUSE_CFG = "refresh_token: { reuse_grace: 0s }\n"
RISK_CFG = ("risk:\n  ip_binding: exact\n  on_ip_change: revoke\n"
            "  trusted_proxies: [127.0.0.1/32]\n")


def test_reuse_the_disk_refused_to_record_ends_nothing(make_faulted):
    f = make_faulted(REUSE_CFG)
    srv = f.srv
    s = srv.new_session(sub="gus")
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    with f:
        assert_store_unavailable(srv.refresh(s["refresh_token"]))
        assert srv.session(s["session_id"])["state"] == "active"
        assert srv.check(new["access_token"]).status_code == 200
    assert_grant_error(srv.refresh(s["refresh_token"]), "refresh_reuse")
    assert srv.session(s["session_id"])["end_reason"] == "refresh_reuse"
    srv.restart(hard=True)
    assert_refused(srv.check(new["access_token"]), "refresh_reuse")
    assert srv.refresh(new["refresh_token"]).status_code == 400


def test_risk_end_the_disk_refused_to_record_ends_nothing(make_faulted):
    f = make_faulted(RISK_CFG)
    srv = f.srv
    s = srv.new_session(sub="hal", ip="10.0.0.1")
    home = {"X-Forwarded-For": "10.0.0.1"}
    away = {"X-Forwarded-For": "10.9.9.9"}
    with f:
        r = srv.check(s["access_token"], headers=away)
        assert r.status_code == 503 and r.json()["reason"] == "store_unavailable", r.text
        assert r.headers.get("Retry-After") == "1"
        assert srv.session(s["session_id"])["state"] == "active"
        assert srv.check(s["access_token"], headers=home).status_code == 200
    assert_refused(srv.check(s["access_token"], headers=away), "ip_changed")
    assert_refused(srv.check(s["access_token"], headers=home), "ip_changed")
    srv.restart(hard=True)
    assert_refused(srv.check(s["access_token"], headers=home), "ip_changed")
    assert srv.refresh(s["refresh_token"]).status_code == 400


# ---------------------------------------------------------------------------
# Activity is written lazily, every store.activity_flush: a flush the disk
# refused must be made again by a later one, or a session restarted later
# ends idle although it was used (docs: a crash loses at most one interval).
# ---------------------------------------------------------------------------

def test_activity_a_refused_flush_did_not_write_is_written_by_a_later_one(make_faulted):
    f = make_faulted("store:\n  activity_flush: 100ms\n")
    srv = f.srv
    s = srv.new_session(sub="ida", idle_timeout=4)
    t0 = time.monotonic()
    time.sleep(2.0)
    with f:
        assert srv.check(s["access_token"]).status_code == 200  # idle deadline: t0 + 6 s
        time.sleep(0.4)  # flushes refused
    time.sleep(0.4)  # flushes with the disk back
    srv.restart(hard=True)
    # Past the deadline the first write set (t0 + 4 s), before the one the check set.
    time.sleep(max(0.0, t0 + 4.6 - time.monotonic()))
    assert time.monotonic() < t0 + 5.5, "too slow to tell the two deadlines apart"
    r = srv.check(s["access_token"])
    assert r.status_code == 200, r.text


def test_risk_end_through_the_proxy_the_disk_refused_ends_nothing(make_faulted):
    """The enforcing proxy decides as /v1/check does: the same end, the same refusal."""
    from conftest import free_port
    from proxyhelp import Upstream, proxy_config
    up = Upstream()
    try:
        port = free_port()
        f = make_faulted(proxy_config(up.port, port) + RISK_CFG)
        srv = f.srv
        s = srv.new_session(sub="pia", ip="10.0.0.1")

        def via_proxy(ip):
            return requests.get(f"http://127.0.0.1:{port}/x", timeout=5, headers={
                "Authorization": f"Bearer {s['access_token']}", "X-Forwarded-For": ip})

        with f:
            r = via_proxy("10.9.9.9")
            assert r.status_code == 503 and r.headers.get("X-Curfew-Reason") == "store_unavailable", (
                r.status_code, r.headers, r.text)
            assert r.headers.get("Retry-After") == "1"
            assert via_proxy("10.0.0.1").status_code == 200
            assert srv.session(s["session_id"])["state"] == "active"
        r = via_proxy("10.9.9.9")
        assert r.status_code == 401 and r.headers.get("X-Curfew-Reason") == "ip_changed", r.text
        srv.restart(hard=True)
        assert via_proxy("10.0.0.1").status_code == 401
    finally:
        up.close()


# ---------------------------------------------------------------------------
# An automatic alert action is a state change nobody retries by hand: when
# the store refuses it, the server must make it again, not drop it.
# ---------------------------------------------------------------------------

def test_alert_revocation_the_disk_refused_is_made_once_it_is_back(make_faulted):
    cfg = ("alerts:\n  rules:\n    - {kind: check_failures_per_subject, threshold: 2, "
           "window: 1m, action: revoke_subject}\n")
    f = make_faulted(cfg)
    srv = f.srv
    ended = srv.new_session(sub="otto")
    live = srv.new_session(sub="otto")
    assert srv.admin("DELETE", f"/v1/sessions/{ended['session_id']}").status_code == 200
    with f:
        for _ in range(2):  # the threshold: the rule fires, its revocation is refused
            assert srv.check(ended["access_token"]).status_code == 401
        time.sleep(0.3)
        # Refused: not applied either.
        assert srv.check(live["access_token"]).status_code == 200
    # Made again with the disk back, and durable.
    assert wait_until(lambda: srv.check(live["access_token"]).status_code == 401, 5), \
        srv.check(live["access_token"]).text
    assert srv.session(live["session_id"])["end_reason"] == "revoked"
    srv.restart(hard=True)
    assert srv.check(live["access_token"]).status_code == 401


def test_alert_hold_the_disk_refused_holds_here_and_is_stored_once_it_is_back(make_faulted):
    """docs/operations.md: a disable_refresh hold the store refused holds on
    this node at once (a hold only refuses), and is stored once it can be,
    so a restart keeps it."""
    cfg = ("alerts:\n  rules:\n    - {kind: check_failures_per_subject, threshold: 2, "
           "window: 1m, action: disable_refresh, action_duration: 10m}\n")
    f = make_faulted(cfg)
    srv = f.srv
    ended = srv.new_session(sub="ulf")
    live = srv.new_session(sub="ulf")
    assert srv.admin("DELETE", f"/v1/sessions/{ended['session_id']}").status_code == 200
    with f:
        for _ in range(2):
            assert srv.check(ended["access_token"]).status_code == 401
        time.sleep(0.3)
    assert_grant_error(srv.refresh(live["refresh_token"]), "refresh_disabled")
    time.sleep(1.5)  # past the next activity flush, with the disk back
    srv.restart(hard=True)
    assert_grant_error(srv.refresh(live["refresh_token"]), "refresh_disabled")
    assert srv.check(live["access_token"]).status_code == 200  # checks still pass


# ---------------------------------------------------------------------------
# A full disk (tmpfs), then space back
# ---------------------------------------------------------------------------

def test_delete_refused_by_a_full_disk_is_not_lost(tiny_disk, tmp_path):
    srv = CurfewServer(tmp_path / "node")
    srv.data_dir = tiny_disk / "data"
    try:
        srv.start(None)
        s = srv.new_session(sub="frank")
        other = srv.new_session(sub="frank")
        filler = fill(tiny_disk)
        refused = 0
        # Every commit appends to the WAL: on a full disk it cannot.
        for _ in range(3):
            r = srv.admin("DELETE", f"/v1/sessions/{s['session_id']}")
            if r.status_code == 200:
                break
            assert_store_unavailable(r)
            refused += 1
            assert srv.session(s["session_id"])["state"] == "active"
            assert srv.check(s["access_token"]).status_code == 200
        assert refused == 3, "the full disk never refused the commit"
        assert_store_unavailable(srv.refresh(other["refresh_token"]))
        filler.unlink()
        r = srv.admin("DELETE", f"/v1/sessions/{s['session_id']}")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "ended"
        r = srv.refresh(other["refresh_token"])
        assert r.status_code == 200, r.text
        rotated = r.json()
        srv.restart(hard=True)
        assert_refused(srv.check(s["access_token"]), "session_revoked")
        assert srv.check(rotated["access_token"]).status_code == 200
        assert srv.refresh(rotated["refresh_token"]).status_code == 200
    finally:
        srv.stop()


# ---------------------------------------------------------------------------
# The last second and sub-second lifetimes (issue 9 #6)
# ---------------------------------------------------------------------------

def sleep_until_fraction(frac):
    """Sleep until the wall clock's sub-second part is ``frac`` (within 10 ms)."""
    now = time.time()
    wait = (frac - (now % 1.0)) % 1.0
    time.sleep(wait)


def test_refresh_in_the_last_second_is_absolute_timeout_not_500(start_curfew):
    srv = start_curfew("alerts:\n  rules:\n    - { kind: refresh_reuse, action: revoke_subject }\n")
    bystander = srv.new_session(sub="grace")
    sleep_until_fraction(0.5)
    s = srv.new_session(sub="grace", absolute_timeout="2s")
    deadline = s["absolute_expires_at"] + 0.5  # created at x.5 s
    # Into the whole second that holds the deadline, before the deadline.
    time.sleep(max(0.0, deadline - 0.35 - time.time()))
    assert time.time() < deadline
    r = srv.refresh(s["refresh_token"])
    assert_grant_error(r, "absolute_timeout")
    # The retry is the same answer, not theft, and no other session is revoked.
    assert_grant_error(srv.refresh(s["refresh_token"]), "absolute_timeout")
    assert srv.check(bystander["access_token"]).status_code == 200
    assert srv.refresh(bystander["refresh_token"]).status_code == 200


def test_refresh_with_a_second_left_still_works(start_curfew):
    srv = start_curfew()
    sleep_until_fraction(0.2)
    s = srv.new_session(sub="heidi", absolute_timeout="3s")
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] >= 1
    assert srv.check(body["access_token"]).status_code == 200


@pytest.mark.parametrize("field,value", [
    ("access_ttl", "1ms"), ("access_ttl", 0.5), ("access_ttl", "999ms"),
    ("absolute_timeout", "500ms"), ("absolute_timeout", 0.001), ("idle_timeout", "0.5s"),
])
def test_sub_second_lifetime_in_the_api_is_400_and_leaves_nothing(curfew, field, value):
    sub = "ivan-" + secrets.token_hex(3)
    r = curfew.create_session(sub=sub, **{field: value})
    assert r.status_code == 400, r.text
    assert field in r.json()["error_description"]
    r = curfew.admin("GET", "/v1/sessions", params={"sub": sub})
    assert r.json()["total"] == 0, r.text


@pytest.mark.parametrize("field,value", [("access_ttl", "1s"), ("absolute_timeout", 1.5),
                                         ("access_ttl", "1000ms")])
def test_one_second_lifetimes_are_accepted(curfew, field, value):
    r = curfew.create_session(sub="judy", **{field: value})
    assert r.status_code == 201, r.text
    assert curfew.check(r.json()["access_token"]).status_code == 200


@pytest.mark.parametrize("yaml,key", [
    ("access_token:\n  ttl: 1ms\n", "access_token.ttl"),
    ("access_token:\n  ttl: 500ms\n  max_ttl: 900ms\n", "access_token.ttl"),
    ("session:\n  idle_timeout: 500ms\n", "session.idle_timeout"),
    ("session:\n  absolute_timeout: 999ms\n", "session.absolute_timeout"),
    ("clients:\n  - id: web\n    type: public\n    access_token: { ttl: 500ms }\n", "ttl"),
    ("roles:\n  admin: { absolute_timeout: 900ms }\n", "absolute_timeout"),
])
def test_sub_second_lifetime_in_the_config_is_refused_with_its_line(tmp_path, yaml, key):
    from conftest import run_curfew
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml)
    p = run_curfew("config", "check", str(cfg))
    assert p.returncode != 0, p.stdout + p.stderr
    err = p.stderr
    assert f"{cfg}:" in err and key in err and "at least 1s" in err, err


def test_racing_refreshes_on_a_failing_disk_leave_the_token_current(faulty):
    """Refreshes of one session wait for each other's commit; every one refused
    by the disk leaves the token current, so none is judged reuse."""
    import threading
    srv = faulty
    s = srv.new_session(sub="kim")
    results = []

    def run():
        results.append(requests.post(srv.url("/oauth/token"), timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": s["refresh_token"]}))

    with disk_fails(srv):
        threads = [threading.Thread(target=run) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 6
    for r in results:
        assert_store_unavailable(r)
    assert srv.session(s["session_id"])["state"] == "active"
    r = srv.refresh(s["refresh_token"])
    assert r.status_code == 200, r.text
    srv.restart(hard=True)
    assert srv.refresh(r.json()["refresh_token"]).status_code == 200
