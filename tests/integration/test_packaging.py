# SPDX-License-Identifier: MIT
"""Packaging that make test checks (issue 15, Done-when 5): the systemd unit
in deploy/systemd verifies with systemd-analyze and keeps its sandbox (an
exposure level of at most 2.0 in `systemd-analyze security`), and its
sysusers/tmpfiles fragments create the user and directories it names.
systemd-analyze comes from Debian's systemd package (scripts/deps.sh); a
missing tool fails these tests, it does not skip them.
"""

import re
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, curfew_bin

SYSTEMD = REPO_ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "curfew.service"

# Directives whose loss would widen the sandbox; each must stay in the unit.
HARDENING = {
    "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "ProtectSystem": "strict",
    "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "PrivateUsers": "yes",
    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service", "UMask": "0077", "User": "curfew",
    "StateDirectory": "curfew", "Type": "exec", "ExecReload": "/bin/kill -HUP $MAINPID",
}


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package systemd, via scripts/deps.sh)")
    return path


def directives(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def render(tmp_path, text=None):
    """The shipped unit with ExecStart pointing at the built binary (verify
    checks that the command exists and is executable)."""
    text = UNIT.read_text() if text is None else text
    assert text.count("/usr/bin/curfew serve") == 1
    unit = tmp_path / "curfew.service"
    unit.write_text(text.replace("/usr/bin/curfew serve", f"{curfew_bin()} serve"))
    return unit


def verify(unit):
    return subprocess.run([tool("systemd-analyze"), "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)


def test_unit_verifies_without_a_warning(tmp_path):
    r = verify(render(tmp_path))
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_verify_catches_a_misspelled_directive(tmp_path):
    # systemd ignores an unknown key with a warning (exit 0): the check above
    # must see the warning, or a typo would silently drop a sandbox option.
    r = verify(render(tmp_path, UNIT.read_text().replace("ProtectHome=", "ProtectHom=")))
    assert "Unknown key" in r.stderr and "ProtectHom" in r.stderr, r.stderr


def test_unit_keeps_its_sandbox(tmp_path):
    d = directives(UNIT.read_text())
    missing = {k: v for k, v in HARDENING.items() if v not in d.get(k, [])}
    assert not missing, f"deploy/systemd/curfew.service lost {missing}"
    r = subprocess.run([tool("systemd-analyze"), "security", "--offline=true", "--threshold=20",
                        "--no-pager", str(render(tmp_path))], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    level = re.search(r"Overall exposure level for curfew.service: ([0-9.]+)", r.stdout)
    assert level and float(level.group(1)) <= 2.0, r.stdout[-500:]


def test_execstart_options_are_curfews(tmp_path):
    cmd = directives(UNIT.read_text())["ExecStart"][0].split()
    usage = subprocess.run([str(curfew_bin()), "serve", "--help"], capture_output=True,
                           text=True, timeout=10)
    for opt in (a for a in cmd if a.startswith("--")):
        assert opt in usage.stdout + usage.stderr, f"curfew serve has no {opt}"


def test_sysusers_and_tmpfiles_make_the_user_and_directories(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    r = subprocess.run([tool("systemd-sysusers"), f"--root={root}", str(SYSTEMD / "curfew.sysusers")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    entry = [l for l in (root / "etc/passwd").read_text().splitlines() if l.startswith("curfew:")]
    assert len(entry) == 1, (root / "etc/passwd").read_text()
    uid, gid, home, shell = (lambda f: (int(f[2]), int(f[3]), f[5], f[6]))(entry[0].split(":"))
    assert home == "/var/lib/curfew" and shell.endswith("nologin"), entry
    r = subprocess.run([tool("systemd-tmpfiles"), f"--root={root}", "--create",
                        str(SYSTEMD / "curfew.tmpfiles")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    st = (root / "var/lib/curfew").stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o700, uid, gid)
    st = (root / "etc/curfew").stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o750, 0, gid)


# The MIT license as SPDX publishes it (https://spdx.org/licenses/MIT.html),
# compared word by word so that line wrapping does not matter.
MIT_TEXT = """
Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
"""


def test_license_is_the_mit_text():
    words = (REPO_ROOT / "LICENSE").read_text().split()
    assert words[:2] == ["MIT", "License"]
    head = " ".join(words[2:6])
    assert head == "Copyright (c) curfew contributors", head
    assert words[6:] == MIT_TEXT.split()


def test_every_source_file_says_mit():
    """Each file under src/ (C, headers, meson.build, the embedded dashboard)
    names its license in its first three lines, as LICENSE's MIT."""
    files = [p for p in (REPO_ROOT / "src").rglob("*") if p.is_file()]
    assert len(files) > 100
    missing = [str(p.relative_to(REPO_ROOT)) for p in files
               if "SPDX-License-Identifier: MIT" not in "\n".join(
                   p.read_text(errors="replace").splitlines()[:3])]
    assert missing == []
    meson = (REPO_ROOT / "meson.build").read_text()
    assert re.search(r"license:\s*'MIT'", meson)
