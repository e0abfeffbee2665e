#!/usr/bin/env python3
"""Generates docs/tutorial.md from docs/tutorial.md.in by running the gradc commands it names.

Directives (each on its own line in the template):
  <!-- run: gradc ARGS -->      the command and its output (stdout, then stderr) in a code block
  <!-- svg: gradc ARGS -->      runs the command (which writes an SVG) and shows the picture
  <!-- svg-only: PATH -->       shows a picture an earlier command wrote
  <!-- file: PATH -->           the file's text in a code block

  python3 scripts/tutorial.py [--gradc build/gradc]           rewrite docs/tutorial.md and docs/img/
  python3 scripts/tutorial.py --check [--gradc build/gradc]   regenerate into a temporary folder and
                                                              fail if docs/ is stale (make test)

README.md is its own template: in each ```console block, every `$ build/gradc ARGS` line is followed
by that command's output (stdout, then stderr; `(exit code N)` when not 0). The commands run one
after the other in a scratch folder that sees the checkout's examples/, tests/ and docs/, so files
they write (`--save xor.npz`) are there for the next command and never land in the checkout.

  python3 scripts/tutorial.py --readme [--check] [--gradc build/gradc]
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import xml.dom.minidom

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRECTIVE = re.compile(r"^<!-- (run|svg|svg-only|file): (.*) -->$")
# Machine-dependent output: throughput.
VOLATILE = re.compile(r"[0-9.]+ steps/s")


def generate(gradc, out_root):
    text = open(os.path.join(ROOT, "docs", "tutorial.md.in")).read()
    out, svgs = [], []
    for line in text.splitlines():
        m = DIRECTIVE.match(line)
        if not m:
            out.append(line)
            continue
        kind, arg = m.groups()
        if kind == "file":
            out += ["```", open(os.path.join(ROOT, arg)).read().rstrip("\n"), "```"]
            continue
        if kind == "svg-only":
            out.append(f"![{os.path.basename(arg)}]({os.path.relpath(arg, 'docs')})")
            continue
        argv = shlex.split(arg)
        assert argv[0] == "gradc", line
        # Pictures go to out_root; paths in the text stay docs/img/...
        real = [a if not a.startswith("docs/img/") else os.path.join(out_root, a) for a in argv[1:]]
        p = subprocess.run([gradc] + real, cwd=ROOT, capture_output=True, text=True)
        if kind == "run":
            body = p.stdout + p.stderr
            out += ["```console", f"$ {arg}", body.rstrip("\n")]
            if p.returncode:
                out.append(f"(exit code {p.returncode})")
            out.append("```")
        else:
            if p.returncode:
                sys.exit(f"tutorial: `{arg}` failed:\n{p.stderr}")
            path = next(a for a in argv if a.startswith("docs/img/"))
            svgs.append((path, argv[1] == "graph"))
            out.append(f"![{os.path.basename(path)}]({os.path.relpath(path, 'docs')})")
    return "\n".join(out) + "\n", svgs


def generate_readme(gradc):
    """README.md with the output of each console block's commands regenerated."""
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    out, in_console, commands = [], False, 0
    with tempfile.TemporaryDirectory() as work:
        for d in ("examples", "tests", "docs"):
            os.symlink(os.path.join(ROOT, d), os.path.join(work, d))
        os.makedirs(os.path.join(work, "build"))
        os.symlink(gradc, os.path.join(work, "build", "gradc"))
        for line in lines:
            if not in_console:
                out.append(line)
                in_console = line == "```console"
                continue
            if line == "```":
                out.append(line)
                in_console = False
            elif line.startswith("$ "):
                argv = shlex.split(line[2:])
                if argv[0] != "build/gradc":
                    sys.exit(f"README.md: a console block runs only build/gradc, not: {line}")
                # argv[0] as typed, so usage lines read `build/gradc ...` as the reader sees them.
                p = subprocess.run(argv, executable=os.path.join(work, "build", "gradc"), cwd=work,
                                   capture_output=True, text=True)
                out.append(line)
                body = (p.stdout + p.stderr).rstrip("\n")
                if body:
                    out.append(body)
                if p.returncode:
                    out.append(f"(exit code {p.returncode})")
                commands += 1
            # any other line is the previous command's old output: dropped, regenerated above
    return "\n".join(out) + "\n", commands


def readme(gradc, check):
    md, commands = generate_readme(gradc)
    path = os.path.join(ROOT, "README.md")
    committed = open(path).read()
    if not check:
        open(path, "w").write(md)
        print(f"wrote README.md ({commands} commands)")
        return 0
    if VOLATILE.sub("N steps/s", md) == VOLATILE.sub("N steps/s", committed):
        print(f"README.md: {commands} commands, up to date")
        return 0
    import difflib
    sys.stdout.writelines(difflib.unified_diff(committed.splitlines(True), md.splitlines(True),
                                               "README.md", "regenerated"))
    print("FAIL README.md's console examples are stale: run python3 scripts/tutorial.py --readme")
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc", default=os.path.join(ROOT, "build", "gradc"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--readme", action="store_true", help="README.md's console blocks instead")
    args = ap.parse_args()
    gradc = os.path.abspath(args.gradc)
    if args.readme:
        return readme(gradc, args.check)
    if not args.check:
        md, _ = generate(gradc, ROOT)
        open(os.path.join(ROOT, "docs", "tutorial.md"), "w").write(md)
        print("wrote docs/tutorial.md")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "docs", "img"))
        md, svgs = generate(gradc, tmp)
        failures = 0
        committed = open(os.path.join(ROOT, "docs", "tutorial.md")).read()
        if VOLATILE.sub("N steps/s", md) != VOLATILE.sub("N steps/s", committed):
            import difflib
            sys.stdout.writelines(difflib.unified_diff(committed.splitlines(True), md.splitlines(True),
                                                       "docs/tutorial.md", "regenerated"))
            print("FAIL docs/tutorial.md is stale: run python3 scripts/tutorial.py")
            failures += 1
        for svg, graphviz in svgs:
            fresh = os.path.join(tmp, svg)
            xml.dom.minidom.parse(fresh)  # well-formed
            if not os.path.exists(os.path.join(ROOT, svg)):
                print(f"FAIL {svg} is missing: run python3 scripts/tutorial.py")
                failures += 1
            elif not graphviz and open(fresh).read() != open(os.path.join(ROOT, svg)).read():
                # gradc's own plots are deterministic; Graphviz's output may vary by version.
                print(f"FAIL {svg} is stale: run python3 scripts/tutorial.py")
                failures += 1
        print(f"tutorial: {len(svgs)} pictures, {'stale' if failures else 'up to date'}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
