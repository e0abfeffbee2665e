#!/usr/bin/env python3
"""Golden-file tests of the gradc CLI: each case runs the binary and compares exit code, stdout
and stderr with tests/golden/NAME.out. `run_golden.py GRADC --update` rewrites the files.

Cases are listed in tests/golden/cases.txt, one per line: `NAME: ARGS...` (ARGS split like a
shell would; paths are relative to the repository root). ARGS ending in `< PATH` give the file
PATH as gradc's standard input (otherwise it is empty). ARGS may start with environment
assignments (`NO_COLOR=1`) and `[tty]`, which gives gradc a pseudo-terminal as standard error
(colours are tested that way). gradc's object cache is in the temporary folder. Generated inputs (huge or binary files)
are written by make_inputs() into a temporary folder, referred to as $TMP in ARGS."""
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")


def make_inputs(tmp):
    def write(name, data):
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
    write("deep_parens.grad", b"fn f(x) = " + b"(" * 100000 + b"x" + b")" * 100000 + b"\n")
    write("deep_calls.grad", b"fn f(x) = " + b"sin(" * 100000 + b"x" + b")" * 100000 + b"\n")
    # about 1 MB: x*0.5 + x*1.5 + ... (distinct terms, so nothing folds away)
    terms = [f"x*{i}.5" for i in range(120000)]
    write("huge.grad", ("fn f(x) = " + " + ".join(terms) + "\nat x = 1\n").encode())
    write("binary.grad", b"\x7fELF\x02\x01\x01\x00\x00\x00")
    write("empty.grad", b"# nothing here\n\n")
    write("minus_chain.grad", b"fn f(x) = " + b"- " * 100000 + b"x\nat x = 2\n")


# LLVM IR lines that depend on the host CPU or the LLVM build, not on gradc.
HOST_SPECIFIC = re.compile(r"^(attributes #|target datalayout|target triple|; ModuleID|source_filename)")


