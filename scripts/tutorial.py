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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc", default=os.path.join(ROOT, "build", "gradc"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    gradc = os.path.abspath(args.gradc)
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
