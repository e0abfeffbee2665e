#!/usr/bin/env python3
"""Two threads on a busy machine (bench/peak.md, "Threads on a busy machine"): the 784-128-10
training step at 2 threads, gradc against PyTorch, each with and without a neighbour process
that spins on one core, in one run.

    python3 bench/busy_neighbour.py [--build build] [--reps 3] [--spinners 1] [--out bench/results/busy_neighbour]
        [--old-bench PATH] [--torch-libs DIR]

For each setting (quiet, then busy: --spinners processes each running a pure busy loop, not
pinned, started before and killed after the measurement):
  gradc    build/bench/gradc_train_bench --threads=2, Step/mnist_like/<dtype>/gradc_kernel
           (wall time: what a user waits for; medians of --reps repetitions)
  PyTorch  /usr/bin/python3 bench/torch_steps.py --only mnist_like --threads 2 (wall time,
           torch.set_num_threads(2), its OpenMP pool), with OPENBLAS_CORETYPE=SkylakeX
With --old-bench, a gradc_train_bench built from an older commit is measured the same way
(the thread pool before this one). The figure of merit is busy / quiet per program.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPIN = "import os\nos.nice(0)\nwhile True:\n    pass\n"


def gradc_step(binary, reps, out):
    cmd = [binary, "--threads=2", "--benchmark_filter=Step/mnist_like/.*/gradc_kernel$",
           "--benchmark_repetitions=%d" % reps, "--benchmark_report_aggregates_only=true",
           "--benchmark_min_time=0.5", "--benchmark_out=" + out, "--benchmark_out_format=json"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    res = {}
    for b in json.load(open(out))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
            res[b["run_name"].split("/")[2]] = b["real_time"] * scale
    return res


def torch_step(reps, out, libs):
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX")
    if libs:
        env["LD_LIBRARY_PATH"] = libs + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    subprocess.run(["/usr/bin/python3", "bench/torch_steps.py", "--only", "mnist_like", "--threads", "2",
                    "--reps", str(reps), "--min-time", "0.5", "--chunk", "64", "--out", out], check=True, capture_output=True,
                   cwd=ROOT, env=env)
    return {r["dtype"]: r["us_per_step_median"] for r in json.load(open(out))["results"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--spinners", type=int, default=1)
    ap.add_argument("--out", default="bench/results/busy_neighbour")
    ap.add_argument("--old-bench", default=None)
    ap.add_argument("--torch-libs", default=None,
                    help="a folder put first on PyTorch's LD_LIBRARY_PATH (an OpenBLAS libblas.so.3 when the "
                         "system's libblas is the reference BLAS; see bench/peak.md)")
    args = ap.parse_args()
    out = os.path.join(ROOT, args.out)
    programs = [("gradc", lambda tag: gradc_step(os.path.join(ROOT, args.build, "bench/gradc_train_bench"),
                                                   args.reps, "%s_gradc_%s.json" % (out, tag)))]
    if args.old_bench:
        programs.append(("gradc (old pool)",
                         lambda tag: gradc_step(args.old_bench, args.reps, "%s_old_%s.json" % (out, tag))))
    programs.append(("PyTorch", lambda tag: torch_step(args.reps, "%s_torch_%s.json" % (out, tag), args.torch_libs)))
    results = {}
    lines = ["Load average at start: %.2f %.2f %.2f; %d CPUs; %d spinning neighbour(s) when busy"
             % (os.getloadavg() + (os.cpu_count(), args.spinners))]
    for setting in ("quiet", "busy"):
        spinners = []
        if setting == "busy":
            spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.spinners)]
            time.sleep(0.5)
        try:
            for name, measure in programs:
                results[(name, setting)] = measure(setting + name.split()[0] + ("_old" if "old" in name else ""))
                print(setting, name, results[(name, setting)], flush=True)
        finally:
            for p in spinners:
                p.send_signal(signal.SIGKILL)
                p.wait()
    lines += ["", "| program | dtype | quiet µs | busy µs | busy / quiet |", "|---|---|---|---|---|"]
    for name, _ in programs:
        for dtype in ("f32", "f64"):
            q = results[(name, "quiet")].get(dtype)
            b = results[(name, "busy")].get(dtype)
            if q and b:
                lines.append("| %s | %s | %.0f | %.0f | %.2f |" % (name, dtype, q, b, b / q))
    text = "\n".join(lines) + "\n"
    with open(out + ".md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
