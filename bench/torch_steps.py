#!/usr/bin/env python3
"""PyTorch CPU eager timing of the four training steps of gradc_train_bench (bench/training.md):
the same shapes, data rows, initial parameters, loss and optimizer.

    /usr/bin/python3 bench/torch_steps.py [--reps 5] [--min-time 0.5] [--out bench/results/torch_steps.json]
        [--only NET,...] [--threads N,...] [--dtypes f32,f64] [--chunk 1024]

(Debian's python3-torch is installed for /usr/bin/python3; another python3 on PATH may not see
it.) OpenBLAS picks its kernels by CPU unless OPENBLAS_CORETYPE says otherwise (this machine's
environment sets OPENBLAS_CORETYPE=Haswell; `env -u OPENBLAS_CORETYPE` lets it detect the CPU);
the kernel set in use is printed and recorded. Runs only when torch can be imported; otherwise it says so and exits with status 0.

One step = optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step(),
on a fixed minibatch (the first `batch` rows of the data, as gradc_train_bench's gradc,
gradc_kernel and trainer_fixed), or with `--minibatch shuffled` on the rows of a random
permutation of the whole data set, a fresh one per epoch, gathered by x = X[idx] in each step
(what gradc train and gradc_train_bench's trainer_run do; a data set of one batch is fixed). Per
repetition: chunks of up to 1,024 steps, each from the initial parameters and a fresh optimizer
(set up untimed; gradc_train_bench also goes back to the initial parameters every 1,024 steps),
until at least --min-time seconds of steps were timed; the figure is wall time per step
(time.perf_counter), median over --reps repetitions (the process's CPU time per step, all
threads, is recorded too). Thread settings: torch's default at start-up,
torch.set_num_threads(1), and torch.set_num_threads(os.cpu_count()).

The initial parameters are gradc's: linear(in, out) draws W [in, out] then b [out] uniform in
+-1/sqrt(in) from gradc's splitmix64 Rng(seed of the train block), in declaration order (W is
transposed into nn.Linear's [out, in]); the mnist_like rows are drawn from Rng(12345) as
gradc_train_bench writes them. The first loss printed per network therefore equals the `loss`
counter of Step/<net>/f64/gradc_kernel.
"""
import argparse
import csv
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK = (1 << 64) - 1


class Rng:
    """gradc's splitmix64 (runtime/train.cpp)."""

    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def read_csv(path, features, target):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [[float(r[c]) for c in features] for r in rows], [float(r[target]) for r in rows]


def mnist_like(rows):
    """The first `rows` rows of gradc_train_bench's mnist_like.csv (4 decimals, as written)."""
    rng = Rng(12345)
    xs, ys = [], []
    for _ in range(rows):
        xs.append([float("%.4f" % rng.uniform()) for _ in range(784)])
        ys.append(float(int(rng.uniform() * 10)))
    return xs, ys


# name, layer sizes, activation, loss, optimizer (kind, lr), batch, train-block seed, data
CASES = [
    ("xor", [2, 8, 1], "tanh", "mse", ("sgd", 0.2), 4, 1,
     lambda: ([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0])),
    ("regression", [2, 16, 16, 1], "relu", "mse", ("adam", 0.01), 1024, 5,
     lambda: read_csv(os.path.join(ROOT, "examples/data/regression.csv"), ["x1", "x2"], "y")),
    ("spiral", [2, 32, 32, 2], "relu", "ce", ("sgd", 0.1), 64, 3,
     lambda: read_csv(os.path.join(ROOT, "examples/data/spiral.csv"), ["x", "y"], "label")),
    ("mnist_like", [784, 128, 10], "relu", "ce", ("sgd", 0.01), 64, 11, lambda rows: mnist_like(rows)),
]


def loaded_blas():
    """Shared libraries mapped into this process that provide BLAS/LAPACK/OpenMP/oneDNN."""
    keys = ("blas", "lapack", "mkl", "dnnl", "gomp", "omp")
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and any(k in os.path.basename(parts[-1]) for k in keys):
                libs.add(os.path.realpath(parts[-1]))
    return sorted(libs)


