#!/usr/bin/env python3
"""End-to-end test of `gradc compile`: objects, shared libraries and headers, compiled into C and
C++ programs with the system's cc and c++, whose printed results (hex floats, exact) must equal
`gradc eval --json` bit for bit at several points.

  check_embed.py GRADC ROOT

Part 1 builds examples/embed/embed.c and embed.cpp against the .o and against the .so of
lecture.grad's f (--grad) and tensor_args.grad's lin (--jacobian), and embed.c against their
generated C (.c, close to eval: it has no fma contraction), and runs both entries. Part 2
runs a generic C driver over more cases: the Hessian, a forward-mode Jacobian, a tensor
parameter's gradient, value only, --simd (linked with -lsleef: its batch within SLEEF's bound),
--cpu. Every object and library may need libm and nothing else (--simd: SLEEF's functions too) (plus memcpy/memset and the dynamic loader's __tls_get_addr): checked with nm -u. The f32
kernels are checked against the f64 results to float precision here; their bits against the
JIT's f32 kernel in test_aot (C++)."""
import json
import math
import os
import platform
import subprocess
import sys
import tempfile

from embed_common import FAILURES, GRADC, ROOT, check, run



def flatten(v):
    if isinstance(v, list):
        return [x for e in v for x in flatten(e)]
    return [math.nan if v is None else float(v)]


def expected(path, fn, flag, at, no_fma=False):
    """The outputs gradc compile lays out, from gradc eval --json at the point `at` (with
    --no-fma: the bits of generated C built with -ffp-contract=off)."""
    argv = [GRADC, "eval", path, "--fn", fn, "--json", "--tier", "optimized", "--at", at] + (["--no-fma"] if no_fma else [])
    if flag == "--hessian":
        argv.append("--hessian")
    if flag == "--jacobian":
        argv.append("--jacobian")
    j = json.loads(run(argv, cwd=ROOT), parse_int=float)  # keeps the sign of -0
    out = flatten(j["value"])
    if flag in ("--grad", "--hessian"):
        for g in j["gradient"].values():
            out += flatten(g)
    if flag == "--hessian":
        out += flatten(j["hessian"])
    if flag == "--jacobian":
        out += flatten(j["jacobian"])
    return out


def default_point(path, fn):
    """The file's `at` values for fn, as {name: value} in signature order."""
    return json.loads(run([GRADC, "eval", path, "--fn", fn, "--json", "--tier", "optimized"], cwd=ROOT))["at"]


# Points for the functions whose file has no `at` values for them.
BASE = {"lin": {"x": [1, 2, 3], "A": [[0.5, -1, 2], [0.25, 3, -2]]}, "energy": {"x": [0.5, -1, 2], "k": 1.5},
        "v": {"x": [0.5, -2]}, "gmm": {"alphas": [0.5, -0.25, 1], "means": [[-0.9, 0.1], [0.1, 0.05], [1.2, -0.7]],
                "q": [[0.1, -0.2], [0.3, 0.05], [-0.4, 0.2]],
                "Ls": [[[0, 0], [0.3, 0]], [[0, 0], [-0.2, 0]], [[0, 0], [0.7, 0]]]}}


def points(path, fn):
    """Three points: the file's (or BASE's), and two moved from it."""
    base = BASE.get(fn) or default_point(path, fn)
    moved = lambda scale, shift: {k: scale_value(v, scale, shift) for k, v in base.items()}
    return [base, moved(1.25, 0.125), moved(-0.75, 0.5)]


def scale_value(v, scale, shift):
    if isinstance(v, list):
        return [scale_value(x, scale, shift) for x in v]
    return v * scale + shift


def at_text(point):
    return ",".join(f"{k}={json.dumps(v)}" for k, v in point.items())


def numbers(point):
    return [repr(x) for v in point.values() for x in flatten(v)]


def parse_rows(text):
    rows = {}
    for line in text.splitlines():
        head, _, rest = line.partition(":")
        rows[head] = [float.fromhex(x) for x in rest.split()]
    return rows


