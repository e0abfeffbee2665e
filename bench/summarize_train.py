#!/usr/bin/env python3
"""Markdown tables (medians) of the training-step benchmarks, with the issue's targets checked.

    build/bench/gradc_train_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
        --benchmark_out=bench/results/train_bench.json --benchmark_out_format=json
    /usr/bin/python3 bench/torch_steps.py --out bench/results/torch_steps.json
    env -u OPENBLAS_CORETYPE /usr/bin/python3 bench/torch_steps.py --out bench/results/torch_steps_autodetect.json
    build/bench/gradc_train_bench --threads=2 --benchmark_filter='Step/.*/(gradc|gradc_kernel|trainer_run)$' \
        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
        --benchmark_out=bench/results/train_bench_2threads.json --benchmark_out_format=json
    python3 bench/summarize_train.py bench/results/train_bench.json [--threads2 bench/results/train_bench_2threads.json] \
        [bench/results/torch_steps_autodetect.json [bench/results/torch_steps.json ...]]

Figures are microseconds per step, wall time (Google Benchmark's real_time; torch_steps.py's
time.perf_counter), medians of 5 repetitions. The main table's torch columns come from the first
torch file; every torch file is listed in a table of its own, and the targets are checked
against the fastest torch figure of all files and thread settings. Without a torch file the
torch columns are "not measured".
"""
import json
import os
import sys

NETS = [("xor", "XOR 2-8-1 tanh, batch 4, SGD momentum"),
        ("regression", "2-16-16-1 ReLU, 1,024 rows full batch, Adam"),
        ("spiral", "spiral 2-32-32-2 ReLU, softmax CE, batch 64, SGD momentum"),
        ("mnist_like", "784-128-10 ReLU, softmax CE, batch 64, SGD momentum")]
SMALL = {"xor", "regression", "spiral"}


def medians(path):
    return {b["run_name"]: b for b in json.load(open(path))["benchmarks"] if b.get("aggregate_name") == "median"}


