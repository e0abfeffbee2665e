#!/usr/bin/env python3
"""Seed corpora for the fuzz targets: the examples and test inputs, fuzz/seeds and
fuzz/regressions, and generated inputs that get past the parser: valid .grad programs of random
depth using every built-in (scalar functions and small tensor programs), CSV tables in the
spellings spreadsheets write, JSON checkpoints and .npz archives for fuzz_checkpoint's parameters.

Usage: scripts/fuzz_seeds.py OUT_DIR [--count N] [--seed S]   (writes OUT_DIR/TARGET/...)
"""
import argparse
import io
import json
import random
import shutil
import struct
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

UNARY = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "ln",
         "sqrt", "abs", "sigmoid", "relu", "softplus", "step", "sign", "lgamma", "log1p", "expm1",
         "digamma"]
BINARY_FN = ["pow", "min", "max"]
BINARY_OP = ["+", "-", "*", "/", "^"]


def number(r):
    return r.choice([
        lambda: str(r.randint(0, 9)),
        lambda: f"{r.uniform(-3, 3):.3g}".lstrip("-"),
        lambda: f".{r.randint(1, 99)}",
        lambda: f"{r.randint(1, 9)}e{r.choice(['-3', '2', '+1', '-12', '300'])}",
        lambda: f"{r.uniform(0, 5):.2f}E{r.randint(-5, 5)}",
        lambda: r.choice(["pi", "e", "0", "1", "2", "0.5"]),
    ])()


def expr(r, names, depth, funcs=()):
    """A scalar expression over names (and calls of earlier functions with their arity)."""
    if depth <= 0 or r.random() < 0.2:
        return r.choice(list(names)) if names and r.random() < 0.7 else number(r)
    k = r.random()
    sub = lambda: expr(r, names, depth - 1, funcs)
    if k < 0.35:
        return f"{sub()} {r.choice(BINARY_OP)} {sub()}"
    if k < 0.6:
        return f"{r.choice(UNARY)}({sub()})"
    if k < 0.7:
        return f"{r.choice(BINARY_FN)}({sub()}, {sub()})"
    if k < 0.8:
        return f"({sub()})"
    if k < 0.87:
        return f"{r.choice(['-', '+', '- -'])}{sub()}"
    if k < 0.93 and funcs:
        name, arity = r.choice(funcs)
        return f"{name}({', '.join(sub() for _ in range(arity))})"
    return f"{sub()}^{r.choice(['2', '3', '-1', '0.5', '-2', '(1/3)'])}"


def scalar_program(r):
    funcs, lines, params_all = [], [], set()
    for i in range(r.randint(1, 3)):
        params = r.sample(["x", "y", "z", "u", "v", "w", "a_1", "t1", "pi", "alpha"], r.randint(1, 3))
        params_all.update(params)
        name = f"f{i}" if r.random() < 0.7 else r.choice(["g", "h", "loss", "F_2"]) + str(i)
        if r.random() < 0.5:
            lines.append(f"fn {name}({', '.join(params)}) = {expr(r, params, r.randint(1, 5), funcs)}")
        else:
            body, local = [], list(params)
            for j in range(r.randint(1, 4)):
                v = f"q{j}"
                sep = r.choice(["\n  ", "; "]) if body else "\n  "
                body.append(f"{sep}{v} = {expr(r, local, r.randint(1, 4), funcs)}")
                local.append(v)
            lines.append(f"fn {name}({', '.join(params)}) {{{''.join(body)}\n  return {expr(r, local, 3, funcs)}\n}}")
        funcs.append((name, len(params)))
        if r.random() < 0.2:
            lines.append(f"# comment {r.randint(0, 99)}")
    if r.random() < 0.7:
        at = [f"{p} = {r.choice(['-', ''])}{number(r)}" for p in sorted(params_all) if r.random() < 0.8]
        if at:
            lines.append("at " + ", ".join(at))
    r.shuffle(lines) if r.random() < 0.1 else None
    return "\n".join(lines) + "\n"


def literal(r, shape):
    if not shape:
        return number(r)
    return "[" + ", ".join(literal(r, shape[1:]) for _ in range(shape[0])) + "]"


