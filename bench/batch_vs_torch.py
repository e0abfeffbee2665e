#!/usr/bin/env python3
"""gradc's batch entry against PyTorch at 10^6 points, 1 thread (bench/batch.md).

f(x, y, z) = tanh(log(1 + z (2x / sin y))) from examples/lecture.grad, value alone and value +
gradient, f64 and f32. gradc: `gradc compile --simd` (the JIT's batch kernel: W points per
iteration, SLEEF's vector functions) as a shared library, f_batch called once per batch through
ctypes. PyTorch: the same expression on three [n] tensors; value + gradient by autograd
(f.sum().backward()) and by torch.func.vmap(grad(...)) when present; its fastest variant counts.
Results are checked against each other (f64: relative 1e-12, f32: 1e-4) before timing.
CPU time of this process (time.process_time), the median of --reps runs.

PyTorch runs twice, each time in its own process with gradc measured again beside it: with its
default CPU kernels (AVX2 on this PyTorch) and with ATEN_CPU_CAPABILITY=avx512 (its AVX-512
kernels, set before torch is imported). The ratio that counts is against the faster of the two.

    /usr/bin/python3 bench/batch_vs_torch.py --gradc build/gradc | tee bench/results/batch_vs_torch.txt
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def timed(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


CAPABILITIES = (("default", None), ("avx512", "avx512"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc", default="build/gradc")
    ap.add_argument("--points", type=int, default=10**6)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    print(f"{args.points:,} points, 1 thread; load average {os.getloadavg()[0]:.2f}")
    runs = {}
    for label, capability in CAPABILITIES:
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        if capability:
            env["ATEN_CPU_CAPABILITY"] = capability
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--gradc", args.gradc,
                              "--points", str(args.points), "--reps", str(args.reps)],
                             env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        print(f"\n## PyTorch CPU kernels: {label}\n")
        print(out.split("JSON ")[0].rstrip())
        runs[label] = json.loads(out.split("JSON ")[1])
    print("\n## Against PyTorch's fastest configuration\n")
    print("| case | gradc ns/pt | PyTorch fastest ns/pt (configuration, variant) | gradc / PyTorch |")
    print("|---|---|---|---|")
    for case in runs["default"]:
        label = min(runs, key=lambda l: runs[l][case]["torch"])
        r = runs[label][case]
        print(f"| {case} | {r['gradc']:.2f} | {r['torch']:.2f} ({label}, {r['variant']}) | {r['gradc'] / r['torch']:.2f}x |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


def worker(args):
    import torch
    torch.set_num_threads(1)
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "examples", "lecture.grad")
    tmp = tempfile.mkdtemp()
    n = args.points
    rng = np.random.default_rng(7)
    P64 = np.column_stack([rng.uniform(0.1, 1.0, n), rng.uniform(0.5, 2.5, n), rng.uniform(1.0, 4.0, n)])

    def torch_f(x, y, z):
        return torch.tanh(torch.log(1 + z * (2 * x / torch.sin(y))))

    capability = [l.strip() for l in torch.__config__.show().splitlines() if "CPU capability" in l]
    print(f"PyTorch {torch.__version__}, 1 thread, {capability[0] if capability else 'CPU capability unknown'}; "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '(unset)')}; "
          f"{n:,} points; load average {os.getloadavg()[0]:.2f}\n")
    summary = {}
    print("| case | gradc ns/pt | PyTorch ns/pt (fastest variant) | gradc / PyTorch |")
    print("|---|---|---|---|")
    for dtype, np_t, th_t, rtol in (("f64", np.float64, torch.float64, 1e-12), ("f32", np.float32, torch.float32, 1e-4)):
        P = np.ascontiguousarray(P64.astype(np_t))
        X, Y, Z = (torch.tensor(P[:, i].copy()) for i in range(3))
        for grad in (False, True):
            so = os.path.join(tmp, f"f_{dtype}_{int(grad)}.so")
            subprocess.run([args.gradc, "compile", src, "--fn", "f", "--simd", "--dtype", dtype, "-o", so]
                           + (["--grad"] if grad else []), check=True)
            lib = ctypes.CDLL(so)
            lib.f_batch.argtypes = [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
            out = np.empty((n, 4 if grad else 1), dtype=np_t)
            run_gradc = lambda: lib.f_batch(n, P.ctypes.data, out.ctypes.data)
            variants = {}
            if grad:
                def autograd():
                    x, y, z = (t.detach().requires_grad_(True) for t in (X, Y, Z))
                    v = torch_f(x, y, z)
                    v.sum().backward()
                    return v.detach(), torch.stack([x.grad, y.grad, z.grad], 1)
                variants["autograd"] = autograd
                if hasattr(torch, "func"):
                    vg = torch.func.vmap(torch.func.grad_and_value(torch_f, argnums=(0, 1, 2)))
                    def func():
                        g, v = vg(X, Y, Z)
                        return v, torch.stack(g, 1)
                    variants["torch.func.vmap(grad_and_value)"] = func
            else:
                variants["eager"] = lambda: (torch_f(X, Y, Z), None)
                def inplace():
                    t = torch.sin(Y)
                    torch.div(X, t, out=t).mul_(2).mul_(Z).add_(1).log_().tanh_()
                    return t, None
                variants["in-place ops"] = inplace
            run_gradc()
            for name, fn in list(variants.items()):
                try:
                    v, g = fn()
                except Exception as e:  # a variant this PyTorch cannot run
                    print(f"- PyTorch {name}: skipped ({type(e).__name__})")
                    del variants[name]
                    continue
                np.testing.assert_allclose(out[:, 0], v.numpy(), rtol=rtol, atol=0)
                if grad:
                    np.testing.assert_allclose(out[:, 1:], g.numpy(), rtol=rtol, atol=rtol)
            ours = timed(run_gradc, args.reps) * 1e9 / n
            theirs = {name: timed(fn, args.reps) * 1e9 / n for name, fn in variants.items()}
            best = min(theirs, key=theirs.get)
            case = f"{'value + gradient' if grad else 'value'}, {dtype}"
            print(f"| {case} | {ours:.2f} | {theirs[best]:.2f} ({best}) | {ours / theirs[best]:.2f}x |")
            summary[case] = {"gradc": ours, "torch": theirs[best], "variant": best}
            for name, t in theirs.items():
                print(f"|   PyTorch {name} | | {t:.2f} | |")
    print("JSON " + json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
