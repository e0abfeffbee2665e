#!/usr/bin/env python3
"""`cmake --install BUILD --prefix TMP` and `make install PREFIX=TMP2`, then checks what landed: the
exact file list, the installed gradc runs (--version, and an eval equal to the built one's), the
man page names every subcommand `gradc --help` lists, bash completion completes subcommands and
flags, Vim detects .grad files and colours them, the VS Code grammar loads and matches, and the
Python module imports from the prefix's site-packages and computes.

  python3 tests/check_install.py BUILD_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = sorted([
    "bin/gradc",
    "share/bash-completion/completions/gradc",
    "share/gradc/vscode/language-configuration.json",
    "share/gradc/vscode/package.json",
    "share/gradc/vscode/syntaxes/grad.tmLanguage.json",
    "share/man/man1/gradc.1",
    "share/vim/vimfiles/ftdetect/grad.vim",
    "share/vim/vimfiles/syntax/grad.vim",
    "share/zsh/site-functions/_gradc",
])
failures = []


def cache(build, name):
    """A value of BUILD/CMakeCache.txt, or None."""
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def main():
    build = os.path.abspath(sys.argv[1])
    # The Python module (python/CMakeLists.txt): into site-packages under the prefix.
    python, site = cache(build, "GRADC_PYTHON"), cache(build, "GRADC_PYTHON_INSTALL_DIR")
    if python and site:
        suffix = run([python, "-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"]).stdout.strip()
        EXPECTED.append(f"{site}/gradc{suffix}")
        EXPECTED.sort()
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "prefix with space")
        r = run(["cmake", "--install", build, "--prefix", p])
        expect(r.returncode == 0, f"cmake --install exits 0 ({r.stderr.strip()})")
        files = sorted(os.path.relpath(os.path.join(d, f), p) for d, _, fs in os.walk(p) for f in fs)
        expect(files == EXPECTED, f"installed files: {files}")
        gradc = os.path.join(p, "bin", "gradc")
        # `make install` runs the same install (after its set-up and an up-to-date build: no-ops here).
        q = os.path.join(tmp, "make-prefix")
        r = run(["make", "-s", "-C", ROOT, "install", f"PREFIX={q}", f"BUILD={build}"], timeout=600)
        made = sorted(os.path.relpath(os.path.join(d, f), q) for d, _, fs in os.walk(q) for f in fs)
        expect(r.returncode == 0 and made == EXPECTED, f"make install PREFIX=... installs the same files: {made} {r.stderr}")

        r = run([gradc, "--version"])
        expect(r.returncode == 0 and r.stdout.startswith("gradc "), f"bin/gradc --version: {r.stdout!r}")
        lecture = os.path.join(ROOT, "examples", "lecture.grad")
        mine = run([gradc, "eval", lecture, "--fn", "f"])
        built = run([os.path.join(build, "gradc"), "eval", lecture, "--fn", "f"])
        expect(mine.returncode == 0 and mine.stdout == built.stdout and "df/dx = " in mine.stdout,
               "bin/gradc eval gives the built gradc's output")
        if python and site:
            env = dict(os.environ, PYTHONPATH=os.path.join(p, site))
            r = run([python, "-c", "import gradc; print(gradc.__file__); print(gradc.compile('fn f(x) = x^3').f.value_and_grad(2.0))"],
                    env=env, cwd=tmp)
            expect(r.returncode == 0 and r.stdout.startswith(os.path.join(p, site, "gradc"))
                   and r.stdout.splitlines()[1] == "(8.0, array([12.]))",
                   f"the installed Python module imports and computes: {r.stdout!r} {r.stderr!r}")

        man = open(os.path.join(p, "share/man/man1/gradc.1")).read()
        help_text = run([gradc, "--help"]).stdout
        subs = re.findall(r"^  ([a-z][a-z-]*) ", help_text.split("Subcommands:")[1], re.M)
        expect(len(subs) >= 11, f"gradc --help lists subcommands: {subs}")
        for s in subs:
            expect(f".TP\n.B {s}\n" in man, f"the man page describes `{s}`")

        # bash: complete `gradc ev`, `gradc train --sa`, `gradc diff --fo`, `gradc eval --jac` as the shell would.
        if shutil.which("bash"):
            script = os.path.join(p, "share/bash-completion/completions/gradc")
            for words, want in ((["ev"], ["eval"]), (["ex"], ["explain"]), (["train", "--sa"], ["--save"]),
                                (["diff", "--fo"], ["--format"]), (["--ver"], ["--version"]),
                                (["eval", "--jac"], ["--jacobian"]), (["eval", "--jv"], ["--jvp"]),
                                (["eval", "--vj"], ["--vjp"]), (["diff", "--mo"], ["--mode"])):
                line = " ".join([gradc] + words)
                cmd = (f"source '{script}'; COMP_WORDS=('{gradc}' {' '.join(words)}); "
                       f"COMP_CWORD={len(words)}; _gradc; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
                r = run(["bash", "-c", cmd])
                expect(r.stdout.split() == want, f"bash completes `{' '.join(words)}` to {want}: {r.stdout.split()} {r.stderr}")
            r = run(["bash", "-c", f"source '{script}'; COMP_WORDS=(gradc eval examples/lec); COMP_CWORD=2; "
                     "_gradc; printf '%s\\n' \"${COMPREPLY[@]}\""], cwd=ROOT)
            expect(r.stdout.split() == ["examples/lecture.grad"], f"bash completes a .grad file: {r.stdout.split()}")
        if shutil.which("zsh"):
            # The completion function with zsh's completion builtins stubbed to print what they get.
            script = "\n".join([
                "fpath=('%s' $fpath)" % os.path.join(p, "share/zsh/site-functions"),
                "compadd() { print -r -- \"compadd: $*\"; }",
                "_describe() { print -r -- \"describe: ${(P)4}\"; }",
                "_files() { print -r -- \"files: $*\"; }",
                "autoload -U _gradc",
                f"words=('{gradc}' ev); CURRENT=2; _gradc",
                f"words=('{gradc}' train --sa); CURRENT=3; _gradc",
                f"words=('{gradc}' eval exam); CURRENT=3; _gradc"])
            r = run(["zsh", "-f", "-c", script])
            lines = r.stdout.splitlines()
            expect(len(lines) == 3 and lines[0].startswith("describe: eval:value, gradient") and " --save " in lines[1]
                   and lines[2] == "files: -g *.grad(-.)", f"zsh completion: {lines} {r.stderr}")

        # Vim: the file type is detected and `fn`, `tanh`, a number and a comment are coloured.
        # vim-tiny has no syntax highlighting: only a vim built with it can check the file.
        if shutil.which("vim") and "+syntax" in run(["vim", "--version"]).stdout:
            out = os.path.join(tmp, "vim.out")
            src = os.path.join(tmp, "t.grad")
            open(src, "w").write("fn f(x) = tanh(2.5 * x)  # note\n")
            vimfiles = os.path.join(p, "share/vim/vimfiles")
            r = run(["vim", "-Nu", "NONE", "-i", "NONE", "-es",
                     "-c", "set rtp^=" + vimfiles.replace(" ", "\\ "), "-c", "filetype on", "-c", "syntax on", "-c", f"edit {src}",
                     "-c", "let g = map([1, 11, 16, 26], 'synIDattr(synID(1, v:val, 1), \"name\")')",
                     "-c", f"call writefile([&filetype] + g, '{out}')", "-c", "qa!"])
            got = open(out).read().split() if os.path.exists(out) else r.stderr
            expect(got == ["grad", "gradKeyword", "gradFunction", "gradNumber", "gradComment"],
                   f"vim: filetype and syntax groups: {got}")

        # VS Code: the extension names its grammar; the grammar's patterns match .grad text.
        ext = os.path.join(p, "share/gradc/vscode")
        pkg = json.load(open(os.path.join(ext, "package.json")))
        gpath = os.path.join(ext, pkg["contributes"]["grammars"][0]["path"])
        grammar = json.load(open(gpath))
        expect(grammar["scopeName"] == "source.grad" and pkg["contributes"]["languages"][0]["extensions"] == [".grad"],
               "package.json: language grad for .grad files, grammar source.grad")
        repo = grammar["repository"]
        line = "fn f(x) = tanh(2.5 * x)  # note"

        def scope_at(col):
            for inc in grammar["patterns"]:
                rule = repo[inc["include"][1:]]
                if "match" not in rule:
                    continue
                for m in re.finditer(rule["match"], line):
                    if m.start() <= col < m.end():
                        if "captures" in rule:
                            for g, c in rule["captures"].items():
                                if m.start(int(g)) <= col < m.end(int(g)):
                                    return c["name"]
                        return rule["name"]
            return None
        got = [scope_at(c) for c in (0, 3, 10, 15, 25)]
        expect(got == ["keyword.other.grad", "entity.name.function.grad", "support.function.grad",
                       "constant.numeric.grad", "comment.line.number-sign.grad"], f"TextMate scopes: {got}")
    print(f"install: {'FAILED' if failures else 'ok'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
