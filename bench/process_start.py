#!/usr/bin/env python3
"""Process start: CPU time (perf stat's task-clock) and page faults of whole gradc processes,
the static-LLVM gradc against the same program linked with the shared libLLVM
(gradc_shared_llvm), in one run (bench/process.md).

    cmake --build build -j2 --target gradc gradc_shared_llvm
    python3 bench/process_start.py [--runs 30] [--rounds 3] [--out bench/results/process_start.md]

Run from the repository root. Each (binary, command) is measured by `perf stat -r RUNS`; the
binaries alternate, ROUNDS times, and the table gives the median of the rounds' means.
"""
import argparse
import os
import statistics
import subprocess
import sys

COMMANDS = [
    ("--version", ["--version"]),
    ("eval examples/lecture.grad --fn f", ["eval", "examples/lecture.grad", "--fn", "f"]),
    ("diff examples/lecture.grad --fn f (no JIT)", ["diff", "examples/lecture.grad", "--fn", "f"]),
]


def perf_stat(cmd, runs):
    """(task-clock ms, page faults) averaged over `runs` runs."""
    r = subprocess.run(["perf", "stat", "-x,", "-r", str(runs), "-e", "task-clock,page-faults"] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    clock = faults = None
    for line in r.stderr.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2].startswith("task-clock"):
            clock = float(f[0])
        elif len(f) > 2 and f[2].startswith("page-faults"):
            faults = float(f[0])
    if clock is None or faults is None:
        sys.exit("perf stat failed for %s:\n%s" % (" ".join(cmd), r.stderr))
    return clock, faults


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="bench/results/process_start.md")
    a = ap.parse_args()
    binaries = [("static LLVM (gradc)", os.path.join(a.build, "gradc")),
                ("shared libLLVM (gradc_shared_llvm)", os.path.join(a.build, "gradc_shared_llvm"))]
    for _, b in binaries:
        if not os.path.exists(b):
            sys.exit("missing %s: cmake --build %s --target gradc gradc_shared_llvm" % (b, a.build))
    baseline = [perf_stat(["/bin/true"], a.runs)]
    results = {}
    for _ in range(a.rounds):
        for label, args in COMMANDS:
            for name, b in binaries:
                results.setdefault((label, name), []).append(perf_stat([b] + args, a.runs))
        baseline.append(perf_stat(["/bin/true"], a.runs))
    load = os.getloadavg()
    lines = ["command | binary | task-clock ms (median of %d rounds of %d) | page faults" % (a.rounds, a.runs)]
    med = {}
    for label, _ in COMMANDS:
        for name, _ in binaries:
            r = results[(label, name)]
            med[(label, name)] = statistics.median(x[0] for x in r)
            lines.append("%s | %s | %.2f | %.0f" % (label, name, med[(label, name)], statistics.median(x[1] for x in r)))
    lines.append("/bin/true | | %.2f | %.0f" % (statistics.median(x[0] for x in baseline),
                                                 statistics.median(x[1] for x in baseline)))
    s, d = binaries[0][0], binaries[1][0]
    v, e = COMMANDS[0][0], COMMANDS[1][0]
    summary = ["",
               "--version: static %.2f ms, shared %.2f ms (%.2fx); eval / --version: static %.2fx, shared %.2fx"
               % (med[(v, s)], med[(v, d)], med[(v, d)] / med[(v, s)], med[(e, s)] / med[(v, s)],
                  med[(e, d)] / med[(v, d)]),
               "load average at the end: %.2f %.2f %.2f" % load]
    rows = ["| " + l + " |" for l in lines]
    text = "\n".join(rows[:1] + ["|---|---|---|---|"] + rows[1:] + summary) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
