# SPDX-License-Identifier: MIT
"""Risk binding (issue 3): a session remembers the client IP and device it was
created from; checks and refreshes from another IP / device are handled by
the effective action (revoke: the session ends with ip_changed /
device_changed; step_up: RFC 9470 challenge, the session lives; ignore).

Client IPs come from X-Forwarded-For / X-Real-IP only when the TCP peer
(always 127.0.0.1 here) is in risk.trusted_proxies; otherwise the headers are
ignored and the IP is the peer's.
"""

import re
import time

import pytest

from conftest import assert_challenge, assert_json_error, assert_refused

BASE = """\
clock_leeway: 0s
refresh_token: { reuse_grace: 0s }
risk:
  ip_binding: %(binding)s
  on_ip_change: revoke
  on_device_change: revoke
  trusted_proxies: %(trusted)s
%(device)s
clients:
  - id: strict
  - id: stepper
    risk: { on_ip_change: step_up, on_device_change: step_up }
  - id: lax
    risk: { on_ip_change: ignore, on_device_change: ignore }
roles:
  guarded:
    risk: { on_ip_change: revoke, on_device_change: revoke }
  soft:
    risk: { on_ip_change: ignore, on_device_change: ignore }
"""

ACTION_CLIENT = {"revoke": "strict", "step_up": "stepper", "ignore": "lax"}


def config(binding="exact", trusted="[127.0.0.1/32]", device="  device_header: X-Device-Id"):
    return BASE % {"binding": binding, "trusted": trusted, "device": device}


@pytest.fixture
def srv(start_curfew):
    return start_curfew(config())


def fwd(ip=None, device=None, real_ip=None, ua=None):
    h = {}
    if ip is not None:
        h["X-Forwarded-For"] = ip
    if real_ip is not None:
        h["X-Real-IP"] = real_ip
    if device is not None:
        h["X-Device-Id"] = device
    if ua is not None:
        h["User-Agent"] = ua
    return h


def create(srv, client="strict", roles=None, headers=None, **body):
    body.setdefault("sub", "u")
    body["client_id"] = client
    if roles is not None:
        body["roles"] = roles
    r = srv.admin("POST", "/v1/sessions", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()


def check(srv, token, **kw):
    return srv.check(token, headers=fwd(**kw))


def refresh(srv, s, client, **kw):
    return srv.post("/oauth/token", data={"grant_type": "refresh_token",
                                          "refresh_token": s["refresh_token"], "client_id": client},
                    headers=fwd(**kw))


def assert_ok(r):
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text}"
    return r


def assert_ended(srv, s, reason, **orig):
    """The session is over with ``reason``: even the original IP/device is refused."""
    assert_refused(check(srv, s["access_token"], **orig), reason)
    sess = srv.session(s["session_id"])
    assert sess["state"] == "ended" and sess["end_reason"] == reason, sess


def assert_step_up(r, reason):
    body, params = assert_challenge(r, 401, reason, "insufficient_user_authentication")
    assert params.get("error_description"), r.headers.get("WWW-Authenticate")
    return body


def assert_alive(srv, s, **orig):
    assert_ok(check(srv, s["access_token"], **orig))
    assert srv.session(s["session_id"])["state"] == "active"


# ---------------------------------------------------------------------------
# IP and device change under each action
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["revoke", "step_up", "ignore"])
@pytest.mark.parametrize("change", ["ip", "device"])
def test_change_under_action(srv, action, change):
    client = ACTION_CLIENT[action]
    orig = {"ip": "10.0.0.5", "device": "dev-A"}
    s = create(srv, client, headers=fwd(**orig))
    assert_ok(check(srv, s["access_token"], **orig))

    moved = dict(orig)
    if change == "ip":
        moved["ip"] = "10.0.0.6"
    else:
        moved["device"] = "dev-B"
    reason = f"{change}_changed"
    r = check(srv, s["access_token"], **moved)
    if action == "revoke":
        assert_refused(r, reason)
        assert_ended(srv, s, reason, **orig)
    elif action == "step_up":
        assert_step_up(r, reason)
        assert_alive(srv, s, **orig)
        assert_step_up(check(srv, s["access_token"], **moved), reason)   # still refused there
    else:
        assert_ok(r)
        assert_alive(srv, s, **orig)
    if action != "revoke":
        # Every change is an event, also when it is not acted upon.
        time.sleep(0.2)
        assert re.search(rf"{change}.?change", srv.stderr_text(), re.I), srv.stderr_text()[-3000:]


def test_missing_device_counts_as_change(srv):
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="dev-A"))
    assert_refused(check(srv, s["access_token"], ip="10.0.0.5"), "device_changed")
    assert_ended(srv, s, "device_changed", ip="10.0.0.5", device="dev-A")


