#!/usr/bin/env python3
"""Markdown tables (medians) from gradc_bench's JSON output, with the targets checked.

    build/bench/gradc_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
        --benchmark_out=bench/results/gradc_bench.json --benchmark_out_format=json
    python3 bench/summarize.py bench/results/gradc_bench.json

Times are CPU time (the machine is shared: wall time includes time spent preempted), except
Diff/*, whose manual time is the thread's CPU time spent in gradient() alone.
"""
import json
import sys


def main() -> int:
    data = json.load(open(sys.argv[1]))
    med = {b["run_name"]: b for b in data["benchmarks"] if b.get("aggregate_name") == "median"}
    ctx = data["context"]
    print("Run %s on %s: %d CPUs at %d MHz, load average %s at start.\n"
          % (ctx["date"], ctx["host_name"], ctx["num_cpus"], ctx["mhz_per_cpu"],
             ", ".join("%.2f" % x for x in ctx["load_avg"])))

    def t(name, unit_scale=1.0):
        return med[name]["cpu_time"] * unit_scale

    def wall(name):
        return med[name]["real_time"]

    print("### Evaluation (ns per point, median of 5; CPU time, wall time in parentheses)\n")
    print("| benchmark | JIT | hand -O2 | hand -O2 -march=native | JIT / hand -O2 |")
    print("|---|---|---|---|---|")
    rows = [("value+gradient, single call", "BM_Eval_Jit_ValueGrad", "BM_Eval_Hand_ValueGrad",
             "BM_Eval_HandNative_ValueGrad"),
            ("value alone, single call", "BM_Eval_Jit_Value", "BM_Eval_Hand_Value", "BM_Eval_HandNative_Value")]
    for label, j, h, hn in rows:
        print("| %s | %.1f (%.1f) | %.1f (%.1f) | %.1f (%.1f) | %.2fx |"
              % (label, t(j), wall(j), t(h), wall(h), t(hn), wall(hn), t(j) / t(h)))
    b = lambda n: med[n]["per_point"] * 1e9
    print("| value+gradient, batch of 1024, per point | %.1f | %.1f | %.1f | %.2fx |"
          % (b("BM_Eval_Jit_ValueGrad_Batch1024"), b("BM_Eval_Hand_ValueGrad_Batch1024"),
             b("BM_Eval_HandNative_ValueGrad_Batch1024"),
             b("BM_Eval_Jit_ValueGrad_Batch1024") / b("BM_Eval_Hand_ValueGrad_Batch1024")))
    print("| value alone, batch of 1024, per point | %.1f | | | |" % b("BM_Eval_Jit_Value_Batch1024"))
    r1 = t("BM_Eval_Jit_ValueGrad") / t("BM_Eval_Hand_ValueGrad")
    r2 = t("BM_Eval_Jit_ValueGrad") / t("BM_Eval_Jit_Value")
    r3 = b("BM_Eval_Jit_ValueGrad_Batch1024") / b("BM_Eval_Jit_Value_Batch1024")
    print()
    print("- JIT value+gradient / hand-written -O2: %.2fx (target <= 1.2x: %s)" % (r1, "met" if r1 <= 1.2 else "MISSED"))
    print("- JIT value+gradient / JIT value: %.2fx single, %.2fx batched (target <= 2x: %s)"
          % (r2, r3, "met" if r2 <= 2 else "MISSED"))

    print("\n### JIT compile time (ms, median of 5; CPU time, wall time in parentheses)\n")
    print("| benchmark | DAG nodes (value+gradient) | ms |")
    print("|---|---|---|")
    for label, n in [("Jit::create alone", "BM_Compile_JitCreate"),
                     ("lecture: fresh Jit (create + compile)", "BM_Compile_Lecture_Fresh"),
                     ("lecture: compile again in the same Jit", "BM_Compile_Lecture_Again"),
                     ("lecture: same, Options{optimize=false}", "BM_Compile_Lecture_Again_NoOpt"),
                     ("generated: fresh Jit (create + compile)", "BM_Compile_Generated_Fresh"),
                     ("generated: compile again in the same Jit", "BM_Compile_Generated_Again"),
                     ("generated: same, Options{optimize=false}", "BM_Compile_Generated_Again_NoOpt")]:
        nodes = med[n].get("dag_nodes")
        print("| %s | %s | %.2f (%.2f) |" % (label, "%d" % nodes if nodes else "", t(n), wall(n)))

    print("\n### Differentiation of f_n = sin(f_{n-1} x + cos(f_{n-1} y))\n")
    print("| n | f_n DAG | gradient (d/dx, d/dy) DAG | DAG / n | printed chars | d/dx DAG | d/dx chars "
          "| gradient as a tree | gradient() time (us) |")
    print("|---|---|---|---|---|---|---|---|---|")
    prev = None
    for n in range(5, 45, 5):
        m = med["BM_Diff_Nested/%d/manual_time" % n]
        tree = m["grad_tree"]
        tree_s = "saturated (>= 2^64)" if tree >= 1.8e19 else "%.3g" % tree
        print("| %d | %d | %d | %.2f | %d | %d | %d | %s | %.1f |"
              % (n, m["f_nodes"], m["grad_nodes"], m["grad_per_n"], m["chars"], m["dx_nodes"],
                 m["dx_chars"], tree_s, m["real_time"]))
    print()
    ms = [med["BM_Diff_Nested/%d/manual_time" % n] for n in range(5, 45, 5)]
    inc = [b2["grad_nodes"] - b1["grad_nodes"] for b1, b2 in zip(ms, ms[1:])]
    cinc = [b2["chars"] - b1["chars"] for b1, b2 in zip(ms, ms[1:])]
    print("- gradient DAG increments per +5 levels: %s" % ", ".join("%d" % x for x in inc))
    print("- printed-character increments per +5 levels: %s" % ", ".join("%d" % x for x in cinc))
    for n in (10, 40):
        print("- print() of the n = %d gradient: %.1f us" % (n, t("BM_Diff_Nested_Print/%d" % n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
