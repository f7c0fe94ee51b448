# SPDX-License-Identifier: MIT
"""API keys (issue 12) through real nginx with the shipped config
(deploy/nginx/curfew.conf, auth_request to /v1/check): a live key reaches the
upstream with the key's identity (and a client cannot forge it), and every
refusal arrives with curfew's status and reason: malformed, unknown, revoked,
outside the key's networks, over its quota (with Retry-After)."""
import pytest

from test_apikeys import new_key
from test_nginx import EchoApp, Nginx, render_shipped_conf, through


@pytest.fixture
def stack(start_curfew, tmp_path):
    curfew = start_curfew("api_keys: {quota_per_day: 1000}\n")
    app = EchoApp()
    ngx = Nginx(tmp_path / "nginx", render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@"))
    try:
        ngx.start()
        yield curfew, ngx, app
    finally:
        ngx.stop()
        app.close()


def upstream_headers(r):
    return {k.lower(): v for k, v in r.json()["headers"].items()}


def refused(r, ngx, app, before, status, why):
    assert r.status_code == status, f"{r.status_code} {r.text}\n{ngx.diag()}"
    assert r.headers.get("X-Curfew-Reason") == why, dict(r.headers)
    assert r.json()["reason"] == why, r.text
    assert app.count() == before, "the app was reached although curfew refused"


@pytest.mark.parametrize("how", ["X-API-Key", "Authorization"])
def test_key_reaches_upstream_with_its_identity_not_a_forged_one(stack, how):
    curfew, ngx, app = stack
    k = new_key(curfew, sub="svc", client_id="", roles=["reader"], expires_in=600)
    hdr = {"X-API-Key": k["key"]} if how == "X-API-Key" else {"Authorization": f"Bearer {k['key']}"}
    forged = {"X-Curfew-Subject": "root", "X-Curfew-Key": "AAAAAAAAAAAA", "X-Curfew-Client": "admin"}
    r = through(ngx, headers=dict(hdr, **forged))
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{ngx.diag()}"
    h = upstream_headers(r)
    assert h.get("x-curfew-subject") == "svc" and r.json()["x_curfew_subject_count"] == 1
    assert h.get("x-curfew-key") == k["id"], h
    assert h.get("x-curfew-roles") == "reader"
    assert "x-curfew-client" not in h, h  # the key has none: the forged one is dropped
    assert 0 < int(h["x-curfew-expires-in"]) <= 600


def test_refusals_keep_their_status_and_reason_through_nginx(stack):
    curfew, ngx, app = stack
    before = app.count()
    k = new_key(curfew, expires_in=600)
    bad = k["key"][:-1] + ("A" if k["key"][-1] != "A" else "B")  # checksum broken
    refused(through(ngx, headers={"X-API-Key": bad}), ngx, app, before, 401, "malformed_key")
    unknown = new_key(curfew, expires_in=600)
    curfew.admin("DELETE", f"/v1/apikeys/{unknown['id']}")
    refused(through(ngx, headers={"X-API-Key": unknown["key"]}), ngx, app, before, 401,
            "key_revoked")
    far = new_key(curfew, expires_in=600, networks=["203.0.113.0/24"])
    refused(through(ngx, headers={"X-API-Key": far["key"]}), ngx, app, before, 403,
            "network_not_allowed")
    q = new_key(curfew, expires_in=600, quota_per_day=2)
    assert [through(ngx, headers={"X-API-Key": q["key"]}).status_code for _ in range(2)] == [200, 200]
    before = app.count()
    r = through(ngx, headers={"X-API-Key": q["key"]})
    refused(r, ngx, app, before, 429, "quota_exceeded")
    assert 1 <= int(r.headers["Retry-After"]) <= 86400
    # The key in both places is ambiguous: refused, not guessed.
    r = through(ngx, headers={"X-API-Key": k["key"], "Authorization": f"Bearer {k['key']}"})
    refused(r, ngx, app, before, 400, "invalid_request")
