#!/usr/bin/env python3
"""Printed derivatives: gradc against SymPy (issue 9, "Targets"); see bench/printing.md.

Sizes are deterministic; times are indicative (a shared 2-core machine). SymPy's results do not
depend on gradc, so they are cached (keyed by the SymPy version and the function's text) in
bench/results/print_vs_sympy_cache.json: a re-run after a change to gradc's printer only runs
gradc. --fresh-sympy recomputes them.

How a printed size is counted (the same for both tools): the characters of the printed text
with all whitespace removed and `**` counted as one character (SymPy's `**` is gradc's `^`).
SymPy is printed with str() (sstr) with full_prec=False, so a decimal literal the user wrote
prints as `2.5`, not `2.50000000000000`. A block with shared subexpressions (gradc's default
output, or SymPy's cse()) counts every `name = expr` line plus the result expression; the
wrapper gradc prints around a block (`# df/dx =`, `fn df_dx(x, y) {`, `return`, `}`) and the
`df/dx = ` before an inline result are not counted.
"""
import argparse
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import sympy as sp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VARS = ["x", "y", "z"]
SYM = {v: sp.Symbol(v, real=True) for v in VARS}

# ---------------------------------------------------------------------------------------------
# Random functions: a small tree, rendered once as .grad text and once as a SymPy expression.
# Only built-ins both tools have. Nodes: ("var", name), ("int", k), ("dec", "2.5"),
# ("rat", p, q), ("const", "pi"|"e"), ("neg", a), ("bin", op, a, b), ("pow", a, b) (written
# pow(a, b)), ("call", fn, a).
UNARY = ["sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "asin", "acos",
         "atan", "abs"]
SP_FN = {"sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "exp": sp.exp, "log": sp.log,
         "sqrt": sp.sqrt, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh, "asin": sp.asin,
         "acos": sp.acos, "atan": sp.atan, "abs": sp.Abs}
DECIMALS = ["0.5", "2.5", "1.5", "0.25", "3.7", "1.2", "0.1"]
RATIONALS = [(1, 3), (2, 3), (1, 4), (3, 4), (5, 2), (1, 5)]


def gen_leaf(rng, nv):
    r = rng.random()
    if r < 0.62:
        return ("var", VARS[rng.randrange(nv)])
    if r < 0.77:
        return ("int", rng.randint(1, 9))
    if r < 0.85:
        return ("dec", rng.choice(DECIMALS))
    if r < 0.92:
        return ("rat",) + rng.choice(RATIONALS)
    return ("const", rng.choice(["pi", "e"]))


def gen_exponent(rng, nv, depth):
    r = rng.random()
    if r < 0.5:
        return ("int", rng.choice([2, 2, 3, 3, 4, 5]))
    if r < 0.6:
        return ("neg", ("int", rng.choice([1, 2, 3])))
    if r < 0.8:
        return ("rat",) + rng.choice(RATIONALS)
    if r < 0.85:
        return ("dec", rng.choice(["0.5", "1.5", "2.5"]))
    return gen(rng, nv, depth - 1)


def gen(rng, nv, depth):
    if depth <= 0 or rng.random() < 0.18:
        return gen_leaf(rng, nv)
    r = rng.random()
    if r < 0.45:
        return ("bin", rng.choice("++--**/"), gen(rng, nv, depth - 1), gen(rng, nv, depth - 1))
    if r < 0.57:
        base = gen(rng, nv, depth - 1)
        if rng.random() < 0.15:  # a constant base: 2^x, e^x, pi^y
            base = rng.choice([("int", 2), ("int", 3), ("const", "e"), ("const", "pi"),
                               ("dec", "0.5")])
        kind = "pow" if rng.random() < 0.3 else "bin"
        e = gen_exponent(rng, nv, depth)
        return ("pow", base, e) if kind == "pow" else ("bin", "^", base, e)
    if r < 0.62:
        return ("neg", gen(rng, nv, depth - 1))
    return ("call", rng.choice(UNARY), gen(rng, nv, depth - 1))


def vars_of(t, acc):
    if t[0] == "var":
        acc.add(t[1])
    for c in t[1:]:
        if isinstance(c, tuple):
            vars_of(c, acc)
    return acc


def size_of(t):
    return 1 + sum(size_of(c) for c in t[1:] if isinstance(c, tuple))


PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