def tensor_program(r):
    """A small training program whose shapes fit: data, params or layers, a loss, a train block."""
    n, k, h, c = r.randint(1, 5), r.randint(1, 3), r.randint(1, 4), r.randint(2, 3)
    lines = []
    csv = r.random() < 0.3
    if csv:
        feats = r.sample(["a", "b", "c", "x", "x1", "x2"], k)
        cls = f", classes = {c}" if r.random() < 0.5 else ""
        lines.append(f'data d = csv("d.csv", features = [{", ".join(feats)}], target = label{cls})')
        X, Y, n = "d.x", "d.y", 4
        labels = bool(cls)
    else:
        lines.append(f"data X = {literal(r, [n, k])}")
        labels = r.random() < 0.4
        if labels:
            lines.append(f"data Y = [{', '.join(str(r.randint(0, c - 1)) for _ in range(n))}]")
        else:
            lines.append(f"data Y = {literal(r, [n, 1])}")
        X, Y = "X", "Y"
    if r.random() < 0.2:
        lines.append(f"data Z = {literal(r, [2, 2, 2])}")
    out = c if labels else 1
    init = lambda: r.choice(["zeros", "ones", "constant(0.5)", "normal(0, 0.1)", "uniform(-1, 1)", "he", "xavier"])
    act = r.choice(["relu", "tanh", "sigmoid", "softplus"])
    if r.random() < 0.5:
        lines.append(f"layer net = sequential(linear({k}, {h}), {act}, linear({h}, {out}))")
        model = f"net({X})"
        if r.random() < 0.3:
            lines.append(f"fn reg(s) = s * 0.01")
    else:
        lines.append(f"param W1[{k}, {h}] = {init()}")
        lines.append(f"param b1[{h}] = {init()}")
        lines.append(f"param W2[{h}, {out}] = {init()}")
        lines.append(f"param b2[{out}] = {init()}")
        lines.append(f"fn mlp(x) = {act}(x @ W1 + b1) @ W2 + b2")
        model = f"mlp({X})"
    if labels:
        loss = r.choice([f"cross_entropy({model}, {Y})",
                         f"cross_entropy({model}, onehot({Y}, {out}))",
                         f"mean(-sum(log_softmax({model}, axis = 1) * onehot({Y}, {out}), axis = 1))"])
        metric = f"accuracy({model}, {Y})"
    else:
        loss = r.choice([f"mse({model}, {Y})", f"binary_cross_entropy({model}, {Y})",
                         f"mean(({model} - {Y})^2)", f"sum(abs({model} - {Y})) / {n}",
                         f"logsumexp(transpose({model} - {Y})) + max({model}) - max(sum({model}, axis = 0))",
                         f"mean(softmax({model} - {Y}, axis = 0)) + sum({model}[0]) + sum(({model})[:, 0])"])
        metric = f"accuracy({model}, {Y})"
    if "W1" in "\n".join(lines) and r.random() < 0.3:
        loss += f" + 0.001 * sum(W1^2) + {r.choice(['0', '0.1'])} * sum(transpose(W2) @ transpose(W2) * 0)"
    opt = r.choice([f"sgd(lr = {r.choice(['0.1', '0.01', '1e-3'])})",
                    "sgd(lr = 0.1, momentum = 0.9, nesterov = true)",
                    "sgd(lr = 0.05, weight_decay = 0.01)",
                    "adam(lr = 0.01)", "adam(lr = 0.001, beta1 = 0.8, beta2 = 0.99, eps = 1e-6)"])
    settings = [f"loss = {loss}", f"optimizer = {opt}", f"epochs = {r.randint(1, 20)}"]
    if r.random() < 0.5:
        settings.append(f"batch = {r.randint(1, n)}")
    if r.random() < 0.3:
        settings.append(r.choice(["shuffle = false", "shuffle = true"]))
    if r.random() < 0.5:
        settings.append(f"seed = {r.randint(0, 9)}")
    if r.random() < 0.4:
        settings.append("schedule = " + r.choice(["constant", "step(every = 2, gamma = 0.5)",
                                                   "exponential(gamma = 0.9)", "cosine(min_lr = 0.001)"]))
    if r.random() < 0.5:
        settings.append(f"metric = {metric}")
    if r.random() < 0.3:
        settings.append(f"log_every = {r.randint(1, 5)}")
    sep = r.choice(["\n  ", "; "])
    lines.append("train {\n  " + sep.join(settings) + "\n}")
    if r.random() < 0.3:
        lines.append(scalar_program(r).strip())
    return "\n".join(lines) + "\n"


def csv_table(r):
    cols = r.randint(1, 5)
    names = [r.choice(["x", "y", "z", "label", "a b", "col,1", 'q"t', "é"]) + str(i) for i in range(cols)]

    def cell(v):
        s = r.choice([f"{v:.6g}", f"{v:+.3f}", f"{v:.2e}", f"{v}", f" {v:.3g} "])
        return f'"{s.strip()}"' if r.random() < 0.2 else s

    def head(h):
        if r.random() < 0.3 or "," in h or '"' in h:
            return '"' + h.replace('"', '""') + '"'
        return h

    eol = r.choice(["\n", "\r\n"])
    rows = [",".join(head(h) for h in names)]
    for _ in range(r.randint(0, 8)):
        rows.append(",".join(cell(r.uniform(-1e3, 1e3) if r.random() < 0.5 else r.randint(-3, 3)) for _ in names))
    text = eol.join(rows) + r.choice(["", eol, eol + eol, eol + "  " + eol])
    if r.random() < 0.2:
        text = "\ufeff" + text
    return text.encode("utf-8")