def test_explicit_ip_and_device_in_body(srv):
    # The app backend saw the user; it names the IP and device itself.
    s = create(srv, "strict", ip="10.0.0.5", device_id="dev-A")
    assert_ok(check(srv, s["access_token"], ip="10.0.0.5", device="dev-A"))
    assert_refused(check(srv, s["access_token"], ip="10.0.0.99", device="dev-A"), "ip_changed")
    s = create(srv, "strict", ip="10.0.0.5", device_id="dev-A")
    assert_refused(check(srv, s["access_token"], ip="10.0.0.5", device="dev-Z"), "device_changed")


def test_roles_only_make_risk_stricter(srv):
    # lax client (ignore) + guarded role (revoke): revoke.
    s = create(srv, "lax", roles=["guarded"], headers=fwd(ip="10.0.0.5", device="d"))
    assert_refused(check(srv, s["access_token"], ip="10.0.0.6", device="d"), "ip_changed")
    assert_ended(srv, s, "ip_changed", ip="10.0.0.5", device="d")
    # stepper client (step_up) + soft role (ignore): still step_up.
    s = create(srv, "stepper", roles=["soft"], headers=fwd(ip="10.0.0.5", device="d"))
    assert_step_up(check(srv, s["access_token"], ip="10.0.0.6", device="d"), "ip_changed")
    assert_alive(srv, s, ip="10.0.0.5", device="d")
    # strict client + soft role: still revoke.
    s = create(srv, "strict", roles=["soft"], headers=fwd(ip="10.0.0.5", device="d"))
    assert_refused(check(srv, s["access_token"], ip="10.0.0.5", device="e"), "device_changed")


# ---------------------------------------------------------------------------
# Refresh is subject to the same binding
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["revoke", "step_up", "ignore"])
def test_refresh_binding(srv, action):
    client = ACTION_CLIENT[action]
    orig = {"ip": "10.0.0.5", "device": "dev-A"}
    s = create(srv, client, headers=fwd(**orig))
    r = refresh(srv, s, client, ip="10.7.7.7", device="dev-A")
    if action == "ignore":
        assert r.status_code == 200, r.text
        return
    assert r.status_code in (400, 401), r.text
    assert r.json().get("reason") == "ip_changed", r.text
    assert "access_token" not in r.json()
    if action == "revoke":
        assert_ended(srv, s, "ip_changed", **orig)
        r = refresh(srv, s, client, **orig)
        assert r.status_code == 400 and r.json().get("reason") == "ip_changed", r.text
    else:
        assert_alive(srv, s, **orig)
        # The refresh token was not spent by the refused attempt.
        r = refresh(srv, s, client, **orig)
        assert r.status_code == 200, r.text


def test_refresh_device_binding(srv):
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="dev-A"))
    r = refresh(srv, s, "strict", ip="10.0.0.5", device="dev-B")
    assert r.status_code in (400, 401) and r.json().get("reason") == "device_changed", r.text
    assert_ended(srv, s, "device_changed", ip="10.0.0.5", device="dev-A")


# ---------------------------------------------------------------------------
# Trusted proxies
# ---------------------------------------------------------------------------

def test_xff_from_trusted_peer_is_used(srv):
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="d"))
    # A spoofed entry prepended by the client does not matter: the hop the
    # trusted proxy (127.0.0.1) added is the client IP.
    assert_ok(check(srv, s["access_token"], ip="6.6.6.6, 10.0.0.5", device="d"))
    # The proxy itself appears as a trusted hop after the client: skipped.
    assert_ok(check(srv, s["access_token"], ip="10.0.0.5, 127.0.0.1", device="d"))
    assert_refused(check(srv, s["access_token"], ip="10.0.0.5, 6.6.6.6", device="d"), "ip_changed")


def test_x_real_ip_from_trusted_peer_is_used(srv):
    s = create(srv, "strict", headers=fwd(real_ip="10.0.0.5", device="d"))
    assert_ok(check(srv, s["access_token"], real_ip="10.0.0.5", device="d"))
    assert_refused(check(srv, s["access_token"], real_ip="10.0.0.9", device="d"), "ip_changed")


@pytest.mark.parametrize("trusted", ["[]", "[192.168.0.0/16]", "[10.0.0.0/8]"])
def test_headers_from_untrusted_peer_are_ignored(start_curfew, trusted):
    srv = start_curfew(config(trusted=trusted))
    # Created through an untrusted peer claiming 10.0.0.5: the IP is the peer's.
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="d"))
    for spoof in ({"ip": "10.9.9.9"}, {"real_ip": "10.9.9.9"}, {"ip": "10.0.0.5"}, {}):
        assert_ok(check(srv, s["access_token"], device="d", **spoof))
    # A session bound (by the backend) to 10.0.0.5 cannot be used from the
    # untrusted peer by claiming that address.
    s = create(srv, "strict", ip="10.0.0.5", device_id="d")
    assert_refused(check(srv, s["access_token"], ip="10.0.0.5", device="d"), "ip_changed")


