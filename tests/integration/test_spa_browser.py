# SPDX-License-Identifier: MIT
"""Issue 15, done-when 1, from a real browser: a single-page app on another
origin (http://spa.test:PORT, a tiny static server; Chromium resolves *.test
to 127.0.0.1) talks to curfew through the real nginx and the real Caddy with
the shipped configurations, using fetch() as any such app does: it refreshes
(the refresh token rotates), calls a protected API through the check,
revokes, and logs out, each call preflighted (it sends X-CSRF) and its answer
readable because the client lists the page's origin in
clients[].allowed_origins. A page on an origin no list names
(http://evil.test:PORT) makes the same calls: Chromium blocks every one
(fetch rejects), and curfew refused them before anything changed, which
Python checks afterwards. tests/browser/spa.mjs drives Chromium; the pages
record what happened in window.spa. A missing browser or node_modules fails
the test."""
import json
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

import pytest

import test_caddy as caddymod
import test_nginx as ngxmod
from conftest import free_port
from test_dashboard import BROWSER_DIR, CHROMIUM, browser_prerequisites

PAGE = """<!doctype html>
<meta charset="utf-8"><title>spa</title>
<pre id="out">running</pre>
<script>
const q = new URLSearchParams(location.search);
const api = q.get('api'), client = q.get('client');
window.spa = {origin: location.origin, steps: {}};
async function call(name, path, init) {
  try {
    const r = await fetch(api + path, init);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    spa.steps[name] = {fetched: true, status: r.status, body};
    return spa.steps[name];
  } catch (e) {
    spa.steps[name] = {fetched: false, error: e.name + ': ' + e.message};
    return spa.steps[name];
  }
}
// X-CSRF makes every call preflighted, as an app that sends it must be.
const form = (fields, extra) => ({method: 'POST', headers: Object.assign({'X-CSRF': '1'}, extra || {}),
                                  body: new URLSearchParams(fields)});
const bearer = (t) => ({Authorization: 'Bearer ' + t});
async function good() {
  const r1 = await call('refresh', '/oauth/token',
                        form({grant_type: 'refresh_token', refresh_token: q.get('rt'), client_id: client}));
  const r2 = await call('refresh2', '/oauth/token',
                        form({grant_type: 'refresh_token', refresh_token: r1.body.refresh_token,
                              client_id: client}));
  await call('api', '/api/items', {headers: bearer(r2.body.access_token)});
  await call('revoke', '/oauth/revoke', form({token: r2.body.refresh_token, client_id: client}));
  await call('api_after_revoke', '/api/items', {headers: bearer(r2.body.access_token)});
  await call('logout', '/v1/logout', {method: 'POST', headers: bearer(q.get('at'))});
}
async function evil() {
  const fields = {grant_type: 'refresh_token', refresh_token: q.get('rt'), client_id: client};
  await call('refresh', '/oauth/token', form(fields));
  // no custom header: a CORS "simple" request, sent without a preflight
  await call('refresh_simple', '/oauth/token', {method: 'POST', body: new URLSearchParams(fields)});
  await call('revoke_simple', '/oauth/revoke',
             {method: 'POST', body: new URLSearchParams({token: q.get('rt'), client_id: client})});
  await call('logout', '/v1/logout', {method: 'POST', headers: bearer(q.get('at'))});
}
(q.get('role') === 'evil' ? evil() : good())
  .catch((e) => { spa.error = String(e); })
  .finally(() => { document.getElementById('out').textContent = JSON.stringify(spa);
                   window.done = true; });
</script>
"""


class Server:
    """A threaded HTTP server on 127.0.0.1 with a handler class of its own."""

    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PageHandler(BaseHTTPRequestHandler):
    """The single-page app: the same page at every URL (its query says what to do)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def api_handler(spa_origin, seen):
    """The protected API behind the proxy, with its own CORS for the app's origin."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _cors(self):
            if self.headers.get("Origin") == spa_origin:
                self.send_header("Access-Control-Allow-Origin", spa_origin)
                self.send_header("Vary", "Origin")

        def do_OPTIONS(self):
            seen.append(("OPTIONS", self.path, self.headers.get("X-Curfew-Subject")))
            self.send_response(204)
            self._cors()
            self.send_header("Access-Control-Allow-Methods", "GET")
            self.send_header("Access-Control-Allow-Headers", "Authorization")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            sub = self.headers.get("X-Curfew-Subject")
            seen.append(("GET", self.path, sub))
            body = json.dumps({"items": [1, 2], "subject": sub}).encode()
            self.send_response(200)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def config(spa_origin):
    # A cross-origin API call is preflighted, and a preflight carries no
    # token: the route lets OPTIONS through the check to the API's own CORS.
    return f"""\
refresh_token: {{ reuse_grace: 0s }}
clients:
  - id: spa
    type: public
    allowed_origins: ["{spa_origin}"]
  - id: other
    type: public
routes:
  - methods: [OPTIONS]
    anonymous: true
"""


