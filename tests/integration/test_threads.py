# SPDX-License-Identifier: MIT
"""Every thread beside the loop, busy at the same time as the loop.

curfew runs threads of its own next to the libuv loop: the SQLite store's
writer (group commit), the signer of refreshed access tokens (app/sign.c),
the DPoP verifier pool (verify_threads, app/verify.c), the audit writer,
the alert webhook's worker, libuv's pool for client-secret hashing
(api/clientauth.c) and, at start-up, the integrity check (store/sqlite_read.c).
Each test here keeps several of them working while the loop serves and
reads what they share (/metrics copies the store writer's counters, SIGHUP
reloads the configuration and reopens the audit file), and checks the
answers.

They pass against any build; their point is the ThreadSanitizer lane
(`make integration-tsan`, CURFEW_BIN=build-tsan/curfew): there a data race
makes curfew print a report (and, with TSAN_OPTIONS=halt_on_error=1, exit),
and the fixtures fail the test on any report in its stderr (conftest.py,
CurfewServer.sanitizer_reports). The /metrics scrape during refreshes is
the race the lane was added after: the store's counters copied without the
writer's mutex (sq_stats_of), and a reload writing the log level while the
other threads read it.
"""

import re
import signal
import threading
import time

import pytest

from conftest import assert_json_error, hash_secret, wait_until
from test_alerts import Receiver
from test_dpop import Key, check as dpop_check
from test_faults import failsync_so, preload  # noqa: F401 (a fixture)

SECRET = "conf-secret-1"


def metric_values(text, name):
    """Every sample of the family @name in a /metrics page, as floats."""
    return [float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)]


class Scraper:
    """GET /metrics in a loop on its own thread until stopped; checks that the
    store's counters never go backwards and that the commit histogram's
    count and its +Inf bucket agree (one copy, taken at one moment)."""

    def __init__(self, srv):
        self.srv = srv
        self.scrapes = 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        last = (0.0, 0.0)
        while not self.stop.is_set():
            try:
                r = self.srv.get("/metrics")
            except Exception as exc:  # noqa: BLE001 (recorded, asserted on below)
                self.errors.append(repr(exc))
                return
            if r.status_code != 200:
                self.errors.append(f"/metrics {r.status_code}")
                return
            count = metric_values(r.text, "curfew_store_commit_seconds_count")
            inf = re.findall(r'^curfew_store_commit_seconds_bucket{le="\+Inf"} (\S+)$', r.text, re.M)
            events = metric_values(r.text, "curfew_store_events_total")
            if not (count and inf and events):
                self.errors.append("store metrics missing")
                return
            if float(inf[0]) != count[0]:
                self.errors.append(f"commit count {count[0]} != +Inf bucket {inf[0]}")
            now = (count[0], events[0])
            if now[0] < last[0] or now[1] < last[1]:
                self.errors.append(f"store counters went back: {last} -> {now}")
            last = now
            self.scrapes += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(60)
        assert not self.errors, self.errors
        assert self.scrapes > 0


def rotate(srv, sid, rt, times, out, accept_503=False):
    """Refresh @times times; each new access token must pass /v1/check.
    With @accept_503, a 503 store_unavailable is retried with the same token
    (a refused commit leaves nothing behind, so the retry is safe)."""
    done = 0
    while done < times:
        r = srv.refresh(rt)
        if accept_503 and r.status_code == 503:
            assert_json_error(r, 503, reason="store_unavailable")
            out["503"] = out.get("503", 0) + 1
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["session_id"] == sid
        c = srv.check(body["access_token"])
        assert c.status_code == 200, c.text
        assert c.headers["X-Curfew-Session"] == sid
        rt = body["refresh_token"]
        done += 1
    out[sid] = rt


