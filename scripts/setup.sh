#!/usr/bin/env bash
# Installs the Debian packages gradc needs, only those that are missing, so a second run
# takes well under a second. `--fuzz` adds clang and libFuzzer (only `make fuzz` needs them; the
# sanitized tests build with g++).
set -euo pipefail
want=(cmake ninja-build g++ llvm-19-dev libboost-dev libfmt-dev libcli11-dev nlohmann-json3-dev
      libgtest-dev libbenchmark-dev python3 graphviz zlib1g-dev)
[ "${1:-}" = "--fuzz" ] && want+=(clang-19 libfuzzer-19-dev libclang-rt-19-dev)
# `--bench-print` adds SymPy, the reference of bench/print_vs_sympy.py (never needed by the tests).
[ "${1:-}" = "--bench-print" ] && want+=(python3-sympy)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || true
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
