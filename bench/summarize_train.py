#!/usr/bin/env python3
"""Markdown tables (medians) of the training-step benchmarks, with the issue's targets checked.

    build/bench/gradc_train_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
        --benchmark_out=bench/results/train_bench.json --benchmark_out_format=json
    /usr/bin/python3 bench/torch_steps.py --out bench/results/torch_steps.json
    python3 bench/summarize_train.py bench/results/train_bench.json [bench/results/torch_steps.json]

Figures are microseconds per step, wall time (Google Benchmark's real_time; torch_steps.py's
time.perf_counter), medians of 5 repetitions. Without the torch file the torch columns are
"not measured".
"""
import json
import os
import sys

NETS = [("xor", "XOR 2-8-1 tanh, batch 4, SGD momentum"),
        ("regression", "2-16-16-1 ReLU, 1,024 rows full batch, Adam"),
        ("spiral", "spiral 2-32-32-2 ReLU, softmax CE, batch 64, SGD momentum"),
        ("mnist_like", "784-128-10 ReLU, softmax CE, batch 64, SGD momentum")]
SMALL = {"xor", "regression", "spiral"}


def main() -> int:
    data = json.load(open(sys.argv[1]))
    med = {b["run_name"]: b for b in data["benchmarks"] if b.get("aggregate_name") == "median"}
    ctx = data["context"]
    torch = json.load(open(sys.argv[2])) if len(sys.argv) > 2 and os.path.exists(sys.argv[2]) else None
    print("gradc_train_bench: run %s, %d CPUs, load average %s at start."
          % (ctx["date"], ctx["num_cpus"], ", ".join("%.2f" % x for x in ctx["load_avg"])))
    if torch:
        print("torch_steps.py: torch %s, default threads %d, load average %s at the end; libraries: %s."
              % (torch["torch"], torch["default_threads"], ", ".join("%.2f" % x for x in torch["load_avg"]),
                 ", ".join(os.path.basename(p) for p in torch["loaded_libraries"])))
    print()

    def us(net, dt, what):
        return med["Step/%s/%s/%s" % (net, dt, what)]["real_time"]

    def cpu(net, dt, what):
        return med["Step/%s/%s/%s" % (net, dt, what)]["cpu_time"]

    def per_step(net, dt):
        return med["Step/%s/%s/trainer_run" % (net, dt)]["per_step"] * 1e6

    def th(net, dt, label):
        if not torch:
            return None
        for r in torch["results"]:
            if r["net"] == net and r["dtype"] == dt and r["threads"] == label:
                return r["us_per_step_median"]
        return None

    default_label = "default (%d)" % torch["default_threads"] if torch else "default"
    all_label = str(torch["cpus"]) if torch else "2"
    fmt = lambda v: "not measured" if v is None else ("%.2f" % v if v < 10 else "%.1f" % v if v < 1000 else "%.0f" % v)
    ratio = lambda a, b: "" if a is None or b is None else "%.1fx" % (a / b) if a / b >= 2 else "%.2fx" % (a / b)

    print("### Microseconds per training step (wall time, median of 5)\n")
    print("| network | dtype | gradc | hand C++ -O2 | gradc / hand | torch 1 thread | torch %s threads "
          "| torch 1 thr / gradc | torch default / gradc |" % default_label)
    print("|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for net, label in NETS:
        for dt in ("f32", "f64"):
            g, h = us(net, dt, "gradc"), us(net, dt, "hand")
            t1, td = th(net, dt, "1"), th(net, dt, "default")
            print("| %s | %s | **%s** | %s | %s | %s | %s | %s | %s |"
                  % (label if dt == "f32" else "", dt, fmt(g), fmt(h), ratio(g, h), fmt(t1), fmt(td),
                     ratio(t1, g), ratio(td, g)))
            verdicts.append((net, dt, g, h, t1, td, th(net, dt, all_label)))
    print()

    print("### Breakdown and other baselines (µs per step, wall time, median of 5)\n")
    print("| network | dtype | gradc kernel alone | gradc, parameters in the input buffer | Trainer::run per step "
          "| hand -O2 grads alone | hand -O2 -march=native | hand -O3 -march=native | torch %s threads "
          "| compile (ms) |" % all_label)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for net, _ in NETS:
        for dt in ("f32", "f64"):
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |"
                  % (net, dt, fmt(us(net, dt, "gradc_kernel")), fmt(us(net, dt, "gradc_inplace")),
                     fmt(per_step(net, dt)), fmt(us(net, dt, "hand_grads")), fmt(us(net, dt, "hand_native")),
                     fmt(us(net, dt, "hand_o3native")), fmt(th(net, dt, all_label)),
                     med["Step/%s/%s/gradc" % (net, dt)]["compile_ms"]))
    print()

    worst = max(abs(cpu(n, d, w) / us(n, d, w) - 1) for n, _ in NETS for d in ("f32", "f64")
                for w in ("gradc", "gradc_kernel", "gradc_inplace", "hand", "hand_native", "hand_o3native", "hand_grads"))
    print("CPU time differs from wall time by at most %.1f%% in the C++ rows.\n" % (100 * worst))

    print("### Targets\n")
    for net, dt, g, h, t1, td, ta in verdicts:
        r = g / h
        line = "- %s %s: gradc / hand C++ = %.2fx (<= 1.5x: %s)" % (net, dt, r, "met" if r <= 1.5 else "MISSED")
        best = min(v for v in (t1, td, ta) if v is not None) if t1 is not None else None
        if best is None:
            line += "; torch not measured"
        elif net in SMALL:
            line += "; torch (fastest thread setting, %.1f µs) / gradc = %.1fx (>= 10x: %s)" % (
                best, best / g, "met" if best / g >= 10 else "MISSED")
        else:
            line += "; torch (fastest thread setting, %.1f µs) / gradc = %.2fx (>= 1x: %s)" % (
                best, best / g, "met" if best / g >= 1 else "MISSED")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
