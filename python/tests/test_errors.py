"""Bad input raises gradc.Error with the command line's message and exit code, never a crash."""
import numpy as np
import pytest

import gradc
from conftest import cli


def raises(fn, text, code=2):
    with pytest.raises(gradc.Error) as e:
        fn()
    assert str(e.value) == text
    assert e.value.exit_code == code
    return e.value


@pytest.fixture(scope="module")
def lecture():
    return gradc.load("examples/lecture.grad")


def test_parse_error_in_a_file_as_the_command_line_prints_it(tmp_path):
    bad = tmp_path / "bad.grad"
    bad.write_text("fn f(x) = x +\n")
    code, _, err = cli("eval", str(bad), check=False)
    assert code == 1 and err.startswith(f"{bad}:1:")
    raises(lambda: gradc.load(str(bad)), err.rstrip("\n"), code=1)
    e = raises(lambda: gradc.compile("fn f(x) = x +\n"), err.rstrip("\n").replace(str(bad), "<string>"), code=1)
    assert isinstance(e, Exception)


def test_lowering_error_and_missing_file(tmp_path):
    bad = tmp_path / "undefined.grad"
    bad.write_text("fn f(x) = x + y\n")
    code, _, err = cli("eval", str(bad), check=False)
    assert code == 1 and "'y'" in err
    raises(lambda: gradc.load(str(bad)), err.rstrip("\n"), code=1)
    missing = str(tmp_path / "missing.grad")
    code, _, err = cli("eval", missing, check=False)
    assert code != 0 and err.startswith("gradc: error: ")
    raises(lambda: gradc.load(missing), err.rstrip("\n"), code=code)


def test_argument_errors(lecture):
    f = lecture.f
    raises(lambda: f(1, 2, 3, 4), "gradc: error: 'f' takes 3 arguments (x, y, z); 4 given")
    raises(lambda: f(1, 2, w=3), "gradc: error: 'w' is not a parameter of 'f' (parameters: x, y, z)")
    raises(lambda: f(1, 2, x=3), "gradc: error: 'x' is given twice")
    raises(lambda: f(0.5, 1.2), "gradc: error: no value for parameter 'z' of 'f' (parameters: x, y, z)")
    raises(lambda: f(np.zeros((4, 2))),
           "gradc: error: 'f' takes 3 arguments (x, y, z), or one array of points of shape [..., 3]; "
           "this array has shape [4, 2]")
    raises(lambda: f.value_and_grad(np.zeros(2), np.zeros(3), 1.0),
           "gradc: error: the arguments' leading axes do not broadcast together (x [2], y [3], z [])")
    raises(lambda: f("a", 1, 2), "gradc: error: 'x': expected a number or an array of numbers, not str")
    raises(lambda: lecture.h(None, 1), "gradc: error: 'u': expected a number or an array of numbers, not NoneType")


def test_shape_errors_of_tensor_functions():
    m = gradc.load("python/tests/inputs/tensors.grad")
    raises(lambda: m.quad(np.zeros(2), 1.0), "gradc: error: 'x' has shape [3]; this value has shape [2]")
    raises(lambda: m.quad(np.zeros((3, 2)), 1.0), "gradc: error: 'x' has shape [3]; this value has shape [3, 2]")
    raises(lambda: m.quad(1.0, 1.0), "gradc: error: 'x' has shape [3]; this value has shape []")
    raises(lambda: m.scale.value_and_grad(np.zeros(3), 1.0),
           "gradc: error: value_and_grad: 'scale' returns shape [3]; a gradient is of a scalar function "
           "(jacobian gives the first derivatives)")
    raises(lambda: m.scale.hessian(np.zeros(3), 1.0),
           "gradc: error: hessian: 'scale' returns shape [3]; a Hessian is of a scalar function "
           "(jacobian gives the first derivatives)")
    raises(lambda: m.quad.hessian(np.zeros(3), 1.0),
           "gradc: error: hessian: 'quad' takes 'x' of shape [3]; a Hessian needs scalar parameters")
    raises(lambda: gradc.compile("fn c() = 2").c.jacobian(),
           "gradc: error: jacobian: 'c' has no parameters, so nothing to differentiate with respect to")


def test_unknown_function_is_an_attribute_error(lecture):
    with pytest.raises(AttributeError, match=r"has no function 'nope' \(functions: f, g, h\)"):
        lecture.nope
    assert not hasattr(lecture, "nope")


def test_training_errors_as_the_command_line_words_them(lecture):
    code, _, err = cli("train", "examples/lecture.grad", check=False)
    assert code == 2
    raises(lambda: lecture.train(), err.rstrip("\n"))
    raises(lambda: lecture.parameters, err.rstrip("\n"))
    xor = gradc.load("examples/xor.grad")
    code, _, err = cli("train", "examples/xor.grad", "--lr", "-1", check=False)
    assert code == 2
    raises(lambda: xor.train(lr=-1), err.rstrip("\n"))
    with pytest.raises(AttributeError, match=r"has no function 'net' \(functions: \)"):
        xor.net  # a layer, not a function


def test_out_buffer_of_the_wrong_kind(lecture):
    P = np.ones((5, 3))
    head = "gradc: error: out: a writeable C-contiguous float64 array of shape [5, 4] (a row per point: the value, then the gradient), not "
    raises(lambda: lecture.f.value_and_grad(P, out=np.empty((5, 3))), head + "a float64 array of shape [5, 3]")
    raises(lambda: lecture.f.value_and_grad(P, out=np.empty((5, 4), dtype=np.float32)), head + "a float32 array of shape [5, 4]")
    raises(lambda: lecture.f.value_and_grad(P, out=np.empty((4, 5)).T), head + "an array that is not C-contiguous")
    ro = np.empty((5, 4))
    ro.setflags(write=False)
    raises(lambda: lecture.f.value_and_grad(P, out=ro), head + "a read-only array")
    raises(lambda: lecture.f.value_and_grad(P, out=[1, 2]), head + "a list")
