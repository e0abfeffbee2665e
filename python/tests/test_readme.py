"""README.md's Python example prints the output shown under it."""
import os
import subprocess
import sys

from conftest import source


def test_readme_python_example():
    text = open(source("README.md")).read()
    section = text[text.index("## Use gradc from C, C++ and Python"):]
    section = section[section.index("### Python"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    code = code[:code.index("```\n")]
    shown = section[section.index("```text\n") + len("```text\n"):]
    shown = shown[:shown.index("```\n")]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=source(),
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert r.stdout == shown
