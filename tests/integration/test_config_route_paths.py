# SPDX-License-Identifier: MIT
"""A route rule whose path is not in normal form is refused at load.

/v1/check matches rules against the normalized request path (core/path.c:
unreserved escapes decoded, other escapes upper-cased, `//` merged, dot
segments removed, `;params` cut). A rule written `/%61dmin/` or
`/public/../admin` can therefore never match anything: a deny or
require_roles rule that silently protects nothing. Both `curfew config check`
and `curfew serve` must refuse such a file with `FILE:LINE: KEY: ...` naming
the key and showing the normal form the rule should have been written in.
"""
import re

import pytest
import requests

from conftest import run_curfew
from test_config_agree import serve_outcome

# (name, key, path as written, normal form it must show; None: no request
# path can ever match it, /v1/check refuses such paths outright)
NOT_NORMAL = [
    ("unreserved_escape", "path_prefix", "/%61dmin/", "/admin/"),
    ("all_escaped", "path", "/%61%64%6D%69%6E", "/admin"),
    ("tilde_escape", "path", "/home/%7Euser", "/home/~user"),
    ("lower_case_escape", "path", "/a%3ab", "/a%3Ab"),
    ("lower_case_space", "path_prefix", "/files/a%2fb%20c", None),
    ("mixed_case_escape", "path_glob", "/x/%c3%A9/*", "/x/%C3%A9/*"),
    ("dot_dot", "path", "/public/../admin", "/admin"),
    ("dot", "path_prefix", "/./admin/", "/admin/"),
    ("trailing_dot", "path", "/admin/.", "/admin/"),
    ("trailing_dot_dot", "path_prefix", "/admin/users/..", "/admin/"),
    ("encoded_dots", "path_prefix", "/public/%2e%2e/admin/", "/admin/"),
    ("double_slash", "path_prefix", "//admin", "/admin"),
    ("inner_double_slash", "path", "/admin//users", "/admin/users"),
    ("triple_slash_glob", "path_glob", "/api///*/delete", "/api/*/delete"),
    ("glob_dot_dot", "path_glob", "/api/*/../delete", "/api/delete"),
    ("params", "path", "/admin;jsessionid=1", "/admin"),
    ("trailing_params", "path_prefix", "/admin/;x", "/admin/"),
    ("inner_params", "path_prefix", "/admin;x/users", "/admin/users"),
    ("encoded_slash", "path_prefix", "/a%2Fb", None),
    ("encoded_slash_lower", "path", "/a%2fb", None),
    ("encoded_backslash", "path", "/a%5Cb", None),
    ("encoded_nul", "path", "/a%00", None),
    ("above_root", "path", "/..", None),
    ("above_root_deep", "path_prefix", "/a/../../b", None),
    ("dot_dot_params", "path", "/a/..;x/b", None),
    ("broken_escape", "path", "/a%4", None),
    ("bad_hex", "path", "/a%zz", None),
]

# Already in normal form: accepted, and serve starts.
NORMAL = [
    ("plain", "path_prefix", "/admin/"),
    ("root", "path", "/"),
    ("glob", "path_glob", "/api/*/delete"),
    ("double_star", "path_glob", "/**"),
    ("reserved_escape", "path", "/a%3Ab"),
    ("space_escape", "path", "/a%20b"),
    ("double_encoded", "path", "/a%2561"),
    ("dots_in_name", "path", "/a/..b/.c/d."),
]


def write(tmp_path, key, path):
    cfg = tmp_path / "curfew.yaml"
    # a deny rule first, so the file is one an operator would really write
    cfg.write_text("roles: {admin: {}}\n"
                   "routes:\n"
                   "  - path: /ok\n"
                   "    anonymous: true\n"
                   f"  - {key}: \"{path}\"\n"
                   "    deny: true\n")
    return cfg


@pytest.mark.parametrize("name,key,path,normal", NOT_NORMAL, ids=[c[0] for c in NOT_NORMAL])
def test_rule_not_in_normal_form_is_refused(tmp_path, name, key, path, normal):
    cfg = write(tmp_path, key, path)
    check = run_curfew("config", "check", str(cfg))
    assert check.returncode == 2, f"config check accepted {path!r}:\n{check.stdout}"
    msg = check.stderr.strip()
    # line 5 holds the key; the message names the key and the element
    assert msg.startswith(f"{cfg}:5: routes[1].{key}: "), msg
    if normal is None:
        assert "never match" in msg and "invalid_path" in msg, msg
    else:
        assert f"(requests are matched as '{normal}')" in msg, msg
        assert f"write '{normal}'" in msg, msg
    outcome, serve_err = serve_outcome(tmp_path, cfg, name)
    assert outcome != "ready", f"serve started with {path!r}"
    assert outcome != 0, serve_err
    assert msg in serve_err, serve_err


@pytest.mark.parametrize("name,key,path", NORMAL, ids=[c[0] for c in NORMAL])
def test_rule_in_normal_form_is_accepted(tmp_path, name, key, path):
    cfg = write(tmp_path, key, path)
    check = run_curfew("config", "check", str(cfg))
    assert check.returncode == 0, check.stderr
    assert re.search(rf'^  - {key}: "{re.escape(path)}"$', check.stdout, re.M), check.stdout
    outcome, serve_err = serve_outcome(tmp_path, cfg, name)
    assert outcome == "ready", serve_err


def test_suggested_form_is_accepted_and_matches(tmp_path, start_curfew):
    """The normal form the message suggests loads, and the rule then bites."""
    cfg = write(tmp_path, "path_prefix", "/%61dmin/")
    msg = run_curfew("config", "check", str(cfg)).stderr
    suggested = re.search(r"write '([^']*)'", msg).group(1)
    srv = start_curfew("roles: {admin: {}}\n"
                       "routes:\n"
                       f"  - path_prefix: \"{suggested}\"\n"
                       "    deny: true\n")
    r = run_curfew("config", "check", str(srv.config_path))
    assert r.returncode == 0, r.stderr
    for spelling in ("/admin/users", "/%61dmin/users", "//admin/users", "/x/../admin/users"):
        resp = requests.get(srv.url("/v1/check"), headers={"X-Original-URI": spelling},
                            timeout=5)
        assert resp.status_code == 403, (spelling, resp.status_code, resp.text)
        assert resp.json()["reason"] == "route_denied", resp.text
    # control: a path outside the rule is not denied (no token: 401)
    resp = requests.get(srv.url("/v1/check"), headers={"X-Original-URI": "/public/x"}, timeout=5)
    assert resp.status_code == 401, resp.text
