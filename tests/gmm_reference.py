#!/usr/bin/env python3
"""An independent NumPy reference of ADBench's GMM objective and its gradient (written by hand),
and the test of examples/gmm.grad against it.

The objective, as ADBench defines it (microsoft/ADBench, src/cpp/shared/gmm.h: gmm_objective,
log_wishart_prior, preprocess_qs, Qtimesx; log_gamma_distrib in src/cpp/shared/defs.h), for n
points x_i in R^d and K components with log-weights alpha_k, means mu_k and inverse Cholesky
factors Q_k = diag(exp(q_k)) + L_k (L_k strictly lower triangular):

    f = -n d/2 log(2 pi)
        + sum_i logsumexp_k( alpha_k + sum(q_k) - 1/2 ||Q_k (x_i - mu_k)||^2 )
        - n logsumexp_k(alpha_k)
        + sum_k ( gamma^2/2 (||exp(q_k)||^2 + ||L_k||_F^2) - m sum(q_k) )
        - K C,
    C = N d (log(gamma) - 1/2 log 2) - multigammaln(N/2, d),   N = d + m + 1,
    multigammaln(a, d) = d(d-1)/4 log(pi) + sum_{j=1..d} lgamma(a + (1-j)/2).

(ADBench adds its Wishart term with these signs to the log-likelihood; the reference keeps them.)
ADBench packs each component's icf as [q_k (d values), then L_k's strictly lower entries column
by column]: L_k[j, i] for i = 0..d-2, j = i+1..d-1. examples/gmm.grad takes q [K, d] and a full
Ls [K, d, d] of which it uses tril(Ls, -1); pack_icf/unpack_icf convert between the two.

The gradient, by hand (w_ik = softmax_k of the row i of the inner terms, z_ik = Q_k (x_i - mu_k),
c_ik = x_i - mu_k):
    df/dalpha_k  = sum_i w_ik - n softmax(alpha)_k
    df/dmu_k     = sum_i w_ik Q_k^T z_ik
    df/dq_kr     = sum_i w_ik (1 - z_ikr exp(q_kr) c_ikr) + gamma^2 exp(2 q_kr) - m
    df/dL_k[r,c] = -sum_i w_ik z_ikr c_ikc + gamma^2 L_k[r, c]        (r > c; 0 elsewhere)

Usage:
    gmm_reference.py --self-test              the hand gradient against central differences
    gmm_reference.py --gradc BUILD/gradc      examples/gmm.grad (gradc eval --json) against this
    gmm_reference.py --write-data DIR --d D --K K --n N [--seed S]   data files for the example
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lgamma(a):
    return math.lgamma(a)


def multigammaln(a, d):
    return d * (d - 1) / 4 * math.log(math.pi) + sum(lgamma(a + (1 - j) / 2) for j in range(1, d + 1))


def logsumexp(v, axis=None):
    mx = np.max(v, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(v - mx), axis=axis, keepdims=True)) + mx
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


def softmax(v, axis):
    e = np.exp(v - np.max(v, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def lower_indices(d):
    """The (row, column) of ADBench's packed strictly lower entries, in its order (by column)."""
    return [(j, i) for i in range(d) for j in range(i + 1, d)]


def pack_icf(q, Ls):
    """ADBench's icf [K, d(d+1)/2] from q [K, d] and the strictly lower part of Ls [K, d, d]."""
    K, d = q.shape
    low = [Ls[:, j, i] for (j, i) in lower_indices(d)]
    return np.concatenate([q, np.stack(low, axis=1) if low else np.zeros((K, 0))], axis=1)


def unpack_icf(icf, d):
    """q [K, d] and L [K, d, d] (strictly lower, zeros elsewhere) from ADBench's packed icf."""
    K = icf.shape[0]
    L = np.zeros((K, d, d))
    for t, (j, i) in enumerate(lower_indices(d)):
        L[:, j, i] = icf[:, d + t]
    return icf[:, :d].copy(), L


def objective(alphas, means, icf, x, gamma, m):
    """ADBench's gmm_objective, written with loops over components as its C++ is."""
    n, d = x.shape
    K = alphas.shape[0]
    q, L = unpack_icf(icf, d)
    inner = np.empty((n, K))
    for k in range(K):
        Q = np.diag(np.exp(q[k])) + L[k]
        z = (x - means[k]) @ Q.T                  # row i: Q_k (x_i - mu_k)
        inner[:, k] = alphas[k] + q[k].sum() - 0.5 * np.sum(z * z, axis=1)
    N = d + m + 1
    C = N * d * (math.log(gamma) - 0.5 * math.log(2)) - multigammaln(0.5 * N, d)
    prior = sum(0.5 * gamma * gamma * (np.sum(np.exp(q[k]) ** 2) + np.sum(L[k] ** 2)) - m * q[k].sum()
                for k in range(K)) - K * C
    return (-n * d * 0.5 * math.log(2 * math.pi) + np.sum(logsumexp(inner, axis=1))
            - n * logsumexp(alphas) + prior)


