# SPDX-License-Identifier: MIT
"""POST/GET/DELETE /v1/sessions and POST /v1/revocations on the real binary."""

import json
import secrets
import time

import pytest

from conftest import assert_json_error, assert_refused, assert_grant_error, jwt_parts

SESSION_FIELDS = {"session_id", "sub", "client_id", "roles", "scope", "auth_time", "created_at",
                  "last_activity", "idle_expires_at", "absolute_expires_at", "state", "end_reason",
                  "ended_at"}


def near(value, expected, slack=2):
    return abs(value - expected) <= slack


# -- create --------------------------------------------------------------------

def test_create_session_returns_token_pair_and_deadlines(curfew):
    before = int(time.time())
    r = curfew.create_session(sub="alice", client_id="web", roles=["admin", "dev"],
                              scope="read write", auth_time=before - 5)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    for k in ("access_token", "token_type", "expires_in", "refresh_token", "session_id",
              "idle_expires_at", "absolute_expires_at"):
        assert k in body, body
    assert body["token_type"] == "Bearer"
    assert near(body["expires_in"], 600), body                       # access_token.ttl 10m
    assert near(body["idle_expires_at"], before + 1800), body        # idle 30m
    assert near(body["absolute_expires_at"], before + 12 * 3600), body
    # session id: at least 128 random bits
    assert len(body["session_id"]) >= 22, body["session_id"]
    # refresh token: opaque base64url, at least 256 bits
    rt = body["refresh_token"]
    assert len(rt) >= 43 and all(c.isalnum() or c in "-_" for c in rt), rt
    assert rt.count(".") == 0
    _, claims, _ = jwt_parts(body["access_token"])
    assert claims["sub"] == "alice" and claims["sid"] == body["session_id"]


def test_two_sessions_get_distinct_ids_and_tokens(curfew):
    a = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="alice")
    assert a["session_id"] != b["session_id"]
    assert a["access_token"] != b["access_token"]
    assert a["refresh_token"] != b["refresh_token"]


def test_requested_lifetimes_are_honoured_when_shorter(curfew):
    now = int(time.time())
    s = curfew.new_session(sub="bob", idle_timeout="20s", absolute_timeout=60, access_ttl="1500ms")
    assert near(s["idle_expires_at"], now + 20), s
    assert near(s["absolute_expires_at"], now + 60), s
    assert 0 <= s["expires_in"] <= 2, s


def test_requested_lifetimes_above_config_are_clamped(start_curfew):
    srv = start_curfew("session: { idle_timeout: 5s, absolute_timeout: 20s }\n"
                       "access_token: { ttl: 4s, max_ttl: 8s }\n")
    now = int(time.time())
    s = srv.new_session(sub="carol", idle_timeout="1h", absolute_timeout="30d", access_ttl=3600)
    assert near(s["idle_expires_at"], now + 5, 1), s
    assert near(s["absolute_expires_at"], now + 20, 1), s
    assert s["expires_in"] <= 8, s          # never more than max_ttl
    _, claims, _ = jwt_parts(s["access_token"])
    assert claims["exp"] - claims["iat"] <= 8, claims
    shown = srv.session(s["session_id"])
    assert shown["idle_expires_at"] == s["idle_expires_at"]
    assert shown["absolute_expires_at"] == s["absolute_expires_at"]


def test_access_token_never_outlives_absolute_deadline(curfew):
    s = curfew.new_session(sub="dave", absolute_timeout="3s")
    _, claims, _ = jwt_parts(s["access_token"])
    assert claims["exp"] <= s["absolute_expires_at"], (claims, s)
    assert s["expires_in"] <= 3, s


def test_idle_deadline_never_passes_absolute(curfew):
    s = curfew.new_session(sub="erin", idle_timeout="10m", absolute_timeout="5s")
    assert s["idle_expires_at"] <= s["absolute_expires_at"], s


