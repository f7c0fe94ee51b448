"""The docs describe what exists: every reason code and every config key."""
import json
import pathlib
import re
import subprocess

from conftest import curfew_bin, free_port

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


def test_readme_walkthrough_runs_as_written(start_curfew, tmp_path):
    """The README's shell walkthrough, run verbatim against a real server (a
    person types slower than a script: a pause before the revocation)."""
    srv = start_curfew()
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```sh\nexport CURFEW_ADMIN_KEY")
    block = readme[start + 6:readme.index("```", start + 6)]
    script = (block.replace("export CURFEW_ADMIN_KEY=...", f"export CURFEW_ADMIN_KEY={srv.admin_key}")
              .replace("C=http://127.0.0.1:7070", f"C={srv.base_url}")
              .replace("/tmp/s.json", str(tmp_path / "s.json"))
              .replace("/tmp/k.json", str(tmp_path / "k.json"))
              .replace("# 4.", "sleep 1.2\n# 4.")
              .replace("# 6.", "echo '--- step 6 ---'\n# 6."))
    out = subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True,
                         timeout=60).stdout
    sessions, keys = out.split("--- step 6 ---\n")
    step2 = sessions[sessions.index("HTTP/1.1 200"):]
    for h in ("X-Curfew-Subject: alice", "X-Curfew-Session:", "X-Curfew-Roles: user", "X-Curfew-Expires-In:"):
        assert h in step2, (h, out)
    promised = re.search(r'# 5\..*?"reason":"([a-z_]+)"', block, re.S).group(1)
    actual = json.loads(sessions.rstrip().splitlines()[-1])
    assert actual["reason"] == promised, (promised, actual)
    www = re.search(r'# 5\..*?# (WWW-Authenticate: .*?)\n', block, re.S).group(1)
    assert www in sessions, (www, out)
    # Steps 6-8: the key works, rotation answers a new key, the revoked key says so.
    assert "HTTP/1.1 200" in keys and "X-Curfew-Key" in keys, keys
    promised = re.search(r'# 8\..*? says ([a-z_]+)\.', block, re.S).group(1)
    actual = json.loads(keys.rstrip().splitlines()[-1])
    assert actual["reason"] == promised, (promised, actual)


def test_readme_proxy_walkthrough_runs_as_written(tmp_path):
    """The README's proxy example, run verbatim but for ports and paths: a token-less
    request gets /v1/check's refusal, a token gets the stream, and the stream ends
    with its `curfew` event as soon as its subject is revoked."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```sh\n# Proxy mode")
    block = readme[start + 6:readme.index("```", start + 6)]
    api, proxy, up = free_port(), free_port(), free_port()
    # One pass over the text, so a substituted port or path (a checkout under /tmp,
    # a port containing 8080) is never substituted again.
    subs = {"7070": str(api), "8080": str(proxy), "9000": str(up), "/tmp/": f"{tmp_path}/",
            "build/curfew serve": f"{curfew_bin()} serve --listen 127.0.0.1:{api}"}
    script = re.sub(r"\b(?:7070|8080|9000)\b|/tmp/|build/curfew serve",
                    lambda m: subs[m.group(0)], block)
    p = subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True, timeout=60)
    out = p.stdout
    assert p.returncode == 0, (p.returncode, out, p.stderr)
    assert json.loads(out.splitlines()[0])["reason"] == "missing_token", out
    assert "data: tick 1\n" in out, out
    event = re.search(r"event: curfew\ndata: (.*)\n\n", out)
    assert event and json.loads(event.group(1))["reason"] == "session_revoked", out
    assert '{"sessions_ended":1}' in out
    assert "the stream ended (curl exit 0)" in out, out
    assert "event=connection_cut reason=session_revoked kind=sse" in out, out
    ticks = re.findall(r"data: tick (\d+)", out)
    assert len(ticks) < 8, out                     # cut at the revocation (2 s), not later