def run_all(workers):
    """Start every callable on its own thread, join them, re-raise the first failure."""
    failures = []

    def wrap(fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            failures.append(exc)

    threads = [threading.Thread(target=wrap, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "a worker did not finish"
    if failures:
        raise failures[0]


def test_every_thread_busy_while_the_loop_serves_and_metrics_are_scraped(start_curfew):
    """Refreshes (signer + store writer + audit writer), DPoP checks on the
    verifier pool, client secrets hashed on libuv's pool, alerts posted by the
    webhook worker and SIGHUP reloads (audit reopen, log level), all at once,
    while /metrics is scraped."""
    receiver = Receiver()
    try:
        srv = start_curfew(
            "verify_threads: 2\n"
            "audit: { path: audit.jsonl }\n"
            "refresh_token: { reuse_grace: 0s }\n"
            "clients:\n"
            "  - id: conf\n    type: confidential\n"
            f"    secret_hash: \"{hash_secret(SECRET, iterations=20000)}\"\n"
            "    allowed_grants: [client_credentials]\n"
            f"alerts:\n  webhook: {receiver.url}\n"
            "  rules:\n    - {kind: check_failures_per_ip, threshold: 1, window: 1s}\n")
        sessions = [srv.new_session(sub=f"t{i}") for i in range(4)]
        key = Key()
        bound = srv.new_session(sub="dpop-user", dpop_jkt=key.jkt)
        out = {}

        def refresher(s):
            return lambda: rotate(srv, s["session_id"], s["refresh_token"], 15, out)

        def dpop_checks():
            for i in range(30):
                r = dpop_check(srv, bound["access_token"],
                               key.proof("GET", "https://app.example/api/items",
                                         at=bound["access_token"]))
                assert r.status_code == 200, r.text
                if i % 5 == 0:  # another key's proof: refused, also verified on the pool
                    r = dpop_check(srv, bound["access_token"],
                                   Key().proof("GET", "https://app.example/api/items",
                                               at=bound["access_token"]))
                    assert r.status_code == 401 and r.json()["reason"] == "dpop_key_mismatch"

        def client_secrets():
            for i in range(6):
                secret = SECRET if i % 2 == 0 else f"wrong-{i}"
                r = srv.post("/oauth/token", data={"grant_type": "client_credentials",
                                                   "client_id": "conf", "client_secret": secret})
                assert r.status_code == (200 if secret == SECRET else 401), r.text

        def alerts_and_reloads():
            for _ in range(4):
                assert srv.check("not-a-token").status_code == 401  # fires the alert
                srv.proc.send_signal(signal.SIGHUP)  # reload + audit reopen
                time.sleep(0.3)

        with Scraper(srv) as scraper:
            run_all([refresher(s) for s in sessions] + [dpop_checks, client_secrets,
                                                        alerts_and_reloads])
        assert scraper.scrapes >= 3
        assert receiver.wait(lambda b: b["alert"] == "check_failures_per_ip", 10)
        m = srv.get("/metrics").text
        assert metric_values(m, "curfew_dpop_verify_queued_total")[0] > 0, "the pool verified nothing"
        for s in sessions:  # each chain ended on its latest token
            assert srv.refresh(out[s["session_id"]]).status_code == 200
        assert wait_until(lambda: (srv.workdir / "audit.jsonl").exists()
                          and "token_refreshed" in (srv.workdir / "audit.jsonl").read_text(), 5)
        assert srv.stop() == 0
    finally:
        receiver.close()


def test_store_commits_failing_and_succeeding_while_metrics_are_scraped(start_curfew, failsync_so,
                                                                         tmp_path):
    """The store writer's commits fail (fsync EIO, tests/faults/failsync.c)
    and succeed in turn while refreshes run and /metrics is scraped: each
    refused refresh is retryable, and the failures are counted."""
    flag = tmp_path / "fail-fsync"
    srv = start_curfew(env={"LD_PRELOAD": preload(failsync_so), "CURFEW_FAILSYNC_FLAG": str(flag)})
    sessions = [srv.new_session(sub=f"f{i}") for i in range(3)]
    out = {}
    stop = threading.Event()

    def flap():
        while not stop.is_set():
            flag.touch()
            time.sleep(0.05)
            flag.unlink()
            time.sleep(0.1)

    flapper = threading.Thread(target=flap, daemon=True)
    with Scraper(srv):
        flapper.start()
        try:
            run_all([lambda s=s: rotate(srv, s["session_id"], s["refresh_token"], 12, out,
                                        accept_503=True) for s in sessions])
        finally:
            stop.set()
            flapper.join(10)
    if flag.exists():
        flag.unlink()
    # About a third of the commits fail: some refreshes were refused, and
    # each refused batch is counted (so are failed activity flushes).
    assert out.get("503", 0) >= 1, "no commit failed: the shim did not bite"
    failures = metric_values(srv.get("/metrics").text, "curfew_store_failures_total")[0]
    assert failures >= out["503"]
    for s in sessions:
        assert srv.refresh(out[s["session_id"]]).status_code == 200
    assert srv.stop() == 0


def test_integrity_check_and_load_while_requests_arrive(start_curfew):
    """At start the integrity check reads the file on its own thread while
    the loop migrates and loads it; clients knocking meanwhile get an answer
    or a refused connection, and afterwards every session is there."""
    srv = start_curfew("verify_threads: 1\n")
    sessions = []
    lock = threading.Lock()

    def create(n):
        for _ in range(n):
            s = srv.new_session(sub="bulk")
            with lock:
                sessions.append(s)

    run_all([lambda: create(75) for _ in range(4)])
    srv.stop()
    answers = []
    stop = threading.Event()

    def knock():
        while not stop.is_set():
            try:
                answers.append(srv.check(sessions[0]["access_token"], headers={}).status_code)
            except Exception:  # noqa: BLE001 (not listening yet)
                time.sleep(0.005)

    knocker = threading.Thread(target=knock, daemon=True)
    knocker.start()
    try:
        srv.start(wait=False)
        srv.wait_ready()
        assert wait_until(lambda: 200 in answers, 10)
    finally:
        stop.set()
        knocker.join(10)
    assert set(answers) == {200}, set(answers)
    for s in sessions[::15]:
        assert srv.check(s["access_token"]).status_code == 200
    assert srv.stop() == 0


def test_cluster_refreshes_and_revocations_while_metrics_are_scraped(start_node):
    """On Redis the store has no thread of its own, but the signer and the
    verifier pool do: refreshes, DPoP checks and a revocation over the bus on
    two nodes at once, while both are scraped."""
    a = start_node("verify_threads: 2\n")
    b = start_node("verify_threads: 2\n")
    sessions = [a.new_session(sub=f"c{i}") for i in range(3)]
    victim = a.new_session(sub="victim")
    key = Key()
    bound = a.new_session(sub="dpop-user", dpop_jkt=key.jkt)
    out = {}

    def dpop_on_b():
        for _ in range(15):
            r = dpop_check(b, bound["access_token"],
                           key.proof("GET", "https://app.example/api/items", at=bound["access_token"]))
            assert r.status_code == 200, r.text

    def revoke_on_b():
        assert b.admin("DELETE", f"/v1/sessions/{victim['session_id']}").status_code == 200
        assert wait_until(lambda: a.check(victim["access_token"]).status_code == 401, 10)

    stop = threading.Event()

    def scrape(node):
        while not stop.is_set():
            assert node.get("/metrics").status_code == 200

    scrapers = [threading.Thread(target=scrape, args=(n,), daemon=True) for n in (a, b)]
    for t in scrapers:
        t.start()
    try:
        run_all([lambda s=s: rotate(a, s["session_id"], s["refresh_token"], 8, out)
                 for s in sessions] + [dpop_on_b, revoke_on_b])
    finally:
        stop.set()
        for t in scrapers:
            t.join(30)
    for s in sessions:  # the other node sees each chain's latest token
        assert b.refresh(out[s["session_id"]]).status_code == 200
