#!/usr/bin/env python3
"""Each vector function alone in the batch entry, for two or more gradc builds in the same run
(bench/batch.md, *Where the time goes*).

f(x, y, z) = op(x) (and the baseline x + y z, and the lecture function) compiled by each build's
`gradc compile --simd --dtype D -o f.so`, f_batch called through ctypes on 32,768 rows (in cache)
200 times per timing, the builds interleaved, ns per point as the median of 7 timings (CPU time).
Inputs: x uniform in [-4, 4] ([0.1, 4] for log); the lecture function on bench/batch.md's domain.

    /usr/bin/python3 bench/vector_math_alone.py OLD/gradc build/gradc | tee bench/results/vector_math_alone.txt
"""
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = [("x + y z", "x + y*z", (-4, 4)), ("sin", "sin(x)", (-4, 4)), ("cos", "cos(x)", (-4, 4)),
         ("tanh", "tanh(x)", (-4, 4)), ("log", "log(x)", (0.1, 4)),
         ("lecture", "tanh(log(1 + z * (2*x / sin(y))))", None)]


def main():
    builds = sys.argv[1:]
    if not builds:
        sys.exit(__doc__)
    n, reps, calls = 32768, 7, 200
    tmp = tempfile.mkdtemp()
    rng = np.random.default_rng(1)
    print(f"ns per point, {n:,} rows, median of {reps}; load average {os.getloadavg()[0]:.2f}")
    print("| dtype | function | " + " | ".join(builds) + " |")
    print("|---|---|" + "---|" * len(builds))
    for dtype, np_t in (("f32", np.float32), ("f64", np.float64)):
        for i, (name, body, lohi) in enumerate(CASES):
            if lohi:
                P = rng.uniform(*lohi, (n, 3))
            else:
                P = np.column_stack([rng.uniform(0.1, 1.0, n), rng.uniform(0.5, 2.5, n), rng.uniform(1.0, 4.0, n)])
            P = np.ascontiguousarray(P.astype(np_t))
            out = np.empty(n, np_t)
            src = os.path.join(tmp, f"f{i}.grad")
            with open(src, "w") as f:
                f.write(f"fn f(x, y, z) = {body}\n")
            libs = []
            for j, gradc in enumerate(builds):
                so = os.path.join(tmp, f"f{i}_{dtype}_{j}.so")
                subprocess.run([gradc, "compile", src, "--fn", "f", "--simd", "--dtype", dtype, "-o", so], check=True)
                lib = ctypes.CDLL(so)
                lib.f_batch.argtypes = [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
                libs.append(lib)
            times = [[] for _ in libs]
            for _ in range(reps):
                for j, lib in enumerate(libs):
                    t0 = time.process_time()
                    for _ in range(calls):
                        lib.f_batch(n, P.ctypes.data, out.ctypes.data)
                    times[j].append((time.process_time() - t0) / calls / n * 1e9)
            print(f"| {dtype} | {name} | " + " | ".join(f"{statistics.median(t):.3f}" for t in times) + " |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