def grad_text(t, parent=0, right=False):
    """gradc's syntax, with the brackets precedence needs (and around every negative exponent)."""
    k = t[0]
    if k == "var" or k == "const":
        return t[1]
    if k == "int":
        return str(t[1])
    if k == "dec":
        return t[1]
    if k == "rat":
        s, p = f"{t[1]}/{t[2]}", PREC["/"]
    elif k == "neg":
        s, p = "-" + grad_text(t[1], PREC["neg"] + 1), PREC["neg"]
    elif k == "pow":
        return f"pow({grad_text(t[1])}, {grad_text(t[2])})"
    elif k == "call":
        return f"{t[1]}({grad_text(t[2])})"
    else:
        op = t[1]
        p = PREC[op]
        if op == "^":  # right-associative; the base must bind tighter than ^ (also no -x^2)
            s = f"{grad_text(t[2], p + 1)}^{grad_text(t[3], p, True)}"
        else:  # left-associative
            s = f"{grad_text(t[2], p)} {op} {grad_text(t[3], p + 1)}"
    if p < parent or (p == parent and right and k != "bin") or (k == "neg" and right):
        return f"({s})"
    return s


def sympy_expr(t):
    k = t[0]
    if k == "var":
        return SYM[t[1]]
    if k == "const":
        return sp.pi if t[1] == "pi" else sp.E
    if k == "int":
        return sp.Integer(t[1])
    if k == "dec":
        return sp.Float(t[1])
    if k == "rat":
        return sp.Rational(t[1], t[2])
    if k == "neg":
        return -sympy_expr(t[1])
    if k == "pow":
        return sympy_expr(t[1]) ** sympy_expr(t[2])
    if k == "call":
        return SP_FN[t[1]](sympy_expr(t[2]))
    a, b = sympy_expr(t[2]), sympy_expr(t[3])
    op = t[1]
    return a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else \
        a / b if op == "/" else a ** b


def random_functions(seed, count):
    """`count` functions of 1-3 variables, each using all its variables, 4 to 14 tree nodes."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < count:
        nv = rng.choice([1, 2, 2, 3, 3, 3])
        t = gen(rng, nv, rng.choice([2, 3, 3, 4]))
        if not 4 <= size_of(t) <= 14 or vars_of(t, set()) != set(VARS[:nv]):
            continue
        body = grad_text(t)
        if body in seen:
            continue
        # A constant outside a function's real domain (acos(1.2)) makes SymPy's result complex.
        e = sympy_expr(t)
        if e.has(sp.I, sp.zoo, sp.nan, sp.oo) or not e.has(SYM["x"]):
            continue
        seen.add(body)
        out.append((VARS[:nv], t, body))
    return out


# ---------------------------------------------------------------------------------------------
# Sizes.
def size(text):
    """Printed size: whitespace removed, `**` counted as one character."""
    return len(re.sub(r"\s+", "", text).replace("**", "^"))


def block_size(out):
    """The size of gradc's default `diff` output: the `name = expr` lines and the result."""
    n = 0
    for line in out.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or s.startswith("fn ") or s == "}":
            continue
        if s.startswith("return "):
            n += size(s[len("return "):])
        elif re.match(r"^d\S*/d\S* = ", s):  # `df/dx = expr`
            n += size(s.split(" = ", 1)[1])
        else:  # `t1 = expr`
            n += size(s)
    return n


LONG_NUMBER = re.compile(r"\d[\d.]{10,}")


def sstr(e):
    return sp.sstr(e, full_prec=False)


def cse_text(e):
    reps, red = sp.cse(e)
    lines = [f"{s} = {sstr(v)}" for s, v in reps]
    return lines, sstr(red[0])


