#!/usr/bin/env bash
# Run one libFuzzer harness for a while and record what it did.
#
#   scripts/fuzz-run.sh HARNESS SECONDS         (e.g. scripts/fuzz-run.sh jws 3600)
#   scripts/fuzz-run.sh --smoke HARNESS SECONDS (what `make test` runs: nothing recorded)
#
# HARNESS is a name from tests/fuzz/meson.build (http, jws, dpop, config, body,
# wire); the binary is $FUZZ_BUILD/tests/fuzz/fuzz_HARNESS (make fuzz-build),
# or $FUZZ_BIN. The fuzzer works on a corpus OUTSIDE the repository,
# ${FUZZ_WORK:-/var/tmp/curfew-fuzz}/HARNESS/corpus, which grows from run to
# run; the committed seeds (tests/fuzz/corpus/HARNESS) are read, never written.
# Every seed runs once first, so a committed regression input replays each time.
#
# A real run appends one line to tests/fuzz/RUNS.tsv: date, harness, commit,
# CPU seconds (user+sys of the fuzzer process), executions, cov, ft, crashes
# (0, or the artifact names). scripts/fuzz-summary.py totals it.
#
# Exits non-zero when the fuzzer found anything (crash, leak, timeout, OOM,
# sanitizer report): the artifacts are kept in the work dir's artifacts/ and
# the log in last.log.
set -euo pipefail

smoke=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
fi
if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [--smoke] HARNESS SECONDS" >&2
  exit 2
fi
name=$1
secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FUZZ_BIN:-$root/${FUZZ_BUILD:-build-fuzz}/tests/fuzz/fuzz_$name}
seeds=$root/tests/fuzz/corpus/$name
dict=$root/tests/fuzz/$name.dict

[ -x "$bin" ] || { echo "fuzz-run: no harness $bin (run make fuzz-build)" >&2; exit 2; }
[ -d "$seeds" ] || { echo "fuzz-run: no seed corpus $seeds" >&2; exit 2; }

# Largest input each harness looks at (bigger ones are refused unread).
case $name in
  http) max_len=65536 ;;
  jws|dpop) max_len=9000 ;;
  config|wire|body) max_len=16384 ;;
  *) max_len=4096 ;;
esac

if [ $smoke -eq 1 ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/curfew-fuzz-smoke.XXXXXX")
  trap 'rm -rf "$work"' EXIT
else
  work=${FUZZ_WORK:-/var/tmp/curfew-fuzz}/$name
fi
run=$(date -u +%Y%m%dT%H%M%SZ)
artifacts=$work/artifacts/$run
mkdir -p "$work/corpus" "$artifacts"
log=$work/last.log

timeout=10
flags=(-max_total_time="$secs" -print_final_stats=1 -timeout="$timeout" -rss_limit_mb=2048
       -max_len="$max_len" -artifact_prefix="$artifacts/")
[ -f "$dict" ] && flags+=(-dict="$dict")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Beside the fuzzer, a sampler notes once a second whether the fuzzer was
# stopped (SIGSTOP for a quiet benchmark) and whether the machine itself
# froze (the sampler's own second lasted much longer): libFuzzer's -timeout
# is wall time, so either makes a fast unit look like a hang.
status=0
/usr/bin/time -f '%U %S' -o "$work/time" \
  "$bin" "${flags[@]}" "$work/corpus" "$seeds" >"$log" 2>&1 &
timer=$!
(
  while kill -0 "$timer" 2>/dev/null; do
    fuzzer=$(pgrep -P "$timer" | head -1)
    state=$( [ -n "$fuzzer" ] && awk '{print $3}' "/proc/$fuzzer/stat" 2>/dev/null)
    echo "$(date +%s) ${state:-?}"
    sleep 1
  done
) >"$work/states" 2>/dev/null &
sampler=$!
wait "$timer" || status=$?
wait "$sampler" 2>/dev/null || true

read -r user sys < <(tail -1 "$work/time") || { user=0; sys=0; }
cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")

# A timeout is a finding unless the process was frozen rather than slow: the
# alarm fires every timeout/2+1 s of wall time, so a unit reported at more than
# 3x the timeout means the process was not scheduled at all (the machine or
# its cgroup was suspended: on 2026-12-02 http and body both reported a 450 s
# unit at the same instant), and the input must also replay (the harnesses are
# deterministic) within the timeout. Both, or it stays a finding.
# The sampler gives the other evidence: within the last 3x timeout seconds of
# the run it saw the fuzzer stopped ("T") or went 5 s or more between two
# samples (the machine was not running it).
paused() {
  awk -v w=$((3 * timeout)) '
    { t[NR] = $1; s[NR] = $2 }
    END {
      for (i = 1; i <= NR; i++) {
        if (t[i] < t[NR] - w) continue
        if (s[i] == "T" || s[i] == "t") exit 0
        if (i > 1 && t[i] - t[i - 1] >= 5) exit 0
      }
      exit 1
    }' "$work/states"
}
stalled() {
  local unit=$1 late
  late=$(sed -n 's/^ALARM: working on the last Unit for \([0-9]*\) seconds$/\1/p' "$log" | tail -1)
  [ -n "$late" ] || return 1
  [ "$late" -gt $((3 * timeout)) ] || paused || return 1
  "$bin" -timeout="$timeout" -rss_limit_mb=2048 -runs=1 "$artifacts/$unit" >"$work/replay.log" 2>&1
}
found=
for unit in $(cd "$artifacts" && ls -1 | grep -v '^slow-unit-' || true); do
  if [[ $unit == timeout-* ]] && stalled "$unit"; then
    echo "fuzz-run: $unit: a machine stall, not a hang (late alarm; replays in" \
      "$(sed -n 's/^Executed .* in \([0-9]* ms\)$/\1/p' "$work/replay.log"))" >&2
    status=0
    continue
  fi
  found=${found:+$found,}$unit
done
if [ -z "$found" ] && { [ $status -ne 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error:' "$log"; }; then
  found="exit-$status" # a report without an artifact is still a failure
fi

echo "fuzz-run: $name cpu=${cpu}s execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} found=${found:-0}"
if [ $smoke -eq 0 ]; then
  commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  tsv=$root/tests/fuzz/RUNS.tsv
  [ -s "$tsv" ] || printf 'date\tharness\tcommit\tcpu_seconds\texecutions\tcov\tft\tcrashes\n' >"$tsv"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" "$commit" \
    "$cpu" "${execs:-0}" "${cov:-0}" "${ft:-0}" "${found:-0}" >>"$tsv"
fi
if [ -n "$found" ]; then
  cp "$log" "$artifacts/run.log" 2>/dev/null || true  # last.log is the next run's
  cp "$work/states" "$artifacts/states" 2>/dev/null || true
  echo "fuzz-run: $name found $found; log: $artifacts/run.log" >&2
  [ $smoke -eq 1 ] && { trap - EXIT; tail -60 "$log" >&2; echo "fuzz-run: kept $work" >&2; }
  exit 1
fi
rmdir "$artifacts" 2>/dev/null || true