def same_bits(a, b):
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))
                                    for x, y in zip(a, b))


def close_f32(a, b):
    # A float kernel: within a few float ulps of the f64 result, relative to the outputs' scale.
    scale = max([abs(y) for y in b] + [1e-30])
    return len(a) == len(b) and all(abs(x - y) <= 1e-5 * max(abs(y), scale) for x, y in zip(a, b))


def close_f64(a, b):
    return len(a) == len(b) and all(abs(x - y) <= 1e-13 * max(abs(y), 1) for x, y in zip(a, b))


def compare(label, program_out, exp_rows, f32, exact=True):
    rows = parse_rows(program_out)
    for entry in ("single", "batch"):
        for r, exp in enumerate(exp_rows):
            got = rows.get(f"{entry} {r}")
            ok = got is not None and (close_f32(got, exp) if f32 else same_bits(got, exp) if exact else close_f64(got, exp))
            check(ok, f"{label} {entry} row {r}: got {got}, expected {exp}")


LIBM = None


def check_undefined(path, sleef=False):
    global LIBM
    if LIBM is None:
        libm = run(["cc", "-print-file-name=libm.so.6"]).strip()
        LIBM = {line.split()[-1].split("@")[0] for line in run(["nm", "-D", "--defined-only", libm]).splitlines()}
    undefined = {line.split()[-1].split("@")[0] for line in run(["nm", "-u", path]).splitlines()
                 if line.split()[0] == "U"}
    extra = undefined - LIBM - {"memcpy", "memset", "memmove", "__tls_get_addr"}
    if sleef:  # --simd: SLEEF's vector functions too, and nothing else
        check(any(s.startswith("Sleef_") for s in extra), f"{os.path.basename(path)}: --simd calls no SLEEF function")
        extra = {s for s in extra if not s.startswith("Sleef_")}
    check(not extra, f"{os.path.basename(path)} needs more than libm: {sorted(extra)}")
    return undefined


def embed_programs(tmp):
    lecture = os.path.join(ROOT, "examples", "lecture.grad")
    tensors = os.path.join(ROOT, "tests", "inputs", "tensor_args.grad")
    cases = [("lecture_f", lecture, "f", "--grad"), ("lin_jac", tensors, "lin", "--jacobian")]
    for dtype in ("f64", "f32"):
        d = os.path.join(tmp, "embed_" + dtype)
        os.makedirs(d)
        for prefix, path, fn, flag in cases:
            for ext in (".o", ".so", ".c"):
                argv = [GRADC, "compile", path, "--fn", fn, flag, "--prefix", prefix, "--dtype", dtype,
                        "-o", os.path.join(d, ("lib" if ext == ".so" else "") + prefix + ext)]
                run(argv + (["--header"] if ext == ".o" else []))
                if ext != ".c":
                    check_undefined(argv[-1])
        define = ["-DGRADC_F32"] if dtype == "f32" else []
        objs = [os.path.join(d, p + ".o") for p, *_ in cases]
        libs = [os.path.join(d, "lib" + p + ".so") for p, *_ in cases]
        csrcs = [os.path.join(d, p + ".c") for p, *_ in cases]
        programs = []
        for src, driver, std in (("embed.c", "cc", "-std=c99"), ("embed.cpp", "c++", "-std=c++20")):
            source = os.path.join(ROOT, "examples", "embed", src)
            kinds = (("o", objs), ("so", libs)) + ((("c", csrcs),) if src == "embed.c" else ())
            for kind, inputs in kinds:
                exe = os.path.join(d, f"{src.replace('.', '_')}_{kind}")
                contract = ["-ffp-contract=off"] if kind == "c" else []
                run([driver, std, "-O2", *contract, "-Wall", "-Wextra", "-Werror", "-I", d, *define, source, *inputs,
                     f"-Wl,-rpath,{d}", "-lm", "-o", exe])
                programs.append(exe)
        for prefix, path, fn, flag in cases:
            pts = points(path, fn)
            exp = [expected(path, fn, flag, at_text(p)) for p in pts]
            args = [x for p in pts for x in numbers(p)]
            for exe in programs:
                # The generated C has no fma contraction, eval's kernel does: close, not the same bits.
                compare(f"{os.path.basename(exe)} {dtype} {prefix}", run([exe, prefix, *args]), exp, dtype == "f32",
                        exact=not exe.endswith("_c"))


