# SPDX-License-Identifier: MIT
"""A webhook whose host name never resolves cannot hold a delivery, the
alerts behind it, or a shutdown past the attempt's deadline (5 s).

getaddrinfo has no timeout of its own: a resolver that does not answer holds
it for resolv.conf's timeout x attempts x servers x families. The process's
resolver cannot be pointed at a test server without root, so a small
LD_PRELOAD library (built here) makes getaddrinfo of any name under
`.hang.test` block for 60 s, as an unanswering resolver does; every other
name resolves as usual.
"""
import shutil
import subprocess
import time

import pytest

from test_faults import preload

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    size_t n = node != NULL ? strlen(node) : 0;

    if (n > 10 && strcmp(node + n - 10, ".hang.test") == 0) {
        sleep(60);
        return EAI_AGAIN;
    }
    if (real == NULL)
        real = (int (*)(const char *, const char *, const struct addrinfo *,
                        struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}
"""

RULE = "{kind: check_failures_per_ip, threshold: 1, window: 1ms}"


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build the resolver shim")
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(d / "hang.so"), str(d / "shim.c"), "-ldl"],
                   check=True)
    return d / "hang.so"


def env_with(shim):
    return {"LD_PRELOAD": preload(shim)}  # an ASan build needs its runtime first


def config(url):
    return (f"alerts:\n  queue: 4\n  webhook: {url}\n  rules:\n    - {RULE}\n")


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_a_host_that_never_resolves_fails_within_the_deadline(start_curfew, shim):
    srv = start_curfew(config("http://receiver.hang.test:9/hook"), env=env_with(shim))
    t0 = time.monotonic()
    assert srv.check("nope").status_code == 401  # fires the rule: one alert queued
    # 3 attempts of at most 5 s each, 0.2 + 0.4 s apart: given up well before 60 s.
    assert wait_for(lambda: "alert_webhook_failed" in srv.stderr_since_start(), 25), \
        srv.stderr_since_start()[-2000:]
    took = time.monotonic() - t0
    assert took < 20, took
    line = [ln for ln in srv.stderr_since_start().splitlines() if "alert_webhook_failed" in ln][0]
    assert "name resolution" in line, line
    assert srv.get("/healthz").status_code == 200


def test_shutdown_is_not_held_by_a_resolution(start_curfew, shim):
    srv = start_curfew(config("http://receiver.hang.test:9/hook"), env=env_with(shim))
    assert srv.check("nope").status_code == 401
    time.sleep(1)  # the worker is now waiting for the name
    t0 = time.monotonic()
    srv.proc.send_signal(15)
    try:
        rc = srv.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    assert rc == 0 and took < 3, (rc, took, srv.stderr_since_start()[-2000:])


def test_a_name_that_resolves_still_delivers(start_curfew, shim):
    """The resolution's thread hands its answer back: localhost is delivered to."""
    from test_alerts import Receiver
    rx = Receiver()
    try:
        srv = start_curfew(config(rx.url.replace("127.0.0.1", "localhost")), env=env_with(shim))
        assert srv.check("nope").status_code == 401
        assert rx.wait(lambda b: b["alert"] == "check_failures_per_ip", 10)
    finally:
        rx.close()
