"""Why a trial diverged (the runs table's ``error``) and the curves row of the epoch it diverged in."""

import numpy as np
import pytest

import optengine as oe
from given_splits import given, iris as given_iris
from optengine.clipping import global_norm
from optengine.rng import _STREAM_SHUFFLE, new_state, shuffle

MLP = {"name": "mlp", "sizes": [4, 8, 3]}


@pytest.fixture(scope="module")
def iris():
    return given_iris()  # 120 training rows in every version: the step numbers below depend on them


def _huge_validation_value():
    X = np.random.default_rng(0).standard_normal((8, 2))
    Xv = np.ones((2, 2))
    Xv[0, 0] = 1e300  # the validation loss overflows once the weights move
    return given(X, np.ones(8), Xv, np.ones(2), standardize=False)


def test_exploding_loss_says_loss_bound_and_step_and_gets_its_partial_epoch(iris):
    """The partial row holds the means over the mini-batches seen, the offending one included."""
    runs, curves, params = oe.train_pack(MLP, iris, [{"optimizer": "sgd", "lr": 50.0, "seed": 0}], batch_size=16,
                                         epochs=3, diverge_factor=2.0, dtype="float64", return_params=True)
    run = runs.iloc[0]
    assert run["status"] == "diverged" and run["diverged_at_step"] == 1 and run["steps"] == 1
    # the same two steps with the public pieces
    model = oe.model("mlp", sizes=[4, 8, 3])
    X, y = iris.X_train, iris.y_train
    theta = model.init(0)
    start, _ = model.evaluate(theta, X, y)
    order = np.arange(len(y))
    shuffle(order, new_state(0, _STREAM_SHUFFLE))
    loss0, g0 = model.loss_and_grad(theta, X[order[:16]], y[order[:16]])
    theta -= 50.0 * g0
    loss1, g1 = model.loss_and_grad(theta, X[order[16:32]], y[order[16:32]])
    assert loss1 > 2.0 * max(1.0, start) and loss0 <= 2.0 * max(1.0, start)
    assert run["error"] == f"loss {loss1:.2g} > 2 x starting loss {start:.2g} at step 1"
    np.testing.assert_array_equal(params[0], model.init(0) - 50.0 * g0)  # the offending gradient is not applied
    assert len(curves) == 1
    row = curves.iloc[0]
    assert (row["epoch"], row["step"], row["lr"]) == (1, 1, 50.0)
    assert row["train_loss"] == pytest.approx((loss0 * 16 + loss1 * 16) / 32, rel=1e-12)
    assert row["grad_norm"] == pytest.approx((global_norm(g0) + global_norm(g1)) / 2, rel=1e-12)
    assert np.isnan(row["val_loss"]) and np.isnan(row["val_metric"])
    assert np.isnan(run["final_val_loss"]) and run["best_epoch"] == -1  # no epoch was completed


def test_small_starting_loss_is_taken_as_one():
    """The bound is diverge_factor x max(1, |starting loss|): the text says when 1 was used."""
    X = np.random.default_rng(1).standard_normal((16, 2))
    ds = given(X, 0.1 * X[:, 0], X[:4], 0.1 * X[:4, 0], standardize=False)
    s, c = oe.train(model="linear_regression", dataset=ds, optimizer="sgd", lr=30.0, batch_size=4, epochs=3,
                    diverge_factor=2.0, dtype="float64")
    assert s["status"] == "diverged"
    assert " > 2 x starting loss " in s["error"] and "(taken as 1) at step " in s["error"]


def test_non_finite_gradient_norm_at_step_0_gets_one_row():
    X = np.ones((20, 3))
    X[5, 1] = 1e300  # the loss stays finite (zero logits at the start), the gradient overflows
    ds = given(X, np.arange(20) % 2, np.ones((4, 3)), np.arange(4) % 2, standardize=False, task="classification")
    model = oe.model("softmax_regression", n_features=3, n_classes=2)
    s, c = oe.train(model=model, dataset=ds, optimizer="sgd", lr=0.1, batch_size="full", epochs=3, dtype="float64")
    assert s["error"] == "non-finite gradient norm (inf) at step 0"
    assert len(c) == 1
    row = c.iloc[0]
    assert (row["epoch"], row["step"], row["lr"]) == (1, 0, 0.1)
    assert row["train_loss"] == pytest.approx(np.log(2)) and row["grad_norm"] == np.inf
    assert np.isnan(row["val_loss"]) and np.isnan(row["val_metric"])


def test_non_finite_loss_and_non_finite_validation_loss():
    ds = _huge_validation_value()
    trials = [{"optimizer": "sgd", "lr": 1e200}, {"optimizer": "sgd", "lr": 0.1}]
    runs, curves = oe.train_pack("linear_regression", ds, trials, batch_size=4, epochs=3, dtype="float64")
    assert runs["error"].tolist() == ["non-finite loss (inf) at step 1",
                                      "non-finite validation loss (inf) after epoch 1 (step 2)"]
    assert runs["diverged_at_step"].tolist() == [1, 2] and runs["steps"].tolist() == [1, 2]
    a, b = (curves[curves.trial_id == t] for t in runs["trial_id"])
    # lr 1e200: the second mini-batch's loss is inf, so is the partial epoch's mean
    assert len(a) == 1 and a["step"].iloc[0] == 1 and a["train_loss"].iloc[0] == np.inf
    # a validation divergence ends a complete epoch: its row is the epoch's own, no extra row
    assert len(b) == 1 and b["step"].iloc[0] == 2 and b["val_loss"].iloc[0] == np.inf
    assert np.isfinite(b["train_loss"].iloc[0])


def test_healthy_trials_have_an_empty_error(iris):
    runs, curves = oe.train_pack(MLP, iris, [{"optimizer": "adam", "lr": 0.01}], batch_size=32, epochs=2)
    assert runs["error"].tolist() == [""] and len(curves) == 2


def test_divergence_in_a_later_epoch_keeps_the_complete_epochs(iris):
    """120 rows in 15 batches of 8; lr 2.5 explodes at step 48, in epoch 4: rows 1-3 complete, row 4 partial."""
    s, c = oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=2.5, batch_size=8, epochs=6, diverge_factor=2.0)
    assert s["status"] == "diverged" and s["diverged_at_step"] == 48
    assert s["error"].startswith("loss ") and s["error"].endswith(" at step 48")
    assert c["epoch"].tolist() == [1, 2, 3, 4] and c["step"].tolist() == [15, 30, 45, 48]
    assert np.isfinite(c["val_loss"].iloc[:3]).all() and np.isnan(c["val_loss"].iloc[3])
    assert s["final_val_loss"] == c["val_loss"].iloc[2]  # the run's final numbers: its last complete epoch
