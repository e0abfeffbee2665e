#!/usr/bin/env python3
"""Polynomial coefficients of gradc's own vector math (compiler/codegen/vector_math.cpp).

Each polynomial is a weighted least-squares fit at Chebyshev nodes in 50-digit arithmetic
(mpmath), which is within a few percent of the minimax error; the coefficients are then rounded
to double and the fit's error measured again, with the rounded coefficients, on a dense grid.
f64 log uses fdlibm's published coefficients instead (see vector_math.cpp); this script fits
the rest:
  exp64  exp(r) = 1 + r + r^2/2 + r^3 P(r), |r| <= ln2/2 (+ margin), relative error ~2^-61
  sinpi64 sin(r) = r (1 + S1 r^2 + r^4 Q(r^2)), S1 = -1/6 rounded to double (vector_math.cpp
          evaluates 1 + S1 r^2 exactly), |r| <= pi/2 (+ margin), relative error ~2^-61 (f64 sin, cos)
  cosline cos(r) ~ 1 + c r^2, |r| <= pi/2: the slope c (to 3 digits) of least maximum error (~0.039),
          for the reduction's low part
  and for f32 arithmetic, coefficients rounded to float (the error measured with them):
  expm1f  expm1(r) = r + r^2 P(r),       |r| <= ln2/2, relative error ~2^-25.7 (tanh)
  tanhf   tanh(a) = a + a^3 T(a^2),      a <= 0.55, ~2^-27.9
  log1pf  log1p(f) = f + f^2 L(f),       f in [sqrt2/2 - 1, sqrt2 - 1], ~2^-27.3
  sinf    sin(r) = r + r^3 S(r^2),       |r| <= 0.83 (pi/4 and the rounding of n), ~2^-27.9
  cosf    cos(r) = 1 - r^2/2 + r^4 C(r^2), |r| <= 0.83, ~2^-31.6

    /usr/bin/python3 scripts/fit_vector_math.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50


def fit(g, lo, hi, degree, weight=lambda u: 1, nodes=400):
    """Coefficients c[0..degree] of sum c_k u^k ~ g(u) on [lo, hi], minimizing weighted error."""
    us = [lo + (hi - lo) * (1 - mp.cos(mp.pi * (i + 0.5) / nodes)) / 2 for i in range(nodes)]
    A = mp.matrix(nodes, degree + 1)
    y = mp.matrix(nodes, 1)
    for i, u in enumerate(us):
        w = weight(u)
        for k in range(degree + 1):
            A[i, k] = w * u ** k
        y[i] = w * g(u)
    c = mp.lu_solve(A.T * A, A.T * y)
    return [float(c[k]) for k in range(degree + 1)]


def horner(c, u):
    r = mp.mpf(0)
    for k in reversed(c):
        r = r * u + mp.mpf(k)
    return r


def report(name, c, err):
    print(f"{name}: max error 2^{float(mp.log(err, 2)):.1f}")
    for k in c:
        print(f"    {k!r},")


def main():
    ln2h = mp.log(2) / 2 * mp.mpf("1.0001")
    # exp64: exp(r) = 1 + r + r^2/2 + r^3 P(r) (the r^2 term exact in vector_math.cpp's tanh)
    g = lambda r: (mp.exp(r) - 1 - r - r * r / 2) / r ** 3 if r != 0 else mp.mpf(1) / 6
    c = fit(g, -ln2h, ln2h, 9, weight=lambda r: r ** 3)
    err = max(abs(1 + r + r * r / 2 + r ** 3 * horner(c, r) - mp.exp(r)) / mp.exp(r)
              for r in mp.linspace(-ln2h, ln2h, 2001))
    report("exp64", c, err)
    h = (mp.pi / 2 * mp.mpf("1.0001")) ** 2
    s1 = float(mp.mpf(-1) / 6)
    c = fit(lambda z: (mp.sin(mp.sqrt(z)) / mp.sqrt(z) - 1 - s1 * z) / z ** 2 if z else mp.mpf(1) / 120, 0, h, 6,
            weight=lambda z: z * z)
    err = max(abs(r * (1 + s1 * r * r + r ** 4 * horner(c, r * r)) - mp.sin(r)) / mp.sin(r)
              for r in mp.linspace(1e-9, mp.sqrt(h), 3001))
    report("sinpi64 (Q; S1 = %r)" % s1, c, err)
    line = lambda c: max(abs(mp.cos(mp.sqrt(z)) - 1 - c * z) for z in mp.linspace(0, h, 400))
    c = min((line(c), c) for c in (-0.5 + k / 1000 for k in range(121)))
    print(f"cosline: slope {c[1]!r}, max error {float(c[0]):.4f}")
    f32 = lambda c: [float(np.float32(v)) for v in c]
    ln2h = mp.log(2) / 2 * mp.mpf("1.001")
    c = f32(fit(lambda r: (mp.exp(r) - 1 - r) / r ** 2 if r else mp.mpf(0.5), -ln2h, ln2h, 4, weight=lambda r: r * r))
    err = max(abs(r + r * r * horner(c, r) - mp.expm1(r)) / abs(mp.expm1(r)) for r in mp.linspace(-ln2h, ln2h, 2000))
    report("expm1f", c, err)
    h = (mp.mpf(0.55) * mp.mpf("1.001")) ** 2
    c = f32(fit(lambda z: (mp.tanh(mp.sqrt(z)) - mp.sqrt(z)) / z ** mp.mpf(1.5) if z else mp.mpf(-1) / 3, 0, h, 4,
                weight=lambda z: z))
    err = max(abs(a + a ** 3 * horner(c, a * a) - mp.tanh(a)) / mp.tanh(a) for a in mp.linspace(1e-9, mp.sqrt(h), 2001))
    report("tanhf", c, err)
    lo, hi = mp.sqrt(2) / 2 - 1 - mp.mpf("1e-4"), mp.sqrt(2) - 1 + mp.mpf("1e-4")
    c = f32(fit(lambda f: (mp.log1p(f) - f) / f ** 2 if f else mp.mpf(-0.5), lo, hi, 8,
                weight=lambda f: f * f / abs(mp.log1p(f)) if f else 1))
    err = max(abs(f + f * f * horner(c, f) - mp.log1p(f)) / abs(mp.log1p(f)) for f in mp.linspace(lo, hi, 2000) if f)
    report("log1pf", c, err)
    R = mp.mpf("0.83")
    c = f32(fit(lambda z: (mp.sin(mp.sqrt(z)) - mp.sqrt(z)) / z ** mp.mpf(1.5) if z else mp.mpf(-1) / 6, 0, R * R, 3,
                weight=lambda z: z))
    err = max(abs(r + r ** 3 * horner(c, r * r) - mp.sin(r)) / mp.sin(r) for r in mp.linspace(1e-9, R, 2001))
    report("sinf", c, err)
    c = f32(fit(lambda z: (mp.cos(mp.sqrt(z)) - 1 + z / 2) / z ** 2 if z else mp.mpf(1) / 24, 0, R * R, 2,
                weight=lambda z: z * z))
    err = max(abs(1 - r * r / 2 + r ** 4 * horner(c, r * r) - mp.cos(r)) / mp.cos(r) for r in mp.linspace(0, R, 2001))
    report("cosf", c, err)


if __name__ == "__main__":
    main()