# ---------------------------------------------------------------------------------------------
# Running the tools.
class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def with_timeout(seconds, fn, *args):
    """(result, seconds) or (None, seconds) when SymPy took longer than `seconds`."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.perf_counter()
    try:
        r = fn(*args)
    except Timeout:
        r = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return r, time.perf_counter() - t0


def run_gradc(gradc, path, fn, wrt, expr_only):
    cmd = [gradc, "diff", path, "--fn", fn, "--wrt", wrt] + (["--expr-only"] if expr_only else [])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        how = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
        return None, dt, f"{how}: {p.stderr.strip()}" if p.stderr.strip() else how
    return p.stdout, dt, None


def sympy_random(params, tree, timeout):
    f = sympy_expr(tree)
    (d, t_diff) = with_timeout(timeout, sp.diff, f, SYM["x"])
    r = {"diff": None if d is None else sstr(d), "t_diff": t_diff}
    if d is not None:
        s, t_simp = with_timeout(timeout, sp.simplify, d)
        r.update(simplify=None if s is None else sstr(s), t_simplify=t_simp)
        c, t_cse = with_timeout(timeout, cse_text, d)
        r.update(cse=None if c is None else c, t_cse=t_cse)
    return r


def nested_sympy(n):
    x, y = SYM["x"], SYM["y"]
    f = x
    for _ in range(n):
        f = sp.sin(f * x + sp.cos(f * y))
    t0 = time.perf_counter()
    d = sp.diff(f, x)
    t_diff = time.perf_counter() - t0
    t0 = time.perf_counter()
    lines, res = cse_text(d)
    t_cse = time.perf_counter() - t0
    return {"diff_size": size(sstr(d)), "cse": [lines, res], "t_diff": t_diff, "t_cse": t_cse}


def nested_source(n):
    lines = ["fn f1(x, y) = sin(x * x + cos(x * y))"]
    for k in range(2, n + 1):
        lines.append(f"fn f{k}(x, y) = sin(f{k-1}(x, y) * x + cos(f{k-1}(x, y) * y))")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
def pct(v, q):
    """The q-th percentile (nearest rank on the sorted values, as numpy's 'inverted_cdf')."""
    s = sorted(v)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def git_commit():
    try:
        h = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True).stdout.strip()
        # Changes to what gradc is built from (bench/ and documentation do not count).
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":!bench", ":!*.md"],
                               capture_output=True, text=True).stdout.strip()
        return h + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gradc", default=os.path.join(ROOT, "build", "gradc"))
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--nested", type=int, default=10, help="n = 1..N for both tools")
    ap.add_argument("--nested-gradc", default="20,40,80", help="further n, gradc only")
    ap.add_argument("--timeout", type=float, default=20.0, help="SymPy seconds per call")
    ap.add_argument("--cache", default=os.path.join(HERE, "results", "print_vs_sympy_cache.json"))
    ap.add_argument("--fresh-sympy", action="store_true", help="ignore the SymPy cache")
    ap.add_argument("--details", default=os.path.join(HERE, "results", "print_vs_sympy.tsv"),
                    help="per-function sizes and printed texts")
    ap.add_argument("--sizes-only", action="store_true",
                    help="leave the times out of the report (for a busy machine)")
    ap.add_argument("--update-readme", action="store_true",
                    help="also put the report into bench/printing.md, between its print_vs_sympy markers")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "print_vs_sympy.md"))
    a = ap.parse_args()

    key_prefix = f"sympy {sp.__version__}|"
    cache = {}
    if not a.fresh_sympy and os.path.exists(a.cache):
        with open(a.cache) as f:
            cache = json.load(f)

    load = os.getloadavg()[0]
    funcs = random_functions(a.seed, a.count)
    rows, cached = [], 0
    tmp = tempfile.mkdtemp(prefix="print_vs_sympy")
    for i, (params, tree, body) in enumerate(funcs):
        src = f"fn f({', '.join(params)}) = {body}\n"
        path = os.path.join(tmp, f"f{i}.grad")
        with open(path, "w") as f:
            f.write(src)
        inline, t_inline, err1 = run_gradc(a.gradc, path, "f", "x", True)
        block, t_block, err2 = run_gradc(a.gradc, path, "f", "x", False)
        key = key_prefix + src
        cached += key in cache
        if key not in cache:
            cache[key] = sympy_random(params, tree, a.timeout)
            print(f"\r{i + 1}/{len(funcs)} sympy", end="", file=sys.stderr, flush=True)
        s = cache[key]
        rows.append({"src": src.strip(), "inline": inline, "block": block, "err": err1 or err2,
                     "t_inline": t_inline, "t_block": t_block, **s})
    print(file=sys.stderr)

    nested = []
    for n in list(range(1, a.nested + 1)) + [int(v) for v in a.nested_gradc.split(",") if v]:
        path = os.path.join(tmp, f"nested{n}.grad")
        with open(path, "w") as f:
            f.write(nested_source(n))
        out, t_g, err = run_gradc(a.gradc, path, f"f{n}", "x", False)
        row = {"n": n, "gradc": None if out is None else block_size(out), "t_gradc": t_g, "err": err}
        if n <= a.nested:
            key = key_prefix + f"nested {n}"
            if key not in cache:
                cache[key] = nested_sympy(n)
                print(f"nested {n} sympy", file=sys.stderr, flush=True)
            row.update(cache[key])
        nested.append(row)

    os.makedirs(os.path.dirname(a.cache), exist_ok=True)
    with open(a.cache + ".tmp", "w") as f:
        json.dump(cache, f, indent=0, sort_keys=True)
    os.replace(a.cache + ".tmp", a.cache)

    # gradc --version: the process start (LLVM's shared library) that every gradc time includes.
    starts = [run_gradc_version(a.gradc) for _ in range(20)]
    report = render(a, rows, nested, load, statistics.median(starts))
    if cached and not a.sizes_only:
        report += (f"SymPy's times for {cached} of the {len(rows)} functions come from the run "
                   f"that filled {os.path.relpath(a.cache, ROOT)}.\n")
    write_details(a.details, rows)
    with open(a.out, "w") as f:
        f.write(report)
    if a.update_readme:
        update_readme(os.path.join(HERE, "printing.md"), report)
    print(report)


