#!/bin/sh
# Compile-time figures of bench/compile.md: this build against another (the code before a change),
# in one run. Usage: bench/compile_time.sh [NEW_BUILD_DIR [OLD_BUILD_DIR]]   (default: build, none)
# Raw output on stdout; bench/compile.md quotes bench/results/compile_time.txt.
set -eu
NEW=${1:-build}
OLD=${2:-}
HUGE=${TMPDIR:-/tmp}/gradc_h120k.grad
python3 -c "terms=[f'x*{i}.5' for i in range(120000)]; open('$HUGE','w').write('fn f(x) = ' + ' + '.join(terms) + '\nat x = 1\n')"
uptime
for B in $NEW $OLD; do
  echo "=== $B: Google Benchmark, medians of 5 (CPU column)"
  $B/bench/gradc_bench --benchmark_filter='BM_Compile_' --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true 2>&1 | grep -E '_median|generated function'
  echo "=== $B: first compile of a process (5 processes)"
  for i in 1 2 3 4 5; do $B/bench/gradc_bench --cold_compile; done
  if $B/bench/gradc_bench --cold_compile_fast >/dev/null 2>&1; then
    for i in 1 2 3 4 5; do $B/bench/gradc_bench --cold_compile_fast; done
  fi
  echo "=== $B: gradc eval on the 1.4 MB expression (120,000 terms): wall s, user s, sys s, KB (5 runs)"
  for i in 1 2 3 4 5; do /usr/bin/time -f '%e %U %S %M' $B/gradc eval "$HUGE" 2>&1 >/dev/null | tail -1; done
  echo "=== $B: gradc eval examples/lecture.grad --fn f: wall s, user s, sys s (5 runs)"
  for i in 1 2 3 4 5; do /usr/bin/time -f '%e %U %S' $B/gradc eval examples/lecture.grad --fn f 2>&1 >/dev/null | tail -1; done
  echo "=== $B: GMM d=64 K=200 n=1000 (the largest ADBench size), source to kernels"
  $B/bench/gradc_gmm_bench --d 2,64 --K 5,200 --n 1000 --reps 1
done
uptime
