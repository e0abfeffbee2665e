#!/usr/bin/env python3
"""The statically linked gradc has no run path (RPATH or RUNPATH): every library it loads is in
the system's directories, and a run path's empty entry would make the loader search the working
directory (a library planted there would be loaded) and try ~200 paths on every start.

  python3 tests/check_run_path.py GRADC"""
import subprocess
import sys

out = subprocess.run(["readelf", "-d", sys.argv[1]], capture_output=True, text=True, check=True).stdout
paths = [line.strip() for line in out.splitlines() if "(RPATH)" in line or "(RUNPATH)" in line]
if paths:
    sys.exit("gradc has a run path:\n" + "\n".join(paths))
if "(NEEDED)" not in out:
    sys.exit("readelf -d printed no NEEDED entries: not a dynamic section?\n" + out)
print("no run path")
