"""Values and derivatives from Python against hand computations, finite differences and
`gradc eval --json`; batches against single-point calls, bit for bit."""
import math

import numpy as np
import pytest

import gradc
from conftest import cli_json


def lecture_f(x, y, z):
    return math.tanh(math.log(1 + z * (2 * x / math.sin(y))))


def lecture_grad(x, y, z):
    # By hand: u = 1 + 2xz/sin(y), f = tanh(log u), df = (1 - f^2)/u du.
    u = 1 + 2 * x * z / math.sin(y)
    k = (1 - math.tanh(math.log(u)) ** 2) / u
    return [k * 2 * z / math.sin(y), k * -2 * x * z * math.cos(y) / math.sin(y) ** 2, k * 2 * x / math.sin(y)]


def central(f, p, i, h=1e-5):
    a, b = list(p), list(p)
    a[i] += h
    b[i] -= h
    return (f(*a) - f(*b)) / (2 * h)


@pytest.fixture(scope="module")
def lecture():
    return gradc.load("examples/lecture.grad")


def test_value_is_a_float_equal_to_the_hand_computation(lecture):
    v = lecture.f(0.5, 1.2, 3.0)
    assert type(v) is float
    assert v == pytest.approx(lecture_f(0.5, 1.2, 3.0), rel=1e-15)


def test_gradient_against_hand_derivative_and_finite_differences(lecture):
    v, g = lecture.f.value_and_grad(0.5, 1.2, 3.0)
    assert g.shape == (3,) and g.dtype == np.float64
    assert v == lecture.f(0.5, 1.2, 3.0)
    np.testing.assert_allclose(g, lecture_grad(0.5, 1.2, 3.0), rtol=1e-14)
    for i in range(3):
        assert g[i] == pytest.approx(central(lecture_f, (0.5, 1.2, 3.0), i), rel=1e-8)


def test_arguments_by_position_and_by_name(lecture):
    ref = lecture.f.value_and_grad(0.5, 1.2, 3.0)
    for args, kwargs in [((), dict(x=0.5, y=1.2, z=3.0)), ((0.5,), dict(z=3.0, y=1.2)), ((0.5, 1.2), dict(z=3))]:
        v, g = lecture.f.value_and_grad(*args, **kwargs)
        assert v == ref[0] and np.array_equal(g, ref[1])
    assert lecture.h(u=1, v=2) == lecture.h(1, 2)


def test_equal_to_eval_json(lecture):
    at = dict(x=0.5, y=1.2, z=3.0)
    ref = cli_json("eval", "examples/lecture.grad", "--fn", "f", "--json", "--tier", "optimized", "--at", "x=0.5,y=1.2,z=3")
    v, g = lecture.f.value_and_grad(**at)
    assert v == ref["value"]
    assert list(g) == [ref["gradient"][p] for p in "xyz"]
    assert lecture.f(**at) == ref["value"]
    ref = cli_json("eval", "examples/lecture.grad", "--fn", "f", "--json", "--tier", "optimized", "--hessian", "--at", "x=0.5,y=1.2,z=3")
    H = lecture.f.hessian(**at)
    assert H.shape == (3, 3)
    assert H.tolist() == ref["hessian"]


def test_hessian_against_finite_differences_of_the_gradient(lecture):
    p = (0.5, 1.2, 3.0)
    H = lecture.f.hessian(*p)
    for j in range(3):
        col = [central(lambda *q: lecture_grad(*q)[i], p, j) for i in range(3)]
        np.testing.assert_allclose(H[:, j], col, rtol=1e-7)
    assert np.array_equal(H, H.T)


def close(a, b):
    # A batch's transcendentals are SLEEF's vector functions (1.0 ulp each), a single call's the C
    # library's (README: where gradc differs on purpose): equal to a few ulps, nan where nan.
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)


