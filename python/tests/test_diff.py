"""Function.diff prints exactly what `gradc diff` prints."""
import pytest

import gradc
from conftest import cli


@pytest.fixture(scope="module")
def lecture():
    return gradc.load("examples/lecture.grad")


@pytest.mark.parametrize("wrt, options, flags", [
    (("x",), dict(format="latex"), ["--format", "latex"]),
    (("x", "y", "z"), {}, []),
    (("x",), dict(expr_only=True), ["--expr-only"]),
    (("y",), dict(ieee=True), ["--ieee"]),
    (("z",), dict(no_simplify=True), ["--no-simplify"]),
])
def test_diff_of_f_equals_the_command_line(lecture, wrt, options, flags):
    out = cli("diff", "examples/lecture.grad", "--fn", "f", "--wrt", ",".join(wrt), *flags)[1]
    assert lecture.f.diff(*wrt, **options) == out


def test_second_order_and_every_parameter_by_default(lecture):
    out = cli("diff", "examples/lecture.grad", "--fn", "h", "--wrt", "u,v", "--order", "2")[1]
    assert lecture.h.diff("u", "v", order=2) == out
    assert lecture.g.diff() == cli("diff", "examples/lecture.grad", "--fn", "g", "--wrt", "x,y,z")[1]


def test_diff_errors_as_the_command_line_words_them(lecture):
    code, _, err = cli("diff", "examples/lecture.grad", "--fn", "f", "--wrt", "w", check=False)
    assert code == 2
    with pytest.raises(gradc.Error) as e:
        lecture.f.diff("w")
    assert str(e.value) == err.rstrip("\n") and e.value.exit_code == 2
    with pytest.raises(gradc.Error, match="^gradc: error: diff: format is 'text' or 'latex', not 'html'$"):
        lecture.f.diff("x", format="html")
