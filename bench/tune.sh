#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/tune.sh — `curfew tune` at scale, and what measuring costs the hot path.
#
#  1. Replay: a synthetic audit log of N lines (default 10,000,000) replayed
#     under the default 12 candidate combinations (+ the baseline): wall time,
#     events per second and peak RSS (GNU time). Goals: < 30 s, < 256 MiB.
#  2. Hot path: bench/check_tune.sh, this build (idle-gap histogram,
#     activity_gap lines, background header, re-login tracker) against
#     BASE_BIN (a build of 0764d1b, the commit before them: there is no
#     switch), same config, interleaved rounds. Goal: ratio >= 0.97.
#
# Usage:  bash bench/tune.sh
# Environment: N=10000000  SEED=1  BASE_BIN=/tmp/curfew-base/build/curfew  SKIP_CHECK=1
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
echo "== /v1/check: this build vs BASE_BIN (a build without issue 13), interleaved rounds"
BASE_BIN=${BASE_BIN:?set BASE_BIN to a build of 0764d1b (see bench/check_tune.sh), or SKIP_CHECK=1} \
    bash "$ROOT/bench/check_tune.sh"