# A driver for any one kernel: HEADER, ENTRY and REAL come from -D.
GENERIC = r"""
#include <stdio.h>
#include <stdlib.h>
#include HEADER
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
int main(int argc, char** argv) {
  size_t n_in = CAT(ENTRY, _N_IN), n_out = CAT(ENTRY, _N_OUT), rows = (size_t)(argc - 1) / (n_in ? n_in : 1);
  if (n_in == 0) rows = 2;
  REAL* in = calloc(rows * n_in + 1, sizeof(REAL));
  REAL* out = calloc(rows * n_out, sizeof(REAL));
  for (int i = 1; i < argc; ++i) in[i - 1] = (REAL)strtod(argv[i], NULL);
  for (size_t r = 0; r < rows; ++r) {
    ENTRY(in + r * n_in, out);
    printf("single %zu:", r);
    for (size_t j = 0; j < n_out; ++j) printf(" %a", (double)out[j]);
    printf("\n");
  }
  CAT(ENTRY, _batch)(rows, in, out);
  for (size_t r = 0; r < rows; ++r) {
    printf("batch %zu:", r);
    for (size_t j = 0; j < n_out; ++j) printf(" %a", (double)out[r * n_out + j]);
    printf("\n");
  }
  return 0;
}
"""


def generic_driver(tmp, sub):
    """A fresh folder tmp/sub holding the generic driver's source: (folder, driver path)."""
    d = os.path.join(tmp, sub)
    os.makedirs(d)
    driver = os.path.join(d, "driver.c")
    with open(driver, "w") as f:
        f.write(GENERIC)
    return d, driver


def inputs(*p):
    return os.path.join(ROOT, *p)


def generic_cases(tmp):
    d, driver = generic_driver(tmp, "generic")
    cases = [
        ("hess", inputs("examples", "lecture.grad"), "h", "--hessian", []),
        ("value", inputs("examples", "lecture.grad"), "f", "", []),
        ("hand", inputs("examples", "robot_arm.grad"), "hand", "--jacobian", []),
        ("arm_fwd", inputs("tests", "inputs", "tensor_args.grad"), "arm", "--jacobian", []),  # 2 in, 2 out: forward
        ("energy", inputs("tests", "inputs", "tensor_args.grad"), "energy", "--grad", []),
        ("gmm", inputs("examples", "gmm.grad"), "gmm", "--grad", []),
        ("edge_id", inputs("tests", "inputs", "compile_edge.grad"), "id", "--hessian", []),
        ("edge_c", inputs("tests", "inputs", "compile_edge.grad"), "c", "--jacobian", []),
        ("edge_q", inputs("tests", "inputs", "compile_edge.grad"), "q", "--hessian", []),
        ("edge_v", inputs("tests", "inputs", "compile_edge.grad"), "v", "--jacobian", []),  # matrix products in the workspace
        # Another CPU: the same source, rounded on other instructions (no fma): close, not the same bits.
        # The JIT's batch (SLEEF's vector math, -lsleef): within SLEEF's bound of eval, not its bits.
        ("simd", inputs("examples", "lecture.grad"), "f", "--grad", ["--simd"]),
        ("cpu", inputs("examples", "lecture.grad"), "f", "--grad", ["--cpu", "x86-64"]),
    ]
    if platform.machine() != "x86_64":
        cases.pop()
    for name, path, fn, flag, extra in cases:
        for dtype in ("f64", "f32"):
            obj = os.path.join(d, f"{name}_{dtype}.o")
            run([GRADC, "compile", path, "--fn", fn, *([flag] if flag else []), "--prefix", name, "--dtype", dtype,
                 *extra, "--header", "-o", obj])
            check_undefined(obj, sleef="--simd" in extra)
            exe = obj[:-2]
            real = "float" if dtype == "f32" else "double"
            run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", f'-DHEADER="{name}_{dtype}.h"', f"-DENTRY={name}",
                 f"-DREAL={real}", "-I", d, driver, obj, *(["-lsleef"] if "--simd" in extra else []), "-lm",
                 "-o", exe])
            pts = points(path, fn)
            exp = [expected(path, fn, flag, at_text(p)) for p in pts]
            compare(f"{name} {dtype}", run([exe, *[x for p in pts for x in numbers(p)]]), exp, dtype == "f32",
                    exact=not extra)


