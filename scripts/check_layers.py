#!/usr/bin/python3
"""Check curfew's layering (docs/architecture.md, issue 10) and keep it from getting worse.

Usage: check_layers.py SRC_DIR LIBCURFEW_A KNOWN_FILE [--update]

Rules:
  - src/core includes only core/*, libc, OpenSSL and jansson;
  - src/api/*.c include only app/app.h, api/*.h, core/*.h, util/*.h and http/server.h;
  - store/redis.h is included only in src/store/ and the cluster glue;
  - no two files of src/ call each other in a cycle (from the archive's symbol tables);
  - no file over 800 lines, no function over 80 lines.
Each finding is one line. KNOWN_FILE lists the findings the tree still has (a ratchet):
a finding not in it fails, and so does a listed one that is gone, so the list only shrinks
and always says what is left. --update rewrites KNOWN_FILE.
"""
import glob
import os
import re
import subprocess
import sys
from collections import defaultdict

src, archive, known_file = sys.argv[1:4]
update = "--update" in sys.argv
found = []

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSINC = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
CORE_SYS_BANNED = ("uv.h", "sqlite3.h", "yaml.h", "http_parser.h")
REDIS_GLUE = {"app/cluster.c"}

for path in sorted(glob.glob(os.path.join(src, "*/*.[ch]"))):
    rel = os.path.relpath(path, src)
    layer = rel.split("/")[0]
    text = open(path, encoding="utf-8").read()
    for inc in INC.findall(text):
        top = inc.split("/")[0] if "/" in inc else layer
        if layer == "core" and top != "core":
            found.append(f"include: {rel} -> {inc}")
        if layer == "api" and path.endswith(".c"):
            if not (inc in ("app/app.h", "http/server.h") or top in ("api", "core", "util")):
                found.append(f"include: {rel} -> {inc}")
        if inc == "store/redis.h" and layer != "store" and rel not in REDIS_GLUE:
            found.append(f"include: {rel} -> {inc}")
    if layer == "core":
        for inc in SYSINC.findall(text):
            if inc in CORE_SYS_BANNED or inc.startswith("hiredis"):
                found.append(f"include: {rel} -> <{inc}>")
    lines = text.split("\n")
    if len(lines) > 800:
        found.append(f"size: {rel} has more than 800 lines")
    # Functions: a definition's first line at column 0, its body from a "{" at
    # column 0 to the "}" at column 0 (the style every file follows).
    start = name = None
    opened = False
    for i, line in enumerate(lines if path.endswith(".c") else []):
        m = re.match(r"^[A-Za-z_][\w \*]*?\b(\w+)\(", line)
        if start is None:
            if m and not line.rstrip().endswith(";") and "=" not in line.split("(")[0]:
                start, name, opened = i, m.group(1), False
        elif not opened:
            if line.startswith("{"):
                opened = True
            elif line.rstrip().endswith(";"):
                start = None  # a prototype over several lines
        elif line.startswith("}"):
            if i - start + 1 > 80:
                found.append(f"function: {rel}:{name} has more than 80 lines")
            start = None

# Call cycles between files, from the symbol table of every member of the archive.
out = subprocess.run(["nm", "-A", archive], capture_output=True, text=True, check=True).stdout
defs, uses = {}, defaultdict(set)
for line in out.splitlines():
    m = re.match(r"^[^:]+:(?:[^:]*/)?(?:meson-generated_\.\._)?src_([a-z]+)_(\w+)\.c\.o:\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$", line)
    if not m:
        continue
    f, kind, sym = f"{m.group(1)}/{m.group(2)}.c", m.group(3), m.group(4)
    if kind in "TDBR":
        defs[sym] = f
    elif kind == "U":
        uses[f].add(sym)
graph = defaultdict(set)
for f, syms in uses.items():
    graph[f] |= {defs[s] for s in syms if s in defs and defs[s] != f}

index, low, stack, on = {}, {}, [], set()
counter = [0]
sys.setrecursionlimit(10000)

def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(graph[v]):
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            found.append("cycle: " + " <-> ".join(sorted(comp)))

for v in sorted(graph):
    if v not in index:
        strong(v)

found = sorted(set(found))
if update:
    with open(known_file, "w") as f:
        f.write("# Layering findings still in the tree (scripts/check_layers.py --update).\n")
        f.write("# The list may only shrink: a new finding fails `make test`.\n")
        f.writelines(x + "\n" for x in found)
    print(f"{len(found)} findings written to {known_file}")
    sys.exit(0)
known = [l.strip() for l in open(known_file) if l.strip() and not l.startswith("#")]
new = [x for x in found if x not in known]
gone = [x for x in known if x not in found]
for x in new:
    print(f"new layering finding: {x}")
for x in gone:
    print(f"fixed, remove from {os.path.basename(known_file)}: {x}")
print(f"layers: {len(found)} known findings, {len(new)} new, {len(gone)} fixed")
sys.exit(1 if new or gone else 0)
