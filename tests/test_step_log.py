"""The step table (``log_every``): its numbers against a NumPy recomputation, clip counts, windows of N
steps, nothing else changes when it is on, pack = alone, written by sweeps and resumed exactly."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.train import STEP_COLUMNS, train_pack

from given_splits import iris as given_iris

ROSEN = {"name": "rosenbrock"}  # a = 1, b = 100, start (-1.5, 2), no noise


def rosen_grad(x, y, a=1.0, b=100.0):
    return np.array([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)])


@pytest.fixture(scope="module")
def iris():
    return given_iris()


def test_log_every_1_is_the_per_step_loss_norm_and_clipping_of_the_path():
    """Full-batch rosenbrock: step t's loss is f(theta_{t-1}) (the trajectory's loss before the step), its
    pre-clip gradient norm |grad f(theta_{t-1})|, clipped when that norm exceeds c; lr from the schedule."""
    trial = {"optimizer": "momentum", "lr": 1e-3, "clip": {"norm": 50.0}, "schedule": "cosine"}
    runs, curves, steps, path = train_pack(ROSEN, None, [trial], batch_size="full", epochs=40, dtype="float64",
                                           log_every=1, return_steps=True, return_trajectory=True)
    assert list(steps.columns) == STEP_COLUMNS
    n = int(runs["steps"][0])
    assert n == 40 and list(steps["step"]) == list(range(1, n + 1))
    before = path.iloc[:-1]  # the point each step's gradient was taken at
    np.testing.assert_allclose(steps["train_loss"], before["loss"], rtol=1e-12)
    norms = np.array([np.linalg.norm(rosen_grad(x, y)) for x, y in zip(before["p0"], before["p1"])])
    np.testing.assert_allclose(steps["grad_norm"], norms, rtol=1e-10)
    np.testing.assert_array_equal(steps["clip_fraction"], (norms > 50.0).astype(float))
    assert 0 < steps["clip_fraction"].sum() < n  # some steps clipped, some not
    sched = oe.schedule("cosine", lr=1e-3, total_steps=n)
    np.testing.assert_allclose(steps["lr"], [sched(t) for t in range(n)], rtol=1e-12)
    assert steps[["val_loss", "val_metric"]].isna().all().all()  # no eval_every
    # the epoch's row of the curves is the one step's (full batch)
    np.testing.assert_allclose(curves["train_loss"], steps["train_loss"], rtol=1e-12)
    np.testing.assert_allclose(curves["grad_norm"], steps["grad_norm"], rtol=1e-12)


def test_log_every_n_rows_are_means_over_windows_of_n_steps(iris):
    trial = {"optimizer": "sgd", "lr": 0.3, "clip": {"value": 0.05}, "seed": 2}
    kw = dict(batch_size=16, epochs=3, return_steps=True)  # 8 batches per epoch, 24 steps
    one = train_pack("softmax_regression", iris, [trial], log_every=1, **kw)[2]
    five = train_pack("softmax_regression", iris, [trial], log_every=5, **kw)[2]
    assert list(one["step"]) == list(range(1, 25)) and list(five["step"]) == [5, 10, 15, 20]  # no partial window
    w = one.iloc[:20]
    windows = np.arange(20) // 5
    for col in ("train_loss", "grad_norm", "clip_fraction"):
        np.testing.assert_allclose(five[col], w.groupby(windows)[col].mean(), rtol=1e-12, err_msg=col)
    np.testing.assert_array_equal(five["lr"], w["lr"].iloc[4::5])
    assert set(one["clip_fraction"]) <= {0.0, 1.0}
    assert one["clip_fraction"].iloc[0] == 1.0  # the first gradients have entries above 0.05
    # clipping by value counts a step when an entry lies outside [-c, c]: never with a huge c
    never = train_pack("softmax_regression", iris, [{**trial, "clip": {"value": 1e6}}], log_every=5, **kw)[2]
    assert (never["clip_fraction"] == 0).all()


def test_logging_changes_nothing_else_and_pack_equals_alone(iris):
    trials = [{"optimizer": "adam", "lr": 1e-2, "seed": 1}, {"optimizer": "sgd", "lr": 0.5, "clip": {"norm": 0.5}},
              {"optimizer": "rmsprop", "lr": 3e-3, "seed": 3}]
    kw = dict(batch_size=32, epochs=3)
    off_runs, off_curves = train_pack("softmax_regression", iris, trials, **kw)
    on_runs, on_curves, steps = train_pack("softmax_regression", iris, trials, log_every=2, return_steps=True, **kw)
    drop = ["wall_s", "compile_s"]
    pd.testing.assert_frame_equal(off_runs.drop(columns=drop), on_runs.drop(columns=drop))  # same ids too
    pd.testing.assert_frame_equal(off_curves, on_curves)
    alone = pd.concat([train_pack("softmax_regression", iris, [t], log_every=2, return_steps=True, threads=1, **kw)[2]
                       for t in trials], ignore_index=True)
    pd.testing.assert_frame_equal(steps, alone)
    assert len(steps) == 3 * (3 * 4 // 2)


def test_log_every_is_validated_before_work():
    for bad in (-1, 1.5, "10", True):
        with pytest.raises(ConfigError, match="log_every"):
            train_pack(ROSEN, None, [{"optimizer": "sgd", "lr": 1e-3}], log_every=bad)
    with pytest.raises(ConfigError, match="log_every"):
        oe.train("rosenbrock", optimizer="sgd", lr=1e-3, log_every=0.5)


def test_a_diverged_trial_logs_the_steps_it_applied():
    runs, _, steps = train_pack(ROSEN, None, [{"optimizer": "sgd", "lr": 0.5}], batch_size="full", epochs=20,
                                log_every=1, return_steps=True)
    assert runs["status"][0] == "diverged"
    assert list(steps["step"]) == list(range(1, int(runs["steps"][0]) + 1))


SPEC = '''name = "steplog"
seeds = [0, 1]
[model]
name = "softmax_regression"
[dataset]
name = "iris"
[train]
epochs = 2
batch_size = 32
log_every = 3
[optimizer]
name = ["sgd", "adam"]
lr = [1e-2, 1e-1]
'''


def test_a_sweep_writes_steps_parts_and_resume_keeps_them_exact(tmp_path):
    from optengine.sweep import manifest

    out = tmp_path / "o"
    runs = oe.run_sweep(SPEC, out, backend="sequential", pack_size=2)
    steps = oe.load_table(out, "steps")
    assert list(steps.columns) == STEP_COLUMNS and set(steps["trial_id"]) == set(runs["trial_id"])
    assert steps.groupby("trial_id").size().eq(int(runs["steps"][0]) // 3).all()
    parts = sorted((out / "steps").glob("part-*.parquet"))
    assert len(parts) == 4 and {f"steps/{p.name}" for p in parts} <= manifest.recorded(out)
    # a run killed after writing a pack's steps part but before its runs part: the orphan is ignored on
    # read, deleted by the next run, and the pack's trials rerun with the same numbers
    last = sorted((out / "runs").glob("part-*.parquet"))[-1]
    last.unlink()
    lost = set(runs["trial_id"]) - set(oe.load(out)[0]["trial_id"])
    assert len(lost) == 2 and lost.isdisjoint(oe.load_table(out, "steps")["trial_id"])
    oe.run_sweep(SPEC, out, backend="sequential", pack_size=2)
    names = {t: sorted(p.name for p in (out / t).glob("part-*.parquet")) for t in ("runs", "curves", "steps")}
    assert names["runs"] == names["curves"] == names["steps"]  # the orphans went; the rerun rewrote the pack
    again = oe.load_table(out, "steps")
    pd.testing.assert_frame_equal(again, steps)
    # the same trials through oe.train: the same step rows
    row = runs.iloc[0]
    alone = oe.train("softmax_regression", "iris", optimizer=row["optimizer"], lr=row["lr"], seed=int(row["seed"]),
                     batch_size=32, epochs=2, log_every=3, return_steps=True)[2]
    pd.testing.assert_frame_equal(alone.drop(columns="trial_id"),
                                  steps[steps["trial_id"] == row["trial_id"]].drop(columns="trial_id")
                                  .reset_index(drop=True))


def test_folders_without_the_tables_load_them_empty():
    from pathlib import Path

    for v in ("results_v1", "results_v2"):
        folder = Path(__file__).parent / "fixtures" / v
        for name, cols in (("steps", STEP_COLUMNS), ("trajectories", ["trial_id", "step", "p0", "p1", "loss"])):
            t = oe.load_table(folder, name)
            assert len(t) == 0 and list(t.columns) == cols
        runs = oe.load_table(folder, "runs")
        assert (runs["steps_to_target"] == -1).all() and runs["steps_to_target"].dtype == np.int64
    with pytest.raises(ConfigError, match="name"):
        oe.load_table(folder, "stepz")