def generated_c(tmp):
    """`-o NAME.c --header`: the generic driver built with the generated C source (cc -std=c99
    -ffp-contract=off, no gradc object) over the same cases, against gradc eval --no-fma (whose
    kernels, like the C, form no fma): bit for bit where the JIT sums in the interpreter's order."""
    d, driver = generic_driver(tmp, "generated_c")
    cases = [
        ("hess", inputs("examples", "lecture.grad"), "h", "--hessian"),
        ("lecture", inputs("examples", "lecture.grad"), "f", "--grad"),
        ("hand", inputs("examples", "robot_arm.grad"), "hand", "--jacobian"),
        ("energy", inputs("tests", "inputs", "tensor_args.grad"), "energy", "--grad"),
        ("gmm", inputs("examples", "gmm.grad"), "gmm", "--grad"),
        ("edge_q", inputs("tests", "inputs", "compile_edge.grad"), "q", "--hessian"),
        ("edge_v", inputs("tests", "inputs", "compile_edge.grad"), "v", "--jacobian"),
        ("special", inputs("tests", "inputs", "special.grad"), "f", "--grad"),  # digamma: refused for .o, C has its own
    ]
    for name, path, fn, flag in cases:
        for dtype in ("f64", "f32"):
            src = os.path.join(d, f"{name}_{dtype}.c")
            run([GRADC, "compile", path, "--fn", fn, flag, "--prefix", name, "--dtype", dtype, "--header", "-o", src])
            exe = src[:-2]
            real = "float" if dtype == "f32" else "double"
            run(["cc", "-std=c99", "-pedantic", "-O2", "-ffp-contract=off", "-Wall", "-Werror", f'-DHEADER="{name}_{dtype}.h"',
                 f"-DENTRY={name}", f"-DREAL={real}", "-I", d, driver, src, "-lm", "-o", exe])
            pts = [{"x": 2.5, "y": 1.5}, {"x": 0.75, "y": 3.25}, {"x": 4.5, "y": 0.5}] if name == "special" else points(path, fn)
            # gradc eval --no-fma computes what the C does, to the bit, where the JIT sums in the
            # interpreter's order: all these but gmm (its sums over 1,000 points are split).
            exp = [expected(path, fn, flag, at_text(p), no_fma=True) for p in pts]
            compare(f"{name} {dtype} (.c)", run([exe, *[x for p in pts for x in numbers(p)]]), exp, dtype == "f32",
                    exact=name != "gmm")


