# SPDX-License-Identifier: MIT
"""The decision cache in nginx's memory: deploy/nginx/curfew-lua-cache.conf
(lua-nginx-module, Debian's libnginx-mod-http-lua) in a real nginx in front
of a real curfew (issue 15, Done-when 2).

A cached answer must be the answer curfew would give: every request here is
sent through the uncached config (curfew.conf without its proxy_cache lines)
and through the Lua config, first after an allowed request primed the
cache, and the two outcomes must be equal: status, reason, challenge, and
the identity the application receives. Requests are written with
http.client, so paths (%2e%2e, //, %61) and repeated headers go out as
written. And a revocation takes effect through the cache within
cache_max_age of curfew's acknowledgement, measured over many trials.
"""

import http.client
import json
import random
import re
import time

import pytest

from conftest import REPO_ROOT
from test_nginx import EchoApp, Nginx, render_shipped_conf

LUA_CONF = REPO_ROOT / "deploy" / "nginx" / "curfew-lua-cache.conf"
MODULES = ("load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
           "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n")
MAX_AGE = 2.0          # check.cache_max_age, and the config's CACHE_MAX_AGE
MARGIN = 0.25          # scheduling: a loaded machine answers late, never the cache
TRIALS = 20

CONFIG = f"""\
clock_leeway: 0s
check:
  cache_max_age: {MAX_AGE:g}s
roles: {{ admin: {{}} }}
routes:
  - path_prefix: /admin
    require_roles: [admin]
  - host: internal.example.com
    path_prefix: /
    deny: true
  - path_prefix: /orders
    methods: [DELETE]
    deny: true
  - path: /public
    anonymous: true
"""


def render_lua_conf(curfew_port, app_port, fallback=False):
    """curfew-lua-cache.conf with its three documented substitutions, each
    in exactly one directive line (comments are left as they are)."""
    subst = {"127.0.0.1:7070": f"127.0.0.1:{curfew_port}", "127.0.0.1:8080": f"127.0.0.1:{app_port}",
             "listen 8000;": "listen 127.0.0.1:@NGINX_PORT@;"}
    lines = LUA_CONF.read_text().splitlines(keepends=True)
    code = [i for i, line in enumerate(lines) if not line.lstrip().startswith(("#", "--"))]
    for needle, value in subst.items():
        hits = [i for i in code if needle in lines[i]]
        assert len(hits) == 1, f"{LUA_CONF} must contain {needle!r} in exactly one directive"
        lines[hits[0]] = lines[hits[0]].replace(needle, value)
    conf = "".join(lines)
    if fallback:    # as where nginx has no libcrypto SHA256_* to call
        assert conf.count("C.SHA256_Init and") == 1
        conf = conf.replace("C.SHA256_Init and", "C.curfew_no_such_symbol and")
    return conf


def uncached_conf(curfew_port, app_port):
    conf = render_shipped_conf(curfew_port, app_port, "@NGINX_PORT@")
    conf = re.sub(r"(?m)^\s*proxy_cache(_key)? .*\n", "", conf)
    assert "proxy_cache curfew_checks" not in conf
    return conf


class LuaNginx(Nginx):
    """Nginx with the lua module loaded (the Debian package enables it in
    /etc/nginx/modules-enabled/, which the test's own nginx.conf does not read)."""

    def __init__(self, workdir, site_conf):
        super().__init__(workdir, site_conf)
        main = self.dir / "nginx.conf"
        main.write_text(MODULES + main.read_text())


def checks_total(curfew):
    m = curfew.get("/metrics").text
    return sum(float(v) for v in re.findall(r"^curfew_checks_total\{[^}]*\} (\S+)$", m, re.M))


