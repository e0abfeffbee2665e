#!/usr/bin/env python3
"""`gradc repl` on a pseudo-terminal: the prompt, line editing (backspace, cursor keys), the
history (up arrow repeats a line), as readline gives them, and Ctrl-C dropping the line typed.

  python3 tests/check_repl_tty.py GRADC"""
import os
import pty
import select
import sys
import time


def main():
    gradc = sys.argv[1]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "dumb"
        os.execv(gradc, [gradc, "repl"])
    out = b""

    def read_until(token, timeout=20):
        nonlocal out
        end = time.time() + timeout
        while token not in out and time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return token in out

    ok = read_until(b"grad> ")
    steps = [
        (b"fn f(x) = x^2\r", b"f(x)"),
        # typed 4, erased with backspace, then 3: f(3) = 9
        (b"eval f at x=4\x7f3\r", b"f = 9"),
        # three cursor-lefts (over "5", "=", "x"), then "2": the line becomes "eval f at 2x=5"
        (b"eval f at x=5\x1b[D\x1b[D\x1b[D2\r", b"'2x' is not a parameter of 'f'"),
        # up arrow twice: "eval f at x=4<BS>3" as edited, that is "eval f at x=3", again
        (b"\x1b[A\x1b[A\r", None),
        # Ctrl-C drops the half-typed line (else this would read "eval f at x=1eval f at x=7"), and
        # the session goes on
        (b"eval f at x=1\x03", None),
        (b"eval f at x=7\r", b"f = 49"),
        (b":quit\r", None),
    ]
    failures = 0
    for keys, want in steps:
        before = out.count(b"f = 9")
        os.write(fd, keys)
        if want is not None:
            good = read_until(want)
        elif keys.startswith(b"\x1b[A"):
            good = read_until(b"f = 9") and _wait_count(lambda: out.count(b"f = 9") > before, read_until)
        else:
            good = True
        print(("ok   " if good else "FAIL ") + repr(keys))
        failures += not good
    dropped = b"at x = 1\r" not in out
    print(("ok   " if dropped else "FAIL ") + "the line Ctrl-C dropped was not run")
    failures += not dropped
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(("ok   " if code == 0 else "FAIL ") + f"exit code {code}")
    failures += code != 0
    if failures or not ok:
        print(out.decode(errors="replace"))
    return 1 if failures or not ok else 0


def _wait_count(cond, read_until):
    end = time.time() + 20
    while not cond() and time.time() < end:
        read_until(b"\x00never", 0.3)
    return cond()


if __name__ == "__main__":
    sys.exit(main())
