# SPDX-License-Identifier: MIT
"""The admin CLI's state changes against a server whose disk refuses
commits: each command exits 1 with the server's one-line reason on stderr
and nothing on stdout, changes nothing, and run again once the disk is back
exits 0 and makes its change exactly once."""

import pytest

from test_cli import cli, ok
from test_faults import failsync_so, faulted, make_faulted, tiny_disk  # noqa: F401


def state(srv, s, k):
    """What the commands below can change, as a user reads it back."""
    keys = srv.admin("GET", "/v1/apikeys", params={"sub": "ivy"}).json()["keys"]
    return {
        "session": srv.check(s["access_token"]).status_code,
        "key": srv.get("/v1/check", headers={"X-API-Key": k["key"]}).status_code,
        "keys": sorted((x["id"], x["state"]) for x in keys),
        "signing": srv.admin("GET", "/v1/keys").json()["version"],
    }


def new_key_ids(before, after):
    return {i for i, _ in after["keys"]} - {i for i, _ in before["keys"]}


COMMANDS = {
    "sessions_revoke": (lambda s, k: ["sessions", "revoke", s["session_id"]],
                        lambda b, a: a["session"] == 401 and a["key"] == 200),
    "revoke_sub": (lambda s, k: ["revoke", "--sub", "ivy"],
                   lambda b, a: a["session"] == 401 and a["key"] == 200),
    "revoke_client": (lambda s, k: ["revoke", "--client", "web"],
                      lambda b, a: a["session"] == 401),
    "revoke_all": (lambda s, k: ["revoke", "--all"], lambda b, a: a["session"] == 401),
    "apikeys_create": (lambda s, k: ["apikeys", "create", "--sub", "ivy", "--name", "n",
                                     "--expires-in", "3600"],
                       lambda b, a: len(new_key_ids(b, a)) == 1),
    "apikeys_rotate": (lambda s, k: ["apikeys", "rotate", k["id"]],
                       lambda b, a: len(new_key_ids(b, a)) == 1 and a["key"] == 200),
    "apikeys_revoke": (lambda s, k: ["apikeys", "revoke", k["id"]],
                       lambda b, a: a["key"] == 401 and a["session"] == 200),
    "apikeys_revoke_sub": (lambda s, k: ["apikeys", "revoke", "--sub", "ivy"],
                           lambda b, a: a["key"] == 401),
    "apikeys_revoke_client": (lambda s, k: ["apikeys", "revoke", "--client", "ci"],
                              lambda b, a: a["key"] == 401),
    "keys_rotate": (lambda s, k: ["keys", "rotate"],
                    lambda b, a: a["signing"] == b["signing"] + 1),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_change_refused_by_the_disk_exits_1_and_changes_nothing(faulted, command):
    srv = faulted.srv
    args, done = COMMANDS[command]
    s = srv.new_session(sub="ivy", client_id="web")
    r = srv.admin("POST", "/v1/apikeys", json={"sub": "ivy", "name": "k", "client_id": "ci",
                                               "expires_in": 3600})
    assert r.status_code == 201, r.text
    k = r.json()
    before = state(srv, s, k)
    with faulted:
        r = cli(srv, *args(s, k))
        assert r.returncode == 1, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r
        assert "stored" in r.stderr or "store" in r.stderr, r.stderr
        assert state(srv, s, k) == before
    ok(cli(srv, *args(s, k)))
    after = state(srv, s, k)
    assert after != before and done(before, after), (before, after)
    srv.restart(hard=True)
    assert state(srv, s, k) == after
