#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/tune.sh — `curfew tune` at scale, and what measuring costs the hot path.
#
#  1. Replay: a synthetic audit log of N lines (default 10,000,000) replayed
#     under the default 12 candidate combinations (+ the baseline): wall time,
#     events per second and peak RSS (GNU time). Goals: < 30 s, < 256 MiB.
#  2. Hot path: bench/check_tune.sh, the same binary with tuning.measure
#     true (idle-gap histogram, activity_gap lines, re-login tracker) against
#     false, same config otherwise, interleaved rounds. Goal: ratio >= 0.97.
#
# Usage:  bash bench/tune.sh
# Environment: N=10000000  SEED=1  SKIP_CHECK=1 (and check_tune.sh's)
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
echo "== /v1/check: tuning.measure on vs off, same binary, interleaved rounds"
CURFEW_BIN=$BIN bash "$ROOT/bench/check_tune.sh"