def test_ip_binding_off_ignores_ip(start_curfew):
    srv = start_curfew(config(binding="off"))
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="d"))
    assert_ok(check(srv, s["access_token"], ip="192.0.2.1", device="d"))
    # Device binding is independent of ip_binding.
    assert_refused(check(srv, s["access_token"], ip="10.0.0.5", device="x"), "device_changed")


# ---------------------------------------------------------------------------
# Prefix tolerance
# ---------------------------------------------------------------------------

def test_prefix24(start_curfew):
    srv = start_curfew(config(binding="prefix24"))
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="d"))
    assert_ok(check(srv, s["access_token"], ip="10.0.0.77", device="d"))
    assert_ok(check(srv, s["access_token"], ip="10.0.0.255", device="d"))
    assert_refused(check(srv, s["access_token"], ip="10.0.1.5", device="d"), "ip_changed")
    assert_ended(srv, s, "ip_changed", ip="10.0.0.5", device="d")


def test_prefix16(start_curfew):
    srv = start_curfew(config(binding="prefix16"))
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="d"))
    assert_ok(check(srv, s["access_token"], ip="10.0.200.9", device="d"))
    assert_refused(check(srv, s["access_token"], ip="10.1.0.5", device="d"), "ip_changed")


def test_prefix24_ipv6_is_slash64(start_curfew):
    srv = start_curfew(config(binding="prefix24"))
    s = create(srv, "strict", headers=fwd(ip="2001:db8:1:2::5", device="d"))
    assert_ok(check(srv, s["access_token"], ip="2001:db8:1:2:aaaa::1", device="d"))
    assert_refused(check(srv, s["access_token"], ip="2001:db8:1:3::5", device="d"), "ip_changed")


def test_exact_binding(srv):
    s = create(srv, "strict", headers=fwd(ip="10.0.0.5", device="d"))
    assert_refused(check(srv, s["access_token"], ip="10.0.0.4", device="d"), "ip_changed")


# ---------------------------------------------------------------------------
# Device from a hash of configured headers
# ---------------------------------------------------------------------------

def test_device_from_header_hash(start_curfew):
    srv = start_curfew(config(device="  device_headers: [User-Agent, Accept-Language]"))
    h = fwd(ip="10.0.0.5", ua="Browser/1.0")
    h["Accept-Language"] = "de"
    s = create(srv, "strict", headers=h)
    assert_ok(srv.check(s["access_token"], headers=h))
    other = dict(h, **{"Accept-Language": "fr"})
    assert_refused(srv.check(s["access_token"], headers=other), "device_changed")
    sess = srv.session(s["session_id"])
    assert sess["end_reason"] == "device_changed", sess

    s = create(srv, "strict", headers=h)
    assert_refused(srv.check(s["access_token"], headers=dict(h, **{"User-Agent": "Browser/2.0"})),
                   "device_changed")


def test_step_up_is_not_a_session_end_reason_in_json(srv):
    """A step-up refusal for a risk change keeps the error shape of a 401."""
    s = create(srv, "stepper", headers=fwd(ip="10.0.0.5", device="d"))
    r = check(srv, s["access_token"], ip="10.0.0.6", device="d")
    body = assert_json_error(r, 401, reason="ip_changed")
    assert body.get("error") == "insufficient_user_authentication", body


def test_session_created_without_ip_under_binding_warns_once_without_secrets(start_curfew):
    """Issue 9 #17: without "ip" the session is bound to the backend's address; say so."""
    srv = start_curfew(config(device=""))
    r = srv.create_session(sub="walter", client_id="strict")
    assert r.status_code == 201, r.text
    body = r.json()
    log = srv.stderr_since_start()
    lines = [l for l in log.splitlines() if "event=session_bound_to_caller" in l]
    assert len(lines) == 1, log
    assert "client=strict" in lines[0] and "missing=ip" in lines[0], lines
    assert "level=warn" in lines[0], lines
    for secret in (body["access_token"], body["refresh_token"], body["session_id"], "walter",
                   srv.admin_key):
        assert secret not in log
    # With the user's address, or with binding off / changes ignored: no warning.
    assert srv.create_session(sub="x", client_id="strict", ip="203.0.113.7").status_code == 201
    assert srv.create_session(sub="y", client_id="lax").status_code == 201
    assert srv.stderr_since_start().count("event=session_bound_to_caller") == 1