def test_batch_equals_single_calls_within_sleef_bound(lecture):
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.uniform(0.1, 1, 37), rng.uniform(0.5, 2.5, 37), rng.uniform(1, 4, 37)])
    v, g = lecture.f.value_and_grad(X)
    assert v.shape == (37,) and g.shape == (37, 3)
    values = lecture.f(X)
    H = lecture.f.hessian(X)
    assert H.shape == (37, 3, 3)
    for i, row in enumerate(X):
        vi, gi = lecture.f.value_and_grad(*row)
        close(v[i], vi)
        close(g[i], gi)
        close(values[i], lecture.f(*row))
        close(H[i], lecture.f.hessian(*row))


def test_batch_by_parameter_broadcasts_like_numpy(lecture):
    xs = np.array([0.2, 0.5, 0.9])
    ys = np.array([[0.7], [1.2]])
    v, g = lecture.f.value_and_grad(xs, ys, 3.0)
    assert v.shape == (2, 3) and g.shape == (2, 3, 3)
    for i in range(2):
        for j in range(3):
            vi, gi = lecture.f.value_and_grad(xs[j], ys[i, 0], 3.0)
            close(v[i, j], vi)
            close(g[i, j], gi)
    # Leading axes of a packed array of points, and of one point.
    X = np.stack(np.broadcast_arrays(xs, ys, 3.0), axis=-1)
    assert np.array_equal(lecture.f(X), v)
    close(lecture.f(np.array([0.5, 1.2, 3.0])), lecture.f(0.5, 1.2, 3.0))


def test_packed_points_of_other_layouts_and_no_points(lecture):
    rng = np.random.default_rng(3)
    X = rng.uniform(0.5, 1.5, (5, 3))
    ref = lecture.f(X)
    assert np.array_equal(lecture.f(np.asfortranarray(X)), ref)
    assert np.array_equal(lecture.f(X.astype(np.float32)), lecture.f(X.astype(np.float32).astype(np.float64)))
    assert np.array_equal(lecture.f(X.tolist()), ref)
    v, g = lecture.f.value_and_grad(np.empty((0, 3)))
    assert v.shape == (0,) and g.shape == (0, 3)


def test_tensor_parameters_and_results():
    m = gradc.load("python/tests/inputs/tensors.grad")
    x = np.array([0.5, -1.0, 2.0])
    v, g = m.quad.value_and_grad(x, 1.5)
    assert v == pytest.approx(1.5 * x @ x + np.exp(x).sum(), rel=1e-15)
    np.testing.assert_allclose(g, np.concatenate([3 * x + np.exp(x), [x @ x]]), rtol=1e-15)
    ref = cli_json("eval", "python/tests/inputs/tensors.grad", "--fn", "quad", "--json", "--tier", "optimized")
    assert v == ref["value"] and list(g) == ref["gradient"]["x"] + [ref["gradient"]["s"]]
    y = m.scale(x, s=1.5)
    assert y.shape == (3,)
    np.testing.assert_allclose(y, x * 1.5 + np.sin(x), rtol=1e-15)
    J = m.scale.jacobian(x, 1.5)
    assert J.shape == (3, 4)
    np.testing.assert_allclose(J, np.column_stack([np.diag(1.5 + np.cos(x)), x]), rtol=1e-15)
    ref = cli_json("eval", "python/tests/inputs/tensors.grad", "--fn", "scale", "--json", "--tier", "optimized", "--jacobian")
    assert J.tolist() == ref["jacobian"] and y.tolist() == ref["value"]
    # A batch of tensor arguments: x [4, 3] with one s.
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    Y, JB = m.scale(X, 2.0), m.scale.jacobian(X, 2.0)
    assert Y.shape == (4, 3) and JB.shape == (4, 3, 4)
    for i in range(4):
        assert np.array_equal(Y[i], m.scale(X[i], 2.0)) and np.array_equal(JB[i], m.scale.jacobian(X[i], 2.0))


