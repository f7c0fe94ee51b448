# SPDX-License-Identifier: MIT
"""/oauth/token (refresh grant), /oauth/revoke and /oauth/introspect on the real binary."""

import secrets
import time

import pytest

from conftest import assert_grant_error, assert_json_error, assert_refused, jwt_parts

TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token"}


def assert_token_response(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    body = r.json()
    assert TOKEN_FIELDS <= set(body), body
    assert body["token_type"] == "Bearer"
    return body


# -- rotation -----------------------------------------------------------------------

def test_refresh_rotates_both_tokens(curfew):
    s = curfew.new_session(sub="alice", client_id="web", roles=["r1"], scope="read")
    body = assert_token_response(curfew.refresh(s["refresh_token"], client_id="web"))
    assert body["refresh_token"] != s["refresh_token"]
    assert body["access_token"] != s["access_token"]
    assert 598 <= body["expires_in"] <= 600, body
    assert body.get("session_id", s["session_id"]) == s["session_id"]
    c_old, c_new = jwt_parts(s["access_token"])[1], jwt_parts(body["access_token"])[1]
    assert c_new["sid"] == s["session_id"] and c_new["sub"] == "alice"
    assert c_new["jti"] != c_old["jti"]
    assert c_new["client_id"] == "web" and c_new["scope"] == "read" and c_new["roles"] == ["r1"]
    r = curfew.check(body["access_token"])
    assert r.status_code == 200 and r.headers["X-Curfew-Subject"] == "alice", r.text
    # the new refresh token rotates again
    body2 = assert_token_response(curfew.refresh(body["refresh_token"]))
    assert body2["refresh_token"] not in (body["refresh_token"], s["refresh_token"])
    assert curfew.session(s["session_id"])["state"] == "active"


def test_refresh_without_client_id_is_accepted(curfew):
    s = curfew.new_session(sub="alice", client_id="web")
    assert_token_response(curfew.refresh(s["refresh_token"]))


def test_refresh_token_never_outlives_absolute_deadline(curfew):
    s = curfew.new_session(sub="alice", absolute_timeout="5s")
    body = assert_token_response(curfew.refresh(s["refresh_token"]))
    assert body["expires_in"] <= 5, body
    assert jwt_parts(body["access_token"])[1]["exp"] <= s["absolute_expires_at"]


def test_refresh_keeps_requested_access_ttl(curfew):
    s = curfew.new_session(sub="alice", access_ttl="30s")
    body = assert_token_response(curfew.refresh(s["refresh_token"]))
    assert 28 <= body["expires_in"] <= 30, body


def test_refresh_counts_as_activity(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="2s")
    time.sleep(1.2)
    b1 = assert_token_response(curfew.refresh(s["refresh_token"]))
    time.sleep(1.2)          # 2.4 s after creation: alive only because of the refresh
    b2 = assert_token_response(curfew.refresh(b1["refresh_token"]))
    assert curfew.check(b2["access_token"]).status_code == 200


# -- reuse -----------------------------------------------------------------------------

def test_refresh_reuse_ends_session_and_all_tokens(curfew):
    s = curfew.new_session(sub="alice")
    b1 = assert_token_response(curfew.refresh(s["refresh_token"]))
    b2 = assert_token_response(curfew.refresh(b1["refresh_token"]))
    body = assert_grant_error(curfew.refresh(s["refresh_token"]), "refresh_reuse")
    assert body["error_description"]
    shown = curfew.session(s["session_id"])
    assert shown["state"] == "ended" and shown["end_reason"] == "refresh_reuse", shown
    for at in (s["access_token"], b1["access_token"], b2["access_token"]):
        assert_refused(curfew.check(at), "refresh_reuse")
    # the newest refresh token is dead too
    assert_grant_error(curfew.refresh(b2["refresh_token"]), "refresh_reuse")
    assert_grant_error(curfew.refresh(b1["refresh_token"]), "refresh_reuse")


def test_refresh_reuse_leaves_other_sessions_alone(curfew):
    a = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="alice")
    assert_token_response(curfew.refresh(a["refresh_token"]))
    assert_grant_error(curfew.refresh(a["refresh_token"]), "refresh_reuse")
    assert curfew.check(b["access_token"]).status_code == 200
    assert_token_response(curfew.refresh(b["refresh_token"]))