def main() -> int:
    args = sys.argv[1:]
    threads2 = None
    if "--threads2" in args:
        i = args.index("--threads2")
        threads2 = medians(args[i + 1])
        del args[i:i + 2]
    data = json.load(open(args[0]))
    med = medians(args[0])
    ctx = data["context"]
    torches = [json.load(open(f)) for f in args[1:] if os.path.exists(f)]
    torch = torches[0] if torches else None
    print("gradc_train_bench: run %s, %d CPUs, load average %s at start."
          % (ctx["date"], ctx["num_cpus"], ", ".join("%.2f" % x for x in ctx["load_avg"])))
    for i, t in enumerate(torches):
        print("torch_steps.py%s: torch %s, default threads %d, load average %s at the end; OpenBLAS kernels %s "
              "(OPENBLAS_CORETYPE=%s); libraries: %s."
              % (" (main table)" if i == 0 else "", t["torch"], t["default_threads"],
                 ", ".join("%.2f" % x for x in t["load_avg"]), t["openblas"]["corename"],
                 t["openblas"]["OPENBLAS_CORETYPE"], ", ".join(os.path.basename(p) for p in t["loaded_libraries"])))
    print()

    def us(net, dt, what):
        return med["Step/%s/%s/%s" % (net, dt, what)]["real_time"]

    def cpu(net, dt, what):
        return med["Step/%s/%s/%s" % (net, dt, what)]["cpu_time"]

    def per_step(net, dt):
        return med["Step/%s/%s/trainer_run" % (net, dt)]["per_step"] * 1e6

    def th(net, dt, label, t=None):
        t = t or torch
        if not t:
            return None
        for r in t["results"]:
            if r["net"] == net and r["dtype"] == dt and r["threads"] == label:
                return r["us_per_step_median"]
        return None

    default_label = "default (%d)" % torch["default_threads"] if torch else "default"
    all_label = str(torch["cpus"]) if torch else "2"
    fmt = lambda v: "not measured" if v is None else ("%.2f" % v if v < 10 else "%.1f" % v if v < 1000 else "%.0f" % v)
    ratio = lambda a, b: "" if a is None or b is None else "%.1fx" % (a / b) if a / b >= 2 else "%.2fx" % (a / b)

    print("### Microseconds per training step (wall time, median of 5)\n")
    print("| network | dtype | gradc | hand C++ -O2 | gradc / hand | torch 1 thread | torch %s threads "
          "| torch %s threads | torch 1 thread / gradc | torch %s threads / gradc |" % (default_label, all_label, all_label))
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for net, label in NETS:
        for dt in ("f32", "f64"):
            g, h = us(net, dt, "gradc"), us(net, dt, "hand")
            t1, td, ta = th(net, dt, "1"), th(net, dt, "default"), th(net, dt, all_label)
            print("| %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s |"
                  % (label if dt == "f32" else "", dt, fmt(g), fmt(h), ratio(g, h), fmt(t1), fmt(td), fmt(ta),
                     ratio(t1, g), ratio(ta, g)))
            allt = [th(net, dt, lab, t) for t in torches for lab in ("1", "default", all_label)]
            verdicts.append((net, dt, g, h, [v for v in allt if v is not None]))
    print()

    print("### Breakdown and other baselines (µs per step, wall time, median of 5)\n")
    print("| network | dtype | gradc kernel alone | gradc, no parameter copy | gradc, update -O3 -march=native "
          "| Trainer::run per step | hand -O2, no update | hand -O2 -march=native | hand -O3 -march=native "
          "| compile (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for net, _ in NETS:
        for dt in ("f32", "f64"):
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |"
                  % (net, dt, fmt(us(net, dt, "gradc_kernel")), fmt(us(net, dt, "gradc_inplace")),
                     fmt(us(net, dt, "gradc_o3update")),
                     fmt(per_step(net, dt)), fmt(us(net, dt, "hand_grads")), fmt(us(net, dt, "hand_native")),
                     fmt(us(net, dt, "hand_o3native")),
                     med["Step/%s/%s/gradc" % (net, dt)]["compile_ms"]))
    print()

    for t in torches:
        print("### PyTorch %s eager, OpenBLAS kernels %s (OPENBLAS_CORETYPE=%s): µs per step (wall), median of 5\n"
              % (t["torch"], t["openblas"]["corename"], t["openblas"]["OPENBLAS_CORETYPE"]))
        labels = ["default", "1", str(t["cpus"])]
        print("| network | dtype | %s |" % " | ".join(
            "%s thread%s (CPU time)" % ("default (%d)" % t["default_threads"] if l == "default" else l,
                                       "" if l == "1" else "s") for l in labels))
        print("|---|---|" + "---|" * len(labels))
        for net, _ in NETS:
            for dt in ("f32", "f64"):
                cells = []
                for l in labels:
                    r = [x for x in t["results"] if x["net"] == net and x["dtype"] == dt and x["threads"] == l]
                    cells.append("%s (%s)" % (fmt(r[0]["us_per_step_median"]), fmt(r[0]["cpu_us_per_step_median"]))
                                 if r else "")
                print("| %s | %s | %s |" % (net, dt, " | ".join(cells)))
        print()

    worst = max(abs(cpu(n, d, w) / us(n, d, w) - 1) for n, _ in NETS for d in ("f32", "f64")
                for w in ("gradc", "gradc_kernel", "gradc_inplace", "gradc_o3update", "hand", "hand_native", "hand_o3native", "hand_grads"))
    print("CPU time differs from wall time by at most %.1f%% in the C++ rows.\n" % (100 * worst))

    # Like for like: gradc's training loop (Trainer::run, what `gradc train` runs) on one thread
    # against torch on one thread (its default here), and with --threads 2 against torch on 2.
    if threads2 and torch:
        print("### Like for like: `Trainer::run` per step against torch with the same threads\n")
        print("| network | dtype | gradc 1 thread | torch 1 thread (fastest of 1 / default) | ratio | "
              "gradc --threads 2 | torch 2 threads | ratio | target |")
        print("|---|---|---|---|---|---|---|---|---|")
        for net, label in NETS:
            for dt in ("f32", "f64"):
                g1 = per_step(net, dt)
                g2 = threads2["Step/%s/%s/trainer_run" % (net, dt)]["per_step"] * 1e6
                t1 = min(v for t in torches for lab in ("1", "default")
                         if (v := th(net, dt, lab, t)) is not None and (lab == "1" or t["default_threads"] == 1))
                t2 = min(v for t in torches if (v := th(net, dt, str(t["cpus"]), t)) is not None)
                need = 10 if net in SMALL else 1
                ok = t1 / g1 >= need and t2 / g2 >= need
                print("| %s | %s | %s | %s | %s | %s | %s | %s | >= %dx: %s |"
                      % (net, dt, fmt(g1), fmt(t1), ratio(t1, g1), fmt(g2), fmt(t2), ratio(t2, g2), need,
                         "met" if ok else "MISSED"))
        print()

    print("### Targets\n")
    for net, dt, g, h, allt in verdicts:
        r = g / h
        line = "- %s %s: gradc / hand C++ = %.2fx (<= 1.5x: %s)" % (net, dt, r, "met" if r <= 1.5 else "MISSED")
        best = min(allt) if allt else None
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