def send(ngx, path, headers=(), method="GET", source="127.0.0.1"):
    """One request as written: ``headers`` is a list of (name, value), repeats kept."""
    c = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=5, source_address=(source, 0))
    try:
        c.putrequest(method, path, skip_host=any(k.lower() == "host" for k, _ in headers),
                     skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def outcome(resp):
    """What a client and the application see of one request."""
    status, headers, body = resp
    h = [(k.lower(), v) for k, v in headers]
    out = {"status": status,
           "reason": [v for k, v in h if k == "x-curfew-reason"],
           "challenge": [v for k, v in h if k == "www-authenticate"],
           "retry_after": [v for k, v in h if k == "retry-after"]}
    doc = json.loads(body) if body.strip().startswith(b"{") else {}
    if status == 200 and "headers" in doc:      # the application answered
        seen = {k.lower(): v for k, v in doc["headers"].items()}
        out["app"] = {k: v for k, v in seen.items() if k.startswith("x-curfew-")
                      and k != "x-curfew-expires-in"}
        out["expires_in_sent"] = "x-curfew-expires-in" in seen
        out["subjects"] = doc["x_curfew_subject_count"]
    else:
        out["body"] = {k: doc.get(k) for k in ("error", "reason")}
    return out


@pytest.fixture(params=["sha256"])
def both(request, start_curfew, tmp_path):
    """(curfew, app, uncached nginx, lua nginx) in front of the same curfew."""
    curfew = start_curfew(CONFIG)
    app = EchoApp()
    plain = Nginx(tmp_path / "plain", uncached_conf(curfew.port, app.port))
    lua = LuaNginx(tmp_path / "lua", render_lua_conf(curfew.port, app.port,
                                                     fallback=request.param == "hmac"))
    try:
        plain.start()
        lua.start()
        yield curfew, app, plain, lua
    finally:
        lua.stop()
        plain.stop()
        app.close()


def same_through_both(plain, lua, path, headers=(), method="GET", source="127.0.0.1"):
    """The outcome through the uncached config, equal to the Lua config's, twice
    (the second may be a hit). Returns it."""
    want = outcome(send(plain, path, headers, method, source))
    for attempt in range(2):
        got = outcome(send(lua, path, headers, method, source))
        assert got == want, (f"{method} {path} {headers} (lua attempt {attempt + 1}):\n"
                             f"lua      {got}\nuncached {want}\n{lua.diag()}")
    return want


def bearer(tok):
    return ("Authorization", f"Bearer {tok}")


def test_lua_conf_passes_nginx_t(tmp_path):
    ngx = LuaNginx(tmp_path / "t", render_lua_conf(7070, 8080))
    import subprocess
    t = subprocess.run(ngx.cmd("-t"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert t.returncode == 0, t.stdout


def test_hits_skip_curfew_and_keep_identity_headers(both):
    curfew, app, plain, lua = both
    s = curfew.new_session(sub="carol", roles=["r1"])
    before = checks_total(curfew)
    for _ in range(30):
        status, _, body = send(lua, "/api/x", [bearer(s["access_token"]),
                                               ("X-Curfew-Subject", "mallory")])
        assert status == 200, body
        rec = json.loads(body)
        assert rec["headers"]["X-Curfew-Subject"] == "carol", rec
        assert rec["x_curfew_subject_count"] == 1, rec       # the forged one is replaced
        assert rec["headers"]["X-Curfew-Session"] == s["session_id"], rec
        assert rec["headers"]["X-Curfew-Roles"] == "r1", rec
        assert 0 < int(rec["headers"]["X-Curfew-Expires-In"]) <= int(s["expires_in"]), rec
    asked = checks_total(curfew) - before
    assert asked <= 3, f"curfew asked {asked} times for 30 identical requests: no cache"
    # Refusals are never cached (curfew marks them no-store): each one is asked.
    before = checks_total(curfew)
    for _ in range(5):
        assert send(lua, "/api/x")[0] == 401
    assert checks_total(curfew) - before == 5
    assert "decision cache keys are SHA-256 (libcrypto)" in lua.error_log.read_text(), lua.diag()


def test_the_hmac_fallback_is_used_and_still_caches(start_curfew, tmp_path):
    """Where nginx cannot call libcrypto's SHA256_*, keys are ngx.hmac_sha1."""
    curfew = start_curfew(CONFIG)
    app = EchoApp()
    lua = LuaNginx(tmp_path / "lua", render_lua_conf(curfew.port, app.port, fallback=True))
    try:
        lua.start()
        tok = curfew.new_session(sub="hal")["access_token"]
        assert send(lua, "/api/h", [bearer(tok)])[0] == 200
        before = checks_total(curfew)
        for _ in range(5):
            assert send(lua, "/api/h", [bearer(tok)])[0] == 200
        assert checks_total(curfew) == before, "the fallback keys did not hit"
        assert "decision cache keys are HMAC-SHA1" in lua.error_log.read_text(), lua.diag()
    finally:
        lua.stop()
        app.close()


@pytest.mark.parametrize("both", ["sha256", "hmac"], indirect=True)
def test_decisions_equal_uncached_ones(both):
    curfew, app, plain, lua = both
    user = curfew.new_session(sub="uma", roles=["user"])["access_token"]
    admin = curfew.new_session(sub="ada", roles=["admin"])["access_token"]
    cases = [
        ("/api/x", [bearer(user)], "GET"),
        ("/api/x", [bearer(admin)], "GET"),
        ("/api/x", [], "GET"),
        ("/api/x", [("Authorization", "Bearer x.y.z")], "GET"),
        ("/api/x", [("Authorization", "Basic Zm9vOmJhcg==")], "GET"),
        ("/admin/users", [bearer(user)], "GET"),
        ("/admin/users", [bearer(admin)], "GET"),
        ("/orders/7", [bearer(user)], "GET"),
        ("/orders/7", [bearer(user)], "DELETE"),
        ("/public", [], "GET"),
        ("/closed", [bearer(user), ("Host", "internal.example.com")], "GET"),
    ]
    for path, headers, method in cases:
        same_through_both(plain, lua, path, headers, method)


@pytest.mark.parametrize("both", ["sha256", "hmac"], indirect=True)
def test_attacks_on_the_key_get_the_uncached_answer(both):
    curfew, app, plain, lua = both
    user = curfew.new_session(sub="uma", roles=["user"])["access_token"]
    good = [bearer(user)]
    # Prime: the user's allowed requests are in the cache.
    for path in ("/public/x", "/orders/7", "/api/x", "/x"):
        assert same_through_both(plain, lua, path, good)["status"] == 200
    attacks = [
        # the same token, another method or host
        ("/orders/7", good, "DELETE"),
        ("/api/x", good + [("Host", "internal.example.com")], "GET"),
        # path encodings that reach /admin: the cached allow of /public/x or /x must not serve them
        ("/public/%2e%2e/admin/users", good, "GET"),
        ("/public/../admin/users", good, "GET"),
        ("//admin/users", good, "GET"),
        ("/%61dmin/users", good, "GET"),
        ("/x/..%2Fadmin", good, "GET"),
        # two Authorization headers, either order
        ("/api/x", [bearer(user), ("Authorization", "Bearer x.y.z")], "GET"),
        ("/api/x", [("Authorization", "Bearer x.y.z"), bearer(user)], "GET"),
        # tokens that differ from the cached one only after byte N
        ("/api/x", [bearer(user[:-1] + ("A" if user[-1] != "A" else "B"))], "GET"),
        ("/api/x", [bearer(user + "A")], "GET"),
        ("/api/x", [bearer(user[:-10])], "GET"),
        ("/api/x", [("Authorization", f"Bearer {user} ")], "GET"),
        ("/api/x", [("Authorization", f"bearer {user}")], "GET"),
    ]
    for path, headers, method in attacks:
        same_through_both(plain, lua, path, headers, method)
    # None of these was let through where the uncached config refuses, and the
    # user's own allowed request still gets the user's identity afterwards.
    for path in ("/public/x", "/api/x"):
        r = same_through_both(plain, lua, path, good)
        assert r["status"] == 200 and r["app"]["x-curfew-subject"] == "uma", r


def test_a_refused_token_does_not_poison_an_allowed_one(both):
    curfew, app, plain, lua = both
    s = curfew.new_session(sub="pia")
    tok = s["access_token"]
    forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    for _ in range(3):
        assert same_through_both(plain, lua, "/api/p", [bearer(forged)])["status"] == 401
    r = same_through_both(plain, lua, "/api/p", [bearer(tok)])
    assert r["status"] == 200 and r["app"]["x-curfew-subject"] == "pia", r
    assert same_through_both(plain, lua, "/api/p", [bearer(forged)])["status"] == 401


def test_the_client_address_is_part_of_the_key(both):
    curfew, app, plain, lua = both
    tok = curfew.new_session(sub="ann")["access_token"]
    assert send(lua, "/api/a", [bearer(tok)])[0] == 200
    before = checks_total(curfew)
    assert send(lua, "/api/a", [bearer(tok)])[0] == 200
    assert checks_total(curfew) == before, "the same request from the same address was not a hit"
    assert send(lua, "/api/a", [bearer(tok)], source="127.0.0.2")[0] == 200
    assert checks_total(curfew) == before + 1, "another address reused the cached decision"


def test_a_request_with_a_dpop_proof_is_never_answered_from_the_cache(both):
    """A proof is single-use: a replayed one must reach curfew (its replay cache)."""
    curfew, app, plain, lua = both
    tok = curfew.new_session(sub="dee")["access_token"]
    h = [bearer(tok), ("DPoP", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")]
    first = same_through_both(plain, lua, "/api/d", h)
    before = checks_total(curfew)
    for _ in range(3):
        assert outcome(send(lua, "/api/d", h)) == first
    assert checks_total(curfew) == before + 3, "a request with a DPoP proof was answered from the cache"


def test_curfew_unreachable_fails_closed(both):
    curfew, app, plain, lua = both
    tok = curfew.new_session(sub="dan")["access_token"]
    before = app.count()
    curfew.stop()
    status, headers, body = send(lua, "/api/d", [bearer(tok)])
    assert status == 500 and json.loads(body)["error"] == "server_error", (status, body)
    assert app.count() == before


def test_a_revoked_token_is_refused_through_the_lua_cache_within_cache_max_age(both):
    curfew, app, plain, lua = both
    delays = []
    for i in range(TRIALS):
        s = curfew.new_session(sub=f"rev{i}")
        h = [bearer(s["access_token"])]
        assert send(lua, "/api/r", h)[0] == 200              # cached now
        time.sleep(random.uniform(0, MAX_AGE))                # revoke at any phase of its life
        r = curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}")
        t_ack = time.monotonic()
        assert r.status_code == 200
        while True:
            t_sent = time.monotonic()
            status = send(lua, "/api/r", h)[0]
            if status == 401:
                break
            assert status == 200
            assert t_sent - t_ack < MAX_AGE + 1, "the revoked token is still served"
            time.sleep(0.01)
        delays.append(t_sent - t_ack)
    print(f"lua cache: revoked -> refused through nginx: max {max(delays):.3f}s over {TRIALS}"
          f" trials (cache_max_age {MAX_AGE}s), all {[round(d, 2) for d in delays]}")
    assert max(delays) <= MAX_AGE + MARGIN, delays
    assert sum(d > 0.05 for d in delays) >= TRIALS // 4, (
        f"the cache was hardly used: the test proves little: {delays}")


def curl_h2(ngx, path, headers=()):
    """One HTTP/2 request (h2c, prior knowledge): (status, body). nginx keeps no raw
    header block for HTTP/2, so the key is built from the parsed headers instead."""
    import subprocess
    cmd = ["curl", "-s", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_code} %{http_version}",
           "--path-as-is", ngx.url(path)]
    for k, v in headers:
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=10, check=True).stdout
    body, _, tail = out.rpartition(b"\n")
    code, version = tail.decode().split()
    assert version == "2", f"not HTTP/2: {version}"
    return int(code), body


def test_http2_requests_are_keyed_and_answered_alike(start_curfew, tmp_path):
    curfew = start_curfew(CONFIG)
    app = EchoApp()
    conf = render_lua_conf(curfew.port, app.port).replace(
        "listen 127.0.0.1:@NGINX_PORT@;", "listen 127.0.0.1:@NGINX_PORT@ http2;")
    lua = LuaNginx(tmp_path / "lua", conf)
    try:
        lua.start()
        user = curfew.new_session(sub="hugo", roles=["user"])
        good = [bearer(user["access_token"])]
        code, body = curl_h2(lua, "/api/h2", good)
        assert code == 200 and json.loads(body)["headers"]["X-Curfew-Subject"] == "hugo", body
        before = checks_total(curfew)
        for _ in range(3):
            code, body = curl_h2(lua, "/api/h2", good + [("X-Curfew-Subject", "mallory")])
            assert code == 200, body
            rec = json.loads(body)
            assert rec["headers"]["X-Curfew-Subject"] == "hugo" and rec["x_curfew_subject_count"] == 1
        # The forged header is part of the key: one more check, then hits.
        assert checks_total(curfew) == before + 1, "HTTP/2 requests were not answered from the cache"
        for path in ("/admin/users", "/public/%2e%2e/admin/users", "//admin/users", "/%61dmin/users"):
            code, body = curl_h2(lua, path, good)
            assert code == 403 and b"insufficient_role" in body, (path, code, body)
        tok = user["access_token"]     # a signature byte changed (not the last character:
        c = "B" if tok[-10] != "B" else "C"    # its low bits are padding)
        assert curl_h2(lua, "/api/h2", [bearer(tok[:-10] + c + tok[-9:])])[0] == 401
        assert curl_h2(lua, "/api/h2")[0] == 401
    finally:
        lua.stop()
        app.close()


def test_a_revoked_token_is_refused_over_http2_within_cache_max_age(start_curfew, tmp_path):
    """HTTP/2 entries are stored by the auth_request path's log phase: same bound."""
    curfew = start_curfew(CONFIG)
    app = EchoApp()
    conf = render_lua_conf(curfew.port, app.port).replace(
        "listen 127.0.0.1:@NGINX_PORT@;", "listen 127.0.0.1:@NGINX_PORT@ http2;")
    lua = LuaNginx(tmp_path / "lua", conf)
    delays = []
    try:
        lua.start()
        for i in range(8):
            s = curfew.new_session(sub=f"h2rev{i}")
            h = [bearer(s["access_token"])]
            assert curl_h2(lua, "/api/r", h)[0] == 200               # stored now
            time.sleep(random.uniform(0, MAX_AGE))
            assert curfew.admin("DELETE", f"/v1/sessions/{s['session_id']}").status_code == 200
            t_ack = time.monotonic()
            while True:
                t_sent = time.monotonic()
                code = curl_h2(lua, "/api/r", h)[0]
                if code == 401:
                    break
                assert code == 200 and t_sent - t_ack < MAX_AGE + 1, code
            delays.append(t_sent - t_ack)
    finally:
        lua.stop()
        app.close()
    print(f"lua cache, HTTP/2: revoked -> refused: max {max(delays):.3f}s over {len(delays)} trials,"
          f" all {[round(d, 2) for d in delays]}")
    assert max(delays) <= MAX_AGE + MARGIN, delays
    assert sum(d > 0.05 for d in delays) >= 2, f"the cache was hardly used: {delays}"


def test_a_replayed_dpop_proof_reaches_curfew_through_both_caches(start_curfew, tmp_path):
    """A DPoP proof is single-use (curfew keeps a replay cache). A decision cache that
    answered the replay of a whole request (same token, same proof) would let it through
    for cache_max_age: neither shipped config may do so."""
    from test_dpop import Key
    curfew = start_curfew(CONFIG)
    app = EchoApp()
    shipped = Nginx(tmp_path / "shipped", render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@"))
    lua = LuaNginx(tmp_path / "lua", render_lua_conf(curfew.port, app.port))
    try:
        shipped.start()
        lua.start()
        for ngx in (shipped, lua):
            key = Key()
            s = curfew.new_session(sub="dpop-user", dpop_jkt=key.jkt)
            at = s["access_token"]
            url = f"http://127.0.0.1:{ngx.port}/api/d"
            h = [("Authorization", f"DPoP {at}"), ("DPoP", key.proof("GET", url, at=at))]
            status, _, body = send(ngx, "/api/d", h)
            assert status == 200, (ngx.dir, body)
            status, headers, body = send(ngx, "/api/d", h)      # the very same request again
            assert status == 401, f"{ngx.dir}: a replayed DPoP proof was let through: {status}"
            assert dict((k.lower(), v) for k, v in headers).get("x-curfew-reason") == "dpop_replay"
    finally:
        lua.stop()
        shipped.stop()
        app.close()


RISK = CONFIG + """\
risk:
  ip_binding: exact
  on_ip_change: step_up
  on_device_change: step_up
  trusted_proxies: [127.0.0.1/32]
  device_header: X-Device-Id
"""


@pytest.mark.parametrize("which", ["shipped", "lua"])
def test_a_cached_allow_does_not_serve_another_address_or_device(start_curfew, tmp_path, which):
    """Sessions bound to the client's address (risk.ip_binding) or device: a stolen
    token sent from elsewhere right after its owner's request must meet curfew's
    step-up, not the owner's cached allow."""
    curfew = start_curfew(RISK)
    app = EchoApp()
    conf = (render_shipped_conf(curfew.port, app.port, "@NGINX_PORT@") if which == "shipped"
            else render_lua_conf(curfew.port, app.port))
    ngx = (Nginx if which == "shipped" else LuaNginx)(tmp_path / which, conf)
    plain = Nginx(tmp_path / "plain", uncached_conf(curfew.port, app.port))
    try:
        ngx.start()
        plain.start()
        owner = {"X-Forwarded-For": "10.0.0.5", "X-Device-Id": "dev-A"}
        r = curfew.admin("POST", "/v1/sessions", json={"sub": "owner"}, headers=owner)
        assert r.status_code == 201, r.text
        tok = r.json()["access_token"]
        mine = [bearer(tok)] + list(owner.items())
        thief = [
            ([bearer(tok), ("X-Device-Id", "dev-A")], "127.0.0.2"),        # another address
            ([bearer(tok), ("X-Forwarded-For", "10.0.0.5")], "127.0.0.1"),  # another device (none)
            ([bearer(tok), ("X-Forwarded-For", "10.0.0.5"), ("X-Device-Id", "dev-B")], "127.0.0.1"),
            # the owner's header bytes, under other names: a key made of the header lines
            # must keep names, values and where each ends apart
            ([bearer(tok), ("X-Forwarded-For", "10.0.0.5"), ("X-Device-Ie", "dev-A")], "127.0.0.1"),
            ([bearer(tok), ("X-Forwarded-For", "10.0.0.5"), ("X-Device-Idd", "ev-A")], "127.0.0.1"),
            ([bearer(tok), ("X-Forwarded-For", "10.0.0.5X-Device-Iddev-A")], "127.0.0.1"),
        ]
        for headers, source in thief:
            assert send(ngx, "/api/own", mine)[0] == 200          # the owner's allow, cached
            want = outcome(send(plain, "/api/own", headers, source=source))
            assert want["status"] == 401, want                     # step-up, uncached
            got = outcome(send(ngx, "/api/own", headers, source=source))
            assert got == want, f"{which}: {headers} from {source}: {got}"
    finally:
        plain.stop()
        ngx.stop()
        app.close()