def run_on_tty(argv, stdin, env):
    """Runs argv with standard error on a pseudo-terminal; returns (exit code, stdout, stderr)."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    out, _ = p.communicate(stdin, timeout=120)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    return p.returncode, out, err


def run_case(gradc, args, tmp):
    words = shlex.split(args)
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    # The JIT's object cache in the run's own folder (fresh each run), never in ~/.cache.
    env["XDG_CACHE_HOME"] = os.path.join(tmp, "xdg_cache")
    env.pop("GRADC_NO_CACHE", None)
    tty = False
    while words and (re.match(r"^[A-Z_]+=", words[0]) or words[0] == "[tty]"):
        if words[0] == "[tty]":
            tty = True
        else:
            k, v = words[0].split("=", 1)
            env[k] = v
        words = words[1:]
    argv = [gradc] + [a.replace("$TMP", tmp) for a in words]
    stdin = b""
    if len(argv) >= 3 and argv[-2] == "<":
        with open(os.path.join(ROOT, argv[-1]), "rb") as f:
            stdin = f.read()
        argv = argv[:-2]
    if tty:
        code, out, err = run_on_tty(argv, stdin, env)
        p = subprocess.CompletedProcess(argv, code, out, err)
    else:
        p = subprocess.run(argv, cwd=ROOT, input=stdin, capture_output=True, timeout=120, env=env)
    # As text=True would: universal newlines.
    p.stdout, p.stderr = (s.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
                          for s in (p.stdout, p.stderr))
    stdout = p.stdout
    if "--stage llvm" in args:
        stdout = "".join(l for l in stdout.splitlines(True) if not HOST_SPECIFIC.match(l))
    out = f"exit: {p.returncode}\n--- stdout\n{stdout}--- stderr\n{p.stderr}"
    # Throughput depends on the machine, not on gradc's results.
    out = re.sub(r"[0-9.]+ steps/s", "N steps/s", out)
    # `gradc --version`: LLVM's exact release and the host's CPU are the machine's, not gradc's.
    out = re.sub(r"^LLVM \d+\.\d+\.\d+\S*$", "LLVM N.N.N", out, flags=re.M)
    out = re.sub(r"^JIT target: \S+ \(host CPU: [^)]+\)$", "JIT target: TRIPLE (host CPU: CPU)", out, flags=re.M)
    # Escape bytes are shown as text, so the golden files stay readable.
    out = out.replace("\x1b", "\\e")
    return out.replace(tmp, "$TMP")


NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def same(want, got, tol=1e-12):
    """Equal text, with numbers equal to 12 significant digits: the last digits of a libm call or
    of an fma contraction may differ between CPUs. Training runs (hundreds of steps, where those
    differences compound) are compared to 6 digits."""
    if want == got:
        return True
    if NUMBER.sub("#", want) != NUMBER.sub("#", got):
        return False
    for a, b in zip(NUMBER.findall(want), NUMBER.findall(got)):
        x, y = float(a), float(b)
        if abs(x - y) > tol * max(1.0, abs(x), abs(y)):
            return False
    return True


def main():
    gradc = os.path.abspath(sys.argv[1])
    update = "--update" in sys.argv[2:]
    only = [a for a in sys.argv[2:] if not a.startswith("--")]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        make_inputs(tmp)
        with open(os.path.join(GOLDEN, "cases.txt")) as f:
            lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
        for line in lines:
            name, args = line.split(":", 1)
            if only and name not in only:
                continue
            got = run_case(gradc, args.strip(), tmp)
            path = os.path.join(GOLDEN, name + ".out")
            if update:
                with open(path, "w") as f:
                    f.write(got)
                continue
            want = open(path).read() if os.path.exists(path) else "(missing golden file)\n"
            tol = 1e-6 if name.startswith(("train_", "predict_")) else 1e-12
            if not same(want, got, tol):
                failures += 1
                print(f"FAIL {name}: gradc {args}")
                import difflib
                sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                           "expected", "got"))
            else:
                print(f"ok   {name}")
        # Every SVG the cases wrote must be well-formed XML that a browser can show.
        import glob
        import xml.dom.minidom
        for svg in sorted(glob.glob(os.path.join(tmp, "*.svg"))):
            try:
                doc = xml.dom.minidom.parse(svg)
                assert doc.documentElement.tagName == "svg", "root element is not <svg>"
                print(f"ok   {os.path.basename(svg)} is well-formed SVG")
            except Exception as e:  # noqa: BLE001 - report any parse failure as a test failure
                failures += 1
                print(f"FAIL {os.path.basename(svg)}: {e}")
        # Files in formats chosen by their extension: each starts as its format does.
        magic = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".gv": b"digraph", ".dot": b"digraph",
                 ".npz": b"PK\x03\x04", ".json": b"{"}
        for path in sorted(glob.glob(os.path.join(tmp, "*"))):
            ext = os.path.splitext(path)[1].lower()
            if ext not in magic:
                continue
            with open(path, "rb") as f:
                head = f.read(len(magic[ext]))
            if head == magic[ext]:
                print(f"ok   {os.path.basename(path)} is a {ext} file")
            else:
                failures += 1
                print(f"FAIL {os.path.basename(path)} does not start as a {ext} file does: {head!r}")
        # The descent CSV was written by extension: a header and rows of the same width.
        for path in sorted(glob.glob(os.path.join(tmp, "descent.csv"))):
            import csv
            with open(path) as f:
                rows = list(csv.reader(f))
            if len(rows) > 1 and rows[0][:2] == ["run", "step"] and len({len(r) for r in rows}) == 1:
                print(f"ok   {os.path.basename(path)} is CSV with a header")
            else:
                failures += 1
                print(f"FAIL {os.path.basename(path)} is not the descent CSV")
    print(f"{len(lines) - failures if not only else len(only) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
