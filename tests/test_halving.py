"""Successive halving, Hyperband, ASHA and median stopping (sweep/halving.py): rungs as packs from exact
checkpoints, pruned trials kept with their curves, determinism across workers, resume mid-rung."""

import json

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.sweep import halving, run_sweep

SPEC = """
name = "halve"
seeds = [0]
[model]
name = "mlp"
hidden = [6]
[dataset]
name = "iris"
[train]
epochs = 9
batch_size = 16
[optimizer]
name = ["sgd", "momentum", "adam"]
lr = [0.001, 0.01, 0.03, 0.1, 0.3, 1.0]
[schedule]
name = "cosine"
[search]
%s
"""
TIMING = ["wall_s", "compile_s"]


def _run(tmp_path, search, name="out", **kw):
    (tmp_path / f"{name}.toml").write_text(SPEC % search)
    run_sweep(tmp_path / f"{name}.toml", tmp_path / name, backend=kw.pop("backend", "sequential"), **kw)
    runs, curves = oe.load(tmp_path / name)
    return runs, curves, json.loads((tmp_path / name / "halving.json").read_text())


def _metrics(runs):
    return runs.drop(columns=TIMING).sort_values("trial_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    (tmp / "g.toml").write_text((SPEC % "").replace("[search]\n", ""))
    run_sweep(tmp / "g.toml", tmp / "g", backend="sequential")
    return oe.load(tmp / "g")


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("h"), 'kind = "halving"\nmin_epochs = 1')


def test_rungs():
    assert halving.rungs(1, 9, 3) == [1, 3, 9]
    assert halving.rungs(2, 20, 3) == [2, 6, 18, 20]


def test_halving_keeps_exactly_the_top_third_and_prunes_the_rest(halved, grid):
    runs, curves, record = halved
    grid_runs, grid_curves = grid
    assert len(runs) == 18 and set(runs["trial_id"]) == set(grid_runs["trial_id"])  # the grid's trial ids
    steps = record["steps"]
    assert [s["configurations"] for s in steps] == [18, 6, 2]
    assert [len(s["kept"]) for s in steps] == [6, 2, 2]
    # the kept are the best by validation loss at the rung, computed from the grid's own curves
    at1 = grid_curves[grid_curves["epoch"] == 1].set_index("trial_id")["val_loss"]
    ids = dict(zip(runs["config_id"], runs["trial_id"]))
    expected = sorted(steps[0]["pruned"] + steps[0]["kept"], key=lambda c: at1[ids[c]])[:6]
    assert set(steps[0]["kept"]) == set(expected)
    status = runs.set_index("trial_id")["status"]
    for s in steps[:2]:
        for tid in s["pruned_trials"]:
            assert status[tid] == "pruned" or status[tid] == "diverged"
    assert (runs["status"] == "pruned").sum() == 16 - (runs["status"] == "diverged").sum()
    # each trial's curve is the grid's curve up to where it stopped (bit for bit)
    merged = curves.merge(grid_curves, on=["trial_id", "epoch"], suffixes=("", "_g"))
    assert len(merged) == len(curves)
    for c in ["val_loss", "train_loss", "lr", "grad_norm"]:
        assert np.array_equal(merged[c].to_numpy(), merged[c + "_g"].to_numpy(), equal_nan=True)
    n_epochs = curves.groupby("trial_id").size()
    assert record["trained_epochs"] == int(n_epochs.sum()) < record["grid_epochs"] == 18 * 9
    finished = runs[runs["status"] == "ok"]
    pd.testing.assert_frame_equal(_metrics(finished), _metrics(grid_runs[grid_runs["trial_id"].isin(
        finished["trial_id"])]).drop(columns=[]), check_exact=True)


def test_determinism_across_jobs(halved, tmp_path):
    runs, _, record = _run(tmp_path, 'kind = "halving"\nmin_epochs = 1', backend="loky", jobs=2)
    pd.testing.assert_frame_equal(_metrics(runs), _metrics(halved[0]))
    assert record["steps"] == halved[2]["steps"]


def test_resume_mid_rung_equals_uninterrupted(halved, tmp_path, monkeypatch):
    class Stop(Exception):
        pass

    def stop(bracket, rung):
        if rung == 1:
            raise Stop

    monkeypatch.setattr(halving, "_after_rung", stop)
    with pytest.raises(Stop):
        _run(tmp_path, 'kind = "halving"\nmin_epochs = 1', pack_size=2)
    monkeypatch.setattr(halving, "_after_rung", None)
    runs, curves, record = _run(tmp_path, 'kind = "halving"\nmin_epochs = 1')
    pd.testing.assert_frame_equal(_metrics(runs), _metrics(halved[0]))
    assert record["steps"] == halved[2]["steps"]


@pytest.mark.parametrize("search", ['kind = "hyperband"\nmin_epochs = 1', 'kind = "asha"\nmin_epochs = 1\nbatch = 6',
                                    'kind = "grid"\nmedian_stopping = {after_epochs = 3}'])
def test_other_kinds_run_deterministically_and_prune(search, grid, tmp_path):
    runs, curves, record = _run(tmp_path, search, name="a")
    again, _, record2 = _run(tmp_path, search, name="b", backend="loky", jobs=2)
    pd.testing.assert_frame_equal(_metrics(runs), _metrics(again))
    assert record["steps"] == record2["steps"]
    assert (runs["status"] == "pruned").any() and (runs["status"] == "ok").any()
    assert record["trained_epochs"] < record["grid_epochs"]
    grid_runs = grid[0]
    finished = runs[(runs["status"] == "ok") & (runs["steps"] == grid_runs.set_index("trial_id").loc[
        runs["trial_id"], "steps"].to_numpy())]
    pd.testing.assert_frame_equal(_metrics(finished), _metrics(grid_runs[grid_runs["trial_id"].isin(
        finished["trial_id"])]))


def test_bad_settings_are_refused_before_any_work(tmp_path):
    for search, field in [('kind = "halving"', "search.min_epochs"),
                          ('kind = "halving"\nmin_epochs = 1\neta = 1', "search.eta"),
                          ('kind = "halving"\nmin_epochs = 1\nmax_epochs = 5', "search.max_epochs"),
                          ('kind = "grid"\nmedian_stopping = {after_epochs = 9}', "search.median_stopping"),
                          ('kind = "halving"\nmin_epochs = 1\nobjective = "final_test_loss"', "search.objective")]:
        (tmp_path / "s.toml").write_text(SPEC % search)
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            run_sweep(tmp_path / "s.toml", tmp_path / "o", backend="sequential")
        assert not (tmp_path / "o").exists()
