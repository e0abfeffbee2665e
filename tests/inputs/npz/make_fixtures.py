#!/usr/bin/env python3
"""Writes the .npz fixtures of tests/test_io.cpp the way numpy.savez and savez_compressed do
(zipfile with force_zip64=True, entries NAME.npy), without numpy: the .npy headers are written by
hand. Run from this folder; the outputs are committed."""
import struct
import zipfile


def npy(descr, shape, data, fortran=False, version=1):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    pre = 10 if version == 1 else 12
    header += " " * ((64 - (pre + len(header) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode("latin1") + data


def savez(path, arrays, compressed=False):
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method, allowZip64=True) as z:
        for name, blob in arrays:
            with z.open(name + ".npy", "w", force_zip64=True) as f:  # as numpy does (gh-10776)
                f.write(blob)


def fortran(shape, value):
    """Values value(index) laid out with the first index fastest."""
    out = []
    idx = [0] * len(shape)
    total = 1
    for d in shape:
        total *= d
    for _ in range(total):
        out.append(value(tuple(idx)))
        for a in range(len(shape)):
            idx[a] += 1
            if idx[a] < shape[a]:
                break
            idx[a] = 0
    return out


w = fortran((2, 3), lambda i: 10 * i[0] + i[1])
t = fortran((2, 3, 4), lambda i: 100 * i[0] + 10 * i[1] + i[2])
savez("fortran.npz", [("W", npy("<f8", (2, 3), struct.pack("<6d", *w), fortran=True)),
                      ("T", npy("<f4", (2, 3, 4), struct.pack("<24f", *t), fortran=True, version=2)),
                      ("v", npy("<f8", (3,), struct.pack("<3d", 1.5, -2.5, 3.25), fortran=True))])
savez("compressed.npz", [("a", npy("<f8", (3,), struct.pack("<3d", 0.1, -0.0, 1e300))),
                         ("n", npy("<i8", (), struct.pack("<q", 600))),
                         ("big", npy(">f8", (2, 2), struct.pack(">4d", 1.0, 2.0, -3.5, 4.25))),
                         ("i", npy("<i4", (2,), struct.pack("<2i", -7, 2**31 - 1))),
                         ("u", npy("|u1", (3,), bytes([0, 200, 255]))),
                         ("flag", npy("|b1", (2,), bytes([1, 0])))], compressed=True)
savez("object.npz", [("o", npy("|O", (2,), b"\x80\x04N."))])
savez("complex.npz", [("c", npy("<c16", (1,), b"\0" * 16))])
savez("overflow.npz", [("x", npy("<f8", (1073741824, 1073741824, 4), b"\0" * 16))])
savez("short.npz", [("x", npy("<f8", (2, 2), struct.pack("<3d", 1, 2, 3)))])

# Everything in ZIP64 form, as an archive past 4 GiB has it: sizes and offsets of 0xffffffff with
# the real values in the ZIP64 extra fields, and an end of central directory of 0xffff entries
# and 0xffffffff sizes, the real values in the ZIP64 end record found through its locator.
def zip64(path, name, blob):
    import zlib
    crc, n = zlib.crc32(blob), len(blob)
    fname = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(fname), 20)
    local += fname + struct.pack("<HHQQ", 1, 16, n, n) + blob
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                          len(fname), 28, 0, 0, 0, 0, 0xFFFFFFFF)
    central += fname + struct.pack("<HHQQQ", 1, 24, n, n, 0)
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), len(local))
    locator = struct.pack("<IIQI", 0x07064B50, 0, len(local) + len(central), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    open(path, "wb").write(local + central + z64 + locator + end)


zip64("zip64.npz", "x.npy", npy("<f8", (2,), struct.pack("<2d", 0.5, -0.25)))
