# SPDX-License-Identifier: MIT
"""The admin CLI (curfew sessions / revoke / stats) against a running server.

The CLI only speaks HTTP to the admin API, so every test starts a real server,
runs the real binary, and checks the effect through /v1/check.
"""
import json
import re
import time
from datetime import datetime, timezone

import pytest

from conftest import free_port, run_curfew


def cli(srv, *args, key=..., env=None):
    """Run ``curfew ARGS --server URL`` with the server's admin key in the environment."""
    e = {"CURFEW_ADMIN_KEY": srv.admin_key if key is ... else key}
    if env:
        e.update(env)
    return run_curfew(*args, "--server", srv.base_url, env=e)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def one_line_error(r, code, pattern):
    assert r.returncode == code, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert re.search(pattern, lines[0]), lines[0]


# ---------------------------------------------------------------- sessions

def test_sessions_ls_table_and_json(curfew):
    a = curfew.new_session(sub="alice", client_id="web")
    b = curfew.new_session(sub="bob", client_id="mobile")

    out = ok(cli(curfew, "sessions", "ls")).stdout.splitlines()
    assert out[0].split() == ["ID", "SUB", "CLIENT", "STATE", "IDLE", "LEFT", "ABSOLUTE", "LEFT", "END", "REASON"]
    # Aligned: every column starts at the same offset on every line.
    col = out[0].index("STATE")
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == {a["session_id"], b["session_id"]}
    for line in rows.values():
        assert line[col:].startswith("active")
    assert "alice" in rows[a["session_id"]] and "web" in rows[a["session_id"]]
    assert re.search(r"\b(29m5\ds|30m00s)\b", rows[a["session_id"]])

    doc = json.loads(ok(cli(curfew, "sessions", "ls", "--json")).stdout)
    assert doc["total"] == 2
    assert {s["session_id"] for s in doc["sessions"]} == {a["session_id"], b["session_id"]}


def test_sessions_ls_filters_by_sub_and_client(curfew):
    a = curfew.new_session(sub="alice", client_id="web")
    curfew.new_session(sub="alice", client_id="mobile")
    curfew.new_session(sub="bob", client_id="web")

    doc = json.loads(ok(cli(curfew, "sessions", "ls", "--sub", "alice", "--json")).stdout)
    assert {s["sub"] for s in doc["sessions"]} == {"alice"} and doc["total"] == 2
    doc = json.loads(ok(cli(curfew, "sessions", "ls", "--client", "web", "--json")).stdout)
    assert {s["client_id"] for s in doc["sessions"]} == {"web"} and doc["total"] == 2
    doc = json.loads(ok(cli(curfew, "sessions", "ls", "--sub", "alice", "--client", "web", "--json")).stdout)
    assert [s["session_id"] for s in doc["sessions"]] == [a["session_id"]]
    table = ok(cli(curfew, "sessions", "ls", "--client", "mobile")).stdout.splitlines()
    assert len(table) == 2 and "mobile" in table[1]
    # The API filter itself.
    r = curfew.admin("GET", "/v1/sessions?client_id=web")
    assert r.status_code == 200 and r.json()["total"] == 2


def test_sessions_ls_long_filters_are_refused_not_overflowed(curfew):
    # The query is built in a 1,024-byte buffer: a --sub that fills it, then
    # --client and --limit appended after it, must be refused as too long
    # (exit 2, one line), not written past the end of the buffer.
    for args in (["--sub", "a" * 1004, "--client", "web"],
                 ["--sub", "a" * 1004, "--limit", "10000"],
                 ["--sub", "%" * 334, "--client", "web", "--limit", "5"],
                 ["--sub", "a" * 990, "--client", "w" * 40]):
        one_line_error(cli(curfew, "sessions", "ls", *args), 2, r"--sub or --client too long")
    # The longest filters the server takes (255 bytes of sub) still ask it.
    doc = json.loads(ok(cli(curfew, "sessions", "ls", "--sub", "a" * 255, "--client", "web",
                            "--limit", "10000", "--json")).stdout)
    assert doc["sessions"] == []


def test_sessions_show_table_and_json(curfew):
    s = curfew.new_session(sub="alice", client_id="web", roles=["admin", "user"])
    out = ok(cli(curfew, "sessions", "show", s["session_id"])).stdout
    assert re.search(r"^id:\s+" + re.escape(s["session_id"]) + "$", out, re.M)
    assert re.search(r"^sub:\s+alice$", out, re.M)
    assert re.search(r"^client:\s+web$", out, re.M)
    assert re.search(r"^roles:\s+admin,user$", out, re.M)
    assert re.search(r"^state:\s+active$", out, re.M)

    doc = json.loads(ok(cli(curfew, "sessions", "show", s["session_id"], "--json")).stdout)
    assert doc["session_id"] == s["session_id"] and doc["state"] == "active" and doc["end_reason"] is None


