#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/tune.sh — `curfew tune` at scale, and what measuring costs the hot path.
#
#  1. Replay: a synthetic audit log of N lines (default 10,000,000) replayed
#     under the default 12 candidate combinations (+ the baseline): wall time,
#     events per second and peak RSS (GNU time). Goals: < 30 s, < 256 MiB.
#  2. Hot path: bench/check.sh with the audit log on, this build (idle-gap
#     histogram, activity_gap lines, re-login tracker) against BASE_BIN (a
#     build without them, e.g. main's), same settings, one after the other.
#     Goal: ratio >= 0.97.
#
# Usage:  bash bench/tune.sh
# Environment: N=10000000  SEED=1  BASE_BIN=/work/main/build/curfew  SKIP_CHECK=1
#              TMP (default: a new temp dir; the log is N * ~375 bytes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CURFEW_BIN:-$ROOT/build/curfew}
N=${N:-10000000}
SEED=${SEED:-1}
TMP=${TMP:-$(mktemp -d)}
LOG=$TMP/synthetic.jsonl

echo "== replay: $N lines, 12 combinations + baseline"
/usr/bin/time -f "%e %M" -o "$TMP/gen.time" "$BIN" tune --synthetic "$N" --seed "$SEED" --out "$LOG"
echo "generated $(stat -c %s "$LOG") bytes in $(cut -d' ' -f1 "$TMP/gen.time") s"
/usr/bin/time -f "%e %M" -o "$TMP/replay.time" "$BIN" tune --audit "$LOG" --format csv >"$TMP/report.csv"
read -r secs rss_kb <"$TMP/replay.time"
awk -v n="$N" -v s="$secs" -v r="$rss_kb" 'BEGIN {
    printf "replay: %.1f s, %.0f events/s, peak RSS %.1f MiB\n", s, n / s, r / 1024 }'
rm -f "$LOG"

[ -n "${SKIP_CHECK:-}" ] && exit 0
BASE_BIN=${BASE_BIN:-/work/main/build/curfew}
echo "== /v1/check with the audit log on: this build vs $BASE_BIN"
for which in base this; do
    bin=$BIN
    [ $which = base ] && bin=$BASE_BIN
    CURFEW_BIN=$bin SKIP_BUILD=1 EXTRA_CONFIG="audit: { path: $TMP/audit-$which.jsonl }" \
        bash "$ROOT/bench/check.sh" | tee "$TMP/check-$which.txt" | grep -E "^curfew" || true
done
awk '/^curfew/ { v[FILENAME] = $2 } END {
    for (f in v) if (f ~ /base/) b = v[f]; else t = v[f];
    if (b > 0) printf "check throughput ratio (this/base): %.3f\n", t / b }' \
    "$TMP/check-base.txt" "$TMP/check-this.txt"
