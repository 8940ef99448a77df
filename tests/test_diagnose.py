"""Diagnosis (notes section 11) on real trials built to have each problem, and on hand-made curves."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.diagnose import CHECKLIST, diagnose, diagnose_trial

IRIS = dict(model={"name": "mlp", "hidden": [32]}, dataset="iris", batch_size=16, epochs=12)
CASES = {  # one pack on iris (same model, batch size and epochs): trial -> the label it must get
    "diverged": ({"optimizer": "sgd", "lr": 50.0}, "diverged"),              # lr far too large
    "oscillating": ({"optimizer": "sgd", "lr": 2.0}, "oscillating"),         # lr slightly too large
    "too slow": ({"optimizer": "sgd", "lr": 1e-5}, "too slow"),              # lr far too small
    "plateau": ({"optimizer": "sgd", "lr": 0.05,                             # a step decay that kills the lr
                 "schedule": {"name": "step", "step_size": 1, "gamma": 0.01, "unit": "epoch"}}, "early plateau"),
    "healthy": ({"optimizer": "adam", "lr": 1e-2}, "healthy"),
    "healthy sgd": ({"optimizer": "sgd", "lr": 0.1}, "healthy"),
}


@pytest.fixture(scope="module")
def iris_pack():
    trials = [{**t, "seed": 0} for t, _ in CASES.values()]
    runs, curves = oe.train_pack(IRIS["model"], IRIS["dataset"], trials, batch_size=IRIS["batch_size"],
                                 epochs=IRIS["epochs"])
    names = dict(zip(runs["trial_id"], CASES))
    return runs, curves, names


def test_each_problem_gets_its_label(iris_pack):
    runs, curves, names = iris_pack
    d = diagnose(runs, curves)
    assert list(d.columns) == ["trial_id", "label", "evidence", "remedy"]
    got = {names[t]: label for t, label in zip(d["trial_id"], d["label"])}
    assert got == {name: want for name, (_, want) in CASES.items()}
    for _, row in d.iterrows():
        assert row["evidence"] and any(ch.isdigit() for ch in row["evidence"])  # the numbers behind the label
        if row["label"] != "healthy":
            assert row["remedy"].startswith(CHECKLIST[row["label"]])  # the notes' remedy, quoted


def test_evidence_and_remedies_say_what_to_do(iris_pack):
    runs, curves, names = iris_pack
    d = diagnose(runs, curves).assign(name=lambda df: df["trial_id"].map(names)).set_index("name")
    assert "stopped at step" in d.loc["diverged", "evidence"]
    assert "lower learning rate, apply gradient clipping" in d.loc["diverged", "remedy"]
    assert "lr = 5" in d.loc["diverged", "remedy"] and "clip" in d.loc["diverged", "remedy"]
    assert "rose in" in d.loc["oscillating", "evidence"] and "momentum" in d.loc["oscillating", "remedy"]
    assert "lr = 0.0001" in d.loc["too slow", "remedy"]
    assert "another trial" in d.loc["plateau", "evidence"]  # compared with the pack's healthy trials


def test_plateau_without_peers_and_a_zero_init_plateau():
    runs, curves = oe.train_pack({"name": "mlp", "hidden": [32], "init": "zeros"}, "iris",
                                 [{"optimizer": "sgd", "lr": 0.1, "seed": 0}], batch_size=16, epochs=12)
    d = diagnose(runs, curves)
    assert d["label"].tolist() == ["early plateau"]
    assert "no other trial to compare with" in d["evidence"][0] and "initialization" in d["remedy"][0]


def test_a_long_unregularised_run_on_a_small_training_set_overfits():
    ds = {"name": "synthetic_classification", "n_samples": 160, "n_features": 20, "class_sep": 0.7, "seed": 0}
    summary, curve = oe.train({"name": "mlp", "hidden": [256, 256]}, ds, optimizer="adam", lr=1e-2,
                              batch_size=16, epochs=30)
    runs = pd.DataFrame([summary])
    d = diagnose(runs, curve)
    assert d["label"].tolist() == ["overfitting"], d["evidence"][0]
    assert "val loss best" in d["evidence"][0] and "regularization and early stopping" in d["remedy"][0]


# -- hand-made curves: the thresholds ------------------------------------------------------------------

def _curve(train, val=None):
    n = len(train)
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "train_loss": train,
                         "val_loss": train if val is None else val})


def test_short_failed_and_nonfinite_curves():
    assert diagnose_trial({"status": "ok"}, _curve([1.0, 0.5]))[0] == "undetermined"
    assert diagnose_trial({"status": "failed", "error": "Traceback\nValueError: boom"}, _curve([]))[1] == \
        "ValueError: boom"
    assert diagnose_trial({"status": "ok"}, _curve([1.0, 0.5, np.nan, 0.4]))[0] == "diverged"
    assert diagnose_trial({"status": "ok"}, _curve([1.0, 1.5, 2.0, 2.5]))[0] == "diverged"  # > 2 x L0


def test_noise_around_a_loss_of_zero_is_not_an_oscillation():
    train = [1.0, 0.3, 0.1, 0.01, 1e-4, 2e-4, 1e-4, 3e-4, 1e-4, 2e-4]
    assert diagnose_trial({"status": "ok"}, _curve(train))[0] == "healthy"


def test_overfitting_is_not_called_on_test_surfaces():
    train = [5.0, 1.0, 0.5, 0.2, 0.1, 0.05]
    val = [5.0, 1.0, 0.5, 0.7, 0.9, 1.0]
    assert diagnose_trial({"status": "ok"}, _curve(train, val))[0] == "overfitting"
    assert diagnose_trial({"status": "ok", "model": "ravine"}, _curve(train, val))[0] != "overfitting"


def test_steps_table_gives_the_first_loss_and_gradient_evidence():
    runs = pd.DataFrame([{"trial_id": "a", "status": "ok", "optimizer": "sgd", "lr": 0.1}])
    curves = _curve([0.9, 0.5, 0.3, 0.2, 0.15, 0.12]).assign(trial_id="a")
    steps = pd.DataFrame({"trial_id": "a", "step": [1, 2, 3], "lr": 0.1, "train_loss": [2.3, 1.0, 0.5],
                          "grad_norm": [4.0, 2.0, 1.0], "clip_fraction": [0.5, 0.0, 0.0],
                          "val_loss": np.nan, "val_metric": np.nan})
    d = diagnose(runs, curves, steps)
    assert d["label"][0] == "healthy"
    assert "2.3 (first logged step)" in d["evidence"][0] and "gradient norm 4 -> 1" in d["evidence"][0]
    assert "17% of steps clipped" in d["evidence"][0]
