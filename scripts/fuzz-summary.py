#!/usr/bin/env python3
"""Total tests/fuzz/RUNS.tsv (written by scripts/fuzz-run.sh) per harness, as
the Markdown table docs/security.md shows:

    scripts/fuzz-summary.py [RUNS.tsv]            print the table
    scripts/fuzz-summary.py --write-docs          replace the table in docs/security.md

CPU hours and executions are summed over every run; coverage (cov, ft) is the
highest any run reached (each run resumes the corpus of the one before, so
the last run's figure is normally the highest); findings are every artifact
any run recorded, with the commit it ran ("0" when none). The table sits between the markers
<!-- fuzz-summary --> and <!-- /fuzz-summary --> in docs/security.md.
"""
import csv
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESSES = ["http", "jws", "dpop", "config", "body", "wire"]


def load(path):
    totals = {h: {"runs": 0, "cpu": 0.0, "execs": 0, "cov": 0, "ft": 0, "found": [], "last": ""}
              for h in HARNESSES}
    if not os.path.exists(path):
        return totals
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            t = totals.setdefault(row["harness"], {"runs": 0, "cpu": 0.0, "execs": 0, "cov": 0,
                                                    "ft": 0, "found": [], "last": ""})
            t["runs"] += 1
            t["cpu"] += float(row["cpu_seconds"] or 0)
            t["execs"] += int(row["executions"] or 0)
            t["cov"] = max(t["cov"], int(row["cov"] or 0))
            t["ft"] = max(t["ft"], int(row["ft"] or 0))
            if row["crashes"] not in ("", "0"):
                t["found"].append("%s at %s" % (row["crashes"], row["commit"][:7]))
            t["last"] = max(t["last"], row["date"][:10])
    return totals


def table(totals):
    lines = ["| harness | runs | CPU hours | executions | cov | ft | findings | last run |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for h, t in totals.items():
        lines.append("| `%s` | %d | %.2f | %s | %d | %d | %s | %s |" % (
            h, t["runs"], t["cpu"] / 3600, format(t["execs"], ","), t["cov"], t["ft"],
            ", ".join(t["found"]) or "0", t["last"] or "-"))
    return "\n".join(lines) + "\n"


def main(argv):
    write = "--write-docs" in argv
    args = [a for a in argv if a != "--write-docs"]
    text = table(load(args[0] if args else os.path.join(ROOT, "tests/fuzz/RUNS.tsv")))
    if not write:
        sys.stdout.write(text)
        return 0
    doc = os.path.join(ROOT, "docs/security.md")
    with open(doc) as f:
        old = f.read()
    new, n = re.subn(r"(<!-- fuzz-summary -->\n).*?(<!-- /fuzz-summary -->)",
                     lambda m: m.group(1) + text + m.group(2), old, flags=re.S)
    if n != 1:
        print("fuzz-summary: no <!-- fuzz-summary --> block in docs/security.md", file=sys.stderr)
        return 1
    with open(doc, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