def test_jacobian_of_vector_functions_equals_eval():
    m = gradc.load("tests/inputs/vector.grad")
    for fn, at in [("arm", dict(a=0.4, b=-1.1)), ("polar", dict(r=2.0, t=0.5))]:
        ref = cli_json("eval", "tests/inputs/vector.grad", "--fn", fn, "--json", "--tier", "optimized", "--jacobian")
        J = getattr(m, fn).jacobian(**at)
        assert J.shape == (2, 2) and J.tolist() == ref["jacobian"]
    a, b = 0.4, -1.1
    np.testing.assert_allclose(m.arm.jacobian(a, b), [[-1.5 * math.sin(a) - 0.8 * math.sin(a + b), -0.8 * math.sin(a + b)],
                                                      [1.5 * math.cos(a) + 0.8 * math.cos(a + b), 0.8 * math.cos(a + b)]],
                               rtol=1e-15)


def test_compile_source_text_and_module_listing():
    m = gradc.compile("fn sq(x) = x^2\nfn cube(x) = x^3\n")
    assert m.functions == ["sq", "cube"] and m.path == "<string>"
    assert m.sq(3.0) == 9.0 and m["cube"](2.0) == 8.0
    assert m.cube.value_and_grad(2.0)[1].tolist() == [12.0]
    assert m.sq.parameters == ["x"] and m.sq.name == "sq"
    assert {"sq", "cube", "train", "parameters"} <= set(dir(m))
    assert np.array_equal(m.sq(np.arange(4.0)), [0.0, 1.0, 4.0, 9.0])
    assert gradc.compile("fn c() = 2").c() == 2.0
    import pathlib
    assert gradc.load(pathlib.Path("examples") / "lecture.grad").path == "examples/lecture.grad"


def test_threads_share_a_module():
    # A tensor kernel keeps its buffers in module globals: calls from several threads (batches
    # run without the GIL) take turns and each gets its own results.
    import threading
    m = gradc.load("python/tests/inputs/tensors.grad")
    rng = np.random.default_rng(11)
    inputs = [rng.uniform(-1, 1, (200, 3)) for _ in range(4)]
    expected = [np.array([m.quad(x, 0.5) for x in X]) for X in inputs]
    results, errors = [None] * 4, []

    def work(i):
        try:
            for _ in range(20):
                results[i] = m.quad(inputs[i], 0.5)
        except Exception as e:  # reported below: an assertion in a thread would be lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, expected):
        assert np.array_equal(got, want)


def test_value_of_a_scalar_function_is_evals_to_the_last_bit():
    # Regression: the value compiled alone rounded differently here (fma contraction) in 42 of
    # 200 points; it now comes from eval's kernel, as value_and_grad's does.
    m = gradc.load("tests/inputs/latex.grad")
    X = np.random.default_rng(0).uniform(0.2, 1.5, (200, 3))
    assert np.array_equal(m.products(X), m.products.value_and_grad(X)[0])
    ref = cli_json("eval", "tests/inputs/latex.grad", "--fn", "products", "--json", "--tier", "optimized")
    assert m.products(0.5, 1.5, 2.0) == ref["value"]


def test_out_buffer_receives_the_batch_and_the_results_are_views_of_it(lecture):
    P = np.random.default_rng(3).uniform(0.5, 2.0, (50, 3))
    v, g = lecture.f.value_and_grad(P)
    buf = np.full((50, 4), np.nan)
    v2, g2 = lecture.f.value_and_grad(P, out=buf)
    assert np.array_equal(v2, v) and np.array_equal(g2, g)
    assert np.shares_memory(v2, buf) and np.shares_memory(g2, buf)
    assert np.array_equal(buf[:, 0], v) and np.array_equal(buf[:, 1:], g)
    # by name too, and one point is one row
    one = np.empty((1, 4))
    v3, _ = lecture.f.value_and_grad(x=[0.5], y=[1.2], z=[3.0], out=one)
    assert v3[0] == lecture.f(0.5, 1.2, 3.0) and one[0, 0] == v3[0]
