#!/usr/bin/env python3
"""Process start: CPU time (perf stat's task-clock) and page faults of whole gradc processes, in
one run (bench/process.md): `gradc --version`, `gradc eval examples/lecture.grad --fn f` with its
kernel from the object cache (the second run of the file: the cache is filled first, in a private
$XDG_CACHE_HOME), the same eval with --no-cache (it compiles), and `gradc diff` (no JIT). Each
round gives the cached eval's ratio to --version; the issue's target is at most 1.2x.

    cmake --build build -j2 --target gradc [gradc_shared_llvm]
    python3 bench/process_start.py [--runs 30] [--rounds 5] [--peer OTHER_GRADC ...]
                                   [--out bench/results/process_start.md]

Run from the repository root. Each (binary, command) is measured by `perf stat -r RUNS`; the
binaries alternate, ROUNDS times; the table gives the median of the rounds' means. Peers: the
same program linked with the shared libLLVM (build/gradc_shared_llvm, if built), and any --peer
(e.g. a copy of main's build/gradc) measured in the same run.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

LECTURE = ["examples/lecture.grad", "--fn", "f"]
COMMANDS = [
    ("--version", ["--version"]),
    ("eval (cached)", ["eval"] + LECTURE),
    ("eval --no-cache (compiles)", ["eval"] + LECTURE + ["--no-cache"]),
    ("diff (no JIT)", ["diff"] + LECTURE),
]


def perf_stat(cmd, runs, env):
    """(task-clock ms, page faults) averaged over `runs` runs."""
    r = subprocess.run(["perf", "stat", "-x,", "-r", str(runs), "-e", "task-clock,page-faults"] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
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
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peer", action="append", default=[], help="another gradc binary to measure alongside")
    ap.add_argument("--out", default="bench/results/process_start.md")
    a = ap.parse_args()
    binaries = [("gradc", os.path.join(a.build, "gradc"))]
    shared = os.path.join(a.build, "gradc_shared_llvm")
    if os.path.exists(shared):
        binaries.append(("shared libLLVM", shared))
    binaries += [("peer %s" % p, p) for p in a.peer]
    for _, b in binaries:
        if not os.path.exists(b):
            sys.exit("missing %s: cmake --build %s --target gradc" % (b, a.build))
    cache = tempfile.mkdtemp(prefix="gradc-start-")
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    env.pop("GRADC_NO_CACHE", None)
    for _, b in binaries:  # the first run of the file fills the cache
        subprocess.run([b, "eval"] + LECTURE, stdout=subprocess.DEVNULL, env=env, check=True)
    load = [os.getloadavg()[0]]
    baseline = [perf_stat(["/bin/true"], a.runs, env)]
    results = {}
    for _ in range(a.rounds):
        for label, args in COMMANDS:
            for name, b in binaries:
                results.setdefault((label, name), []).append(perf_stat([b] + args, a.runs, env))
        baseline.append(perf_stat(["/bin/true"], a.runs, env))
        load.append(os.getloadavg()[0])
    lines = ["| command | binary | task-clock ms (median of %d rounds of %d) | page faults |" % (a.rounds, a.runs),
             "|---|---|---|---|"]
    for label, _ in COMMANDS:
        for name, _ in binaries:
            r = results[(label, name)]
            lines.append("| %s | %s | %.2f | %.0f |" % (label, name, statistics.median(x[0] for x in r),
                                                       statistics.median(x[1] for x in r)))
    lines.append("| /bin/true | | %.2f | %.0f |" % (statistics.median(x[0] for x in baseline),
                                                     statistics.median(x[1] for x in baseline)))
    lines.append("")
    v, e = COMMANDS[0][0], COMMANDS[1][0]
    for name, _ in binaries:
        ratios = [ev[0] / ver[0] for ev, ver in zip(results[(e, name)], results[(v, name)])]
        lines.append("%s: cached eval / --version per round: %s (median %.3f, max %.3f); --version %s ms; eval %s ms"
                     % (name, " ".join("%.3f" % x for x in ratios), statistics.median(ratios), max(ratios),
                        " ".join("%.2f" % x[0] for x in results[(v, name)]),
                        " ".join("%.2f" % x[0] for x in results[(e, name)])))
    lines.append("load average (1 min) at the start and after each round: %s"
                 % " ".join("%.2f" % x for x in load))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    subprocess.run(["rm", "-rf", cache])


if __name__ == "__main__":
    main()