def gradient(alphas, means, icf, x, gamma, m):
    """The gradient by hand: (d alphas [K], d means [K, d], d q [K, d], d L [K, d, d]), L's
    strictly lower part only (the rest is 0)."""
    n, d = x.shape
    K = alphas.shape[0]
    q, L = unpack_icf(icf, d)
    inner = np.empty((n, K))
    zs, cs, Qs = [], [], []
    for k in range(K):
        Q = np.diag(np.exp(q[k])) + L[k]
        c = x - means[k]
        z = c @ Q.T
        inner[:, k] = alphas[k] + q[k].sum() - 0.5 * np.sum(z * z, axis=1)
        zs.append(z), cs.append(c), Qs.append(Q)
    w = softmax(inner, axis=1)                    # [n, K]
    g_alpha = w.sum(axis=0) - n * softmax(alphas, axis=0)
    g_mu = np.empty((K, d))
    g_q = np.empty((K, d))
    g_L = np.zeros((K, d, d))
    strict = np.tril(np.ones((d, d)), -1)
    for k in range(K):
        wk = w[:, k:k + 1]
        g_mu[k] = np.sum(wk * (zs[k] @ Qs[k]), axis=0)
        g_q[k] = (np.sum(wk * (1 - zs[k] * np.exp(q[k]) * cs[k]), axis=0)
                  + gamma * gamma * np.exp(2 * q[k]) - m)
        g_L[k] = (-(wk * zs[k]).T @ cs[k] + gamma * gamma * L[k]) * strict
    return g_alpha, g_mu, g_q, g_L


