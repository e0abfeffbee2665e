#!/usr/bin/env python3
"""End-to-end test of `gradc compile --step`: the training step, the optimizer update and predict
in an object or shared library, driven by examples/embed/train_net.c (compiled with the system's
cc), must give `gradc train --no-shuffle`'s epoch losses and final parameters and `gradc
predict`'s outputs bit for bit, for f64 and f32, SGD (momentum, Nesterov, weight decay), Adam and
every learning-rate schedule. Also: two states trained at once in two threads end equal; the
objects need nothing but libm (nm -u); train --no-shuffle differs from the shuffled run; and the
README's "train in C" example (examples/embed/train_xor.c) prints the output the README shows.

  check_embed_train.py GRADC ROOT"""
import csv
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile

from embed_common import FAILURES, GRADC, ROOT, check, run

EMBED = os.path.join(ROOT, "examples", "embed")


XOR = open(os.path.join(ROOT, "examples", "xor.grad")).read()
XOR_ROWS = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]


def variant(text, optimizer, extra=""):
    """xor.grad with another optimizer line (and more settings)."""
    out = re.sub(r"optimizer = .*", optimizer + ("\n  " + extra if extra else ""), text)
    assert out != text
    return out


def regression_rows():
    with open(os.path.join(ROOT, "examples", "data", "regression.csv")) as f:
        r = list(csv.reader(f))
    return [[float(v) for v in row] for row in r[1:]]


# name, program text (None: the file), file, dtype, batch, epochs, output, rows, (wx, wy)
CASES = [
    ("xor-momentum-f64", None, "examples/xor.grad", "f64", 2, 300, ".o", XOR_ROWS, (2, 1)),
    ("xor-momentum-f32", None, "examples/xor.grad", "f32", 2, 200, ".so", XOR_ROWS, (2, 1)),
    ("xor-nesterov-wd-cosine",
     variant(XOR, "optimizer = sgd(lr = 0.1, momentum = 0.8, nesterov = true, weight_decay = 0.01)",
             "schedule = cosine(min_lr = 0.01)"), None, "f64", 2, 120, ".o", XOR_ROWS, (2, 1)),
    ("xor-sgd-step-f32", variant(XOR, "optimizer = sgd(lr = 0.2)", "schedule = step(7, 0.9)"), None, "f32", 4, 60,
     ".o", XOR_ROWS, (2, 1)),
    ("xor-adam-exponential", variant(XOR, "optimizer = adam(lr = 0.05, beta1 = 0.8, weight_decay = 0.001)",
                                     "schedule = exponential(0.97)"), None, "f64", 1, 50, ".so", XOR_ROWS, (2, 1)),
    # Diverges at epoch 33 (gradc train exits 4 keeping the last finite parameters); a C step
    # with a loss that is not finite changes nothing, so the C run ends with the same parameters.
    ("xor-sgd-diverges-f32", variant(XOR, "optimizer = sgd(lr = 0.5)", "schedule = step(7, 0.9)"), None, "f32", 4, 40,
     ".o", XOR_ROWS, (2, 1)),
    ("xor-adam-f32", variant(XOR, "optimizer = adam(lr = 0.02)"), None, "f32", 2, 80, ".o", XOR_ROWS, (2, 1)),
    # Batches that do not divide the rows: each epoch ends with NAME_step_tail, as gradc train's
    # smaller last batch.
    ("xor-tail-f64", None, "examples/xor.grad", "f64", 3, 100, ".o", XOR_ROWS, (2, 1)),
    ("regression-tail-adam-f32", None, "examples/regression.grad", "f32", 100, 2, ".so", regression_rows(), (2, 1)),
    ("regression-adam-f64", None, "examples/regression.grad", "f64", 64, 4, ".o", regression_rows(), (2, 1)),
    ("regression-adam-f32", None, "examples/regression.grad", "f32", 128, 3, ".so", regression_rows(), (2, 1)),
]


