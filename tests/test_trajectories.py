"""Trajectories of 2-parameter models (notes section 6): every step's (p0, p1, loss), step 0 the start,
against a NumPy gradient-descent path; on by default for the surfaces only; written by sweeps."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.train import TRAJECTORY_COLUMNS, train_pack


def ravine(x, y, kappa):
    return 0.5 * (x * x + kappa * y * y), np.array([x, kappa * y])


def test_the_path_is_numpys_gradient_descent_on_the_surface():
    model = oe.model("ravine")
    kappa = float(model.af[2])  # af = [noise, p0 (h1 = 1), p1 (kappa), min_x, min_y]
    summary, curves, path = oe.train(model, optimizer="sgd", lr=0.015, batch_size="full", epochs=30,
                                     dtype="float64", return_trajectory=True)
    assert list(path.columns) == TRAJECTORY_COLUMNS and list(path["step"]) == list(range(31))
    theta = model.init(0, np.float64)
    expect = []
    for _ in range(31):
        f, g = ravine(theta[0], theta[1], kappa)
        expect.append((theta[0], theta[1], f))
        theta = theta - 0.015 * g
    np.testing.assert_allclose(path[["p0", "p1", "loss"]].to_numpy(), np.array(expect), rtol=1e-12, atol=1e-300)
    # the last point is the trained parameters; the epochs' validation loss is f there
    np.testing.assert_allclose(path["loss"].iloc[1:], curves["val_loss"], rtol=1e-12)


def test_on_by_default_for_surfaces_only_and_the_switch():
    trials = [{"optimizer": "adam", "lr": 0.1}, {"optimizer": "momentum", "lr": 1e-3, "seed": 1}]
    runs, curves, path = train_pack("beale", None, trials, batch_size="full", epochs=7, return_trajectory=True)
    assert path.groupby("trial_id").size().tolist() == [8, 8]
    assert list(path.drop_duplicates("trial_id")["trial_id"]) == list(runs["trial_id"])
    off_runs, off_curves, off = train_pack("beale", None, trials, batch_size="full", epochs=7, trajectory=False,
                                           return_trajectory=True)
    assert len(off) == 0 and list(off.columns) == TRAJECTORY_COLUMNS
    drop = ["wall_s", "compile_s"]
    pd.testing.assert_frame_equal(runs.drop(columns=drop), off_runs.drop(columns=drop))  # same ids and numbers
    pd.testing.assert_frame_equal(curves, off_curves)
    ds = oe.dataset("iris")
    assert len(train_pack("softmax_regression", ds, trials[:1], epochs=1, return_trajectory=True)[2]) == 0
    with pytest.raises(ConfigError, match="trajectory"):
        train_pack("softmax_regression", ds, trials[:1], epochs=1, trajectory=True)
    with pytest.raises(ConfigError, match="trajectory"):
        train_pack("beale", None, trials[:1], epochs=1, trajectory="yes")


def test_noisy_minibatch_paths_pack_equals_alone():
    trials = [{"optimizer": "sgd", "lr": 0.1, "seed": s} for s in (0, 1)] + [{"optimizer": "adam", "lr": 0.05}]
    kw = dict(batch_size=50, epochs=2, return_trajectory=True)
    dataset = {"name": "surface_noise", "n_samples": 200, "seed": 3}
    model = {"name": "noisy_quadratic", "noise": 1.0}
    pack = train_pack(model, dataset, trials, **kw)[2]
    alone = pd.concat([train_pack(model, dataset, [t], threads=1, **kw)[2] for t in trials], ignore_index=True)
    pd.testing.assert_frame_equal(pack, alone)
    assert len(pack) == 3 * 9
    a, b = (pack[pack["trial_id"] == t] for t in pack["trial_id"].unique()[:2])
    assert not np.array_equal(a["p0"].to_numpy(), b["p0"].to_numpy())  # seeds shuffle differently


SPEC = '''name = "paths"
seeds = [0]
[model]
name = "rosenbrock"
[train]
epochs = 5
batch_size = "full"
[optimizer]
name = ["sgd", "adam"]
lr = [1e-3]
'''


def test_a_surface_sweep_writes_trajectory_parts(tmp_path):
    out = tmp_path / "o"
    runs = oe.run_sweep(SPEC, out, backend="sequential")
    path = oe.load_table(out, "trajectories")
    assert set(path["trial_id"]) == set(runs["trial_id"]) and len(path) == 2 * 6
    assert (path[path["step"] == 0][["p0", "p1"]].to_numpy() == [-1.5, 2.0]).all()
    assert len(oe.load_table(out, "steps")) == 0