def test_sessions_revoke_table_and_json(curfew):
    s1 = curfew.new_session(sub="alice")
    s2 = curfew.new_session(sub="alice")
    out = ok(cli(curfew, "sessions", "revoke", s1["session_id"])).stdout
    assert s1["session_id"] in out and "revoked" in out
    assert curfew.check(s1["access_token"]).status_code == 401
    assert curfew.check(s2["access_token"]).status_code == 200

    doc = json.loads(ok(cli(curfew, "sessions", "revoke", s2["session_id"], "--json")).stdout)
    assert doc["state"] == "ended" and doc["end_reason"] == "revoked"
    r = curfew.check(s2["access_token"])
    assert r.status_code == 401 and r.json()["reason"] == "session_revoked"

    table = ok(cli(curfew, "sessions", "ls", "--sub", "alice")).stdout.splitlines()[1:]
    assert all(line.split()[3] == "ended" and line.split()[-1] == "revoked" for line in table)


# ------------------------------------------------------------------ revoke

def test_revoke_by_sub(curfew):
    a = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="bob")
    out = ok(cli(curfew, "revoke", "--sub", "alice")).stdout
    assert "1 session ended" in out
    assert curfew.check(a["access_token"]).status_code == 401
    assert curfew.check(b["access_token"]).status_code == 200


def test_revoke_by_client(curfew):
    w1 = curfew.new_session(sub="alice", client_id="web")
    w2 = curfew.new_session(sub="bob", client_id="web")
    m = curfew.new_session(sub="alice", client_id="mobile")
    doc = json.loads(ok(cli(curfew, "revoke", "--client", "web", "--json")).stdout)
    assert doc == {"sessions_ended": 2}
    for s in (w1, w2):
        r = curfew.check(s["access_token"])
        assert r.status_code == 401 and r.json()["reason"] == "session_revoked"
    assert curfew.check(m["access_token"]).status_code == 200
    # No epoch for a client: a new session of that client works at once.
    w3 = curfew.new_session(sub="alice", client_id="web")
    assert curfew.check(w3["access_token"]).status_code == 200


def test_revoke_all(curfew):
    a = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="bob")
    doc = json.loads(ok(cli(curfew, "revoke", "--all", "--json")).stdout)
    assert doc == {"sessions_ended": 2}
    assert curfew.check(a["access_token"]).status_code == 401
    assert curfew.check(b["access_token"]).status_code == 401