def hexes(lines, tag):
    return [float.fromhex(l.split()[1]) for l in lines if l.startswith(tag + " ")]


def flatten(v):
    return [x for e in v for x in flatten(e)] if isinstance(v, list) else [float(v)]


def case(tmp, name, text, path, dtype, batch, epochs, ext, rows, widths):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    if text is not None:
        path = os.path.join(d, "net.grad")
        with open(path, "w") as f:
            f.write(text)
    else:
        path = os.path.join(ROOT, path)
    art = os.path.join(d, "net" + ext)
    run([GRADC, "compile", path, "--step", "--prefix", "net", "--dtype", dtype, "--batch", str(batch),
         "--epochs", str(epochs), "-o", art,
         "--header"], cwd=ROOT)
    undefined = set(run(["nm", "-u", art]).split()) - {"U", "w"}
    allowed = {"memcpy", "memset", "__tls_get_addr", "pow", "cos", "tanh", "exp", "log", "expf", "tanhf", "logf",
               "powf", "cosf"}
    extra = {s for s in undefined if s.split("@")[0] not in allowed and not s.startswith("_")}
    check(not extra, f"{name}: {art} needs {sorted(extra)} besides libm")
    exe = os.path.join(d, "train_net")
    link = [art] if ext == ".o" else ["-L" + d, "-l:net.so", "-Wl,-rpath," + d]
    run(["cc", "-O2", "-ffp-contract=off", "-I" + d, os.path.join(EMBED, "train_net.c"), *link, "-lm", "-lpthread",
         "-o", exe])
    data = f"{len(rows)}\n" + "\n".join(" ".join(repr(float(v)) for v in r) for r in rows) + "\n"
    mode = ["threads"] if name.endswith("f32") or "adam" in name else []
    out = run([exe, str(epochs), str(widths[0]), str(widths[1]), *mode], input=data).splitlines()
    # gradc train in the same order, every epoch logged; its checkpoint and predict.
    log, ckpt = os.path.join(d, "log.csv"), os.path.join(d, "params.json")
    train = subprocess.run([GRADC, "train", path, "--no-shuffle", "--dtype", dtype, "--batch", str(batch), "--epochs",
                            str(epochs), "--log", log, "--log-every", "1", "--save", ckpt, "--quiet"], cwd=ROOT,
                           capture_output=True, text=True)
    diverges = "diverges" in name
    check(train.returncode == (4 if diverges else 0), f"{name}: gradc train exits {train.returncode}: {train.stderr}")
    with open(log) as f:
        want_loss = [float(r["loss"]) for r in csv.DictReader(f)]
    got_loss = hexes(out, "loss")
    if diverges:  # the epochs before it diverged; then no finite loss
        check(0 < len(want_loss) < epochs and not any(map(math.isfinite, got_loss[len(want_loss):])),
              f"{name}: the C run has finite losses after gradc train diverged")
        got_loss = got_loss[:len(want_loss)]
        epochs = len(want_loss)
    check(len(got_loss) == epochs and got_loss == want_loss,
          f"{name}: epoch losses differ: C {got_loss[:3]}... gradc train {want_loss[:3]}...")
    saved = json.load(open(ckpt))["params"]
    want_params = [x for p in saved.values() for x in flatten(p["data"])]
    got_params = hexes(out, "param")
    bad = [i for i, (a, b) in enumerate(zip(got_params, want_params)) if a != b]
    check(len(got_params) == len(want_params) and not bad,
          f"{name}: parameters differ at {bad[:5]} ({len(got_params)} vs {len(want_params)})")
    # The header: the parameters in --save's order with their shapes, the counts.
    header = open(os.path.join(d, "net.h")).read()
    listed = re.findall(r"^ \*   \[[0-9.]+\] +(\S+)  (\[[0-9, ]*\])$", header, re.M)
    check(listed == [(k, str(v["shape"])) for k, v in saved.items()], f"{name}: net.h lists {listed}")
    for define, value in (("N_PARAMS", len(want_params)), ("BATCH", batch), ("N_FEATURES", widths[0]),
                          ("N_OUTPUTS", 1), ("STEPS_PER_EPOCH", -(-len(rows) // batch))) + ((("TAIL_ROWS", len(rows) % batch),) if len(rows) % batch else ()):
        check(f"#define net_{define} {value}\n" in header, f"{name}: net.h lacks #define net_{define} {value}")
    # predict: gradc predict runs the f64 kernel; compare f64 cases exactly.
    if dtype == "f64":
        table = os.path.join(d, "rows.csv")
        # regression.grad's network reads its CSV's feature columns; xor's every column.
        names = ["x1", "x2", "y"] if "regression" in name else ["a", "b"]
        with open(table, "w") as f:
            f.write(",".join(names) + "\n")
            for r in rows:
                f.write(",".join(repr(float(v)) for v in r[:len(names)]) + "\n")
        pred_csv = run([GRADC, "predict", path, "--params", ckpt, "--data", table], cwd=ROOT)
        want_pred = [float(r[-1]) for r in list(csv.reader(pred_csv.splitlines()))[1:]]
        got_pred = hexes(out, "predict")
        if "regression" not in name:
            check(got_pred == want_pred, f"{name}: predict differs: C {got_pred[:3]} gradc predict {want_pred[:3]}")
        else:
            # NAME_predict computes a row at a time, as gradc predict does for a CSV of one row
            # (to the bit); for 1,024 rows gradc predict's products sum in vectors, in another
            # order (a last-bit difference).
            check(len(got_pred) == len(want_pred) and
                  all(abs(a - b) <= 1e-14 * max(1.0, abs(b)) for a, b in zip(got_pred, want_pred)),
                  f"{name}: predict is not gradc predict's to 1e-14")
            for i in (0, 1, 517):
                with open(table, "w") as f:
                    f.write("x1,x2,y\n" + ",".join(repr(float(v)) for v in rows[i]) + "\n")
                one = run([GRADC, "predict", path, "--params", ckpt, "--data", table], cwd=ROOT)
                want = float(list(csv.reader(one.splitlines()))[1][-1])
                check(got_pred[i] == want, f"{name}: predict row {i}: C {got_pred[i]!r}, gradc predict {want!r}")
    print(f"ok {name}: {epochs} epochs, {len(got_params)} parameters{', two threads' if mode else ''}")


def readme_example(tmp):
    """The README's train-in-C example: its commands run (without a shell) in a directory like
    the checkout, the program is examples/embed/train_xor.c, and it prints what the README shows,
    the losses gradc train --no-shuffle prints at those epochs."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"<!-- train-in-c -->\n```sh\n(.*?)```\n.*?```c\n(.*?)```\n.*?```text\n(.*?)```", readme, re.S)
    check(m is not None, "README: no <!-- train-in-c --> example")
    if not m:
        return
    source = open(os.path.join(EMBED, "train_xor.c")).read()
    check(m.group(2) == source, "README: the train-in-C example is not examples/embed/train_xor.c")
    d = os.path.join(tmp, "readme")
    os.makedirs(os.path.join(d, "build"))
    os.symlink(os.path.join(ROOT, "examples"), os.path.join(d, "examples"))
    os.symlink(GRADC, os.path.join(d, "build", "gradc"))
    got = []
    for line in m.group(1).splitlines():
        for command in line.split("&&"):
            argv = shlex.split(command)
            exe = os.path.join(d, argv[0]) if argv[0].startswith(("./", "build/")) else argv[0]
            p = subprocess.run(argv, executable=exe, cwd=d, capture_output=True, text=True)
            if p.returncode:
                raise SystemExit(f"FAILED: README: {command} (exit {p.returncode})\n{p.stdout}{p.stderr}")
            got += p.stdout.splitlines()
    output = m.group(3).splitlines()
    check(got == output, f"README: the train-in-C example prints\n{chr(10).join(got)}\nnot\n{chr(10).join(output)}")
    train = run([GRADC, "train", "examples/xor.grad", "--batch", "2", "--no-shuffle"], cwd=ROOT)
    for line in output:
        if line.startswith("epoch"):
            e, loss = line.split()[1], line.split()[3]
            check(re.search(rf"epoch +{e} .* loss {re.escape(loss)} ", train) is not None,
                  f"README: gradc train --no-shuffle does not print loss {loss} at epoch {e}")


def c_names(tmp):
    """Data sets named `state` and `double`: the prototype renames them, and the header compiles."""
    d = os.path.join(tmp, "names")
    os.makedirs(d)
    run([GRADC, "compile", "tests/inputs/step/c_names.grad", "--step", "-o", os.path.join(d, "c_names.o"), "--header"],
        cwd=ROOT)
    header = open(os.path.join(d, "c_names.h")).read()
    check("double c_names_step(c_names_state* state, const double* state_, const double* double_);" in header,
          "c_names.h: NAME_step's parameters are not renamed")
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write('#include "c_names.h"\nint main(void) { c_names_state s; c_names_init(&s); return 0; }\n')
    run(["cc", "-Wall", "-Werror", "-I" + d, os.path.join(d, "main.c"), os.path.join(d, "c_names.o"), "-lm", "-o",
         os.path.join(d, "main")])


def params_embedded(tmp):
    """--params: NAME_init starts from a checkpoint's parameters (.json and .npz), to the bit."""
    d = os.path.join(tmp, "embedded")
    os.makedirs(d)
    for ext in ("json", "npz"):
        ckpt = os.path.join(d, "p." + ext)
        run([GRADC, "train", "examples/xor.grad", "--epochs", "7", "--quiet", "--save", ckpt], cwd=ROOT)
        run([GRADC, "compile", "examples/xor.grad", "--step", "--prefix", "net", "--params", ckpt, "--header", "-o",
             os.path.join(d, "net.o")], cwd=ROOT)
        exe = os.path.join(d, "train_net")
        run(["cc", "-I" + d, os.path.join(EMBED, "train_net.c"), os.path.join(d, "net.o"), "-lm", "-lpthread", "-o", exe])
        data = "4\n" + "\n".join(" ".join(str(v) for v in r) for r in XOR_ROWS) + "\n"
        got = hexes(run([exe, "0", "2", "1"], input=data).splitlines(), "param")
        shown = os.path.join(d, "shown.json")
        run([GRADC, "train", "examples/xor.grad", "--epochs", "7", "--quiet", "--save", shown], cwd=ROOT)
        want = [x for p in json.load(open(shown))["params"].values() for x in flatten(p["data"])]
        check(got == want, f"--params p.{ext}: NAME_init's parameters are not the checkpoint's")


def no_shuffle_matters(tmp):
    """--no-shuffle changes a run that shuffles (batch below the rows), and not one that does not."""
    def params(*flags):
        p = os.path.join(tmp, "shuffle.json")
        run([GRADC, "train", "examples/xor.grad", "--epochs", "5", "--quiet", "--save", p, *flags], cwd=ROOT)
        return json.load(open(p))["params"]
    check(params("--batch", "2") != params("--batch", "2", "--no-shuffle"), "--no-shuffle: same result as shuffled")
    check(params() == params("--no-shuffle"), "--no-shuffle: a full batch (no shuffling) changed")


with tempfile.TemporaryDirectory() as tmp:
    for c in CASES:
        case(tmp, *c)
    no_shuffle_matters(tmp)
    c_names(tmp)
    params_embedded(tmp)
    readme_example(tmp)

if FAILURES:
    print(f"{len(FAILURES)} mismatch(es)")
    sys.exit(1)
print("all equal")
