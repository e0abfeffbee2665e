#!/usr/bin/env python3
"""Generates the example data sets (deterministic: fixed seeds, Python's own generator).

  examples/data/regression.csv  1,024 rows: x1, x2 uniform in [-1, 1], y = sin(3 x1) + x2^2 + noise
  examples/data/spiral.csv      512 rows: two interleaved spirals, columns x, y, label (0 or 1)
  examples/data/wide_net.csv    32 rows: x evenly in [-1, 1], y = sin(pi x) + noise (std 0.1)

Run from the repository root: python3 scripts/make_data.py
"""
import math
import random


def regression(path, n=1024, seed=1):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("x1,x2,y\n")
        for _ in range(n):
            x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
            y = math.sin(3 * x1) + x2 * x2 + rng.gauss(0, 0.05)
            f.write(f"{x1:.6f},{x2:.6f},{y:.6f}\n")


def spiral(path, n=512, seed=2):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("x,y,label\n")
        for i in range(n):
            label = i % 2
            t = (i // 2) / (n // 2)  # 0 .. 1 along the arm
            r = 0.1 + 0.9 * t
            angle = 3.5 * math.pi * t + label * math.pi
            x = r * math.cos(angle) + rng.gauss(0, 0.02)
            y = r * math.sin(angle) + rng.gauss(0, 0.02)
            f.write(f"{x:.6f},{y:.6f},{label}\n")


def wide_net(path, n=32, seed=4):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("x,y\n")
        for i in range(n):
            x = -1 + 2 * i / (n - 1)
            f.write(f"{x:.6f},{math.sin(math.pi * x) + rng.gauss(0, 0.1):.6f}\n")


if __name__ == "__main__":
    regression("examples/data/regression.csv")
    spiral("examples/data/spiral.csv")
    wide_net("examples/data/wide_net.csv")
