# SPDX-License-Identifier: MIT
"""The audit log (issue 5, docs/audit.md): every event kind of the event
stream is written as one JSON object per line with its documented fields, no
token value ever reaches the audit log or the diagnostic log, SIGHUP reopens
the file after logrotate moved it, and a full queue is counted."""

import json
import re
import signal
import time

import pytest

COMMON = ["v", "ts", "event", "sid", "sub", "client_id", "ip", "reason"]
FIELDS = {
    "session_created": COMMON + ["created_at", "roles", "scope", "idle_expires_at",
                                 "absolute_expires_at", "refresh_gen", "token_fp",
                                 "idle_timeout_ms", "absolute_timeout_ms", "access_ttl_ms"],
    "token_refreshed": COMMON + ["idle_expires_at", "absolute_expires_at", "refresh_gen",
                                 "token_fp", "idle_timeout_ms", "absolute_timeout_ms",
                                 "access_ttl_ms", "idle_ms"],
    "session_ended": COMMON + ["end_reason", "ended_at", "age_seconds", "last_activity_at"],
    "not_before": COMMON + ["scope", "at"],
    "session_purged": COMMON,
    "risk_changed": COMMON + ["action"],
}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

CONFIG = """\
clock_leeway: 0s
refresh_token: { reuse_grace: 0s }
store: { purge_interval: 200ms, purge_after: 1s }
audit: { path: %s }
risk:
  ip_binding: exact
  on_ip_change: revoke
  trusted_proxies: [127.0.0.1/32]
clients:
  - id: web
"""


def read_lines(path):
    if not path.exists():
        return []
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "a partial line was written"
    return [json.loads(line) for line in text.splitlines()]


def wait_for(path, pred, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        lines = read_lines(path)
        if pred(lines) or time.time() > deadline:
            return lines
        time.sleep(0.05)


def create(srv, sub, ip="10.0.0.5", **body):
    body.update(sub=sub, client_id="web")
    r = srv.admin("POST", "/v1/sessions", json=body, headers={"X-Forwarded-For": ip})
    assert r.status_code == 201, r.text
    return r.json()


def refresh(srv, token, ip="10.0.0.5"):
    return srv.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                          "client_id": "web"},
                    headers={"X-Forwarded-For": ip})


