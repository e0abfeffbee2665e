"""What check_embed.py and check_embed_train.py share: the gradc binary and the source tree from
the command line, running a program (its output, or the test stops with what it printed), and
mismatches collected to report at the end."""
import os
import subprocess
import sys

GRADC, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
FAILURES = []


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(argv)} (exit {p.returncode})\n{p.stdout}{p.stderr}")
    return p.stdout


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("MISMATCH:", what)
