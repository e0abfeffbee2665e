#!/usr/bin/env python3
"""The machine's peak and the training steps against it and against PyTorch, in one run
(bench/peak.md):

    python3 bench/peak.py [--build build] [--reps 3] [--out bench/results/peak] [--torch-libs DIR]

1. build/bench/gradc_peak_fma: GFLOP/s of independent FMA chains, 1 thread (512/256-bit, f32/f64).
2. build/bench/gradc_train_bench, 1 thread: Step/<net>/<dtype>/trainer_run (Trainer::run, what
   `gradc train` does, per step: shuffled minibatches gathered from the whole data set),
   trainer_fixed (Trainer::run on the first minibatch alone: one step per epoch on the same
   rows), gradc (pack the parameters, kernel, update) and gradc_kernel, medians of --reps
   repetitions, CPU time.
3. /usr/bin/python3 bench/torch_steps.py --threads 1, with --minibatch fixed and shuffled, each
   twice: OPENBLAS_CORETYPE=SkylakeX (AVX-512 kernels) and without OPENBLAS_CORETYPE (OpenBLAS
   detects the CPU); the faster of the two per net, dtype and minibatch is PyTorch's figure. CPU
   time per step (time.process_time). gradc / PyTorch compares like with like: trainer_run
   against PyTorch's shuffled step, trainer_fixed against its fixed one.

Then: the 784-128-10 step's GFLOP/s (its matrix products' flops, counted below) and its share
of the FMA peak at the same width, and gradc / PyTorch per net and dtype. Writes the raw
outputs to OUT_*.txt / .json and the table to OUT.md.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETS = ["xor", "regression", "spiral", "mnist_like"]


def step_flops(sizes, batch):
    """Flops of one training step's matrix products: forward X W per layer, backward dW = X^T dZ
    per layer and dX = dZ W^T for every layer but the first (its X is data)."""
    f = 0
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        f += 2 * batch * a * b * (2 if i == 0 else 3)
    return f


MNIST_FLOPS = step_flops([784, 128, 10], 64)


SUMMARIZE_ONLY = False


def run(cmd, env=None, out=None):
    if SUMMARIZE_ONLY:
        return open(out).read()
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit("failed: " + " ".join(cmd))
    if out:
        with open(out, "w") as f:
            f.write(p.stdout)
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="bench/results/peak")
    ap.add_argument("--summarize-only", action="store_true",
                    help="no runs: the tables from the raw files of an earlier run (OUT_*)")
    ap.add_argument("--torch-libs", default=None,
                    help="a folder put first on PyTorch's LD_LIBRARY_PATH (an OpenBLAS libblas.so.3 when the "
                         "system's libblas is the reference BLAS; see bench/peak.md)")
    args = ap.parse_args()
    global SUMMARIZE_ONLY
    SUMMARIZE_ONLY = args.summarize_only
    out = os.path.join(ROOT, args.out)
    build = os.path.join(ROOT, args.build)
    load = os.getloadavg()

    fma_text = run([os.path.join(build, "bench/gradc_peak_fma")], out=out + "_fma.txt")
    peak = {}
    for line in fma_text.splitlines():
        m = re.match(r"(\d+)-bit (f\d\d)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            peak[(int(m.group(1)), m.group(2))] = float(m.group(3))

    bench_json = out + "_gradc.json"
    run([os.path.join(build, "bench/gradc_train_bench"), "--benchmark_filter=Step/.*/(gradc|gradc_kernel|trainer_run|trainer_fixed)$",
         "--benchmark_repetitions=%d" % args.reps, "--benchmark_report_aggregates_only=true",
         "--benchmark_min_time=0.3", "--benchmark_out=" + bench_json, "--benchmark_out_format=json"],
        out=out + "_gradc.txt")
    gradc = {}
    for b in json.load(open(bench_json))["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        _, net, dtype, what = b["run_name"].split("/")
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
        per = b["steps_per_run"] if what.startswith("trainer_") else 1  # a whole run per iteration
        gradc[(net, dtype, what)] = b["cpu_time"] * scale / per

    torch = {}
    base = dict(os.environ)
    if args.torch_libs:
        base["LD_LIBRARY_PATH"] = args.torch_libs + os.pathsep + base.get("LD_LIBRARY_PATH", "")
    for label, env in (("SkylakeX", dict(base, OPENBLAS_CORETYPE="SkylakeX")),
                       ("detected", {k: v for k, v in base.items() if k != "OPENBLAS_CORETYPE"})):
        for mb in ("fixed", "shuffled"):
            tj = "%s_torch_%s_%s.json" % (out, label, mb)
            run(["/usr/bin/python3", "bench/torch_steps.py", "--threads", "1", "--reps", str(args.reps),
                 "--min-time", "0.3", "--minibatch", mb, "--out", tj], env=env, out="%s_torch_%s_%s.txt" % (out, label, mb))
            data = json.load(open(tj))
            ob = data.get("openblas")
            core = "OpenBLAS core " + ob["corename"] if ob else "no OpenBLAS: " + ", ".join(
                os.path.basename(l) for l in data["loaded_libraries"] if "blas" in l)
            for r in data["results"]:
                key = (r["net"], r["dtype"], mb)
                v = r["cpu_us_per_step_median"]
                if key not in torch or v < torch[key][0]:
                    torch[key] = (v, "%s (%s)" % (label, core))

    lines = [("Load average at start: %.2f %.2f %.2f" % load) if not SUMMARIZE_ONLY else "(summarized again)", "",
             "FMA peak, 1 thread, GFLOP/s (median): " +
             ", ".join("%d-bit %s %.1f" % (w, d, v) for (w, d), v in sorted(peak.items(), reverse=True)), "",
             "| net | dtype | gradc Trainer::run µs/step | PyTorch shuffled µs | gradc / PyTorch | gradc Trainer::run, first minibatch µs | PyTorch fixed µs | gradc / PyTorch | gradc pack+kernel+update µs | gradc kernel µs | PyTorch's faster BLAS (fixed) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for net in NETS:
        for dtype in ("f32", "f64"):
            r = gradc.get((net, dtype, "trainer_run"))
            rf = gradc.get((net, dtype, "trainer_fixed"))
            g = gradc.get((net, dtype, "gradc"))
            k = gradc.get((net, dtype, "gradc_kernel"))
            ts = torch.get((net, dtype, "shuffled"))
            tf = torch.get((net, dtype, "fixed"))
            if None in (r, rf, g, k, ts, tf):
                continue
            lines.append("| %s | %s | %.2f | %.2f | %.3f | %.2f | %.2f | %.3f | %.2f | %.2f | %s |" % (
                net, dtype, r, ts[0], r / ts[0], rf, tf[0], rf / tf[0], g, k, tf[1]))
    lines += ["", "784-128-10 step, batch 64: %.2f Mflop in its matrix products" % (MNIST_FLOPS / 1e6), "",
              "| dtype | gradc Trainer::run GFLOP/s | kernel GFLOP/s | % of the 512-bit FMA peak (kernel) | PyTorch GFLOP/s (fixed) |",
              "|---|---|---|---|---|"]
    for dtype in ("f32", "f64"):
        g = gradc.get(("mnist_like", dtype, "trainer_run"))
        k = gradc.get(("mnist_like", dtype, "gradc_kernel"))
        t = torch.get(("mnist_like", dtype, "fixed"))
        p = peak.get((512, dtype)) or peak.get((256, dtype))
        if g is None or k is None or t is None or not p:
            continue
        lines.append("| %s | %.1f | %.1f | %.0f%% | %.1f |" % (dtype, MNIST_FLOPS / g / 1e3, MNIST_FLOPS / k / 1e3,
                                                          100 * MNIST_FLOPS / k / 1e3 / p, MNIST_FLOPS / t[0] / 1e3))
    text = "\n".join(lines) + "\n"
    with open(out + ".md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