BEGIN, END = "<!-- print_vs_sympy.py: begin -->", "<!-- print_vs_sympy.py: end -->"


def update_readme(path, report):
    with open(path) as f:
        text = f.read()
    i, j = text.index(BEGIN) + len(BEGIN), text.index(END)
    body = report.strip().replace("\n### ", "\n#### ")
    with open(path + ".tmp", "w") as f:
        f.write(text[:i] + "\n" + body + "\n" + text[j:])
    os.replace(path + ".tmp", path)


def run_gradc_version(gradc):
    t0 = time.perf_counter()
    subprocess.run([gradc, "--version"], capture_output=True)
    return time.perf_counter() - t0


def write_details(path, rows):
    def clean(s):
        return "" if s is None else s.strip().replace("\t", " ").replace("\n", " ; ")

    with open(path, "w") as f:
        f.write("function\tgradc_inline_size\tgradc_default_size\tsympy_diff_size\t"
                "sympy_simplify_size\tgradc_inline\tsympy_diff\tsympy_simplify\tgradc_default\n")
        for r in rows:
            gi = "" if r["inline"] is None else size(r["inline"])
            gb = "" if r["block"] is None else block_size(r["block"])
            sd = "" if r["diff"] is None else size(r["diff"])
            ss = "" if r.get("simplify") is None else size(r["simplify"])
            f.write("\t".join(map(str, [r["src"], gi, gb, sd, ss, clean(r["inline"]),
                                         clean(r["diff"]), clean(r.get("simplify")),
                                         clean(r["block"])])) + "\n")


def ratio_stats(num, den):
    v = [n / max(d, 1) for n, d in zip(num, den)]
    longer = sum(1 for n, d in zip(num, den) if n > d)
    return statistics.median(v), pct(v, 90), max(v), longer, len(v)