GRACE = "refresh_token: { reuse_grace: 2s }\n"


def test_reuse_within_grace_does_not_end_session(start_curfew):
    srv = start_curfew(GRACE)
    s = srv.new_session(sub="alice")
    b1 = assert_token_response(srv.refresh(s["refresh_token"]))
    sibling = assert_token_response(srv.refresh(s["refresh_token"]))   # the racing client
    assert sibling["refresh_token"] not in (b1["refresh_token"], s["refresh_token"])
    assert srv.session(s["session_id"])["state"] == "active"
    for at in (b1["access_token"], sibling["access_token"]):
        r = srv.check(at)
        assert r.status_code == 200, r.text
    # both current-generation tokens still rotate
    assert_token_response(srv.refresh(sibling["refresh_token"]))
    assert srv.session(s["session_id"])["state"] == "active"


@pytest.mark.slow
def test_reuse_after_grace_is_theft(start_curfew):
    srv = start_curfew(GRACE)
    s = srv.new_session(sub="alice")
    b1 = assert_token_response(srv.refresh(s["refresh_token"]))
    time.sleep(2.6)
    assert_grant_error(srv.refresh(s["refresh_token"]), "refresh_reuse")
    assert_refused(srv.check(b1["access_token"]), "refresh_reuse")
    assert_grant_error(srv.refresh(b1["refresh_token"]), "refresh_reuse")


def test_grace_covers_only_the_previous_generation(start_curfew):
    srv = start_curfew(GRACE)
    s = srv.new_session(sub="alice")
    b1 = assert_token_response(srv.refresh(s["refresh_token"]))
    b2 = assert_token_response(srv.refresh(b1["refresh_token"]))
    # s["refresh_token"] is two generations old: theft even within the grace time
    assert_grant_error(srv.refresh(s["refresh_token"]), "refresh_reuse")
    assert_refused(srv.check(b2["access_token"]), "refresh_reuse")


def test_zero_grace_is_default(curfew):
    s = curfew.new_session(sub="alice")
    assert_token_response(curfew.refresh(s["refresh_token"]))
    assert_grant_error(curfew.refresh(s["refresh_token"]), "refresh_reuse")


# -- failures ---------------------------------------------------------------------------------

def test_client_mismatch(curfew):
    s = curfew.new_session(sub="alice", client_id="web")
    assert_grant_error(curfew.refresh(s["refresh_token"], client_id="mobile"), "client_mismatch")


def test_unknown_refresh_token(curfew):
    assert_grant_error(curfew.refresh(secrets.token_urlsafe(32)), "unknown_refresh_token")
    assert_grant_error(curfew.refresh("x"), "unknown_refresh_token")


def test_access_token_is_not_a_refresh_token(curfew):
    s = curfew.new_session(sub="alice")
    assert_grant_error(curfew.refresh(s["access_token"]), "unknown_refresh_token")


@pytest.mark.parametrize("grant", ["password", "authorization_code", "client_credentials", "x"])
def test_unsupported_grant_type(curfew, grant):
    s = curfew.new_session(sub="alice")
    r = curfew.refresh(s["refresh_token"], grant_type=grant)
    assert_json_error(r, 400, error="unsupported_grant_type")
    assert "no-store" in r.headers.get("Cache-Control", "")
    # the refresh token was not consumed
    assert_token_response(curfew.refresh(s["refresh_token"]))


def test_missing_grant_type_or_refresh_token_is_invalid_request(curfew):
    r = curfew.post("/oauth/token", data={"refresh_token": "abc"})
    assert_json_error(r, 400, error="invalid_request")
    assert "no-store" in r.headers.get("Cache-Control", "")
    r = curfew.post("/oauth/token", data={"grant_type": "refresh_token"})
    assert_json_error(r, 400, error="invalid_request")