def test_every_event_kind_with_its_fields_and_no_tokens(start_curfew):
    srv = start_curfew(CONFIG % "audit.jsonl")
    path = srv.workdir / "audit.jsonl"
    tokens = []

    def keep(body):
        for k in ("access_token", "refresh_token"):
            if body.get(k):
                tokens.append(body[k])
        return body

    # created, refreshed (rotation), reuse of the old refresh token
    a = keep(create(srv, "alice", roles=["admin", "user"], scope="read write"))
    r = refresh(srv, a["refresh_token"])
    assert r.status_code == 200, r.text
    a2 = keep(r.json())
    assert refresh(srv, a["refresh_token"]).status_code != 200        # reuse ends it
    # logout, delete, revocation by subject and of everyone, ip change
    b = keep(create(srv, "bob"))
    assert srv.logout(b["access_token"]).status_code in (200, 204)
    c = keep(create(srv, "carol"))
    assert srv.admin("DELETE", f"/v1/sessions/{c['session_id']}").status_code in (200, 204)
    d = keep(create(srv, "dave"))
    assert srv.admin("POST", "/v1/revocations", json={"sub": "dave"}).status_code == 200
    e = keep(create(srv, "erin", ip="10.0.0.7"))
    assert srv.check(e["access_token"], headers={"X-Forwarded-For": "10.0.0.8"}).status_code != 200
    f = keep(create(srv, "frank"))
    time.sleep(0.01)
    assert srv.admin("POST", "/v1/revocations", json={"all": True}).status_code == 200
    for s in (a, b, c, d, e, f):
        srv.check(s["access_token"])          # touch nothing alive; just traffic

    ended = {a["session_id"], b["session_id"], c["session_id"], d["session_id"],
             e["session_id"], f["session_id"]}
    lines = wait_for(path, lambda ls: ended <= {l["sid"] for l in ls
                                                if l["event"] == "session_purged"})

    by_kind = {}
    for line in lines:
        by_kind.setdefault(line["event"], []).append(line)
    assert set(by_kind) == set(FIELDS), sorted(by_kind)
    for kind, rows in by_kind.items():
        for row in rows:
            assert sorted(row) == sorted(FIELDS[kind]), (kind, row)
            assert row["v"] == 1
            assert TS.match(row["ts"]), row
    assert "activity" not in by_kind

    created = {l["sid"]: l for l in by_kind["session_created"]}
    ca = created[a["session_id"]]
    assert ca["sub"] == "alice" and ca["client_id"] == "web" and ca["ip"] == "10.0.0.5"
    assert ca["roles"] == ["admin", "user"] and ca["scope"] == "read write"
    assert isinstance(ca["refresh_gen"], int) and re.fullmatch(r"[0-9a-f]{12}", ca["token_fp"])
    assert TS.match(ca["idle_expires_at"]) and TS.match(ca["absolute_expires_at"])
    assert ca["reason"] is None

    [ref] = [l for l in by_kind["token_refreshed"] if l["sid"] == a["session_id"]]
    assert ref["refresh_gen"] == ca["refresh_gen"] + 1 and ref["token_fp"] != ca["token_fp"]

    ends = {l["sid"]: l for l in by_kind["session_ended"]}
    assert ends.keys() >= ended
    want = {a["session_id"]: ("refresh_reuse", "refresh_reuse"),
            b["session_id"]: ("logout", "logout"),
            c["session_id"]: ("revoked", "session_revoked"),
            d["session_id"]: ("revoked", "session_revoked"),
            e["session_id"]: ("ip_changed", "ip_changed"),
            f["session_id"]: ("revoked", "session_revoked")}
    for sid, (end, reason) in want.items():
        assert (ends[sid]["end_reason"], ends[sid]["reason"]) == (end, reason), ends[sid]
        assert TS.match(ends[sid]["ended_at"]) and ends[sid]["age_seconds"] >= 0
    assert ends[e["session_id"]]["ip"] == "10.0.0.7"

    # The address change that ended e is an event of its own, before the end.
    [risk] = by_kind["risk_changed"]
    assert (risk["sid"], risk["reason"], risk["action"]) == (e["session_id"], "ip_changed", "revoke")
    assert risk["sub"] == "erin" and risk["ip"] == "10.0.0.7", risk
    assert lines.index(risk) < lines.index(ends[e["session_id"]])

    nb = by_kind["not_before"]
    assert [(l["scope"], l["sub"]) for l in nb] == [("subject", "dave"), ("all", None)]
    assert all(TS.match(l["at"]) for l in nb)
    purged = [l for l in by_kind["session_purged"] if l["sid"] in ended]
    assert len(purged) == len(ended)

    # No token value anywhere: not in the audit log, not in the diagnostic log.
    srv.stop()
    assert len(tokens) == 14
    audit_text = path.read_text()
    logs = srv.stderr_text() + (srv.stdout_path.read_text() if srv.stdout_path.exists() else "")
    for t in tokens:
        assert t not in audit_text
        assert t not in logs
        for part in t.split("."):          # nor the signature or payload of a JWT
            if len(part) > 20:
                assert part not in audit_text and part not in logs


def test_sighup_reopens_the_file(start_curfew):
    srv = start_curfew(CONFIG % "audit.jsonl")
    path = srv.workdir / "audit.jsonl"
    create(srv, "before")
    assert wait_for(path, lambda ls: len(ls) >= 1)
    rotated = srv.workdir / "audit.jsonl.1"
    path.rename(rotated)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while "event=audit_reopened" not in srv.stderr_text():
        assert time.time() < deadline, srv.stderr_text()
        time.sleep(0.05)
    s = create(srv, "after")
    lines = wait_for(path, lambda ls: len(ls) >= 1)
    assert [(l["event"], l["sub"]) for l in lines] == [("session_created", "after")]
    assert lines[0]["sid"] == s["session_id"]
    old = read_lines(rotated)
    assert [l["sub"] for l in old] == ["before"]
    assert srv.running


