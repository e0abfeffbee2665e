#!/usr/bin/env python3
"""Whole-process time of gradc commands without and with the object cache, against `--version`
(the process's start) in the same run: CPU time (user + system of the child) and wall time,
median of N interleaved rounds (each round runs every command once, so a busy neighbour hits all
alike).

    python3 bench/cache_time.py                 # examples/lecture.grad --fn f, xor training
    python3 bench/cache_time.py --runs 30 > bench/results/cache_time.txt

Run from the repository root. The cached runs use a temporary XDG_CACHE_HOME primed by one
untimed run; the cold runs pass --no-cache. Nothing is written into ~/.cache.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

GRADC = "build/gradc"
CASES = [
    ("--version", [GRADC, "--version"], False),
    ("eval lecture f, cold", [GRADC, "eval", "examples/lecture.grad", "--fn", "f", "--no-cache"], False),
    ("eval lecture f, cached", [GRADC, "eval", "examples/lecture.grad", "--fn", "f"], True),
    ("eval robot_arm jacobian, cold", [GRADC, "eval", "examples/robot_arm.grad", "--fn", "hand", "--jacobian", "--no-cache"], False),
    ("eval robot_arm jacobian, cached", [GRADC, "eval", "examples/robot_arm.grad", "--fn", "hand", "--jacobian"], True),
    ("train xor 1 epoch, cold", [GRADC, "train", "examples/xor.grad", "--epochs", "1", "--quiet", "--no-cache"], False),
    ("train xor 1 epoch, cached", [GRADC, "train", "examples/xor.grad", "--epochs", "1", "--quiet"], True),
]


def once(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr.decode()))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu * 1e3, wall * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=tmp)
        env.pop("GRADC_NO_CACHE", None)
        for _, cmd, cached in CASES:  # warm-up, and the cached runs' objects
            once(cmd, env)
        cpu = {name: [] for name, _, _ in CASES}
        wall = {name: [] for name, _, _ in CASES}
        for _ in range(args.runs):
            for name, cmd, _ in CASES:
                c, w = once(cmd, env)
                cpu[name].append(c)
                wall[name].append(w)
        print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
        print("%d interleaved rounds; medians" % args.runs)
        print("%-32s %10s %10s %12s" % ("command", "CPU ms", "wall ms", "CPU/--version"))
        base = statistics.median(cpu["--version"])
        for name, _, _ in CASES:
            c, w = statistics.median(cpu[name]), statistics.median(wall[name])
            print("%-32s %10.2f %10.2f %12.2f" % (name, c, w, c / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