# -- validation -------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"sub": "alice"',                               # truncated JSON
    b'not json at all',
    b'[]',
    b'{}',                                            # missing sub
    b'{"client_id": "web"}',                          # missing sub
    b'{"sub": 5}',                                    # wrong type
    b'{"sub": "alice", "roles": "admin"}',            # roles must be an array
    b'{"sub": "alice", "roles": [1, 2]}',
    b'{"sub": "alice", "scope": ["read"]}',           # scope is a string
    b'{"sub": "alice", "idle_timeout": "soon"}',      # bad duration
    b'{"sub": "alice", "absolute_timeout": true}',
    b'{"sub": "alice", "bogus": 1}',                  # unknown field
], ids=["truncated", "garbage", "array", "empty", "no-sub", "sub-int", "roles-string",
        "roles-ints", "scope-array", "bad-duration", "duration-bool", "unknown-field"])
def test_create_session_invalid_body_is_400(curfew, body):
    r = curfew.admin("POST", "/v1/sessions", data=body,
                     headers={"Content-Type": "application/json"})
    b = assert_json_error(r, 400, error="invalid_request")
    assert b.get("error_description"), b


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_create_session_wrong_content_type_is_415(curfew, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = curfew.admin("POST", "/v1/sessions", data=json.dumps({"sub": "alice"}).encode(),
                     headers=headers)
    if ctype is None:
        # requests sends no Content-Type for raw bytes; make sure of it
        assert "Content-Type" not in r.request.headers
    assert_json_error(r, 415)


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_create_session_needs_admin_key(curfew, key):
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    r = curfew.post("/v1/sessions", json={"sub": "alice"}, headers=headers)
    assert_json_error(r, 401, error="unauthorized", reason="admin_unauthorized")
    assert r.headers.get("WWW-Authenticate", "").startswith('Bearer realm="curfew-admin"'), r.headers


def test_admin_key_in_basic_scheme_is_refused(curfew):
    r = curfew.post("/v1/sessions", json={"sub": "alice"}, auth=("admin", curfew.admin_key))
    assert_json_error(r, 401, reason="admin_unauthorized")


@pytest.mark.parametrize("method,path", [("GET", "/v1/sessions"), ("GET", "/v1/sessions/x"),
                                         ("DELETE", "/v1/sessions/x")])
def test_session_admin_endpoints_need_admin_key(curfew, method, path):
    r = curfew.request(method, path, headers={"Authorization": "Bearer nope"})
    assert_json_error(r, 401, reason="admin_unauthorized")


def test_revocations_need_admin_key(curfew):
    s = curfew.new_session(sub="alice")
    r = curfew.post("/v1/revocations", json={"all": True})
    assert_json_error(r, 401, reason="admin_unauthorized")
    assert curfew.check(s["access_token"]).status_code == 200


# -- list / show / delete -----------------------------------------------------

def test_show_session(curfew):
    now = int(time.time())
    s = curfew.new_session(sub="alice", client_id="web", roles=["a", "b"], scope="x y",
                           auth_time=now - 60, idle_timeout="5m", absolute_timeout="1h")
    shown = curfew.session(s["session_id"])
    assert SESSION_FIELDS <= set(shown), shown
    assert shown["session_id"] == s["session_id"]
    assert shown["sub"] == "alice"
    assert shown["client_id"] == "web"
    assert shown["roles"] == ["a", "b"]
    assert shown["scope"] == "x y"
    assert shown["auth_time"] == now - 60
    assert near(shown["created_at"], now)
    assert near(shown["last_activity"], now)
    assert shown["idle_expires_at"] == s["idle_expires_at"]
    assert shown["absolute_expires_at"] == s["absolute_expires_at"]
    assert shown["state"] == "active"
    assert shown["end_reason"] is None
    assert shown["ended_at"] is None


def test_show_unknown_session_is_404(curfew):
    r = curfew.admin("GET", "/v1/sessions/" + secrets.token_urlsafe(16))
    assert_json_error(r, 404, error="not_found", reason="session_not_found")


def test_list_sessions_by_subject(curfew):
    a1 = curfew.new_session(sub="alice")
    a2 = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="bob")
    r = curfew.admin("GET", "/v1/sessions", params={"sub": "alice"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    sessions = r.json()["sessions"]
    ids = {x["session_id"] for x in sessions}
    assert ids == {a1["session_id"], a2["session_id"]}, sessions
    assert all(x["sub"] == "alice" for x in sessions)
    assert all(SESSION_FIELDS <= set(x) for x in sessions)
    r = curfew.admin("GET", "/v1/sessions")
    assert r.status_code == 200, r.text
    ids = {x["session_id"] for x in r.json()["sessions"]}
    assert {a1["session_id"], a2["session_id"], b["session_id"]} <= ids
    r = curfew.admin("GET", "/v1/sessions", params={"sub": "nobody"})
    assert r.status_code == 200 and r.json()["sessions"] == []


def test_list_sessions_limit(curfew):
    for _ in range(3):
        curfew.new_session(sub="lim")
    r = curfew.admin("GET", "/v1/sessions", params={"sub": "lim", "limit": "2"})
    assert r.status_code == 200, r.text
    assert len(r.json()["sessions"]) == 2


def test_delete_session_ends_it_with_reason_revoked(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.check(s["access_token"]).status_code == 200
    r = curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["session_id"] == s["session_id"]
    assert body["state"] == "ended" and body["end_reason"] == "revoked", body
    assert isinstance(body["ended_at"], int)
    assert_refused(curfew.check(s["access_token"]), "session_revoked")
    assert_grant_error(curfew.refresh(s["refresh_token"]), "session_revoked")
    shown = curfew.session(s["session_id"])
    assert shown["state"] == "ended" and shown["end_reason"] == "revoked"
    # an ended session never comes back and keeps its reason
    r = curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}")
    assert r.status_code == 200 and r.json()["end_reason"] == "revoked", r.text


def test_delete_keeps_original_end_reason(curfew):
    s = curfew.new_session(sub="alice")
    assert curfew.logout(s["access_token"]).status_code == 204
    r = curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "ended" and r.json()["end_reason"] == "logout", r.json()
    assert_refused(curfew.check(s["access_token"]), "logout")


def test_delete_unknown_session_is_404(curfew):
    r = curfew.admin("DELETE", "/v1/sessions/" + secrets.token_urlsafe(16))
    assert_json_error(r, 404, error="not_found", reason="session_not_found")


def test_delete_leaves_other_sessions_alone(curfew):
    a = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="alice")
    assert curfew.admin("DELETE", f"/v1/sessions/{a['session_id']}").status_code == 200
    assert curfew.check(b["access_token"]).status_code == 200
    assert curfew.refresh(b["refresh_token"]).status_code == 200


def test_idle_expired_session_shows_ended_without_being_touched(curfew):
    s = curfew.new_session(sub="alice", idle_timeout="1s")
    time.sleep(2.2)
    shown = curfew.session(s["session_id"])
    assert shown["state"] == "ended" and shown["end_reason"] == "idle_timeout", shown


# -- revocations ----------------------------------------------------------------

def test_revoke_by_subject_ends_all_their_sessions(curfew):
    a1 = curfew.new_session(sub="alice")
    a2 = curfew.new_session(sub="alice")
    b = curfew.new_session(sub="bob")
    r = curfew.admin("POST", "/v1/revocations", json={"sub": "alice"})
    assert r.status_code == 200, r.text
    assert r.json() == {"sessions_ended": 2}
    for s in (a1, a2):
        r = curfew.check(s["access_token"])
        # same second as the revocation -> session_revoked; an earlier second -> revoked_before
        body = assert_refused(r, None)
        assert body["reason"] in ("session_revoked", "revoked_before"), body
        assert curfew.session(s["session_id"])["end_reason"] == "revoked"
        assert_grant_error(curfew.refresh(s["refresh_token"]), "session_revoked")
    assert curfew.check(b["access_token"]).status_code == 200
    assert curfew.refresh(b["refresh_token"]).status_code == 200
    # revoking again finds nothing left
    r = curfew.admin("POST", "/v1/revocations", json={"sub": "alice"})
    assert r.status_code == 200 and r.json() == {"sessions_ended": 0}, r.text
    # a session created after the revocation works
    fresh = curfew.new_session(sub="alice")
    assert curfew.check(fresh["access_token"]).status_code == 200


def test_revoke_all_ends_every_session(curfew):
    sessions = [curfew.new_session(sub=f"u{i}") for i in range(3)]
    ended = curfew.new_session(sub="u9")
    assert curfew.logout(ended["access_token"]).status_code == 204
    r = curfew.admin("POST", "/v1/revocations", json={"all": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"sessions_ended": 3}
    for s in sessions:
        body = assert_refused(curfew.check(s["access_token"]), None)
        assert body["reason"] in ("session_revoked", "revoked_before"), body
    # the already-ended one keeps its reason
    assert curfew.session(ended["session_id"])["end_reason"] == "logout"
    fresh = curfew.new_session(sub="u0")
    assert curfew.check(fresh["access_token"]).status_code == 200


@pytest.mark.parametrize("body", [{}, {"sub": ""}, {"all": False}, {"sub": 5}, {"all": "yes"},
                                  {"sub": "alice", "bogus": 1}])
def test_revocation_bad_body_is_400(curfew, body):
    s = curfew.new_session(sub="alice")
    r = curfew.admin("POST", "/v1/revocations", json=body)
    assert_json_error(r, 400, error="invalid_request")
    assert curfew.check(s["access_token"]).status_code == 200


def test_revocation_wrong_content_type_is_415(curfew):
    r = curfew.admin("POST", "/v1/revocations", data='{"all": true}',
                     headers={"Content-Type": "text/plain"})
    assert_json_error(r, 415)


def test_revoked_before_refuses_older_tokens(curfew):
    s = curfew.new_session(sub="alice")
    time.sleep(1.1)            # the not-before has whole-second resolution
    r = curfew.admin("POST", "/v1/revocations", json={"sub": "alice"})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1, r.text
    assert_refused(curfew.check(s["access_token"]), "revoked_before")
    # a new session after the revocation is fine
    fresh = curfew.new_session(sub="alice")
    assert curfew.check(fresh["access_token"]).status_code == 200


def test_revoked_before_holds_even_for_a_live_session(curfew):
    """A token of alice's issued before the revocation is refused even if it
    names a session that is alive: the not-before does not depend on the
    session (token forged with the server's own key to get an old iat)."""
    curfew.new_session(sub="alice")
    time.sleep(1.1)
    assert curfew.admin("POST", "/v1/revocations", json={"sub": "alice"}).status_code == 200
    live = curfew.new_session(sub="alice")
    assert curfew.check(live["access_token"]).status_code == 200
    _, claims, _ = jwt_parts(live["access_token"])
    old = dict(claims, iat=claims["iat"] - 5)
    assert_refused(curfew.check(curfew.forge(old)), "revoked_before")
    same = dict(claims, jti=claims["jti"] + "x")
    assert curfew.check(curfew.forge(same)).status_code == 200   # the forging itself is fine
    # bob is not affected by alice's not-before
    bob = curfew.new_session(sub="bob")
    _, bc, _ = jwt_parts(bob["access_token"])
    assert curfew.check(curfew.forge(dict(bc, iat=bc["iat"] - 5))).status_code == 200


def test_global_revoked_before(curfew):
    a = curfew.new_session(sub="alice")
    time.sleep(1.1)
    r = curfew.admin("POST", "/v1/revocations", json={"all": True})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1, r.text
    assert_refused(curfew.check(a["access_token"]), "revoked_before")
    bob = curfew.new_session(sub="bob")
    assert curfew.check(bob["access_token"]).status_code == 200
    _, bc, _ = jwt_parts(bob["access_token"])
    assert_refused(curfew.check(curfew.forge(dict(bc, iat=bc["iat"] - 5))), "revoked_before")


# -- purge ---------------------------------------------------------------------------

@pytest.mark.slow
def test_ended_sessions_are_purged_live_ones_kept(start_curfew):
    srv = start_curfew("store: { purge_interval: 500ms, purge_after: 1s }\n")
    ended = srv.new_session(sub="alice")
    live = srv.new_session(sub="alice")
    assert srv.logout(ended["access_token"]).status_code == 204
    deadline = time.monotonic() + 5
    while True:
        r = srv.admin("GET", f"/v1/sessions/{ended['session_id']}")
        if r.status_code == 404 or time.monotonic() > deadline:
            break
        assert r.json()["end_reason"] == "logout"
        time.sleep(0.25)
    assert_json_error(r, 404, reason="session_not_found")
    # the purged session's tokens still do not work
    assert srv.check(ended["access_token"]).status_code == 401
    assert srv.refresh(ended["refresh_token"]).status_code == 400
    # the live one is untouched
    assert srv.session(live["session_id"])["state"] == "active"
    assert srv.check(live["access_token"]).status_code == 200
    assert srv.refresh(live["refresh_token"]).status_code == 200


def test_parallel_session_creation(curfew):
    import threading
    import requests
    out = []
    lock = threading.Lock()

    def create(i):
        r = requests.post(curfew.url("/v1/sessions"), json={"sub": f"p{i}"},
                          headers=curfew.admin_headers(), timeout=10)
        with lock:
            out.append(r)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(out) == 20
    assert all(r.status_code == 201 for r in out), [r.text for r in out if r.status_code != 201]
    ids = {r.json()["session_id"] for r in out}
    assert len(ids) == 20
    for r in out[:5]:
        assert curfew.check(r.json()["access_token"]).status_code == 200


def test_revoke_by_subject_matches_exactly(curfew):
    alice = curfew.new_session(sub="alice")
    others = [curfew.new_session(sub=s) for s in ("alice2", "Alice", "xalice")]
    r = curfew.admin("POST", "/v1/revocations", json={"sub": "alice"})
    assert r.status_code == 200 and r.json() == {"sessions_ended": 1}, r.text
    assert curfew.check(alice["access_token"]).status_code == 401
    for o in others:
        assert curfew.check(o["access_token"]).status_code == 200


@pytest.mark.parametrize("field,value", [("idle_timeout", -5), ("absolute_timeout", "-1s"),
                                         ("access_ttl", -1), ("idle_timeout", "1x")])
def test_negative_or_bogus_lifetimes_are_400(curfew, field, value):
    r = curfew.create_session(sub="alice", **{field: value})
    assert_json_error(r, 400, error="invalid_request")


def test_subject_index_follows_creation_revocation_and_purge(start_curfew):
    """Listing and revoking a subject read that subject's own list: it must
    hold exactly its sessions through creation, revocation and purging."""
    srv = start_curfew("store: { purge_interval: 1s, purge_after: 0s }\n")
    made = {sub: [srv.new_session(sub=sub)["session_id"] for _ in range(5)] for sub in "abc"}

    def listed(sub):
        r = srv.admin("GET", f"/v1/sessions?sub={sub}")
        assert r.status_code == 200, r.text
        return r.json()

    assert sorted(x["session_id"] for x in listed("b")["sessions"]) == sorted(made["b"])
    r = srv.admin("POST", "/v1/revocations", json={"sub": "b"})
    assert r.json() == {"sessions_ended": 5}
    assert all(x["state"] == "ended" for x in listed("b")["sessions"])
    assert all(x["state"] == "active" for s in "ac" for x in listed(s)["sessions"])
    deadline = time.monotonic() + 5
    while listed("b")["total"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listed("b")["total"] == 0, "purged sessions stayed in the subject's list"
    again = srv.new_session(sub="b")["session_id"]
    assert [x["session_id"] for x in listed("b")["sessions"]] == [again]
    assert listed("a")["total"] == 5 and listed("c")["total"] == 5
    assert listed("nobody") == {"sessions": [], "total": 0}


# -- integers from JSON are range-checked before any arithmetic (issue 9 #5) --------------------

INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63
# Out of range, the wrong sign, or not an integer at all.
BAD_TIMES = [INT64_MAX, INT64_MAX // 1000 + 1, 2 ** 62, 253402300800, 10 ** 15, INT64_MIN, -1, 0,
             1.5, 1.7e9, 1e300, -1e300, "1700000000", True, False, None, [1], {"s": 1}]


def _raw_json(srv, method, path, text):
    """A body written by hand: Python's json cannot write every number we want to send."""
    h = dict(srv.admin_headers())
    h["Content-Type"] = "application/json"
    return srv.request(method, path, data=text.encode(), headers=h)


@pytest.mark.parametrize("value", BAD_TIMES, ids=repr)
def test_auth_time_out_of_range_is_400(curfew, value):
    r = curfew.create_session(sub="x", auth_time=value)
    body = assert_json_error(r, 400, error="invalid_request")
    assert "auth_time" in body.get("error_description", ""), body
    assert curfew.admin("GET", "/v1/sessions?sub=x").json()["sessions"] == []


@pytest.mark.parametrize("text", ["9223372036854775807", "9223372036854775808", "-9223372036854775808",
                                  "18446744073709551616", "1e999", "-0", "0.0", "1E3"])
def test_auth_time_numbers_json_cannot_hold_are_400(curfew, text):
    r = _raw_json(curfew, "POST", "/v1/sessions", '{"sub":"x","auth_time":%s}' % text)
    assert r.status_code == 400, r.text
    assert r.json().get("error") in ("invalid_request", "invalid_json"), r.text


def test_auth_time_edges(curfew):
    now = int(time.time())
    s = curfew.new_session(sub="x", auth_time=now)
    assert curfew.session(s["session_id"])["auth_time"] == now
    assert jwt_parts(s["access_token"])[1]["auth_time"] == now
    assert curfew.create_session(sub="x", auth_time=1).status_code == 201
    # The future, even by a little more than the leeway, is refused.
    assert curfew.create_session(sub="x", auth_time=now + 3600).status_code == 400


@pytest.mark.parametrize("field", ["idle_timeout", "absolute_timeout", "access_ttl"])
@pytest.mark.parametrize("value", [INT64_MAX, INT64_MAX // 1000 + 1, 2 ** 62, 100 * 365 * 86400,
                                   INT64_MIN, -1, 0, -0.5, 1e300, -1e300, "9999999999999999999h",
                                   "-5m", "", True, None, [60]], ids=repr)
def test_requested_lifetime_out_of_range_is_400(curfew, field, value):
    r = curfew.create_session(sub="x", **{field: value})
    body = assert_json_error(r, 400, error="invalid_request")
    assert field in body.get("error_description", ""), body


@pytest.mark.parametrize("value", BAD_TIMES + [int(time.time()) + 3600], ids=repr)
def test_revocation_before_out_of_range_is_400(curfew, value):
    s = curfew.new_session(sub="y")
    r = curfew.admin("POST", "/v1/revocations", json={"sub": "y", "before": value})
    body = assert_json_error(r, 400, error="invalid_request")
    assert "before" in body.get("error_description", ""), body
    assert curfew.check(s["access_token"]).status_code == 200


@pytest.mark.parametrize("limit", ["0", "-1", "10001", "9223372036854775808", "1e3", "1.5", "", "x",
                                   "99999999999999999999999"])
def test_list_limit_out_of_range_is_400(curfew, limit):
    r = curfew.admin("GET", "/v1/sessions?limit=" + limit)
    body = assert_json_error(r, 400, error="invalid_request")
    assert "limit" in body.get("error_description", ""), body


# -- listings by cursor (issue 10, scale of the index) --------------------------------------------

def test_cursor_pages_list_every_session_once_while_sessions_come_and_go(start_curfew):
    """Paging GET /v1/sessions with next_cursor: every session that lives through
    the listing is listed once, newest first, even as sessions are created and
    revoked between pages; the last page has no next_cursor."""
    srv = start_curfew()
    made = [srv.new_session(sub="pager")["session_id"] for _ in range(23)]
    seen, cursor, pages = [], None, 0
    while True:
        q = "/v1/sessions?sub=pager&limit=5" + (f"&cursor={cursor}" if cursor else "")
        r = srv.admin("GET", q)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [x["session_id"] for x in body["sessions"]]
        pages += 1
        # Churn between pages: a newer session, and the end of one already listed.
        srv.new_session(sub="pager")
        assert srv.admin("DELETE", f"/v1/sessions/{seen[0]}").status_code == 200
        if "next_cursor" not in body:
            break
        cursor = body["next_cursor"]
        assert pages < 20
    assert len(seen) == len(set(seen)), "a session was listed twice"
    assert set(made) <= set(seen)


def test_cursor_paging_over_the_whole_index(start_curfew):
    """Without a filter, pages follow the index's creation order (no sort of everyone)."""
    srv = start_curfew()
    made = {srv.new_session()["session_id"] for _ in range(12)}
    seen, cursor = [], None
    for _ in range(10):
        r = srv.admin("GET", "/v1/sessions?limit=5" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.text
        seen += [x["session_id"] for x in r.json()["sessions"]]
        assert r.json()["total"] == 12
        cursor = r.json().get("next_cursor")
        if cursor is None:
            break
    assert len(seen) == 12 and set(seen) == made
    created = [srv.admin("GET", f"/v1/sessions/{s}").json()["created_at"] for s in seen]
    assert created == sorted(created, reverse=True), "not newest first"


@pytest.mark.parametrize("cursor", ["", "x", "1.abc", "-1." + "A" * 24, "1" * 19 + "." + "A" * 24,
                                    "12." + "A" * 23 + "%22", "12," + "A" * 24, "12." + "A" * 25])
def test_malformed_cursor_is_400(start_curfew, cursor):
    srv = start_curfew()
    r = srv.admin("GET", "/v1/sessions?cursor=" + cursor)
    assert r.status_code == 400, (cursor, r.status_code, r.text)
    assert r.json()["reason"] == "invalid_request"


def test_revocation_by_client_ends_only_that_clients_sessions(start_curfew):
    """Revocation by client walks the client's own list: exactly its live sessions end."""
    srv = start_curfew("clients:\n  - { id: web }\n  - { id: tv }\n")
    web = [srv.new_session(client_id="web")["session_id"] for _ in range(4)]
    tv = [srv.new_session(client_id="tv")["session_id"] for _ in range(3)]
    r = srv.admin("POST", "/v1/revocations", json={"client_id": "tv"})
    assert r.status_code == 200 and r.json() == {"sessions_ended": 3}, r.text
    for sid in tv:
        assert srv.admin("GET", f"/v1/sessions/{sid}").json()["state"] == "ended"
    for sid in web:
        assert srv.admin("GET", f"/v1/sessions/{sid}").json()["state"] == "active"
    m = srv.request("GET", "/metrics").text
    assert 'curfew_sessions_active{client="tv"} 0' in m
    assert 'curfew_sessions_active{client="web"} 4' in m
    assert srv.admin("GET", "/v1/stats").json()["sessions_active"] == 4