def openblas_info(libs):
    """OpenBLAS's own report (the kernel set it chose) through ctypes, if it is loaded."""
    import ctypes
    for lib in libs:
        if "openblas" in os.path.basename(lib):
            so = ctypes.CDLL(lib)
            so.openblas_get_corename.restype = ctypes.c_char_p
            so.openblas_get_config.restype = ctypes.c_char_p
            return {"library": lib, "corename": so.openblas_get_corename().decode(),
                    "config": so.openblas_get_config().decode(),
                    "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="comma-separated network names")
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts to run (default: torch's default, 1, and the CPU count)")
    ap.add_argument("--dtypes", default="f32,f64", help="comma-separated: f32, f64")
    ap.add_argument("--chunk", type=int, default=1024, help="steps per chunk (from the initial parameters)")
    ap.add_argument("--minibatch", choices=["fixed", "shuffled"], default="fixed",
                    help="the first batch rows every step, or shuffled minibatches of the whole data")
    args = ap.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:
        print("torch is not importable (%s): PyTorch column not measured" % e)
        return 0

    default_threads = torch.get_num_threads()
    ncpu = os.cpu_count()
    thread_settings = [("default", default_threads), ("1", 1)]
    if ncpu != 1:
        thread_settings.append((str(ncpu), ncpu))
    if args.threads:
        thread_settings = [(t, int(t)) for t in args.threads.split(",")]

    def build(case, dtype):
        name, sizes, act, loss, (opt, lr), batch, seed, data = case
        rng = Rng(seed)
        layers = []
        for i in range(len(sizes) - 1):
            fan_in, fan_out = sizes[i], sizes[i + 1]
            bound = 1 / fan_in ** 0.5
            w = [[-bound + 2 * bound * rng.uniform() for _ in range(fan_out)] for _ in range(fan_in)]
            b = [-bound + 2 * bound * rng.uniform() for _ in range(fan_out)]
            lin = nn.Linear(fan_in, fan_out)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(w, dtype=torch.float64).t())
                lin.bias.copy_(torch.tensor(b, dtype=torch.float64))
            layers.append(lin)
            if i < len(sizes) - 2:
                layers.append(nn.Tanh() if act == "tanh" else nn.ReLU())
        model = nn.Sequential(*layers).to(dtype)
        return model, [p.detach().clone() for p in model.parameters()]

    results = []
    print("torch %s, %d CPUs, torch default threads %d (at start-up)" % (torch.__version__, ncpu, default_threads))
    only = set(args.only.split(",")) if args.only else None
    for case in CASES:
        name, sizes, act, loss_kind, (opt_kind, lr), batch, seed, data = case
        if only and name not in only:
            continue
        xs, ys = data(64 if args.minibatch == "fixed" else 1024) if name == "mnist_like" else data()
        shuffled = args.minibatch == "shuffled" and batch < len(xs)
        for dtype, dname in ((torch.float32, "f32"), (torch.float64, "f64")):
            if dname not in args.dtypes.split(","):
                continue
            rows = len(xs) if shuffled else batch
            x = torch.tensor(xs[:rows], dtype=dtype)
            if loss_kind == "mse":
                y = torch.tensor(ys[:rows], dtype=dtype).reshape(-1, 1)
                loss_fn = F.mse_loss
            else:
                y = torch.tensor([int(v) for v in ys[:rows]], dtype=torch.long)
                loss_fn = F.cross_entropy
            all_x, all_y = x, y
            gen = torch.Generator().manual_seed(seed)
            minibatches = []  # shuffled: this epoch's row indices, batch by batch

            def next_rows():
                if not minibatches:
                    minibatches.extend(reversed(torch.randperm(rows, generator=gen).split(batch)))
                return minibatches.pop()
            model, init = build(case, dtype)

            def fresh():
                with torch.no_grad():
                    for p, p0 in zip(model.parameters(), init):
                        p.copy_(p0)
                if opt_kind == "sgd":
                    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
                return torch.optim.Adam(model.parameters(), lr=lr)

            def step(opt):
                x, y = all_x, all_y
                if shuffled:
                    idx = next_rows()
                    x, y = all_x[idx], all_y[idx]
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                return loss

            first_loss = None
            for label, threads in thread_settings:
                torch.set_num_threads(threads)
                opt = fresh()
                l0 = step(opt).item()
                first_loss = l0 if first_loss is None else first_loss
                for _ in range(20):  # warm-up
                    step(opt)
                per_rep, cpu_rep = [], []
                for _ in range(args.reps):
                    timed, cpu, steps = 0.0, 0.0, 0
                    while timed < args.min_time:
                        opt = fresh()
                        n = args.chunk
                        t0, c0 = time.perf_counter(), time.process_time()
                        for _ in range(n):
                            step(opt)
                        timed += time.perf_counter() - t0
                        cpu += time.process_time() - c0
                        steps += n
                    per_rep.append(timed / steps * 1e6)
                    cpu_rep.append(cpu / steps * 1e6)
                med = statistics.median(per_rep)
                results.append({"net": name, "dtype": dname, "threads": label, "num_threads": threads,
                                "minibatch": "shuffled" if shuffled else "fixed",
                                "us_per_step_median": med, "us_per_step_reps": per_rep,
                                "cpu_us_per_step_median": statistics.median(cpu_rep), "first_loss": l0})
                print("%-11s %s threads=%-7s (%d)  %10.2f us/step  (reps: %s)  first loss %.6g"
                      % (name, dname, label, threads, med, ", ".join("%.2f" % v for v in per_rep), l0))
                sys.stdout.flush()

    blas = loaded_blas()
    config = torch.__config__.show()
    ob = openblas_info(blas)
    print("BLAS/OpenMP libraries mapped into this process:")
    for lib in blas:
        print("  " + lib)
    print("OpenBLAS: %s" % ob)
    import re
    print("torch config: " + ", ".join(re.findall(r"(?:BLAS_INFO|LAPACK_INFO|USE_MKLDNN|USE_OPENMP)=[^,]*", config)
                                        + [l.strip("- ") for l in config.splitlines() if "CPU capability" in l]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"torch": torch.__version__, "cpus": ncpu, "default_threads": default_threads,
                       "loaded_libraries": blas, "openblas": ob, "config": config, "load_avg": os.getloadavg(),
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
