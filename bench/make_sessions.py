#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/make_sessions.py URL ADMIN_KEY N OUT [CONNS] -- create N sessions on a running
curfew through POST /v1/sessions (the admin key) and write their access tokens to OUT,
one a line. CONNS keep-alive connections (default 16) work in parallel so the store's
commits group; the tokens are written in creation order. Used by bench/check_tune.sh
(SESSIONS=N) to give both servers the same set of sessions."""
import http.client
import json
import sys
import threading
import urllib.parse


def main():
    url, key, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    u = urllib.parse.urlsplit(url)
    tokens = [None] * n
    errors = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def work(first):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            for i in range(first, n, conns):
                body = json.dumps({"sub": f"user{i}", "client_id": "bench", "roles": ["bench"]})
                c.request("POST", "/v1/sessions", body, headers)
                r = c.getresponse()
                data = r.read()
                if r.status != 201:
                    raise RuntimeError(f"session {i}: HTTP {r.status}: {data[:200]!r}")
                tokens[i] = json.loads(data)["access_token"]
        except Exception as e:  # reported once below; the other workers finish
            errors.append(str(e))
        finally:
            c.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"make_sessions.py: {errors[0]}")
    with open(out, "w") as f:
        f.write("\n".join(tokens) + "\n")


if __name__ == "__main__":
    main()
