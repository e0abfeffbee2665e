#!/bin/sh
# The 1.4 MB, 120,000-term expression of bench/compile.md: `gradc eval --no-cache` (parse, lower,
# reverse mode, LLVM) with this build and an older gradc binary, alternating, in one run; the
# cached run; then this build's phases (bench/compile_phases.cpp) with and without the split.
# Usage: bench/huge_expression.sh [NEW_BUILD_DIR [OLD_GRADC_BINARY]] > bench/results/huge_expression.txt
set -eu
NEW=${1:-build}
OLD=${2:-}
HUGE=${TMPDIR:-/tmp}/gradc_h120k.grad
python3 -c "terms=[f'x*{i}.5' for i in range(120000)]; open('$HUGE','w').write('fn f(x) = ' + ' + '.join(terms) + '\nat x = 1\n')"
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
uptime
echo "=== gradc eval --no-cache: label wall_s user_s sys_s peak_KB (5 runs each, alternating)"
for i in 1 2 3 4 5; do
  /usr/bin/time -f 'new %e %U %S %M' "$NEW/gradc" eval --no-cache "$HUGE" >/dev/null
  if [ -n "$OLD" ]; then /usr/bin/time -f 'old %e %U %S %M' "$OLD" eval --no-cache "$HUGE" >/dev/null; fi
done
echo "=== cached (the object from a fresh cache folder, after one run that fills it): label wall_s user_s sys_s peak_KB"
XDG_CACHE_HOME=$CACHE/new "$NEW/gradc" eval "$HUGE" >/dev/null
if [ -n "$OLD" ]; then XDG_CACHE_HOME=$CACHE/old "$OLD" eval "$HUGE" >/dev/null; fi
for i in 1 2 3; do
  XDG_CACHE_HOME=$CACHE/new /usr/bin/time -f 'new %e %U %S %M' "$NEW/gradc" eval "$HUGE" >/dev/null
  if [ -n "$OLD" ]; then XDG_CACHE_HOME=$CACHE/old /usr/bin/time -f 'old %e %U %S %M' "$OLD" eval "$HUGE" >/dev/null; fi
done
echo "=== phases, this build (split into parts, one thread per core)"
"$NEW/bench/gradc_compile_phases" "$HUGE"
echo "=== phases, this build, the kernel as one function (--split-ops 0)"
"$NEW/bench/gradc_compile_phases" "$HUGE" --split-ops 0
uptime
