#!/usr/bin/env python3
"""Jacobians of R^n -> R^m, n, m in {10, 100}: gradc (forward and reverse mode, compiled) against
PyTorch's torch.autograd.functional.jacobian(vectorize=True), in one run (bench/jacobians.md).

The function, the same for both: f(x) = tanh(A @ sin(x)) + 0.1 (A @ x)^2 with a fixed A [m, n]
(normal, seed 7, scaled by 1/sqrt(n)), at x = 0.01 (1, 2, ..., n). For gradc it is written into a
.grad file (`const A = [[...]]`, `fn f(x[n]) = ...`) and run through build/bench/gradc_jacobian_bench,
which prints the compile times, the time per Jacobian and the Jacobian itself; this script checks
that Jacobian against PyTorch's (relative 1e-12) before it reports a time.

    python3 bench/jacobian_vs_torch.py [--gradc-bench build/bench/gradc_jacobian_bench] [--reps 5]

Times are CPU time per Jacobian (gradc: the compiled kernel's call; PyTorch: the whole
`jacobian` call, Python included, torch.set_num_threads(1)), median of --reps loops of at least
0.2 s each.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def problem(n, m):
    rng = np.random.default_rng(7)
    A = rng.normal(size=(m, n)) / np.sqrt(n)
    x = 0.01 * np.arange(1, n + 1)
    return A, x


def grad_source(A):
    m, n = A.shape
    rows = ",\n  ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in A)
    return (f"# R^{n} -> R^{m} (bench/jacobian_vs_torch.py)\n"
            f"const A = [\n  {rows}]\n"
            f"fn f(x[{n}]) = tanh(A @ sin(x)) + 0.1 * (A @ x)^2\n")


def per_call(fn, reps):
    fn()
    calls = 1
    while True:
        t0 = time.thread_time()
        for _ in range(calls):
            fn()
        if time.thread_time() - t0 >= 0.2:
            break
        calls *= 2
    out = []
    for _ in range(reps):
        t0 = time.thread_time()
        for _ in range(calls):
            fn()
        out.append((time.thread_time() - t0) / calls)
    return float(np.median(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc-bench", default=os.path.join(ROOT, "build", "bench", "gradc_jacobian_bench"))
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"PyTorch {torch.__version__} (1 thread), NumPy {np.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| n -> m | gradc fwd µs | gradc rev µs | gradc auto | PyTorch rev µs | PyTorch fwd µs | "
          "PyTorch rev / gradc best | gradc compile ms (front end + JIT, fwd / rev) |")
    print("|---|---|---|---|---|---|---|---|")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10, 100):
            for m in (10, 100):
                A, x = problem(n, m)
                path = os.path.join(tmp, f"jac_{n}_{m}.grad")
                with open(path, "w") as fh:
                    fh.write(grad_source(A))
                At = torch.tensor(A, dtype=torch.float64)
                xt = torch.tensor(x, dtype=torch.float64)

                def f(v):
                    return torch.tanh(At @ torch.sin(v)) + 0.1 * (At @ v) ** 2

                J_torch = torch.autograd.functional.jacobian(f, xt, vectorize=True).numpy()
                t_rev = per_call(lambda: torch.autograd.functional.jacobian(f, xt, vectorize=True), args.reps)
                try:
                    t_fwd = per_call(lambda: torch.autograd.functional.jacobian(
                        f, xt, vectorize=True, strategy="forward-mode"), args.reps)
                except Exception as e:  # not every PyTorch build has forward-mode AD
                    print(f"(PyTorch forward mode failed: {e})", file=sys.stderr)
                    t_fwd = float("nan")
                res = {}
                for mode in ("fwd", "rev", "auto"):
                    p = subprocess.run([args.gradc_bench, path, "--fn", "f", "--mode", mode, "--reps", str(args.reps),
                                        "--at", ",".join(repr(float(v)) for v in x)],
                                       capture_output=True, text=True)
                    if p.returncode != 0:
                        print(f"n={n} m={m} {mode}: {p.stderr.strip()}", file=sys.stderr)
                        failures += 1
                        continue
                    r = json.loads(p.stdout)
                    J = np.array(r["jacobian"])
                    err = np.max(np.abs(J - J_torch)) / max(1.0, np.max(np.abs(J_torch)))
                    if J.shape != (m, n) or err > 1e-12:
                        print(f"n={n} m={m} {mode}: Jacobian differs from PyTorch's by {err:.1e}", file=sys.stderr)
                        failures += 1
                    res[mode] = r
                if len(res) < 3:
                    continue
                best = min(res["fwd"]["call_us"], res["rev"]["call_us"])
                compile_ms = " / ".join(f"{res[k]['front_end_ms']:.1f} + {res[k]['jit_ms']:.1f}" for k in ("fwd", "rev"))
                print(f"| {n} -> {m} | {res['fwd']['call_us']:.2f} | {res['rev']['call_us']:.2f} | "
                      f"{res['auto']['mode']} | {1e6 * t_rev:.1f} | {1e6 * t_fwd:.1f} | "
                      f"{1e6 * t_rev / best:.0f}x | {compile_ms} |", flush=True)
    print("FAILED" if failures else "\nAll Jacobians agree with PyTorch's (relative 1e-12).")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
