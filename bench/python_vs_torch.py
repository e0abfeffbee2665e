#!/usr/bin/env python3
"""The Python module against PyTorch, called from Python on the same function (bench/README.md).

f(x, y, z) = tanh(log(1 + z (2x / sin y))) from examples/lecture.grad, value and gradient:
- per-call overhead: one point per call (gradc: f.value_and_grad(x, y, z); PyTorch: three
  0-d tensors with requires_grad, forward, backward, read the grads);
- per-point batch time for n points (gradc: f.value_and_grad(P) with P [n, 3], and into a
  preallocated out= buffer; PyTorch: three [n] tensors, forward, f.sum().backward()), n = 1,024
  and 10^6;
- the same kernel called without Python on the same points: `gradc compile --fn f --grad --simd
  -o f.so` (the kernel `gradc eval` compiles, with the JIT's batch: SLEEF's vector math), its f_batch called through ctypes (one call per
  batch, so ctypes costs nothing per point): the Python batch must be within 10% of it. And
  gradc_bench's BM_Eval_Jit_ValueGrad_Batch1024/_Batch1M (the JIT's kernel from C++, on its own
  points near (0.5, 1.2, 3)) for reference.
CPU time of this process (time.process_time), the median of --reps loops of at least 0.2 s;
PyTorch on one thread. Results are checked against each other (relative 1e-12) before timing.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_vs_torch.py --gradc build/gradc \
        --gradc-bench build/bench/gradc_bench
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def per_call(fn, reps):
    fn()
    calls = 1
    while True:
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        if time.process_time() - t0 >= 0.2 or calls >= 1 << 22:
            break
        calls *= 2
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        times.append((time.process_time() - t0) / calls)
    return statistics.median(times)


def kernel_ns_per_point(gradc_bench, reps, name):
    out = subprocess.run([gradc_bench, f"--benchmark_filter={name}$",
                          f"--benchmark_repetitions={reps}", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    points = 1024 if name.endswith("1024") else 10**6  # cpu_time is per call
    return statistics.median(b["cpu_time"] for b in runs) / points * {"ns": 1, "us": 1e3, "ms": 1e6}[runs[0]["time_unit"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc", default="build/gradc")
    ap.add_argument("--gradc-bench", required=True)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    import gradc
    import torch
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    here = os.path.dirname(os.path.abspath(__file__))
    f = gradc.load(os.path.join(here, "..", "examples", "lecture.grad")).f

    def torch_f(x, y, z):
        return torch.tanh(torch.log(1 + z * (2 * x / torch.sin(y))))

    # one point
    p = (0.5, 1.2, 3.0)
    v, g = f.value_and_grad(*p)

    def torch_single():
        x, y, z = (torch.tensor(c, requires_grad=True) for c in p)
        out = torch_f(x, y, z)
        out.backward()
        return out.item(), [x.grad.item(), y.grad.item(), z.grad.item()]

    tv, tg = torch_single()
    assert math.isclose(v, tv, rel_tol=1e-12) and np.allclose(g, tg, rtol=1e-12), (v, g, tv, tg)
    rows = [("one point per call, µs", per_call(lambda: f.value_and_grad(*p), args.reps) * 1e6,
             per_call(torch_single, args.reps) * 1e6)]

    tmp = tempfile.mkdtemp()
    so = os.path.join(tmp, "f.so")
    subprocess.run([args.gradc, "compile", os.path.join(here, "..", "examples", "lecture.grad"), "--fn", "f", "--grad",
                    "--simd", "-o", so], check=True)
    lib = ctypes.CDLL(so)
    lib.f_batch.argtypes = [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    native = {}

    rng = np.random.default_rng(7)
    for n in (1024, 10**6):
        P = np.column_stack([rng.uniform(0.1, 1.0, n), rng.uniform(0.5, 2.5, n), rng.uniform(1.0, 4.0, n)])
        X, Y, Z = (torch.tensor(P[:, i].copy()) for i in range(3))

        def torch_batch():
            x, y, z = (t.clone().requires_grad_(True) for t in (X, Y, Z))
            out = torch_f(x, y, z)
            out.sum().backward()
            return out.detach().numpy(), np.column_stack([x.grad.numpy(), y.grad.numpy(), z.grad.numpy()])

        gv, gg = f.value_and_grad(P)
        tv, tg = torch_batch()
        assert np.allclose(gv, tv, rtol=1e-12) and np.allclose(gg, tg, rtol=1e-12)
        reps = args.reps if n <= 1024 else max(3, args.reps // 2)
        rows.append((f"batch of {n:,}, ns per point", per_call(lambda: f.value_and_grad(P), reps) * 1e9 / n,
                     per_call(torch_batch, reps) * 1e9 / n))
        buf = np.empty((n, 4))
        lib.f_batch(n, P.ctypes.data, buf.ctypes.data)
        # Both the JIT's batch with SLEEF's vector math (--simd); checked within SLEEF's bound.
        assert np.allclose(buf[:, 0], gv, rtol=1e-13, atol=0) and np.allclose(buf[:, 1:], gg, rtol=1e-13, atol=0)
        native[n] = per_call(lambda: lib.f_batch(n, P.ctypes.data, buf.ctypes.data), reps) * 1e9 / n
        rows.append((f"batch of {n:,} into out=, ns per point",
                     per_call(lambda: f.value_and_grad(P, out=buf), reps) * 1e9 / n, rows[-1][2]))
    kernel = {1024: kernel_ns_per_point(args.gradc_bench, args.reps, "BM_Eval_Jit_ValueGrad_Batch1024"),
              10**6: kernel_ns_per_point(args.gradc_bench, args.reps, "BM_Eval_Jit_ValueGrad_Batch1M")}

    print(f"gradc module from {gradc.__file__}; PyTorch {torch.__version__} (1 thread); numpy {np.__version__}")
    print("| measure | gradc from Python | PyTorch from Python | PyTorch / gradc |")
    print("|---|---|---|---|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.3g} | {theirs:.3g} | {theirs / ours:.1f}x |")
    for n, ns in native.items():
        print(f"| the same kernel without Python (gradc compile -o f.so, f_batch by ctypes), batch of {n:,}, ns per point | {ns:.3g} | | |")
    for n, ns in kernel.items():
        print(f"| the JIT's kernel from C++ on gradc_bench's own points, batch of {n:,}, ns per point | {ns:.3g} | | |")
    for (name, ours, _), n in zip(rows[1:], (1024, 1024, 10**6, 10**6)):
        print(f"- {name}: Python / the kernel without Python = {ours / native[n]:.3f}")


if __name__ == "__main__":
    sys.exit(main())
