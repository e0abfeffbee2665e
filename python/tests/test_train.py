"""Training from Python: the loss history and parameters of `gradc train` (--log, --save)."""
import csv
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
