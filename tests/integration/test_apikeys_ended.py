# SPDX-License-Identifier: MIT
"""When an API key ended, as every view tells it: `ended_at` is the moment
the key actually ended (its expiry, its idle deadline, the end of its
rotation overlap, or its revocation), never the time of the request that
looked, nor the time the sweep got round to recording the end. The value is
the same in the single-key view, the listing, the audit line, and across
reads and restarts."""

import json
import time

from test_apikeys import check, new_key, reason


def view(srv, k):
    r = srv.admin("GET", f"/v1/apikeys/{k['id']}")
    assert r.status_code == 200, r.text
    return r.json()


def listed(srv, k):
    keys = srv.admin("GET", f"/v1/apikeys?sub={k['sub']}").json()["keys"]
    return next(x for x in keys if x["id"] == k["id"])


def audit_ended(path, key_id):
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [x for x in lines if x["event"] == "apikey_ended" and x["key_id"] == key_id]


def iso_sec(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


# The sweep that records ends runs every store.activity_flush: 1h keeps an
# expired key's end unrecorded for the whole test.
UNSWEPT = "clock_leeway: 0s\nstore: {activity_flush: 1h}\n"


def test_an_expired_key_whose_end_is_not_recorded_ended_at_its_expiry(start_curfew):
    srv = start_curfew(UNSWEPT)
    k = new_key(srv, expires_in=1)
    time.sleep(max(0, k["expires_at"] + 1.05 - time.time()))
    assert reason(check(srv, k["key"])) == "key_expired"
    first = view(srv, k)
    assert first["state"] == "ended" and first["end_reason"] == "key_expired", first
    assert first["ended_at"] == k["expires_at"], first
    time.sleep(1.1)  # a second read, a second later, says the same
    assert view(srv, k)["ended_at"] == k["expires_at"]
    assert listed(srv, k)["ended_at"] == k["expires_at"]
    srv.restart()
    assert view(srv, k)["ended_at"] == k["expires_at"]
    assert listed(srv, k)["ended_at"] == k["expires_at"]


def test_an_idle_expired_key_ended_at_its_idle_deadline(start_curfew):
    srv = start_curfew(UNSWEPT)
    k = new_key(srv, expires_in=600, idle_expiry=1)
    time.sleep(2.2)
    assert reason(check(srv, k["key"])) == "key_idle_expired"
    v = view(srv, k)
    assert v["end_reason"] == "key_idle_expired", v
    # Never used: idle from its creation, so it ended idle_expiry after it.
    assert v["ended_at"] in (k["created_at"] + 1, k["created_at"] + 2), v
    time.sleep(1.1)
    assert view(srv, k)["ended_at"] == v["ended_at"]
    assert listed(srv, k)["ended_at"] == v["ended_at"]


def test_an_end_recorded_late_is_recorded_at_the_deadline(start_curfew, tmp_path):
    """The key expires while curfew is stopped: the sweep at the next start
    records the end, at the key's expiry (not the restart), in the store, the
    views and the audit line; the values survive a second restart."""
    audit = tmp_path / "audit.log"
    cfg = ("clock_leeway: 0s\n"
           "store: {activity_flush: 100ms, purge_interval: 100ms}\n"
           f"audit: {{path: {audit}}}\n")
    srv = start_curfew(cfg)
    k = new_key(srv, expires_in=1)
    srv.stop()
    time.sleep(max(0, k["expires_at"] + 2.5 - time.time()))
    srv.start(cfg)
    assert reason(check(srv, k["key"])) == "key_expired"
    deadline = time.time() + 5
    while not audit_ended(audit, k["id"]) and time.time() < deadline:
        time.sleep(0.05)
    lines = audit_ended(audit, k["id"])
    assert len(lines) == 1, lines
    assert lines[0]["end_reason"] == "key_expired"
    assert lines[0]["ended_at"].startswith(iso_sec(k["expires_at"])), lines[0]
    v = view(srv, k)
    assert v["ended_at"] == k["expires_at"], v
    assert listed(srv, k)["ended_at"] == k["expires_at"]
    srv.restart()
    assert view(srv, k)["ended_at"] == k["expires_at"]
    assert len(audit_ended(audit, k["id"])) == 1  # ended once, not again at each start


def test_a_revoked_key_ended_when_it_was_revoked(start_curfew):
    srv = start_curfew()
    k = new_key(srv, expires_in=600)
    before = int(time.time())
    r = srv.admin("DELETE", f"/v1/apikeys/{k['id']}")
    after = int(time.time())
    assert r.status_code == 200 and before <= r.json()["ended_at"] <= after, r.text
    time.sleep(1.1)
    assert view(srv, k)["ended_at"] == r.json()["ended_at"]
    srv.restart()
    assert view(srv, k)["ended_at"] == r.json()["ended_at"]


def test_a_rotated_key_ended_at_the_end_of_its_overlap(start_curfew):
    srv = start_curfew(UNSWEPT)
    old = new_key(srv, expires_in=600)
    r = srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate", json={"overlap": 1})
    assert r.status_code == 201, r.text
    until = r.json()["previous"]["overlap_until"]
    time.sleep(max(0, until + 1.05 - time.time()))
    assert reason(check(srv, old["key"])) == "key_rotated"
    v = view(srv, old)
    assert v["end_reason"] == "key_rotated" and v["ended_at"] == until, v
    time.sleep(1.1)
    assert view(srv, old)["ended_at"] == until


def test_revoking_a_key_that_already_expired_keeps_its_expiry(start_curfew):
    """A DELETE that comes after the key's expiry, before the sweep recorded
    it, does not rewrite history: the key stays key_expired, ended at its
    expiry, on every read and after a restart."""
    srv = start_curfew(UNSWEPT)
    k = new_key(srv, expires_in=1)
    time.sleep(max(0, k["expires_at"] + 1.05 - time.time()))
    r = srv.admin("DELETE", f"/v1/apikeys/{k['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["end_reason"] == "key_expired" and r.json()["ended_at"] == k["expires_at"], r.text
    assert reason(check(srv, k["key"])) == "key_expired"
    srv.restart()
    v = view(srv, k)
    assert v["end_reason"] == "key_expired" and v["ended_at"] == k["expires_at"], v
    assert reason(check(srv, k["key"])) == "key_expired"
