#!/usr/bin/env bash
# Runs one fuzz target (after `make fuzz`) at the lowest priority, within the README's limits:
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]     TARGET: program jit csv checkpoint
# The corpus grows in build-fuzz/corpus/TARGET (or $FUZZ_CORPUS); findings land in build-fuzz/artifacts/TARGET/;
# the log (with libFuzzer's final statistics) in build-fuzz/logs/. Crashes, timeouts and
# out-of-memory inputs are saved and the run goes on (-fork=1 -ignore_*).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS [options]}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS [options]}
shift 2
build=${FUZZ_BUILD:-build-fuzz}
case $target in
  program|jit) dict=fuzz/grad.dict; max_len=4096 ;;
  csv) dict=fuzz/csv.dict; max_len=4096 ;;
  checkpoint) dict=fuzz/checkpoint.dict; max_len=16384 ;;
  *) echo "fuzz.sh: unknown target '$target' (program, jit, csv, checkpoint)" >&2; exit 2 ;;
esac
corpus=${FUZZ_CORPUS:-$build/corpus/$target}
mkdir -p "$corpus" "$build/artifacts/$target" "$build/logs"
log="$build/logs/$target-$(date -u +%Y%m%dT%H%M%S).log"
echo "fuzz.sh: $target for ${seconds}s, log in $log"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
nice -n 19 "$build/fuzz/fuzz_$target" "$corpus" -dict="$dict" -max_len=$max_len \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -fork=1 -ignore_crashes=1 \
  -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix="$build/artifacts/$target/" \
  -print_final_stats=1 "$@" >"$log" 2>&1 || true
grep -E "^#[0-9]+:|stat::|INFO: exiting|crash|timeout|leak" "$log" | tail -5
