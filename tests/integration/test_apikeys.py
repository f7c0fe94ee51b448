# SPDX-License-Identifier: MIT
"""API keys (issue 12) against the real binary on SQLite: the secret shown
once and stored only as a hash, checksum refusals without a lookup, use
through /v1/check (Bearer and X-API-Key), expiry at the deadline, idle
expiry, rotation with overlap, revocation by key/owner/client, networks, the
per-key rate limit and day quota with Retry-After (surviving a restart),
require_expiry and maximum lifetimes, the key_expiring webhook, and hostile
key strings."""

import calendar
import socket
import sqlite3
import time

import pytest

from test_alerts import Receiver


def create(srv, **body):
    body.setdefault("sub", "svc")
    body.setdefault("name", "ci")
    return srv.admin("POST", "/v1/apikeys", json=body)


def new_key(srv, **body):
    r = create(srv, **body)
    assert r.status_code == 201, r.text
    return r.json()


def check(srv, key, header="X-API-Key", path="/v1/check"):
    if header == "Authorization":
        return srv.get(path, headers={"Authorization": f"Bearer {key}"})
    return srv.get(path, headers={header: key})


def reason(r):
    return r.json()["reason"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_created_key_is_shown_once_and_only_its_hash_is_stored(start_curfew):
    srv = start_curfew()
    k = new_key(srv, roles=["reader"], scope="read write", expires_in=3600)
    key = k["key"]
    assert key.startswith(f"cfk_{k['id']}_") and len(key) == 55
    assert k["expires_in"] == 3600 and k["state"] == "active"
    # Never again: not in the listing, not in the show, not in the log, not in the database.
    shown = srv.admin("GET", f"/v1/apikeys/{k['id']}").json()
    listed = srv.admin("GET", "/v1/apikeys?sub=svc").json()["keys"]
    assert "key" not in shown and [x["id"] for x in listed] == [k["id"]]
    assert key not in str(listed) and key[17:] not in srv.stderr_text()
    srv.stop()
    db = sqlite3.connect(srv.data_dir / "curfew.db")
    rows = db.execute("SELECT id, hash FROM apikeys").fetchall()
    assert len(rows) == 1 and rows[0][0] == k["id"] and len(rows[0][1]) == 32
    import hashlib
    assert rows[0][1] == hashlib.sha256(key.encode()).digest()
    for f in srv.data_dir.iterdir():
        if f.is_file():
            assert key[17:].encode() not in f.read_bytes(), f


def test_key_works_in_both_headers_with_identity_headers(start_curfew):
    srv = start_curfew()
    k = new_key(srv, roles=["reader", "ops"], expires_in=600)
    for h in ("X-API-Key", "Authorization"):
        r = check(srv, k["key"], h)
        assert r.status_code == 200, r.text
        assert r.headers["X-Curfew-Subject"] == "svc"
        assert r.headers["X-Curfew-Key"] == k["id"]
        assert r.headers["X-Curfew-Roles"] == "reader,ops"
        assert 590 <= int(r.headers["X-Curfew-Expires-In"]) <= 600
    # The header name is configurable.
    srv2 = start_curfew("api_keys: {header: X-Service-Key}\n")
    k2 = new_key(srv2)
    assert check(srv2, k2["key"], "X-Service-Key").status_code == 200
    # In X-API-Key on srv2 it is not read as a key at all: no credential.
    assert reason(check(srv2, k2["key"], "X-API-Key")) == "missing_token"


def test_checksum_and_malformed_keys_are_refused_without_lookup(start_curfew):
    srv = start_curfew()
    key = new_key(srv)["key"]
    bad = [key[:-1] + ("A" if key[-1] != "A" else "B"),  # wrong checksum
           key[:20] + ("x" if key[20] != "x" else "y") + key[21:],  # typo in the secret
           key[:-1], key + "0", "cfk_", "cfk_" + "A" * 51,
           key[:30] + "-" + key[31:], key.replace("_", "-", 1)]
    for b in bad:
        r = check(srv, b)
        assert r.status_code == 401 and reason(r) == "malformed_key", (b, r.text)
    # A well-formed key with a valid checksum but an unknown id or secret.
    import zlib
    def forged(id_, secret):
        body = f"cfk_{id_}_{secret}"
        c = zlib.crc32(body.encode())
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        out = ""
        for _ in range(6):
            out = digits[c % 62] + out
            c //= 62
        return body + out
    kid = key[4:16]
    assert reason(check(srv, forged("ZZZZZZZZZZZZ", "A" * 32))) == "invalid_key"
    assert reason(check(srv, forged(kid, "A" * 32))) == "invalid_key"
    assert check(srv, forged(kid, key[17:49])).status_code == 200  # the checksum is CRC-32 as documented


def test_hostile_key_strings_over_the_wire(start_curfew):
    srv = start_curfew()
    key = new_key(srv)["key"]
    # CR/LF inside the value must never reach the key parser as one value; NUL and
    # overlong values are refused; two headers or two credentials are invalid_request.
    for raw in (f"X-API-Key: {key[:30]}\x00{key[31:]}\r\n".encode(),
                f"X-API-Key: {key}\r\nX-API-Key: {key}\r\n".encode(),
                f"X-API-Key: {key}\r\nAuthorization: Bearer {key}\r\n".encode(),
                f"X-API-Key: {key * 100}\r\n".encode()):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as s:
            s.sendall(b"GET /v1/check HTTP/1.1\r\nHost: x\r\n" + raw + b"Connection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        status = int(data.split(b" ")[1])
        assert status in (400, 401), data[:200]
        assert b"200 OK" not in data.split(b"\r\n")[0]
    assert check(srv, key).status_code == 200


def test_expiry_at_the_deadline(start_curfew):
    srv = start_curfew("clock_leeway: 0s\n")
    k = new_key(srv, expires_in=2)
    assert check(srv, k["key"]).status_code == 200
    # expires_at is whole seconds, rounded down: the deadline lies in [expires_at, expires_at + 1).
    deadline = k["expires_at"]
    time.sleep(max(0, deadline - 0.5 - time.time()))
    assert check(srv, k["key"]).status_code == 200
    time.sleep(max(0, deadline + 1.02 - time.time()))
    r = check(srv, k["key"])
    assert r.status_code == 401 and reason(r) == "key_expired"
    assert r.headers["X-Curfew-Reason"] == "key_expired"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_idle_expiry(start_curfew):
    srv = start_curfew()
    k = new_key(srv, idle_expiry=2, expires_in=600)
    for _ in range(3):  # use keeps it alive past 2 s
        time.sleep(1)
        assert check(srv, k["key"]).status_code == 200
    time.sleep(2.3)
    r = check(srv, k["key"])
    assert reason(r) == "key_idle_expired"


def test_rotation_overlap_then_only_the_new_one(start_curfew):
    srv = start_curfew("api_keys: {rotation_overlap: 24h}\n")
    old = new_key(srv, expires_in=600)
    r = srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate", json={"overlap": 2})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["predecessor"] == old["id"] and new["previous"]["successor"] == new["id"]
    assert new["previous"]["state"] == "rotating"
    assert check(srv, old["key"]).status_code == 200
    assert check(srv, new["key"]).status_code == 200
    ids = {x["id"] for x in srv.admin("GET", "/v1/apikeys").json()["keys"]}
    assert ids == {old["id"], new["id"]}
    # A second rotation of the old key is refused.
    r = srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate")
    assert r.status_code == 409 and reason(r) == "key_rotated"
    time.sleep(2.2)
    assert reason(check(srv, old["key"])) == "key_rotated"
    assert check(srv, new["key"]).status_code == 200
    # The overlap asked for can only be shorter than the configured one.
    r = srv.admin("POST", f"/v1/apikeys/{new['id']}/rotate", json={"overlap": 10 ** 12})
    assert r.status_code == 201
    assert r.json()["previous"]["overlap_until"] - time.time() <= 24 * 3600 + 2


def test_revoking_during_overlap_ends_both_secrets(start_curfew):
    srv = start_curfew()
    old = new_key(srv, expires_in=600)
    new = srv.admin("POST", f"/v1/apikeys/{old['id']}/rotate").json()
    r = srv.admin("DELETE", f"/v1/apikeys/{new['id']}")
    assert r.status_code == 200 and r.json()["end_reason"] == "key_revoked"
    assert reason(check(srv, new["key"])) == "key_revoked"
    # The old secret, still inside its overlap, is revoked with it and stays so on retry.
    for _ in range(2):
        assert reason(check(srv, old["key"])) == "key_revoked"
    srv.restart()
    assert reason(check(srv, old["key"])) == "key_revoked"
    assert reason(check(srv, new["key"])) == "key_revoked"


def test_revocation_by_key_owner_and_client(start_curfew):
    srv = start_curfew()
    a1 = new_key(srv, sub="alice")
    a2 = new_key(srv, sub="alice", client_id="ci")
    b1 = new_key(srv, sub="bob", client_id="ci")
    c1 = new_key(srv, sub="carol")
    assert srv.admin("DELETE", "/v1/apikeys/AAAAAAAAAAAA").status_code == 404
    r = srv.admin("POST", "/v1/apikeys/revocations", json={"sub": "alice"})
    assert r.json() == {"keys_revoked": 2}
    assert reason(check(srv, a1["key"])) == "key_revoked"
    assert reason(check(srv, a2["key"])) == "key_revoked"
    assert check(srv, b1["key"]).status_code == 200
    r = srv.admin("POST", "/v1/apikeys/revocations", json={"client_id": "ci"})
    assert r.json() == {"keys_revoked": 1}
    assert reason(check(srv, b1["key"])) == "key_revoked"
    assert srv.admin("POST", "/v1/apikeys/revocations", json={"sub": "a", "client_id": "b"}).status_code == 400
    assert srv.admin("POST", "/v1/apikeys/revocations", json={}).status_code == 400
    assert srv.admin("DELETE", f"/v1/apikeys/{c1['id']}").status_code == 200
    assert reason(check(srv, c1["key"])) == "key_revoked"


def test_allowed_networks(start_curfew):
    srv = start_curfew()
    inside = new_key(srv, networks=["127.0.0.0/8", "::1/128"])
    outside = new_key(srv, networks=["10.0.0.0/8"])
    assert check(srv, inside["key"]).status_code == 200
    r = check(srv, outside["key"])
    assert r.status_code == 403 and reason(r) == "network_not_allowed"
    assert create(srv, networks=["10.0.0.0/33"]).status_code == 400
    assert create(srv, networks=["x"] * 17).status_code == 400


def seconds_to_utc_midnight():
    now = time.time()
    return 86400 - int(now) % 86400


def test_day_quota_retry_after_and_restart(start_curfew):
    srv = start_curfew("api_keys: {quota_per_day: 100}\nstore: {activity_flush: 100ms}\n")
    k = new_key(srv, quota_per_day=3)  # stricter than the configured 100
    for i in range(3):
        r = check(srv, k["key"])
        assert r.status_code == 200
        assert r.headers["RateLimit"].startswith(f"limit=3, remaining={2 - i}")
    r = check(srv, k["key"])
    assert r.status_code == 429 and reason(r) == "quota_exceeded"
    assert abs(int(r.headers["Retry-After"]) - seconds_to_utc_midnight()) <= 2
    # The count survives a clean restart, and a kill -9 after a flush.
    srv.restart()
    assert reason(check(srv, k["key"])) == "quota_exceeded"
    time.sleep(0.3)
    srv.restart(hard=True)
    assert reason(check(srv, k["key"])) == "quota_exceeded"
    assert srv.admin("GET", f"/v1/apikeys/{k['id']}").json()["used_today"] == 3


def test_per_key_rate_limit(start_curfew):
    srv = start_curfew("api_keys: {rate: 2/10s, burst: 2}\n")
    a, b = new_key(srv), new_key(srv)
    assert [check(srv, a["key"]).status_code for _ in range(3)] == [200, 200, 429]
    r = check(srv, a["key"])
    assert reason(r) == "rate_limited" and 1 <= int(r.headers["Retry-After"]) <= 5
    assert check(srv, b["key"]).status_code == 200  # per key, not global


def test_require_expiry_and_maximum_lifetimes(start_curfew):
    srv = start_curfew("api_keys: {max_lifetime: 30d, default_lifetime: 90d}\n"
                       "clients:\n  - id: ci\n    api_key_max_lifetime: 7d\n"
                       "roles:\n  admin: {api_key_max_lifetime: 1d}\n")
    for body, why in (({"expires_in": 0}, "expiry_required"),
                      ({"expires_in": None}, "expiry_required"),
                      ({"expires_in": 30 * 86400 + 1}, "lifetime_too_long"),
                      ({"expires_in": 2 ** 62}, "lifetime_too_long"),
                      ({"expires_in": "31d"}, "lifetime_too_long"),
                      ({"expires_in": 8 * 86400, "client_id": "ci"}, "lifetime_too_long"),
                      ({"expires_in": 86401, "roles": ["admin"]}, "lifetime_too_long")):
        r = create(srv, **body)
        assert r.status_code == 400 and reason(r) == why, (body, r.text)
    for body in ({"expires_in": -1}, {"expires_in": -(2 ** 63)}, {"expires_in": 1.5},
                 {"expires_in": "soon"}, {"sub": ""}, {"sub": "a b"},
                 {"name": "x\ny"}, {"bogus": 1}, {"quota_per_day": 0}, {"quota_per_day": -5},
                 {"idle_expiry": -1}, {"roles": ["a,b"]}, {"client_id": "nope"}):
        r = create(srv, **body)
        assert r.status_code == 400 and reason(r) == "invalid_request", (body, r.text)
    r = create(srv, sub="a\u0000b")  # jansson refuses the NUL before we see it
    assert r.status_code == 400 and reason(r) == "invalid_json"
    # The default is cut to the maximum, not refused.
    k = new_key(srv)
    assert abs(k["expires_at"] - time.time() - 30 * 86400) < 5
    k = new_key(srv, client_id="ci")
    assert abs(k["expires_at"] - time.time() - 7 * 86400) < 5
    # With no maximum and require_expiry off, an immortal key may be asked for.
    srv2 = start_curfew("api_keys: {max_lifetime: 0s, require_expiry: false}\n")
    k = new_key(srv2, expires_in=0)
    assert k["expires_at"] is None and check(srv2, k["key"]).status_code == 200


def test_config_errors_name_file_and_line(start_curfew, tmp_path):
    from conftest import run_curfew
    p = tmp_path / "c.yaml"
    p.write_text("api_keys:\n  max_lifetime: -1d\n")
    r = run_curfew("config", "check", str(p))
    assert r.returncode != 0 and f"{p}:2: api_keys.max_lifetime" in r.stderr
    p.write_text("api_keys:\n  rate: 0/1s\n")
    r = run_curfew("config", "check", str(p))
    assert r.returncode != 0 and f"{p}:2: api_keys.rate" in r.stderr


def test_key_expiring_webhook(start_curfew, receiver):
    srv = start_curfew(f"alerts: {{webhook: {receiver.url}}}\n"
                       "api_keys: {warn_before: 3s}\nstore: {purge_interval: 200ms}\n")
    k = new_key(srv, expires_in=4, sub="svc", name="deploy")
    got = receiver.wait(lambda b: b.get("alert") == "key_expiring", timeout=5)
    assert len(got) == 1, receiver.bodies
    assert got[0]["key_id"] == k["id"] and got[0]["sub"] == "svc" and got[0]["name"] == "deploy"
    assert 0 <= got[0]["expires_in_seconds"] <= 3
    assert k["key"] not in str(got)
    time.sleep(1.5)
    assert len(receiver.wait(lambda b: b.get("alert") == "key_expiring", timeout=0.1)) == 1


def test_admin_endpoints_need_the_admin_key_and_answer_405(start_curfew):
    srv = start_curfew()
    k = new_key(srv)
    assert srv.post("/v1/apikeys", json={"sub": "x"}).status_code == 401
    # An API key is not an admin key.
    r = srv.get("/v1/apikeys", headers={"Authorization": f"Bearer {k['key']}"})
    assert r.status_code == 401
    assert srv.admin("PUT", "/v1/apikeys").status_code == 405
    assert srv.admin("GET", f"/v1/apikeys/{k['id']}/rotate").status_code == 405
    assert srv.admin("GET", f"/v1/apikeys/{k['id']}/nope").status_code == 404
    assert srv.admin("GET", "/v1/apikeys/short").status_code == 404


def test_audit_log_has_key_events_without_the_secret(start_curfew, tmp_path):
    import json
    audit = tmp_path / "audit.jsonl"
    srv = start_curfew(f"audit: {{path: {audit}}}\n")
    k = new_key(srv, sub="svc", name="ci")
    new = srv.admin("POST", f"/v1/apikeys/{k['id']}/rotate").json()
    srv.admin("DELETE", f"/v1/apikeys/{new['id']}")
    srv.stop()
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    kinds = [(x["event"], x.get("key_id"), x.get("end_reason")) for x in lines if x["event"].startswith("apikey_")]
    assert ("apikey_created", k["id"], None) in kinds
    assert ("apikey_rotated", k["id"], None) in kinds
    assert ("apikey_ended", new["id"], "key_revoked") in kinds
    assert ("apikey_ended", k["id"], "key_revoked") in kinds
    assert all(x["sub"] == "svc" for x in lines if x["event"].startswith("apikey_"))
    text = audit.read_text()
    assert k["key"][17:] not in text and new["key"][17:] not in text


def metric(srv, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = f"{name}{{{want}}}" if want else name
    for l in srv.admin("GET", "/metrics").text.splitlines():
        if l.startswith(line + " "):
            return float(l.split()[-1])
    raise AssertionError(f"{line} not in /metrics")


def test_metrics_gauges_by_state_and_expiring_soon(start_curfew):
    srv = start_curfew("api_keys: {rotation_overlap: 1h}\n")
    assert metric(srv, "curfew_apikeys", state="active") == 0
    a = new_key(srv, expires_in=3 * 86400)       # expiring within 7 days
    b = new_key(srv, expires_in=7 * 86400)       # exactly 7 days: counted
    c = new_key(srv, expires_in=7 * 86400 + 60)  # not
    new_key(srv, expires_in=30 * 86400)
    srv.admin("POST", f"/v1/apikeys/{c['id']}/rotate")
    srv.admin("DELETE", f"/v1/apikeys/{b['id']}")
    assert metric(srv, "curfew_apikeys", state="active") == 3  # a, the 30d one, c's successor
    assert metric(srv, "curfew_apikeys", state="rotating") == 1
    assert metric(srv, "curfew_apikeys", state="key_revoked") == 1
    assert metric(srv, "curfew_apikeys", state="key_expired") == 0
    assert metric(srv, "curfew_apikeys_expiring_soon") == 1  # a (b is revoked)


def test_ended_keys_are_purged_after_the_retention(start_curfew):
    srv = start_curfew("store: {purge_after: 1s, purge_interval: 100ms, activity_flush: 100ms}\n")
    a, b = new_key(srv, expires_in=600), new_key(srv, expires_in=600)
    srv.admin("DELETE", f"/v1/apikeys/{a['id']}")
    # Still listed with its end reason during the retention...
    assert srv.admin("GET", f"/v1/apikeys/{a['id']}").json()["end_reason"] == "key_revoked"
    assert metric(srv, "curfew_apikeys", state="key_revoked") == 1
    time.sleep(1.5)
    # ...then gone from memory; the live key is untouched, and the revoked one stays refused.
    assert srv.admin("GET", f"/v1/apikeys/{a['id']}").status_code == 404
    assert metric(srv, "curfew_apikeys", state="key_revoked") == 0
    assert reason(check(srv, a["key"])) == "invalid_key"
    assert check(srv, b["key"]).status_code == 200


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def forge(key_id, secret):
    """A well-formed key string (valid CRC-32 checksum) for any id and secret."""
    import zlib
    body = f"cfk_{key_id}_{secret}"
    c, check = zlib.crc32(body.encode()), ""
    for _ in range(6):
        check = B62[c % 62] + check
        c //= 62
    return body + check


def test_cached_key_strings_are_judged_live_every_time(start_curfew):
    """Checks cache what a key string hashes to, never the key's state: a key
    used many times (so its string is cached) is refused on the very next
    request after it is revoked, rotated without overlap, expired or purged,
    and another string with the same id is never taken for it."""
    srv = start_curfew("clock_leeway: 0s\n"
                       "store: {purge_after: 1s, purge_interval: 100ms, activity_flush: 100ms}\n")
    rev, rot, exp = (new_key(srv, expires_in=600), new_key(srv, expires_in=600),
                     new_key(srv, expires_in=2))
    for k in (rev, rot, exp):
        for _ in range(3):
            assert check(srv, k["key"]).status_code == 200
    # Same id, another secret, a valid checksum: the cached string's hash is not its.
    other = forge(rev["id"], rev["key"][17:49][::-1])
    assert other != rev["key"]
    for _ in range(2):
        r = check(srv, other)
        assert r.status_code == 401 and reason(r) == "invalid_key", r.text
        assert check(srv, rev["key"]).status_code == 200
    assert srv.admin("DELETE", f"/v1/apikeys/{rev['id']}").status_code == 200
    assert reason(check(srv, rev["key"])) == "key_revoked"
    r = srv.admin("POST", f"/v1/apikeys/{rot['id']}/rotate", json={"overlap": 0})
    assert r.status_code == 201, r.text
    assert reason(check(srv, rot["key"])) == "key_rotated"
    assert check(srv, r.json()["key"]).status_code == 200
    time.sleep(max(0, exp["expires_at"] + 1.02 - time.time()))
    assert reason(check(srv, exp["key"])) == "key_expired"
    # Purged from memory after store.purge_after: its cached string names nothing.
    time.sleep(1.6)
    assert srv.admin("GET", f"/v1/apikeys/{rev['id']}").status_code == 404
    for _ in range(2):
        assert reason(check(srv, rev["key"])) == "invalid_key"