def readme_example(tmp):
    """README.md's C example: its code is examples/embed/hello.c, its output and the header
    excerpt are what the commands it shows produce."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    hello = os.path.join(ROOT, "examples", "embed", "hello.c")
    check("```c\n" + open(hello).read() + "```" in readme, "README.md shows examples/embed/hello.c as it is")
    d = os.path.join(tmp, "readme")
    os.makedirs(d)
    run([GRADC, "compile", "examples/lecture.grad", "--fn", "f", "--grad", "--header", "-o", os.path.join(d, "f.o")],
        cwd=ROOT)
    run([GRADC, "compile", "examples/lecture.grad", "--fn", "f", "--grad", "-o", os.path.join(d, "libf.so")], cwd=ROOT)
    header = open(os.path.join(d, "f.h")).read()
    excerpt = readme.split("`f.h` documents the layout in its opening comment:\n\n```c\n", 1)[-1].split("```", 1)[0]
    check(excerpt in header, f"README.md's excerpt of f.h is in the header:\n{excerpt}")
    for lib in ("f.o", "./libf.so"):
        exe = os.path.join(d, "hello")
        run(["cc", "-I.", hello, lib, "-lm", "-o", exe], cwd=d)
        out = run([exe], cwd=d)
        check("```text\n" + out + "```" in readme, f"README.md shows hello's output (with {lib}):\n{out}")
    exp = expected(os.path.join(ROOT, "examples", "lecture.grad"), "f", "--grad", "x=0.5,y=1.2,z=3")
    got = [float(line.split("=")[1]) for line in out.splitlines()[:4]]
    check(same_bits(got, exp), f"hello prints eval's bits: {got} vs {exp}")
    # The C++ example: examples/embed/hello.cpp, the Jacobian of robot_arm's hand at three poses.
    hello_cpp = os.path.join(ROOT, "examples", "embed", "hello.cpp")
    check("```cpp\n" + open(hello_cpp).read() + "```" in readme, "README.md shows examples/embed/hello.cpp as it is")
    run([GRADC, "compile", "examples/robot_arm.grad", "--fn", "hand", "--jacobian", "--header", "-o",
         os.path.join(d, "hand.o")], cwd=ROOT)
    exe = os.path.join(d, "hello_cpp")
    run(["c++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I.", hello_cpp, "hand.o", "-lm", "-o", exe], cwd=d)
    out = run([exe], cwd=d)
    check("```text\n" + out + "```" in readme, f"README.md shows hello.cpp's output:\n{out}")
    for line, pose in zip(out.splitlines(), ("t1=0.3,t2=0.6,t3=-0.4", "t1=0.5,t2=0.5,t3=0.5", "t1=1,t2=-0.5,t3=0.25")):
        want = expected(os.path.join(ROOT, "examples", "robot_arm.grad"), "hand", "--jacobian", pose)
        got = [float(x) for x in line.replace("hand = (", "").replace(")  J = [[", ", ").replace("], [", ", ")
               .rstrip("]").split(", ")]
        check(all(abs(a - b) <= 5e-7 for a, b in zip(got, want)) and len(got) == len(want),
              f"hello.cpp at {pose} prints eval's numbers to 6 decimals: {got} vs {want}")


def golden_headers(tmp, update):
    """Whole headers and C sources against tests/golden/*.h and *.c (`check_embed.py GRADC ROOT --update`
    rewrites them)."""
    d = os.path.join(tmp, "headers")
    os.makedirs(d)
    for sub in ("examples", "tests"):
        os.symlink(os.path.join(ROOT, sub), os.path.join(d, sub))
    cases = [("compile_header_hessian.h", ["examples/lecture.grad", "--fn", "h", "--hessian"]),
             ("compile_header_f32.h", ["tests/inputs/tensor_args.grad", "--fn", "energy", "--grad", "--dtype", "f32",
                                       "--prefix", "spring_energy"]),
             # C source: straight-line scalar code, and loop nests in a workspace (f32)
             ("compile_c_lecture_grad.c", ["examples/lecture.grad", "--fn", "f", "--grad"]),
             ("compile_c_energy_f32.c", ["tests/inputs/tensor_args.grad", "--fn", "energy", "--grad", "--dtype", "f32",
                                         "--prefix", "spring_energy"])]
    for golden, args in cases:
        run([GRADC, "compile", *args, "-o", golden], cwd=d)
        text = open(os.path.join(d, golden)).read()
        path = os.path.join(ROOT, "tests", "golden", golden)
        if update:
            with open(path, "w") as f:
                f.write(text)
        check(os.path.exists(path) and open(path).read() == text, f"{golden} differs from tests/golden/{golden}:\n{text}")


with tempfile.TemporaryDirectory() as tmp:
    golden_headers(tmp, "--update" in sys.argv)
    embed_programs(tmp)
    generic_cases(tmp)
    generated_c(tmp)
    readme_example(tmp)
if FAILURES:
    sys.exit(f"{len(FAILURES)} mismatches")
print("embed: all results equal gradc eval")
