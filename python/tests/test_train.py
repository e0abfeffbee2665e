"""Training from Python: the loss history and parameters of `gradc train` (--log, --save)."""
import csv
import subprocess
import sys
import json

import numpy as np
import pytest

import gradc
from conftest import cli


def cli_run(tmp_path, *flags):
    log, saved = tmp_path / "log.csv", tmp_path / "params.json"
    cli("train", "examples/xor.grad", "--quiet", "--log", str(log), "--save", str(saved), *flags)
    with open(log) as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    with open(saved) as f:
        params = json.load(f)["params"]
    return losses, params


def test_loss_history_and_parameters_equal_gradc_train(tmp_path):
    m = gradc.load("examples/xor.grad")
    before = m.parameters
    losses = m.train()
    ref_losses, ref_params = cli_run(tmp_path)
    assert losses.shape == (300,) and losses.tolist() == ref_losses
    assert losses[-1] < losses[0] / 10
    params = m.parameters
    assert sorted(params) == sorted(ref_params)
    for name, p in params.items():
        assert list(p.shape) == ref_params[name]["shape"]
        assert p.ravel().tolist() == ref_params[name]["data"]
        assert before[name].shape == p.shape and not np.array_equal(before[name], p)


def test_settings_override_the_train_block(tmp_path):
    m = gradc.load("examples/xor.grad")
    losses = m.train(epochs=20, lr=0.05, seed=3)
    ref_losses, ref_params = cli_run(tmp_path, "--epochs", "20", "--lr", "0.05", "--seed", "3")
    assert losses.tolist() == ref_losses
    assert all(m.parameters[n].ravel().tolist() == p["data"] for n, p in ref_params.items())


def test_a_second_run_continues_the_first():
    whole = gradc.load("examples/xor.grad").train(epochs=60)
    m = gradc.load("examples/xor.grad")
    parts = np.concatenate([m.train(epochs=25), m.train(epochs=35)])
    assert parts.tolist() == whole.tolist()


LINEAR = """data X = [[0, 1], [1, 0], [1, 1]]
data Y = [[1], [1], [2]]
param W[2, 1] = zeros
fn model(x) = x @ W
train {
  loss = mse(model(X), Y)
  optimizer = sgd(lr = 0.1)
  epochs = 5
}
"""


def test_linear_model_by_hand():
    # W = [a, a] by symmetry: loss 2 (a - 1)^2, gradient 2 (a - 1) in each weight, so a step of
    # lr 0.1 scales a - 1 by 0.8: losses 2 * 0.64^k, and a = 1 - 0.8^5 after 5 epochs.
    m = gradc.compile(LINEAR)
    assert m.parameters["W"].tolist() == [[0.0], [0.0]]
    losses = m.train()
    np.testing.assert_allclose(losses, [2 * 0.64 ** k for k in range(5)], rtol=1e-14)
    np.testing.assert_allclose(m.parameters["W"], [[1 - 0.8 ** 5]] * 2, rtol=1e-14)
    assert m.functions == []
    with pytest.raises(gradc.Error) as e:
        m.model
    assert str(e.value) == ("gradc: error: 'model' works on the parameters or data of the training program, not on "
                            "its own arguments: train the program with train()")


def test_divergence_raises_the_command_lines_error_and_keeps_the_last_finite_parameters(tmp_path):
    code, _, err = cli("train", "examples/xor.grad", "--lr", "100", "--quiet", "--save", str(tmp_path / "p.json"),
                       check=False)
    assert code == 4
    m = gradc.load("examples/xor.grad")
    with pytest.raises(gradc.Error) as e:
        m.train(lr=100)
    # The command line adds where it saved the last finite parameters; they are m.parameters here.
    assert err.startswith(str(e.value) + "; the last finite parameters are saved in ")
    assert e.value.exit_code == 4
    with open(tmp_path / "p.json") as f:
        saved = json.load(f)["params"]
    for name, p in m.parameters.items():
        assert np.isfinite(p).all() and p.ravel().tolist() == saved[name]["data"]


INTERRUPT = """
import _thread, threading, time
import numpy as np
import gradc
m = gradc.load("examples/xor.grad")
before = m.parameters
threading.Timer(0.3, _thread.interrupt_main).start()
t = time.monotonic()
try:
    m.train(epochs=10**8)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted within 10 s:", time.monotonic() - t < 10)
after = m.parameters
print("trained:", all(np.isfinite(after[n]).all() and not np.array_equal(after[n], before[n]) for n in after))
print("continues:", len(m.train(epochs=3)))
"""


def test_ctrl_c_stops_training_and_keeps_its_state():
    r = subprocess.run([sys.executable, "-c", INTERRUPT], capture_output=True, text=True, timeout=120)
    assert r.stdout == "interrupted within 10 s: True\ntrained: True\ncontinues: 3\n", r.stderr
