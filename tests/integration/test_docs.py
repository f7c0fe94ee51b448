"""The docs describe what exists: every reason code and every config key."""
import pathlib
import re
import subprocess

from conftest import curfew_bin

ROOT = pathlib.Path(__file__).resolve().parents[2]


def reason_names():
    text = (ROOT / "src/core/reason.h").read_text()
    block = text[text.index("#define CF_REASON_MAP"):text.index("typedef enum")]
    names = re.findall(r'X\(\w+,\s*"([a-z_]+)"', block)
    assert len(names) >= 16, names
    return [n for n in names if n != "none"]


def test_every_reason_code_is_documented_in_api_md():
    api = (ROOT / "docs/api.md").read_text()
    missing = [n for n in reason_names() if f"`{n}`" not in api]
    assert not missing, f"reason codes missing from docs/api.md: {missing}"


def test_configuration_md_matches_the_option_table():
    out = subprocess.run([curfew_bin(), "config", "doc"], capture_output=True, text=True, check=True).stdout
    doc = (ROOT / "docs/configuration.md").read_text()
    begin, end = "<!-- BEGIN curfew config doc -->\n", "<!-- END curfew config doc -->"
    assert begin in doc and end in doc
    table = doc[doc.index(begin) + len(begin):doc.index(end)]
    assert table == out, "docs/configuration.md is stale: regenerate it with `curfew config doc`"


def test_api_md_reason_table_is_printed_from_the_reason_map():
    out = subprocess.run([curfew_bin(), "reasons"], capture_output=True, text=True, check=True).stdout
    doc = (ROOT / "docs/api.md").read_text()
    begin, end = "<!-- BEGIN curfew reasons -->\n", "<!-- END curfew reasons -->"
    assert begin in doc and end in doc
    table = doc[doc.index(begin) + len(begin):doc.index(end)]
    assert table == out, "docs/api.md's reason table is stale: regenerate it with `curfew reasons`"
    # Every row of the map is there, once.
    rows = [line.split("`")[1] for line in out.splitlines()[2:]]
    assert sorted(rows) == sorted(reason_names()) and len(set(rows)) == len(rows)
