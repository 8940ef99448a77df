"""Exact checkpoints: a trial stopped at an epoch and continued from its checkpoint gives bit for bit the
runs and curves (and step) tables of the trial trained straight (optengine/checkpoints.py)."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine import checkpoints
from optengine.errors import ConfigError

MLP = {"name": "mlp", "sizes": [4, 8, 3]}
TIMING = ["wall_s", "compile_s"]
TRIALS = [
    {"optimizer": "adam", "lr": 0.01, "seed": 0, "schedule": {"name": "cosine", "warmup_steps": 5}},
    {"optimizer": "momentum", "lr": 0.05, "momentum": 0.9, "seed": 1, "schedule": "cosine", "clip": {"norm": 1.0}},
    {"optimizer": "adagrad", "lr": 0.1, "seed": 2, "schedule": {"name": "step", "step_size": 3}},
    {"optimizer": "nesterov", "lr": 1e6, "momentum": 0.9, "seed": 3},  # diverges
    {"optimizer": "sgd", "lr": 0.2, "seed": 4, "schedule": "cosine", "clip": {"value": 0.1}},
]
EPOCHS = 12
KW = dict(batch_size=16, epochs=EPOCHS, early_stopping={"patience": 2}, log_every=3, eval_every=7,
          target={"val_metric": 0.9})


@pytest.fixture(scope="module")
def iris():
    return oe.dataset("iris")


@pytest.fixture(scope="module")
def straight(iris):
    runs, curves, steps = oe.train_pack(MLP, iris, TRIALS, return_steps=True, **KW)
    assert (runs["status"] == "diverged").any() and runs["early_stopped"].any()  # the cases are covered
    return runs, curves, steps


def _same(a, b, drop=()):
    pd.testing.assert_frame_equal(a.drop(columns=list(drop)).reset_index(drop=True),
                                  b.drop(columns=list(drop)).reset_index(drop=True), check_exact=True)


def _split(iris, stops, per_trial=False):
    saved = None
    for stop in stops:
        res = oe.train_pack(MLP, iris, TRIALS, return_steps=True, stop_epoch=stop, resume=saved, **KW)
        saved = res[-1]
    return res[:3], saved


def test_ten_then_the_rest_equals_straight(iris, straight):
    (runs, curves, steps), saved = _split(iris, [5, EPOCHS])
    _same(runs, straight[0], TIMING)
    _same(curves, straight[1])
    _same(steps, straight[2])
    assert all(checkpoints.finished(s) for s in saved)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stops_at_random_epochs(iris, straight, seed):
    rng = np.random.default_rng(seed)
    stops = sorted(set(rng.integers(0, EPOCHS, size=3).tolist())) + [EPOCHS]
    (runs, curves, steps), _ = _split(iris, stops)
    _same(runs, straight[0], TIMING)
    _same(curves, straight[1])
    _same(steps, straight[2])


def test_checkpoint_files_round_trip(iris, straight, tmp_path):
    res = oe.train_pack(MLP, iris, TRIALS, stop_epoch=4, **KW)
    for s in res[-1]:
        checkpoints.save(tmp_path, s)
    loaded = [checkpoints.load(tmp_path, str(s["trial_id"])) for s in res[-1]]
    assert all(checkpoints.epoch_of(s) <= 4 for s in loaded)
    runs, curves = oe.train_pack(MLP, iris, TRIALS, resume=loaded, **KW)[:2]
    _same(runs, straight[0], TIMING)
    _same(curves, straight[1])


def test_a_stopped_trial_keeps_its_schedule_length(iris):
    kw = dict(batch_size=16, epochs=EPOCHS)
    trial = [{"optimizer": "sgd", "lr": 0.1, "schedule": "cosine"}]
    short = oe.train_pack(MLP, iris, trial, **{**kw, "epochs": 4})[1]
    stopped = oe.train_pack(MLP, iris, trial, stop_epoch=4, **kw)[1]
    full = oe.train_pack(MLP, iris, trial, **kw)[1]
    _same(stopped, full.iloc[:4])
    assert not np.array_equal(short["lr"], stopped["lr"])


def test_a_checkpoint_of_another_trial_is_refused(iris):
    saved = oe.train_pack(MLP, iris, TRIALS[:2], stop_epoch=2, **KW)[-1]
    with pytest.raises(ConfigError, match="resume"):
        oe.train_pack(MLP, iris, TRIALS[:2], resume=saved[::-1], **KW)
    with pytest.raises(ConfigError, match="resume"):
        oe.train_pack(MLP, iris, TRIALS[:2], resume=saved, **{**KW, "epochs": EPOCHS + 1})


def test_cuda_refuses_checkpoints_before_any_work():
    with pytest.raises(ConfigError, match="device"):
        oe.train_pack(MLP, "iris", TRIALS[:1], stop_epoch=2, device="cuda")
