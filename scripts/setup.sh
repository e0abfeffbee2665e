#!/usr/bin/env bash
# Installs the Debian packages gradc needs, only those that are missing, so a second run
# takes well under a second. `--fuzz` adds clang and libFuzzer (only `make fuzz` needs them; the
# sanitized tests build with g++). The tests render every LaTeX output with KaTeX (Debian's
# libjs-katex) and MathJax (npm's mathjax-full, into .deps/node/) under node.
set -euo pipefail
want=(cmake ninja-build g++ llvm-19-dev libboost-dev libfmt-dev libcli11-dev nlohmann-json3-dev
      libgtest-dev libbenchmark-dev python3 graphviz librsvg2-bin zlib1g-dev libjs-katex libreadline-dev)
# The install test (tests/check_install.py) drives the zsh completion in zsh, and Vim's syntax
# file in vim (Debian's `vim`, which has syntax highlighting, unlike vim-tiny).
want+=(zsh vim)
# The gradc executable links LLVM's static component libraries (GRADC_STATIC_LLVM), whose
# LLVMSupport needs zstd's development library.
want+=(libzstd-dev)
# tests/gmm_reference.py, the NumPy reference of examples/gmm.grad, runs under /usr/bin/python3
# with Debian's NumPy when the python3 first on PATH has none.
want+=(python3-numpy)
# The Python module (python/, `import gradc`) is built with pybind11 against Debian's Python, and
# its tests run under pytest.
want+=(pybind11-dev python3-dev python3-pytest)
# node and npm may come from elsewhere than Debian (NodeSource): only install them when absent.
command -v node >/dev/null || want+=(nodejs)
command -v npm >/dev/null || want+=(npm)
[ "${1:-}" = "--fuzz" ] && want+=(clang-19 libfuzzer-19-dev libclang-rt-19-dev)
# `--bench-print` adds SymPy, the reference of bench/print_vs_sympy.py (never needed by the tests).
[ "${1:-}" = "--bench-print" ] && want+=(python3-sympy)
# `--bench-torch` adds PyTorch, the reference of bench/jacobian_vs_torch.py (`make bench-gmm`).
[ "${1:-}" = "--bench-torch" ] && want+=(python3-torch)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || true
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

# MathJax 3 for tests/render_latex.js: one pinned package (53 MB, a few seconds), kept in the
# checkout so that nothing outside it changes.
mathjax=3.2.2
deps="$(cd "$(dirname "$0")/.." && pwd)/.deps/node"
if ! grep -qs "\"version\": \"$mathjax\"" "$deps/node_modules/mathjax-full/package.json"; then
  echo "setup: installing mathjax-full@$mathjax into .deps/node"
  mkdir -p "$deps"
  npm install --prefix "$deps" --no-audit --no-fund --no-save --silent "mathjax-full@$mathjax"
fi
