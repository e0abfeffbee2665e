#!/usr/bin/env python3
"""The Jacobian examples (examples/robot_arm.grad, polar.grad, heat_residual.grad) against their
Jacobians computed by hand here: `gradc eval --jacobian --json` in both modes, `--jvp` and
`--vjp` (J v and u^T J of the hand Jacobian), value and entries to 1e-12 relative.

    jacobian_examples.py BUILD/gradc
"""
import json
import math
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def arm(t1, t2, t3):
    """The arm's hand position and Jacobian, link by link (lengths 1, 0.8, 0.5)."""
    a, b = t1 + t2, t1 + t2 + t3
    value = [math.cos(t1) + 0.8 * math.cos(a) + 0.5 * math.cos(b),
             math.sin(t1) + 0.8 * math.sin(a) + 0.5 * math.sin(b)]
    # d/dt_j of link i's term is nonzero when joint j comes before link i
    sx = [math.sin(t1) + 0.8 * math.sin(a) + 0.5 * math.sin(b), 0.8 * math.sin(a) + 0.5 * math.sin(b), 0.5 * math.sin(b)]
    cx = [math.cos(t1) + 0.8 * math.cos(a) + 0.5 * math.cos(b), 0.8 * math.cos(a) + 0.5 * math.cos(b), 0.5 * math.cos(b)]
    return value, [[-s for s in sx], cx]


def cartesian(r, th):
    return [r * math.cos(th), r * math.sin(th)], [[math.cos(th), -r * math.sin(th)], [math.sin(th), r * math.cos(th)]]


def spherical(r, th, ph):
    st, ct, sp, cp = math.sin(th), math.cos(th), math.sin(ph), math.cos(ph)
    value = [r * st * cp, r * st * sp, r * ct]
    J = [[st * cp, r * ct * cp, -r * st * sp],
         [st * sp, r * ct * sp, r * st * cp],
         [ct, -r * st, 0.0]]
    return value, J


U0 = np.array([0.1, 0.2, 0.25, 0.2, 0.1])
D = np.diag([-2.0] * 5) + np.diag([1.0] * 4, 1) + np.diag([1.0] * 4, -1)
H, DT, LAMBDA = 1 / 6, 0.01, 2.0


def heat(u):
    u = np.asarray(u)
    value = (u - U0) / DT - D @ u / H ** 2 - LAMBDA * np.exp(u)
    J = np.eye(5) / DT - D / H ** 2 - LAMBDA * np.diag(np.exp(u))
    return value.tolist(), J.tolist()


def text(v):
    return json.dumps(v).replace(" ", "")


# (example, fn, --at, hand value and Jacobian, the inputs' names and sizes in signature order)
CASES = [
    ("robot_arm.grad", "hand", None, arm(0.3, 0.5, -0.4), [("t1", 1), ("t2", 1), ("t3", 1)]),
    ("robot_arm.grad", "arm", "theta=[0.3,0.5,-0.4]", arm(0.3, 0.5, -0.4), [("theta", 3)]),
    ("robot_arm.grad", "hand", "t1=1.9,t2=-2.2,t3=0.7", arm(1.9, -2.2, 0.7), [("t1", 1), ("t2", 1), ("t3", 1)]),
    ("polar.grad", "cartesian", None, cartesian(2, 0.5), [("r", 1), ("theta", 1)]),
    ("polar.grad", "spherical", None, spherical(2, 0.5, 1.2), [("r", 1), ("theta", 1), ("phi", 1)]),
    ("heat_residual.grad", "residual", "u=[0.1,0.2,0.25,0.2,0.1]", heat(U0), [("u", 5)]),
    ("heat_residual.grad", "residual", "u=[0.3,-0.1,0.5,0.0,0.2]", heat([0.3, -0.1, 0.5, 0.0, 0.2]), [("u", 5)]),
]


def close(got, want, tol=1e-12):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return got.shape == want.shape and np.max(np.abs(got - want)) <= tol * max(1.0, np.max(np.abs(want)))


def run(gradc, args):
    p = subprocess.run([gradc] + args, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"gradc {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return json.loads(p.stdout)


def main():
    gradc = sys.argv[1]
    failures = 0
    for (example, fn, at, (value, J), inputs) in CASES:
        J = np.array(J)
        base = ["eval", os.path.join("examples", example), "--fn", fn, "--json"] + (["--at", at] if at else [])
        label = f"{example} {fn}" + (f" at {at}" if at else "")
        try:
            for mode in ("fwd", "rev"):
                out = run(gradc, base + ["--jacobian", "--mode", mode])
                ok = close(out["value"], value) and close(out["jacobian"], J)
                failures += not ok
                print(f"{label}: --jacobian --mode {mode}: {'ok' if ok else 'FAILED'}")
                if not ok:
                    print(f"  value {out['value']} want {value}\n  jacobian {out['jacobian']}\n  want {J.tolist()}")
            # J v with v = (1, 2, ...) spread over the inputs, and u^T J with u = (1, -1, 1, ...)
            v = np.arange(1.0, J.shape[1] + 1)
            pieces, at_v = [], 0
            for name, size in inputs:
                part = v[at_v:at_v + size]
                pieces.append(f"{name}={part[0]!r}" if size == 1 else f"{name}={text(part.tolist())}")
                at_v += size
            out = run(gradc, base + ["--jvp", ",".join(pieces)])
            ok = close(out["jvp"], J @ v)
            failures += not ok
            print(f"{label}: --jvp: {'ok' if ok else 'FAILED'}")
            u = np.array([(-1.0) ** i for i in range(J.shape[0])])
            out = run(gradc, base + ["--vjp", text(u.tolist())])
            want, got = u @ J, []
            for name, size in inputs:
                g = out["vjp"][name]
                got += g if isinstance(g, list) else [g]
            ok = close(got, want)
            failures += not ok
            print(f"{label}: --vjp: {'ok' if ok else 'FAILED'}")
        except (RuntimeError, KeyError, ValueError) as e:
            failures += 1
            print(f"{label}: FAILED: {e}")
    print("FAILED" if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