def test_revoke_before(curfew):
    old = curfew.new_session(sub="alice", client_id="web")
    time.sleep(1.1)
    cut = int(time.time())
    time.sleep(1.1)
    new = curfew.new_session(sub="alice", client_id="web")
    rfc3339 = datetime.fromtimestamp(cut, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = json.loads(ok(cli(curfew, "revoke", "--sub", "alice", "--before", rfc3339, "--json")).stdout)
    assert doc == {"sessions_ended": 1}
    assert curfew.check(old["access_token"]).status_code == 401
    assert curfew.check(new["access_token"]).status_code == 200

    old2 = curfew.new_session(sub="bob", client_id="api")
    time.sleep(1.1)
    cut = int(time.time())
    time.sleep(1.1)
    new2 = curfew.new_session(sub="carol", client_id="api")
    out = ok(cli(curfew, "revoke", "--client", "api", "--before", str(cut))).stdout
    assert "1 session ended" in out
    assert curfew.check(old2["access_token"]).status_code == 401
    assert curfew.check(new2["access_token"]).status_code == 200

    # Everyone before the second cut: only alice's newer session was still live.
    doc = json.loads(ok(cli(curfew, "revoke", "--all", "--before", str(cut), "--json")).stdout)
    assert doc == {"sessions_ended": 1}
    assert curfew.check(new["access_token"]).status_code == 401
    assert curfew.check(new2["access_token"]).status_code == 200


def test_revocations_api_validation(curfew):
    for body in ({"sub": "a", "client_id": "web"}, {"client_id": ""}, {"client_id": 3},
                 {"before": 1}, {"all": True, "before": "x"}, {"all": True, "before": 4102444800},
                 {"sub": "a", "extra": 1}):
        r = curfew.admin("POST", "/v1/revocations", json=body)
        assert r.status_code == 400, (body, r.text)


def test_revoke_usage_errors(curfew):
    one_line_error(cli(curfew, "revoke"), 2, r"^curfew revoke: expected exactly one of")
    one_line_error(cli(curfew, "revoke", "--sub", "a", "--all"), 2, r"exactly one of")
    one_line_error(cli(curfew, "revoke", "--all", "--before", "yesterday"), 2, r"--before")
    one_line_error(cli(curfew, "revoke", "--all", "--before", "2099-01-01T00:00:00Z"), 1,
                   r"^curfew revoke: before: .*future.*\(400\)$")


# ------------------------------------------------------------------- stats

def test_stats_table_and_json(curfew):
    curfew.new_session(sub="alice")
    s = curfew.new_session(sub="bob")
    curfew.new_session(sub="carol")
    curfew.logout(s["access_token"])
    ok(cli(curfew, "revoke", "--sub", "carol"))

    out = ok(cli(curfew, "stats")).stdout
    assert re.search(r"^sessions active:\s+1$", out, re.M)
    assert re.search(r"^sessions ended:\s+2$", out, re.M)
    assert re.search(r"^\s+logout\s+1$", out, re.M)
    assert re.search(r"^\s+revoked\s+1$", out, re.M)
    assert re.search(r"^sessions total:\s+3$", out, re.M)

    doc = json.loads(ok(cli(curfew, "stats", "--json")).stdout)
    assert doc["active"] == 1 and doc["ended"] == 2 and doc["total"] == 3
    assert doc["ended_by_reason"] == {"logout": 1, "revoked": 1}


# ------------------------------------------------------------------ errors

def test_unknown_session_is_exit_1_with_message(curfew):
    for sub in ("show", "revoke"):
        one_line_error(cli(curfew, "sessions", sub, "AAAAAAAAAAAAAAAAAAAAAAAA"), 1,
                       rf"^curfew sessions {sub}: session not found \(404\)$")


def test_missing_and_wrong_key(curfew, tmp_path):
    one_line_error(cli(curfew, "sessions", "ls", key=""), 2, r"no admin key.*CURFEW_ADMIN_KEY")
    one_line_error(cli(curfew, "stats", key="wrong-key"), 1, r"admin key \(401\)$")
    keyfile = tmp_path / "key"
    keyfile.write_text(curfew.admin_key + "\n")
    ok(cli(curfew, "sessions", "ls", "--key-file", str(keyfile), key=""))
    one_line_error(cli(curfew, "sessions", "ls", "--key-file", str(tmp_path / "nope"), key=""), 1,
                   r"cannot read key file")


def test_server_down_is_exit_1_cannot_connect():
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["sessions", "ls"], ["sessions", "show", "x"], ["revoke", "--all"], ["stats"]):
        r = run_curfew(*args, "--server", url, env={"CURFEW_ADMIN_KEY": "k"})
        one_line_error(r, 1, rf"^curfew: cannot connect to {re.escape(url)}: Connection refused$")


def test_bad_server_url_is_usage_error():
    # https:// is a server URL now (issue 14); other schemes stay usage errors.
    r = run_curfew("stats", "--server", "ftp://example.com", env={"CURFEW_ADMIN_KEY": "k"})
    one_line_error(r, 2, r"--server: expected http://HOST:PORT or https://HOST:PORT")


@pytest.mark.parametrize("args", [
    ["sessions", "--help"], ["sessions", "ls", "--help"], ["sessions", "show", "--help"],
    ["sessions", "revoke", "--help"], ["revoke", "--help"], ["stats", "--help"],
])
def test_help_exits_0(args):
    r = run_curfew(*args, env={"CURFEW_ADMIN_KEY": ""})
    assert r.returncode == 0 and r.stdout.startswith("usage: curfew"), r
    assert r.stderr == ""


def test_usage_errors_exit_2():
    for args in (["sessions"], ["sessions", "frob"], ["sessions", "show"], ["sessions", "ls", "--bogus"],
                 ["sessions", "ls", "--limit", "0"], ["stats", "extra"]):
        r = run_curfew(*args, env={"CURFEW_ADMIN_KEY": "k"})
        assert r.returncode == 2, (args, r)
        assert r.stderr.strip(), args


def test_main_usage_lists_the_cli():
    out = run_curfew("--help").stdout
    for cmd in ("sessions", "revoke", "stats"):
        assert re.search(rf"^\s+{cmd}\b", out, re.M), out


def test_session_ids_never_start_with_a_dash(curfew):
    """A session id goes to command lines (`curfew sessions show ID`): one starting
    with '-' would be read as an option. Without the rule, 300 ids hold one ~99% of
    the time (1 - (63/64)**300)."""
    ids = [curfew.new_session()["session_id"] for _ in range(300)]
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == 300
