"""Fixtures of the Python module's tests: the gradc program beside it (GRADC) and the source
tree (GRADC_SOURCE_DIR), for comparisons with the command line."""
import json
import os
import subprocess

SOURCE = os.environ.get("GRADC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
GRADC = os.environ.get("GRADC", os.path.join(SOURCE, "build", "gradc"))


def source(*parts):
    return os.path.join(SOURCE, *parts)


def cli(*args, check=True):
    """Runs gradc with args: (exit code, stdout, stderr)."""
    r = subprocess.run([GRADC, *args], capture_output=True, text=True, cwd=SOURCE)
    if check and r.returncode != 0:
        raise AssertionError(f"gradc {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r.returncode, r.stdout, r.stderr


def cli_json(*args):
    return json.loads(cli(*args)[1])


# Relative paths (examples/..., csv() data) mean the same here as for the command line above.
os.chdir(SOURCE)