PARAMS = {"W": [2, 3], "net.0.b": [3], "s": []}


def size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def checkpoint_json(r):
    vals = lambda shape: [r.choice([0.0, -0.0, 1.5, -2.25, 1e-300, 1e300, r.gauss(0, 1)]) for _ in range(size(shape))]
    doc = {"format": "gradc-params",
           "params": {name: {"shape": shape, "data": vals(shape)} for name, shape in PARAMS.items()}}
    kind = r.choice([None, "sgd", "adam"])
    if kind:
        bufs = ["momentum_buffer"] if kind == "sgd" else ["exp_avg", "exp_avg_sq"]
        state = {}
        if r.random() < 0.8:
            state = {name: {b: {"shape": shape, "data": vals(shape)} for b in bufs} for name, shape in PARAMS.items()}
        doc["optimizer"] = {"kind": kind, "step": r.randint(0, 1000), "epoch": r.randint(0, 100), "state": state}
    return json.dumps(doc, indent=r.choice([None, 1])).encode()


def npy(shape, values, dtype="<f8", fortran=False):
    header = f"{{'descr': '{dtype}', 'fortran_order': {fortran}, 'shape': ({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''}), }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    fmt = {"<f8": "d", "<f4": "f", "<i8": "q"}[dtype]
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack(
        "<" + fmt * len(values), *values)


def checkpoint_npz(r):
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if r.random() < 0.3 else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, shape in PARAMS.items():
            dtype = r.choice(["<f8", "<f8", "<f4", "<i8"])
            vals = [r.randint(-3, 3) if dtype == "<i8" else r.uniform(-2, 2) for _ in range(size(shape))]
            z.writestr(name + ".npy", npy(shape, vals, dtype, fortran=len(shape) == 2 and r.random() < 0.3))
        if r.random() < 0.5:
            kind = r.choice(["sgd", "adam"])
            z.writestr(f"optimizer.{kind}.step.npy", npy([], [float(r.randint(0, 99))]))
            z.writestr(f"optimizer.{kind}.epoch.npy", npy([], [float(r.randint(0, 9))]))
            for b in (["momentum_buffer"] if kind == "sgd" else ["exp_avg", "exp_avg_sq"]):
                for name, shape in PARAMS.items():
                    z.writestr(f"optimizer.{b}.{name}.npy", npy(shape, [r.uniform(0, 1) for _ in range(size(shape))]))
    return buf.getvalue()


def copy_files(dst, sources, patterns):
    for src in sources:
        if not src.exists():
            continue
        for pat in patterns:
            for f in sorted(src.rglob(pat) if src.is_dir() else [src]):
                if f.is_file():
                    shutil.copyfile(f, dst / f"{f.parent.name}_{f.name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=8)
    a = ap.parse_args()
    r = random.Random(a.seed)
    out = Path(a.out)
    for t in ["program", "jit", "csv", "checkpoint"]:
        (out / t).mkdir(parents=True, exist_ok=True)
    fz = ROOT / "fuzz"
    grads = [ROOT / "examples", ROOT / "tests/inputs", fz / "seeds/program", fz / "regressions/program",
             fz / "regressions/jit"]
    for t in ["program", "jit"]:
        copy_files(out / t, grads, ["*.grad", "*.txt"])
        copy_files(out / t, [fz / "seeds/program", fz / f"regressions/{t}"], ["*"])
    for i in range(a.count):
        text = tensor_program(r) if i % 4 == 3 else scalar_program(r)
        for t in ["program", "jit"]:
            (out / t / f"gen_{i:05d}.grad").write_text(text)
    copy_files(out / "csv", [ROOT / "examples/data", ROOT / "tests/inputs", fz / "seeds/csv", fz / "regressions/csv"], ["*"])
    for i in range(a.count // 4):
        (out / "csv" / f"gen_{i:05d}.csv").write_bytes(csv_table(r))
    copy_files(out / "checkpoint", [ROOT / "tests/inputs/train", fz / "seeds/checkpoint", fz / "regressions/checkpoint"],
               ["*.json", "*.npz", "*"])
    for i in range(a.count // 4):
        (out / "checkpoint" / f"gen_{i:05d}.json").write_bytes(checkpoint_json(r))
        (out / "checkpoint" / f"gen_{i:05d}.npz").write_bytes(checkpoint_npz(r))
    for t in ["program", "jit", "csv", "checkpoint"]:
        print(f"{t}: {sum(1 for _ in (out / t).iterdir())} seeds in {out / t}")


if __name__ == "__main__":
    main()