def random_problem(d, K, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    alphas = rng.normal(size=K)
    means = rng.normal(size=(K, d))
    icf = np.concatenate([0.3 * rng.normal(size=(K, d)), 0.5 * rng.normal(size=(K, d * (d - 1) // 2))], axis=1)
    return alphas, means, icf, x


def self_test():
    """The hand gradient against central differences (step 1e-6, relative 1e-7), and the
    packing round trip, on a few small sizes including d = 1 and K = 1."""
    failures = 0
    for (d, K, n, gamma, m, seed) in [(1, 1, 4, 1.0, 0, 1), (1, 3, 5, 0.7, 2, 2), (2, 2, 6, 1.0, 0, 3),
                                      (3, 4, 7, 1.3, 1, 4), (4, 3, 9, 0.8, 3, 5)]:
        alphas, means, icf, x = random_problem(d, K, n, seed)
        q, L = unpack_icf(icf, d)
        assert np.array_equal(pack_icf(q, L + np.triu(np.full((d, d), 9.0))), icf), "pack/unpack"
        g_alpha, g_mu, g_q, g_L = gradient(alphas, means, icf, x, gamma, m)
        hand = np.concatenate([g_alpha, g_mu.ravel(), pack_icf(g_q, g_L).ravel()])
        theta = np.concatenate([alphas, means.ravel(), icf.ravel()])

        def f(t):
            a = t[:K]
            mu = t[K:K + K * d].reshape(K, d)
            ic = t[K + K * d:].reshape(K, -1)
            return objective(a, mu, ic, x, gamma, m)

        h = 1e-6
        fd = np.empty_like(theta)
        for j in range(theta.size):
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            tm[j] -= h
            fd[j] = (f(tp) - f(tm)) / (2 * h)
        err = np.max(np.abs(hand - fd) / np.maximum(1.0, np.abs(fd)))
        status = "ok" if err < 1e-7 else "FAILED"
        failures += status != "ok"
        print(f"d={d} K={K} n={n} gamma={gamma} m={m}: hand gradient vs central differences, "
              f"max relative error {err:.1e} ({theta.size} entries): {status}")
    # multigammaln by hand: (2.5, 2) is log(pi)/2 + lgamma(2.5) + lgamma(2), lgamma(2) = 0,
    # lgamma(2.5) = log(3 sqrt(pi) / 4).
    want = math.log(math.pi) / 2 + math.log(3 * math.sqrt(math.pi) / 4)
    ok = abs(multigammaln(2.5, 2) - want) < 1e-15 and multigammaln(3.5, 1) == math.lgamma(3.5)
    failures += not ok
    print(f"multigammaln(2.5, 2) = {multigammaln(2.5, 2)!r} against {want!r}: {'ok' if ok else 'FAILED'}")
    # One value by hand: d = 1, K = 1, n = 1, x = 0, alpha = 0, mu = 0, q = 0, gamma = 1, m = 0:
    # inner = 0, so f = -1/2 log(2 pi) + 0 - 0 + 1/2 - C, C = 2 (0 - 1/2 log 2) - lgamma(1)
    # = -log 2.
    v = objective(np.zeros(1), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), 1.0, 0)
    want = -0.5 * math.log(2 * math.pi) + 0.5 + math.log(2)
    ok = abs(v - want) < 1e-15
    failures += not ok
    print(f"d=1 K=1 n=1 at zero: {v!r} against {want!r} by hand: {'ok' if ok else 'FAILED'}")
    return failures


def write_data(folder, d, K, n, seed):
    """The example's data files: gmm_points.csv (n rows, columns x1..xd) and
    gmm_components.csv (K rows: the initial means, whose row count gives K)."""
    alphas, means, icf, x = random_problem(d, K, n, seed)
    os.makedirs(folder, exist_ok=True)
    cols = ",".join(f"x{j + 1}" for j in range(d))
    with open(os.path.join(folder, "gmm_points.csv"), "w") as fh:
        fh.write(cols + "\n")
        for row in x:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    with open(os.path.join(folder, "gmm_components.csv"), "w") as fh:
        fh.write(cols + "\n")
        for row in means:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    return alphas, means, icf, x


def tensor_text(a):
    return json.dumps(np.asarray(a).tolist()).replace(" ", "")


def compare(name, got, want, tol):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    if got.shape != want.shape:
        print(f"  {name}: shape {got.shape}, the reference's {want.shape}: FAILED")
        return 1
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    err = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
    ok = err <= tol
    print(f"  {name}: max error {err:.1e} relative to {scale:.3g}: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def check_gradc(gradc, source, cases, tol=1e-10):
    """gradc eval --json on a copy of the example in a folder with data of each size: the value
    and the gradient against the reference (the source is the same file for every size)."""
    failures = 0
    text = open(source).read()
    for (d, K, n, seed) in cases:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(source, os.path.join(tmp, "gmm.grad"))
            alphas, means, icf, x = write_data(os.path.join(tmp, "data"), d, K, n, seed)
            gamma, m = wishart_of(text)
            q, L = unpack_icf(icf, d)
            # the upper triangle and diagonal of Ls are not used: give them values all the same
            Ls = L + np.triu(np.full((d, d), 0.25))
            at = (f"alphas={tensor_text(alphas)},means={tensor_text(means)},"
                  f"q={tensor_text(q)},Ls={tensor_text(Ls)}")
            argv = [gradc, "eval", os.path.join(tmp, "gmm.grad"), "--fn", "gmm", "--at", at, "--json"]
            p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            print(f"d={d} K={K} n={n}: gradc eval exit {p.returncode}")
            if p.returncode != 0:
                print(p.stderr[-2000:])
                failures += 1
                continue
            out = json.loads(p.stdout)
            g_alpha, g_mu, g_q, g_L = gradient(alphas, means, icf, x, gamma, m)
            failures += compare("value", out["value"], objective(alphas, means, icf, x, gamma, m), tol)
            grad = out["gradient"]
            failures += compare("d alphas", grad["alphas"], g_alpha, tol)
            failures += compare("d means", grad["means"], g_mu, tol)
            failures += compare("d q", grad["q"], g_q, tol)
            failures += compare("d Ls", grad["Ls"], g_L, tol)
    return failures


def wishart_of(text):
    """gamma and m as examples/gmm.grad states them (`const gamma = ...`, `const m = ...`)."""
    vals = {}
    for line in text.splitlines():
        parts = line.split("#")[0].split()
        if len(parts) == 4 and parts[0] == "const" and parts[1] in ("gamma", "m") and parts[2] == "=":
            vals[parts[1]] = float(parts[3])
    return vals["gamma"], int(vals["m"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--gradc")
    ap.add_argument("--source", default=os.path.join(ROOT, "examples", "gmm.grad"))
    ap.add_argument("--write-data")
    ap.add_argument("--d", type=int)
    ap.add_argument("--K", type=int)
    ap.add_argument("--n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    failures = 0
    if args.self_test:
        failures += self_test()
    if args.write_data:
        write_data(args.write_data, args.d, args.K, args.n, args.seed)
    if args.gradc:
        # d = 1 (the edge: no strictly lower entries), a small 2-D and a 3-D case.
        failures += check_gradc(args.gradc, args.source, [(1, 3, 7, 11), (2, 4, 20, 12), (3, 5, 30, 13)])
    print("FAILED" if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
