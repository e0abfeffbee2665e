#!/usr/bin/env python3
"""Checks that an .npz written by gradc is what NumPy expects, with the standard library only:
a ZIP whose CRCs verify, holding NAME.npy files with a v1.0 header, '<f8', C order and the
shapes given on the command line.   check_npz.py FILE NAME=d0xd1 ...   (a scalar: NAME=)"""
import ast
import sys
import zipfile

path, specs = sys.argv[1], sys.argv[2:]
z = zipfile.ZipFile(path)
assert z.testzip() is None, "bad CRC"
want = {s.split("=")[0] + ".npy": tuple(int(d) for d in s.split("=")[1].split("x") if d) for s in specs}
assert sorted(z.namelist()) == sorted(want), (z.namelist(), want)
for name, shape in want.items():
    b = z.read(name)
    assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
    n = int.from_bytes(b[8:10], "little")
    assert (10 + n) % 64 == 0, "header not aligned"
    h = ast.literal_eval(b[10:10 + n].decode("latin1"))
    assert h == {"descr": "<f8", "fortran_order": False, "shape": shape}, h
    size = 1
    for d in shape:
        size *= d
    assert len(b) == 10 + n + 8 * size, (len(b), size)
print("ok")