def render(a, rows, nested, load, start):
    L = []
    L.append(f"gradc {git_commit()}, SymPy {sp.__version__}, Python {sys.version.split()[0]}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at start "
             f"{load:.2f}\n")
    errs = [r for r in rows if r["err"]]
    ok = [r for r in rows if not r["err"] and r["diff"] is not None]
    L.append(f"### Random functions ({len(rows)}, seed {a.seed}), d/dx\n")
    if errs:
        L.append(f"gradc failed on {len(errs)}: " + "; ".join(
            f"`{r['src']}`: {r['err'].splitlines()[0]}" for r in errs[:5]) + "\n")
    timeouts = len([r for r in rows if r["diff"] is None])
    simp = [r for r in ok if r.get("simplify") is not None]
    L.append("| gradc form | against | median ratio | 90th pct | max | gradc longer in | n |")
    L.append("|---|---|---|---|---|---|---|")
    for name, getg in [("`--expr-only`", lambda r: size(r["inline"])),
                       ("default (`diff`)", lambda r: block_size(r["block"]))]:
        for against, rs, gets in [("`sympy.diff`", ok, lambda r: size(r["diff"])),
                                  ("`simplify(diff)`", simp, lambda r: size(r["simplify"]))]:
            med, p90, mx, longer, n = ratio_stats([getg(r) for r in rs], [gets(r) for r in rs])
            L.append(f"| {name} | {against} | {med:.2f} | {p90:.2f} | {mx:.1f} | "
                     f"{longer} ({100 * longer / n:.0f}%) | {n} |")
    L.append("")
    med, p90, _, _, _ = ratio_stats([block_size(r["block"]) for r in ok], [size(r["diff"]) for r in ok])
    L.append(f"Targets (default output against `sympy.diff`): median {med:.2f} <= 1: "
             f"{'met' if med <= 1 else 'missed'}; 90th percentile {p90:.2f} <= 1.5: "
             f"{'met' if p90 <= 1.5 else 'missed'}.")
    long_g = sum(1 for r in ok if LONG_NUMBER.search(r["block"]))
    long_s = sum(1 for r in ok if LONG_NUMBER.search(r["diff"]))
    L.append(f"Derivatives with a number of more than 10 digits: gradc {long_g}, "
             f"`sympy.diff` {long_s} (of {len(ok)}).")
    tot = lambda f, rs: sum(f(r) for r in rs)
    L.append(f"Total printed size: gradc `--expr-only` {tot(lambda r: size(r['inline']), ok)}, "
             f"gradc default {tot(lambda r: block_size(r['block']), ok)}, "
             f"`sympy.diff` {tot(lambda r: size(r['diff']), ok)}, "
             f"`simplify` {tot(lambda r: size(r['simplify']), simp)} (over its {len(simp)}).")
    if timeouts or len(simp) < len(ok):
        L.append(f"SymPy over {a.timeout:g} s: diff {timeouts}, simplify {len(ok) - len(simp)} "
                 "(left out of the ratios that need them).")
    L.append("")
    if not a.sizes_only:
        render_times(a, ok, start, L)
    L.append("### Nested f_n = sin(f_{n-1}·x + cos(f_{n-1}·y)), f_0 = x, d/dx\n")
    cols = " gradc ms | SymPy diff+cse ms |" if not a.sizes_only else ""
    L.append("| n | gradc default | SymPy `cse` | gradc / cse | `sympy.diff` (tree) |" + cols)
    L.append("|---|---|---|---|---|" + ("---|---|" if not a.sizes_only else ""))
    for r in nested:
        if "cse" in r:
            c = sum(size(l) for l in r["cse"][0]) + size(r["cse"][1])
            ratio = f"{r['gradc'] / c:.2f}" if r["gradc"] else "-"
            t = f" {ms(r['t_gradc'])} | {ms(r['t_diff'] + r['t_cse'])} |"
            L.append(f"| {r['n']} | {r['gradc']} | {c} | {ratio} | {r['diff_size']} |" +
                     (t if not a.sizes_only else ""))
        else:
            t = f" {ms(r['t_gradc'])} | |"
            g = r["gradc"] if r["gradc"] is not None else f"failed ({r['err'].splitlines()[0]})"
            L.append(f"| {r['n']} | {g} | | | |" + (t if not a.sizes_only else ""))
    both = [r for r in nested if "cse" in r and r["gradc"]]
    if both:
        worst = max(r["gradc"] / (sum(size(l) for l in r["cse"][0]) + size(r["cse"][1])) for r in both)
        L.append(f"\nTarget (gradc / cse <= 1.1 for every n): worst {worst:.2f}, "
                 f"{'met' if worst <= 1.1 else 'missed'}.")
    L.append("")
    return "\n".join(L) + "\n"


def ms(s):
    return f"{1000 * s:.1f}"


def render_times(a, ok, start, L):
    L.append("Time per function, milliseconds (median / 90th percentile / max):\n")
    L.append("| | median | 90th pct | max |")
    L.append("|---|---|---|---|")
    for name, v in [("gradc `diff --expr-only`, whole process", [r["t_inline"] for r in ok]),
                    ("gradc `diff`, whole process", [r["t_block"] for r in ok]),
                    ("`sympy.diff`, in process", [r["t_diff"] for r in ok]),
                    ("`sympy.simplify(diff)`, in process", [r["t_simplify"] for r in ok]),
                    ("`sympy.cse(diff)` + printing", [r["t_cse"] for r in ok])]:
        L.append(f"| {name} | {ms(statistics.median(v))} | {ms(pct(v, 90))} | {ms(max(v))} |")
    L.append(f"\n(`gradc --version` alone, the process start every gradc time includes: "
             f"{ms(start)} ms median of 20.)\n")


if __name__ == "__main__":
    main()
