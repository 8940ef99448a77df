"""The runs table's format-2 columns: schedule name and settings, clipping, the test split, compile time."""

import time

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from given_splits import given, iris as given_iris
from optengine import memory, pack_kernel
from optengine.errors import ConfigError
from optengine.train import RUN_COLUMNS

MLP = {"name": "mlp", "sizes": [4, 8, 3]}


@pytest.fixture(scope="module")
def iris():
    return given_iris()  # 120 training rows in every version (the cosine's total_steps below)


def test_run_columns_are_the_contracts():
    """Format 2's columns, in order; hyperparameter columns added since (rules' new settings) come after
    format 2's own, before ``dtype`` (see optengine/schema.py)."""
    from optengine import optimizers, schema

    later = [h for h in optimizers.HYPER if h != "lr" and h not in schema.HYPER_COLUMNS_V2]
    assert RUN_COLUMNS == ["trial_id", "sweep", "model", "dataset", "optimizer", "lr", "batch_size", "epochs", "seed",
                           "schedule", "schedule_settings", "clipping", "momentum", "beta1", "beta2", "eps", "decay",
                           "weight_decay", "l2", *later, "dtype", "status", "error", "final_train_loss",
                           "final_val_loss", "final_val_metric", "best_val_loss", "best_epoch", "final_test_loss",
                           "final_test_metric", "steps", "diverged_at_step", "early_stopped", "wall_s", "compile_s",
                           "steps_to_target"]  # added within format 2 (schema.ADDED_RUN_COLUMNS)


def test_schedule_name_groups_settings_that_differ_in_total_steps(iris):
    """One cosine setting in packs of different lengths: one ``schedule`` name, two ``schedule_settings``."""
    trial = {"optimizer": "sgd", "lr": 0.1, "schedule": "cosine", "clip": {"norm": 1.0}}
    a = oe.train_pack(MLP, iris, [trial], batch_size=40, epochs=2)[0]
    b = oe.train_pack(MLP, iris, [trial, {"optimizer": "sgd", "lr": 0.1, "clip": {"value": 0.5}}],
                      batch_size=40, epochs=3)[0]
    runs = pd.concat([a, b], ignore_index=True)
    assert runs["schedule"].tolist() == ["cosine", "cosine", "constant"]
    assert runs["schedule_settings"].tolist() == ["cosine(lr_min=0.0,total_steps=6)",
                                                  "cosine(lr_min=0.0,total_steps=9)", "constant"]
    assert runs.groupby("schedule").size()["cosine"] == 2
    assert runs["clipping"].tolist() == ["norm=1.0", "norm=1.0", "value=0.5"]
    assert "clip" not in runs.columns  # it would shadow DataFrame.clip
    assert callable(runs.clip)


def test_test_split_is_evaluated_once_with_the_final_parameters():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    Xt = rng.standard_normal((25, 4))
    yt = (Xt[:, 0] > 0).astype(int)
    ds = given(X[:48], y[:48], X[48:], y[48:], Xt, yt, task="classification", standardize=False)
    model = oe.model("mlp", sizes=[4, 6, 2])
    trials = [{"optimizer": "adam", "lr": 0.05, "seed": 0}, {"optimizer": "sgd", "lr": 1e4, "seed": 1},
              {"optimizer": "sgd", "lr": 0.1, "seed": 2}]
    runs, curves, params = oe.train_pack(model, ds, trials, batch_size=16, epochs=3, diverge_factor=3.0,
                                         dtype="float64", return_params=True)
    assert runs["status"].tolist() == ["ok", "diverged", "ok"]
    for k in (0, 2):
        loss, metric = model.evaluate(params[k], Xt, yt)
        assert runs["final_test_loss"].iloc[k] == pytest.approx(loss, rel=1e-12)
        assert runs["final_test_metric"].iloc[k] == pytest.approx(metric, rel=1e-12)
        assert runs["final_test_loss"].iloc[k] != runs["final_val_loss"].iloc[k]
    assert np.isnan(runs["final_test_loss"].iloc[1]) and np.isnan(runs["final_test_metric"].iloc[1])


def test_no_test_split_gives_nan_test_columns(iris):
    ds = given(iris.X_train, iris.y_train, iris.X_val, iris.y_val, task="classification")  # no test split
    runs, _ = oe.train_pack(MLP, ds, [{"optimizer": "adam", "lr": 0.01}], batch_size=32, epochs=1)
    assert runs[["final_test_loss", "final_test_metric"]].isna().all().all()
    s, _ = oe.train(model="rosenbrock", optimizer="adam", lr=0.01, epochs=1)  # a surface: no test split
    assert np.isnan(s["final_test_loss"]) and np.isnan(s["final_test_metric"])


def test_wall_s_excludes_the_compile_time(iris, monkeypatch):
    """A compile that takes 2 s (stood in by a sleep) lands in compile_s, not in wall_s: each is a
    per-trial share and together they are at most the call's time."""
    compiled = pack_kernel._compiled

    def slow_compile(*args):
        time.sleep(2.0)
        return compiled(*args)

    oe.train_pack(MLP, iris, [{"optimizer": "sgd", "lr": 0.1}], batch_size=32, epochs=1)  # compiled for real
    monkeypatch.setattr(pack_kernel, "_compiled", slow_compile)
    K = 3
    t0 = time.perf_counter()
    runs, _ = oe.train_pack(MLP, iris, [{"optimizer": "sgd", "lr": 0.1, "seed": s} for s in range(K)],
                            batch_size=32, epochs=1)
    elapsed = time.perf_counter() - t0
    assert runs["compile_s"].nunique() == 1 and runs["wall_s"].nunique() == 1
    compile_s, wall_s = runs["compile_s"].iloc[0] * K, runs["wall_s"].iloc[0] * K
    assert compile_s >= 2.0
    assert 0 < wall_s and compile_s + wall_s <= elapsed


def test_pack_too_big_for_memory_is_refused_before_training(iris, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the pack does not fit")

    monkeypatch.setattr(pack_kernel, "train_pack", no_training)
    with pytest.raises(ConfigError, match=r"^trials: the pack's arrays \(50 trials x 67 parameters, float32\) "
                                          r"needs .* but only 9\.8 KiB of memory is available"):
        oe.train_pack(MLP, iris, [{"optimizer": "adam", "lr": 0.01, "seed": s} for s in range(50)], epochs=200)


def test_failed_trial_row_has_the_new_columns():
    from optengine.sweep.worker import _failed

    payload = {"sweep": "s", "model": {"name": "mlp"}, "dataset": {"name": "iris"}, "batch_size": 16, "epochs": 2,
               "dtype": "float32"}
    trial = {"trial_id": "t1", "optimizer": "adam", "lr": 0.01, "seed": 0, "clip": {"norm": 1.0},
             "schedule": {"name": "cosine", "lr_min": 0.0, "warmup_steps": 2}}
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        row = _failed(payload, trial)
    assert list(row.columns) == RUN_COLUMNS
    r = row.iloc[0]
    assert (r["schedule"], r["schedule_settings"], r["clipping"]) == ("cosine", "cosine(lr_min=0.0,warmup_steps=2)",
                                                                      "norm=1.0")
    assert r["status"] == "failed" and "boom" in r["error"]
    assert np.isnan(r["final_test_loss"]) and np.isnan(r["final_test_metric"]) and r["compile_s"] == 0.0
