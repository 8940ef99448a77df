"""``eval_every`` and ``target`` -> runs column ``steps_to_target``: against a manual scan of the step table
and the curves; -1 when never reached or without a target; ids change only when the settings are used."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.train import train_pack

TRIALS = [{"optimizer": "adam", "lr": 0.05}, {"optimizer": "sgd", "lr": 0.01, "seed": 1},
          {"optimizer": "sgd", "lr": 1e-5}]


@pytest.fixture(scope="module")
def iris():
    return oe.dataset("iris")


def scan(steps, curves, tid, key, x):
    """The first step (in step order) whose validation value meets the target, from both tables."""
    points = pd.concat([t[t["trial_id"] == tid][["step", key]] for t in (steps, curves)]).dropna()
    points = points.sort_values("step", kind="stable")
    ok = points[key] >= x if key == "val_metric" else points[key] <= x
    return int(points["step"][ok].iloc[0]) if ok.any() else -1


@pytest.mark.parametrize("target", [{"val_metric": 0.95}, {"val_loss": 0.6}])
def test_steps_to_target_is_the_first_evaluation_that_reaches_it(iris, target):
    runs, curves, steps = train_pack("softmax_regression", iris, TRIALS, batch_size=16, epochs=4, eval_every=5,
                                     target=target, return_steps=True)
    (key, x), = target.items()
    assert runs["steps_to_target"].dtype == np.int64
    got = [scan(steps, curves, tid, key, x) for tid in runs["trial_id"]]
    assert list(runs["steps_to_target"]) == got
    assert got[0] > 0 and got[2] == -1  # the fast rule reaches it, lr 1e-5 never does
    # validation every 5 steps: rows at 5, 10, ... carrying val numbers only (no log_every)
    rows = steps[steps["trial_id"] == runs["trial_id"][0]]
    assert list(rows["step"]) == list(range(5, 6 * 4 + 1, 5)) and rows["train_loss"].isna().all()
    # the evaluation at an epoch end on an eval step is the epoch's (the same parameters)
    at_end = curves[curves["step"] % 5 == 0].merge(steps, on=["trial_id", "step"], suffixes=("", "_s"))
    np.testing.assert_array_equal(at_end["val_loss"], at_end["val_loss_s"])


def test_per_epoch_without_eval_every_and_nothing_else_changes(iris):
    base_runs, base_curves = train_pack("softmax_regression", iris, TRIALS, batch_size=16, epochs=4)
    runs, curves = train_pack("softmax_regression", iris, TRIALS, batch_size=16, epochs=4,
                              target={"val_metric": 0.95})
    assert list(base_runs["steps_to_target"]) == [-1, -1, -1]  # no target
    got = [scan(curves.iloc[:0], curves, tid, "val_metric", 0.95) for tid in runs["trial_id"]]
    assert list(runs["steps_to_target"]) == got and all(g % 6 == 0 for g in got if g > 0)  # epoch ends only
    same = [c for c in runs.columns if c not in ("trial_id", "wall_s", "compile_s", "steps_to_target")]
    pd.testing.assert_frame_equal(runs[same], base_runs[same])
    pd.testing.assert_frame_equal(curves.drop(columns="trial_id"), base_curves.drop(columns="trial_id"))
    # a target or eval_every is part of what the trial computes: a new id; log_every is not
    assert not set(runs["trial_id"]) & set(base_runs["trial_id"])
    logged = train_pack("softmax_regression", iris, TRIALS, batch_size=16, epochs=4, log_every=3)[0]
    assert list(logged["trial_id"]) == list(base_runs["trial_id"])


def test_target_and_eval_every_are_validated_before_work():
    t = [{"optimizer": "sgd", "lr": 1e-3}]
    for bad, field in (({"val_acc": 0.9}, "target"), ({"val_metric": "high"}, "target.val_metric"),
                       (0.9, "target"), ({"val_loss": 1, "val_metric": 0.5}, "target")):
        with pytest.raises(ConfigError) as e:
            train_pack("rosenbrock", None, t, target=bad)
        assert e.value.field == field
    with pytest.raises(ConfigError, match="eval_every"):
        train_pack("rosenbrock", None, t, eval_every=-2)


def test_sweep_spec_keys_and_trial_ids():
    """[train] eval_every and target enter the trial ids (they change the runs table); log_every and
    trajectory do not; without them the ids are the pinned ones (tests/test_trial_ids.py)."""
    from optengine.sweep import expand, load_spec

    base = '''name = "t"
seeds = [0]
[model]
name = "rosenbrock"
[train]
epochs = 2
batch_size = "full"
%s
[optimizer]
name = "sgd"
lr = [1e-3]
'''
    ids = {extra: [(t.trial_id, t.config_id) for t in expand(load_spec(base % extra))]
           for extra in ("", "log_every = 5\ntrajectory = false", "eval_every = 3",
                         "target = {val_loss = 0.5}", "eval_every = 3\ntarget = {val_loss = 0.5}")}
    assert ids[""] == ids["log_every = 5\ntrajectory = false"]
    assert len({tuple(v) for v in ids.values()}) == 4
    with pytest.raises(Exception, match="train.target"):
        load_spec(base % "target = {val_los = 0.5}")
    with pytest.raises(Exception, match="train.log_every"):
        load_spec(base % "log_every = 0.5")
