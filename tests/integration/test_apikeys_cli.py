# SPDX-License-Identifier: MIT
"""curfew apikeys create|ls|show|rotate|revoke against a running server: the
real binary, its effect checked through /v1/check; the key printed once;
usage errors exit 2, server refusals exit 1 with the server's description."""
import json

import pytest

from conftest import run_curfew
from test_apikeys import check, reason
from test_cli import cli, ok


def created(r):
    ok(r)
    line = [l for l in r.stdout.splitlines() if l.startswith("key: ")][0]
    return line[5:]


def test_create_show_ls_rotate_revoke(curfew):
    r = cli(curfew, "apikeys", "create", "--sub", "svc", "--name", "ci deploy", "--role", "reader",
            "--role", "ops", "--scope", "read write", "--expires-in", "30d", "--network",
            "127.0.0.0/8", "--quota-day", "1000")
    key = created(r)
    kid = key[4:16]
    assert "shown once" in r.stdout and f"id:           {kid}" in r.stdout
    assert check(curfew, key).status_code == 200
    shown = json.loads(ok(cli(curfew, "apikeys", "show", kid, "--json")).stdout)
    assert shown["roles"] == ["reader", "ops"] and shown["networks"] == ["127.0.0.0/8"]
    assert 29 * 86400 < shown["expires_in"] <= 30 * 86400 and "key" not in shown
    out = ok(cli(curfew, "apikeys", "ls", "--sub", "svc")).stdout
    assert out.splitlines()[0].split()[:4] == ["ID", "OWNER", "NAME", "STATE"]
    assert kid in out and key[17:] not in out
    assert ok(cli(curfew, "apikeys", "ls", "--sub", "nobody")).stdout.count("\n") == 1
    rot = cli(curfew, "apikeys", "rotate", kid, "--overlap", "0")
    new = created(rot)
    assert f"previous key {kid}" in rot.stdout
    assert reason(check(curfew, key)) == "key_rotated"
    assert check(curfew, new).status_code == 200
    r = ok(cli(curfew, "apikeys", "revoke", new[4:16]))
    assert "key_revoked" in r.stdout
    assert reason(check(curfew, new)) == "key_revoked"


@pytest.mark.parametrize("by", ["--sub", "--client"])
def test_revoke_by_owner_and_client(start_curfew, by):
    srv = start_curfew("clients:\n  - id: ci\n    type: public\n")
    mine = [created(cli(srv, "apikeys", "create", "--sub", "own", "--client", "ci", "--name",
                        f"k{i}", "--expires-in", "3600")) for i in range(2)]
    other = created(cli(srv, "apikeys", "create", "--sub", "else", "--name", "x", "--expires-in", "60"))
    r = ok(cli(srv, "apikeys", "revoke", by, "own" if by == "--sub" else "ci", "--json"))
    assert json.loads(r.stdout) == {"keys_revoked": 2}
    assert ok(cli(srv, "apikeys", "revoke", by, "own" if by == "--sub" else "ci")).stdout == \
        "0 key(s) revoked\n"
    for k in mine:
        assert reason(check(srv, k)) == "key_revoked"
    assert check(srv, other).status_code == 200


def test_server_refusals_exit_1_with_the_reason(curfew):
    r = cli(curfew, "apikeys", "create", "--sub", "svc", "--name", "n", "--expires-in", "-5")
    assert r.returncode == 1 and r.stderr.strip(), r
    r = cli(curfew, "apikeys", "show", "AAAAAAAAAAAA")
    assert r.returncode == 1 and "no such API key" in r.stderr, r
    r = cli(curfew, "apikeys", "create", "--sub", "svc", "--name", "n", "--network", "not-a-net")
    assert r.returncode == 1 and r.stdout == "", r


@pytest.mark.parametrize("args", [
    ["apikeys"], ["apikeys", "frob"], ["apikeys", "show"], ["apikeys", "show", "a", "b"],
    ["apikeys", "ls", "--bogus"], ["apikeys", "ls", "extra"], ["apikeys", "revoke"],
    ["apikeys", "revoke", "ID", "--sub", "s"], ["apikeys", "revoke", "--sub", "a", "--client", "b"],
    ["apikeys", "create", "--quota-day", "lots"], ["apikeys", "show", "--role", "x", "ID"],
    ["apikeys", "rotate", "ID", "--sub", "x"], ["apikeys", "show", ""],
    ["apikeys", "ls", "--sub", "x" * 2000],
])
def test_usage_errors_exit_2(args):
    r = run_curfew(*args, env={"CURFEW_ADMIN_KEY": "k"})
    assert r.returncode == 2, (args, r)
    assert r.stderr.strip(), args


@pytest.mark.parametrize("sub", ["create", "ls", "show", "rotate", "revoke"])
def test_help_exits_0(sub):
    r = run_curfew("apikeys", sub, "--help", env={"CURFEW_ADMIN_KEY": ""})
    assert r.returncode == 0 and r.stdout.startswith("usage: curfew apikeys"), r
    assert "apikeys" in run_curfew("--help").stdout