def test_stdout_and_drop_metric(start_curfew):
    srv = start_curfew(CONFIG % '"-"')
    create(srv, "out")
    deadline = time.time() + 5
    while '"sub":"out"' not in srv.stdout_path.read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    m = srv.get("/metrics").text
    assert "curfew_audit_dropped_total 0" in m


def test_audit_off_by_default_and_sighup_is_harmless(curfew):
    curfew.proc.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    assert curfew.running
    assert "event=sighup audit=off" in curfew.stderr_text()
    assert not list(curfew.workdir.glob("*.jsonl"))


def test_full_queue_drops_and_counts(start_curfew, tmp_path):
    """A reader that stops reading (a stuck disk) fills the pipe, then the queue:
    requests still succeed, and the dropped lines are counted and logged."""
    import os
    import threading

    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # so the server's open does not block
    try:
        srv = start_curfew(CONFIG.replace("audit: { path: %s }",
                                          f"audit: {{ path: '{fifo}', buffer: 4096 }}"))
        for i in range(600):
            create(srv, f"user{i}")
        m = srv.get("/metrics").text
        dropped = int(re.search(r"^curfew_audit_dropped_total (\d+)$", m, re.M).group(1))
        assert dropped > 0
        assert re.search(r"event=audit_dropped n=\d+", srv.stderr_text())
    finally:
        os.set_blocking(rfd, True)
        got = []
        t = threading.Thread(target=lambda: got.append(b"".join(iter(lambda: os.read(rfd, 65536), b""))))
        t.start()
        srv.stop()
        t.join(10)
        os.close(rfd)
    lines = got[0].decode().splitlines()
    assert all(json.loads(l)["event"] == "session_created" for l in lines)
    assert len(lines) + dropped == 600


# The writer batches lines (src/obs/audit.c: at most BATCH_MS = 50 ms, or 64 KiB):
# one line alone still reaches the file promptly, and nothing queued is lost
# on a graceful stop (issue 13: the activity_gap lines of a sampled check).
SAMPLED = CONFIG.replace("clients:", "tuning: { measure: true, activity_gap: 1s }\nclients:")


def test_one_checks_activity_gap_line_reaches_the_file_promptly(start_curfew):
    srv = start_curfew(SAMPLED % "audit.jsonl")
    path = srv.workdir / "audit.jsonl"
    s = srv.new_session(sub="gap", client_id="web")
    assert wait_for(path, lambda ls: len(ls) == 1)[0]["event"] == "session_created"
    time.sleep(1.1)  # a silence of at least tuning.activity_gap
    t0 = time.monotonic()
    assert srv.check(s["access_token"]).status_code == 200
    while True:
        gaps = [l for l in read_lines(path) if l["event"] == "activity_gap"]
        if gaps or time.monotonic() - t0 > 3:
            break
        time.sleep(0.01)
    took = time.monotonic() - t0
    assert [l["sub"] for l in gaps] == ["gap"], read_lines(path)
    assert gaps[0]["idle_ms"] >= 1000
    # 50 ms by design; 1 s leaves room for a loaded machine, not for a writer
    # that waits for a full batch (which one line never makes).
    assert took < 1.0, f"the line took {took:.3f} s to reach the file"


@pytest.mark.parametrize("round_", [1, 2])
def test_sigterm_writes_every_queued_line(start_curfew, round_):
    """Lines still queued when SIGTERM arrives are written before the exit: the
    last ones were queued microseconds before the signal, inside the batch window."""
    srv = start_curfew(SAMPLED % "audit.jsonl")
    path = srv.workdir / "audit.jsonl"
    sids = [srv.new_session(sub=f"u{i}", client_id="web")["session_id"] for i in range(40)]
    assert srv.stop() == 0
    lines = read_lines(path)
    assert [l["sid"] for l in lines if l["event"] == "session_created"] == sids
