# SPDX-License-Identifier: MIT
"""The curfew(1) man page (issue 15, packaging): docs/curfew.1 is what
`curfew help --man` prints from the command table, it formats without a
groff warning, and it carries every command's own --help text verbatim (so
roff escaping lost nothing: leading dots, backslashes, dashes). groff comes
from Debian's groff-base (scripts/deps.sh); a missing tool fails the test.
"""

import re
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, run_curfew

MAN = REPO_ROOT / "docs" / "curfew.1"


def groff(*args, text):
    if shutil.which("groff") is None:
        pytest.fail("groff is not installed (Debian package groff-base, via scripts/deps.sh)")
    return subprocess.run(["groff", "-man", *args], input=text, capture_output=True, text=True,
                          timeout=30)


def commands():
    """The command words `curfew help` lists (its rows are the command table's)."""
    out = run_curfew("help").stdout
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return sorted({line.split()[0] for line in block.splitlines()})


def test_committed_man_page_is_the_generated_one():
    r = run_curfew("help", "--man")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout == MAN.read_text(), \
        "docs/curfew.1 is stale: regenerate it with `curfew help --man > docs/curfew.1`"


def test_man_page_formats_without_a_warning():
    r = groff("-Tutf8", "-ww", "-z", text=MAN.read_text())
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # The check can fail: an unknown request is a warning.
    r = groff("-Tutf8", "-ww", "-z", text=MAN.read_text() + ".XYZZY\n")
    assert r.stderr != ""


def test_man_page_has_every_command_and_its_help_verbatim():
    text = groff("-Tascii", "-P-cbou", text=MAN.read_text()).stdout
    names = commands()
    assert {"serve", "reload", "sessions", "help", "tune", "version"} <= set(names)
    for name in names:
        assert re.search(rf"^ +curfew {re.escape(name)}\b", text, re.M), name
        helptext = run_curfew(name, "--help").stdout
        assert helptext.strip(), name
        for line in helptext.splitlines():
            if line.strip():
                assert line.rstrip() in text, (name, line)


def test_roff_specials_in_help_text_stay_literal():
    # Backslashes and leading dots in a command's help would be roff
    # requests if not escaped; the page has none unescaped.
    src = MAN.read_text()
    body = src.split(".SH OPTIONS", 1)[1]
    for block in re.findall(r"^\.nf\n(.*?)^\.fi$", body, re.M | re.S):
        for line in block.splitlines():
            assert not line.startswith((".", "'")), line
            assert not re.search(r"\\(?![e&-])", line), line
