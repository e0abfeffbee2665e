#!/usr/bin/env python3
"""Whole-process wall time of a command: median and min over N runs (hyperfine-like).

    python3 bench/process_time.py                      # build/gradc eval examples/lecture.grad --fn f
    python3 bench/process_time.py --runs 30 -- build/gradc diff examples/lecture.grad --fn f

Run from the repository root. Each run is a fork+exec via subprocess with stdout/stderr
discarded; a few untimed warm-up runs come first (page cache, dynamic loader caches).
A non-zero exit status aborts the measurement.
"""
import argparse
import statistics
import subprocess
import sys
import time

DEFAULT = ["build/gradc", "eval", "examples/lecture.grad", "--fn", "f"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--target-ms", type=float, default=50.0, help="report whether the median is under this")
    ap.add_argument("command", nargs="*", help="command to time (after --); default: %s" % " ".join(DEFAULT))
    args = ap.parse_args()
    cmd = args.command or DEFAULT

    def once() -> float:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
        if r.returncode != 0:
            sys.exit("command failed with exit status %d: %s" % (r.returncode, " ".join(cmd)))
        return (t1 - t0) * 1e3

    for _ in range(args.warmup):
        once()
    ms = sorted(once() for _ in range(args.runs))
    med = statistics.median(ms)
    print("command: %s" % " ".join(cmd))
    print("runs: %d (after %d warm-up)" % (args.runs, args.warmup))
    print("median %.2f ms, min %.2f ms, mean %.2f ms, max %.2f ms" % (med, ms[0], statistics.fmean(ms), ms[-1]))
    print("target: median under %.0f ms: %s" % (args.target_ms, "met" if med < args.target_ms else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
