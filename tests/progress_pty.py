#!/usr/bin/env python3
# `gradc train`'s progress line under a pseudo-terminal: drawn on standard error only when it is
# a terminal, redrawn by time (about 10 a second, so several times in a run of a second or more),
# every drawn line within the terminal's width, erased at the end; standard output (a file here)
# gets the log lines untouched. Usage: progress_pty.py GRADC SOURCE_DIR
import fcntl, os, pty, re, struct, subprocess, sys, tempfile, termios, time

gradc, src = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def run(cols, epochs, extra=()):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    with tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        p = subprocess.Popen([gradc, "train", os.path.join(src, "examples/xor.grad"), "--epochs", str(epochs), *extra],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
        os.close(slave)
        screen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            screen += chunk
        p.wait()
        elapsed = time.monotonic() - t0
        os.close(master)
        out.seek(0)
        return p.returncode, screen.decode(), out.read().decode(), elapsed


for cols in (80, 50):
    code, screen, stdout, elapsed = run(cols, 1_000_000)
    check(code == 0, f"{cols} columns: exit {code}")
    draws = [d for d in screen.split("\r") if d]
    lines = [re.sub(r"\x1b\[K", "", d) for d in draws]
    progress = [l for l in lines if l]
    check(len(progress) >= 3, f"{cols} columns: {len(progress)} redraws in {elapsed:.2f} s, expected at least 3")
    check(len(progress) <= 10 * elapsed + 2, f"{cols} columns: {len(progress)} redraws in {elapsed:.2f} s (about 10/s)")
    for l in progress:
        check("\n" not in l, f"{cols} columns: a newline on the progress line: {l!r}")
        check(len(l) <= cols - 1, f"{cols} columns: {len(l)} characters: {l!r}")
        check(re.match(r"^(\[[#.]+\] )?epoch \d+/1000000  loss ", l) is not None, f"unexpected progress line {l!r}")
    full = [l for l in progress if "steps/s" in l and "ETA" in l and "accuracy" in l]
    if cols == 80:
        check(len(full) >= 2, "80 columns: lines without epoch/total, loss, accuracy, steps/s and ETA")
    check(screen.endswith("\r\x1b[K"), f"{cols} columns: the progress line is not erased at the end: {screen[-40:]!r}")
    check("\r" not in stdout and "\x1b" not in stdout, f"{cols} columns: progress on standard output")
    out_lines = stdout.splitlines()
    check(len(out_lines) == 20001 and out_lines[0].startswith("epoch     50  step      50  loss ")
          and out_lines[-1].startswith("trained 1000000 epochs (1000000 steps, "),
          f"{cols} columns: standard output is not the log lines: {out_lines[:2]} ... {out_lines[-1:]}")

# --quiet: nothing on the terminal.
code, screen, stdout, _ = run(80, 1000, ["--quiet"])
check(code == 0 and screen == "" and stdout == "", f"--quiet drew {screen!r}")

for f in failures:
    print("FAIL", f)
print(f"progress_pty: {'ok' if not failures else 'FAILED'}")
sys.exit(1 if failures else 0)