def run_pages(node, urls):
    p = subprocess.run([node, str(BROWSER_DIR / "spa.mjs"), *urls], cwd=BROWSER_DIR,
                       env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    results = [json.loads(line[len("result "):]) for line in p.stdout.splitlines()
               if line.startswith("result ")]
    assert p.returncode == 0 and len(results) == len(urls), p.stdout
    return results


def spa_through(start_curfew, tmp_path, which):
    node = browser_prerequisites()
    pages = Server(PageHandler)
    spa_origin, evil_origin = f"http://spa.test:{pages.port}", f"http://evil.test:{pages.port}"
    seen = []
    api = Server(api_handler(spa_origin, seen))
    srv = start_curfew(config(spa_origin))
    if which == "nginx":
        proxy = ngxmod.Nginx(tmp_path / "nginx",
                             ngxmod.render_shipped_conf(srv.port, api.port, "@NGINX_PORT@"))
    else:
        proxy = caddymod.Caddy(tmp_path / "caddy",
                               caddymod.render_shipped(srv.port, api.port, free_port()))
    try:
        proxy.start()
        base = proxy.url("").rstrip("/")
        s1 = srv.new_session(sub="spa-user", client_id="spa")
        s2 = srv.new_session(sub="spa-user2", client_id="spa")
        s3 = srv.new_session(sub="victim", client_id="spa")
        q = f"api={base}&client=spa"
        good, evil = run_pages(node, [
            f"{spa_origin}/?{q}&rt={s1['refresh_token']}&at={s2['access_token']}",
            f"{evil_origin}/?{q}&role=evil&rt={s3['refresh_token']}&at={s3['access_token']}"])
    finally:
        proxy.stop()
        api.close()
        pages.close()
    return srv, (s1, s2, s3), good, evil, seen


@pytest.mark.slow
@pytest.mark.parametrize("which", ["nginx", "caddy"])
def test_a_single_page_app_on_another_origin(start_curfew, tmp_path, which):
    srv, (s1, s2, s3), good, evil, seen = spa_through(start_curfew, tmp_path, which)
    st = good["steps"]
    assert "error" not in good, good
    # Rotation: each refresh is readable and hands out a new refresh token.
    assert st["refresh"]["fetched"] and st["refresh"]["status"] == 200, good
    assert st["refresh2"]["fetched"] and st["refresh2"]["status"] == 200, good
    rts = {s1["refresh_token"], st["refresh"]["body"]["refresh_token"],
           st["refresh2"]["body"]["refresh_token"]}
    assert len(rts) == 3, "the refresh token did not rotate"
    # The protected API, through the check: the session's subject reached it.
    assert st["api"] == {"fetched": True, "status": 200,
                         "body": {"items": [1, 2], "subject": "spa-user"}}, good
    assert ("GET", "/api/items", "spa-user") in seen, seen
    # Revoke: readable 200, and the session is over (the API call after it is refused
    # by the check, whose refusal the page may not read).
    assert st["revoke"]["fetched"] and st["revoke"]["status"] == 200, good
    assert not st["api_after_revoke"].get("status") == 200, good
    assert srv.check(st["refresh2"]["body"]["access_token"]).json()["reason"] == "logout"
    assert [s for s in seen if s[0] == "GET"] == [("GET", "/api/items", "spa-user")], seen
    # Logout: readable 204, session ended.
    assert st["logout"]["fetched"] and st["logout"]["status"] == 204, good
    assert srv.check(s2["access_token"]).json()["reason"] == "logout"
    # The page on the other origin: the browser blocked every call ...
    for name in ("refresh", "refresh_simple", "revoke_simple", "logout"):
        e = evil["steps"][name]
        assert e["fetched"] is False and e["error"].startswith("TypeError"), (name, evil)
    # ... and curfew changed nothing for them: the victim's tokens still work.
    assert srv.check(s3["access_token"]).status_code == 200
    r = srv.refresh(s3["refresh_token"], client_id="spa")
    assert r.status_code == 200, "a blocked page spent the refresh token: " + r.text