def test_token_endpoint_wants_form_encoding(curfew):
    s = curfew.new_session(sub="alice")
    r = curfew.post("/oauth/token", json={"grant_type": "refresh_token",
                                          "refresh_token": s["refresh_token"]})
    assert_json_error(r, 415)
    assert_token_response(curfew.refresh(s["refresh_token"]))


def test_form_with_charset_and_url_escapes(curfew):
    s = curfew.new_session(sub="alice", client_id="my.app/1:x")
    r = curfew.post("/oauth/token",
                    data=("grant_type=refresh%%5Ftoken&refresh_token=%s&client_id=my.app%%2F1%%3ax"
                          % s["refresh_token"]),
                    headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert_token_response(r)


# Found by tests/fuzz/fuzz_body: "%00" was refused but a raw NUL byte passed,
# and the handlers, reading C strings, saw the field cut short there.
@pytest.mark.parametrize("field", ["grant_type", "client_id", "refresh_token"])
def test_form_with_raw_nul_is_refused(curfew, field):
    s = curfew.new_session(sub="alice", client_id="web")
    fields = {"grant_type": "refresh_token", "refresh_token": s["refresh_token"], "client_id": "web"}
    fields[field] += "\x00evil"
    body = "&".join("%s=%s" % kv for kv in fields.items()).encode()
    r = curfew.post("/oauth/token", data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_json_error(r, 400, error="invalid_request")
    assert "no-store" in r.headers.get("Cache-Control", "")
    # the refresh token was not consumed
    assert_token_response(curfew.refresh(s["refresh_token"], client_id="web"))


def _end_by_logout(srv, s):
    assert srv.logout(s["access_token"]).status_code == 204


def _end_by_revoke(srv, s):
    assert srv.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200


def _end_by_oauth_revoke(srv, s):
    assert srv.revoke(s["access_token"]).status_code == 200


def _end_by_idle(srv, s):
    time.sleep(2.2)


@pytest.mark.parametrize("end,reason,body", [
    (_end_by_logout, "logout", {}),
    (_end_by_oauth_revoke, "logout", {}),
    (_end_by_revoke, "session_revoked", {}),
    (_end_by_idle, "idle_timeout", {"idle_timeout": "1s"}),
], ids=["logout", "oauth-revoke", "admin-delete", "idle"])
def test_refresh_on_ended_session_fails_with_reason(curfew, end, reason, body):
    s = curfew.new_session(sub="alice", **body)
    end(curfew, s)
    b = assert_grant_error(curfew.refresh(s["refresh_token"]), reason)
    assert b["error_description"]
    # and it stays ended
    assert_grant_error(curfew.refresh(s["refresh_token"]), reason)


@pytest.mark.slow
def test_refresh_after_absolute_timeout_fails(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="1m", absolute_timeout="2s")
    b1 = assert_token_response(curfew.refresh(s["refresh_token"]))
    time.sleep(3.1)
    assert_grant_error(curfew.refresh(b1["refresh_token"]), "absolute_timeout")
    assert curfew.session(s["session_id"])["end_reason"] == "absolute_timeout"


def test_refresh_after_revocation_by_subject_fails(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.admin("POST", "/v1/revocations", json={"sub": "alice"}).status_code == 200
    assert_grant_error(curfew.refresh(s["refresh_token"]), "session_revoked")


# -- revoke (RFC 7009) ---------------------------------------------------------------------------

@pytest.mark.parametrize("which,hint", [("access_token", None), ("refresh_token", None),
                                        ("access_token", "access_token"),
                                        ("refresh_token", "refresh_token"),
                                        ("refresh_token", "access_token")])
def test_revoke_ends_whole_session_with_logout(curfew, which, hint):
    s = curfew.new_session(sub="alice")
    other = curfew.new_session(sub="alice")
    r = curfew.revoke(s[which], hint)
    assert r.status_code == 200, r.text
    assert r.content in (b"", b"{}"), r.content
    assert_refused(curfew.check(s["access_token"]), "logout")
    assert_grant_error(curfew.refresh(s["refresh_token"]), "logout")
    shown = curfew.session(s["session_id"])
    assert shown["state"] == "ended" and shown["end_reason"] == "logout", shown
    assert curfew.check(other["access_token"]).status_code == 200


def test_revoke_rotated_refresh_token_family(curfew):
    s = curfew.new_session(sub="alice")
    b1 = assert_token_response(curfew.refresh(s["refresh_token"]))
    assert curfew.revoke(b1["refresh_token"]).status_code == 200
    assert_refused(curfew.check(b1["access_token"]), "logout")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", secrets.token_urlsafe(32), ""])
def test_revoke_unknown_or_invalid_token_is_200(curfew, token):
    s = curfew.new_session(sub="alice")
    r = curfew.revoke(token)
    assert r.status_code == 200, r.text
    assert curfew.check(s["access_token"]).status_code == 200


def test_revoke_already_ended_session_is_200_and_keeps_reason(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert curfew.revoke(s["refresh_token"]).status_code == 200
    assert curfew.session(s["session_id"])["end_reason"] == "revoked"


def test_revoke_wants_form_encoding(curfew):
    s = curfew.new_session(sub="alice")
    r = curfew.post("/oauth/revoke", json={"token": s["access_token"]})
    assert_json_error(r, 415)
    assert curfew.check(s["access_token"]).status_code == 200


# -- introspect (RFC 7662) -----------------------------------------------------------------------

def test_introspect_active_access_token(curfew):
    s = curfew.new_session(sub="alice", client_id="web", scope="read write")
    r = curfew.introspect(s["access_token"])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    b = r.json()
    c = jwt_parts(s["access_token"])[1]
    assert b["active"] is True, b
    assert b["sub"] == "alice" and b["sid"] == s["session_id"] and b["client_id"] == "web"
    assert b["scope"] == "read write"
    assert b["exp"] == c["exp"] and b["iat"] == c["iat"]
    assert b["token_type"] == "access_token"
    assert b["idle_expires_at"] == s["idle_expires_at"]
    assert b["absolute_expires_at"] == s["absolute_expires_at"]


def test_introspect_active_refresh_token(curfew):
    s = curfew.new_session(sub="alice", client_id="web", scope="read")
    r = curfew.introspect(s["refresh_token"])
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["active"] is True, b
    assert b["token_type"] == "refresh_token"
    assert b["sub"] == "alice" and b["sid"] == s["session_id"] and b["client_id"] == "web"
    assert b["scope"] == "read"
    assert b["absolute_expires_at"] == s["absolute_expires_at"]
    for k in ("exp", "iat", "idle_expires_at"):
        assert isinstance(b.get(k), int), (k, b)
    # introspection is not a use: the refresh token still rotates
    assert_token_response(curfew.refresh(s["refresh_token"]))


def test_introspect_does_not_count_as_refresh_use(curfew):
    s = curfew.new_session(sub="alice")
    for _ in range(2):
        assert curfew.introspect(s["refresh_token"]).json()["active"] is True
    assert_token_response(curfew.refresh(s["refresh_token"]))


def test_introspect_inactive_with_reason(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.logout(s["access_token"]).status_code == 204
    for tok in (s["access_token"], s["refresh_token"]):
        r = curfew.introspect(tok)
        assert r.status_code == 200, r.text
        assert r.json() == {"active": False, "reason": "logout"}, r.json()


def test_introspect_inactive_reasons(curfew):
    s = curfew.new_session(sub="alice")
    c = jwt_parts(s["access_token"])[1]
    cases = [
        (curfew.forge(dict(c, sid=secrets.token_urlsafe(16))), "session_not_found"),
        (curfew.forge(c, kid="other"), "unknown_key"),
        (curfew.forge(dict(c, aud="elsewhere")), "wrong_audience"),
        ("garbage.not.jwt", "malformed_token"),
        (secrets.token_urlsafe(32), "unknown_refresh_token"),
    ]
    for tok, reason in cases:
        r = curfew.introspect(tok)
        assert r.status_code == 200, r.text
        b = r.json()
        assert b["active"] is False and b.get("reason") == reason, (reason, b)
        assert "sub" not in b


def test_introspect_revoked_session(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
    assert curfew.introspect(s["access_token"]).json() == {"active": False,
                                                           "reason": "session_revoked"}


def test_introspect_idle_expired(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="1s")
    time.sleep(2.2)
    assert curfew.introspect(s["access_token"]).json() == {"active": False,
                                                           "reason": "idle_timeout"}


def test_introspect_does_not_count_as_activity(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="2s")
    t0 = time.monotonic()
    for i in range(3):                       # at 0, 0.6 and 1.2 s
        time.sleep(max(0, t0 + 0.6 * i - time.monotonic()))
        assert curfew.introspect(s["access_token"]).json()["active"] is True
    # at 2.6 s: past the 2 s idle deadline, and well before 3.2 s, where it
    # would end if introspection counted as activity
    time.sleep(max(0, t0 + 2.6 - time.monotonic()))
    b = curfew.introspect(s["access_token"]).json()
    assert b == {"active": False, "reason": "idle_timeout"}, b


@pytest.mark.parametrize("key", [None, "wrong"])
def test_introspect_needs_admin_key(curfew, key):
    s = curfew.new_session(sub="alice")
    r = curfew.introspect(s["access_token"], key=key)
    assert_json_error(r, 401, error="unauthorized", reason="admin_unauthorized")
    assert r.headers.get("WWW-Authenticate", "").startswith('Bearer realm="curfew-admin"')
    assert "active" not in r.json()


def test_introspect_with_access_token_as_credential_is_refused(curfew):
    s = curfew.new_session(sub="alice")
    r = curfew.introspect(s["access_token"], key=s["access_token"])
    assert_json_error(r, 401, reason="admin_unauthorized")


# -- races and activity on the token endpoint -------------------------------------------------

def _parallel(fn, args_list):
    import threading
    results = [None] * len(args_list)
    barrier = threading.Barrier(len(args_list))

    def run(i, args):
        barrier.wait()
        results[i] = fn(*args)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def _fresh_refresh(srv, rt):
    import requests
    return requests.post(srv.url("/oauth/token"), timeout=5,
                         data={"grant_type": "refresh_token", "refresh_token": rt})


def test_racing_refreshes_without_grace_are_theft(curfew):
    s = curfew.new_session(sub="alice")
    results = _parallel(_fresh_refresh, [(curfew, s["refresh_token"])] * 2)
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 400], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 400)
    assert loser.json()["reason"] == "refresh_reuse", loser.text
    winner = next(r for r in results if r.status_code == 200)
    assert_refused(curfew.check(winner.json()["access_token"]), "refresh_reuse")
    assert curfew.session(s["session_id"])["end_reason"] == "refresh_reuse"


def test_racing_refreshes_within_grace_both_succeed(start_curfew):
    srv = start_curfew(GRACE)
    s = srv.new_session(sub="alice")
    results = _parallel(_fresh_refresh, [(srv, s["refresh_token"])] * 2)
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert results[0].json()["refresh_token"] != results[1].json()["refresh_token"]
    assert srv.session(s["session_id"])["state"] == "active"
    for r in results:
        assert srv.check(r.json()["access_token"]).status_code == 200


def test_refresh_moves_idle_deadline(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="10s")
    time.sleep(1.1)
    b = assert_token_response(curfew.refresh(s["refresh_token"]))
    assert b["idle_expires_at"] > s["idle_expires_at"], (s, b)
    assert b["absolute_expires_at"] == s["absolute_expires_at"]


def test_introspect_rotated_refresh_token_is_inactive(curfew):
    s = curfew.new_session(sub="alice")
    assert_token_response(curfew.refresh(s["refresh_token"]))
    r = curfew.introspect(s["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False, r.json()
    assert r.json().get("reason") in REASONS_FOR_USED, r.json()
    # introspecting a used token is not a reuse: the session lives on
    assert curfew.session(s["session_id"])["state"] == "active"


REASONS_FOR_USED = {"refresh_reuse", "unknown_refresh_token"}
