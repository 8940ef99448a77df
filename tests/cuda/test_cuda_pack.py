"""The GPU pack trainer gives the CPU pack trainer's curves, runs and parameters.

Tiny packs on the simulator (see conftest.py for what it cannot check): a few trials with
different rules, schedules and clipping; linear regression, softmax regression and MLPs
(relu and tanh, cross-entropy and MSE); 2-3 epochs of a few mini-batches. Tolerance: float32,
relative 1e-5 on every curve column and run metric, and on the trained parameters at each
trial's scale (see ``compare``). In the simulator the relu layers are bit-exact; the float64
sums of the loss and the norm differ in their order, and tanh in its last bit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.cuda import pack_kernel as gpk
from optengine.errors import ConfigError
from optengine.train import CURVE_COLUMNS, RUN_COLUMNS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from given_splits import given  # noqa: E402  (tests/given_splits.py)

# 1e-5 on the simulator (the float32 tolerance). On a real GPU, NVVM fuses a*b+c into
# FMAs (one rounding instead of two) and libdevice's exp/log/tanh differ from libm in the last
# bit; a few training steps compound that, so device runs are judged at 1e-4.
RTOL = 1e-4 if os.environ.get("OPTENGINE_CUDA_TESTS") == "1" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" \
    else 1e-5
FLOAT_CURVES = ["lr", "train_loss", "val_loss", "val_metric", "grad_norm"]
FLOAT_RUNS = ["final_train_loss", "final_val_loss", "final_val_metric", "best_val_loss", "final_test_loss",
              "final_test_metric"]
EXACT_RUNS = [c for c in RUN_COLUMNS if c not in FLOAT_RUNS + ["wall_s", "compile_s"]]


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    same = (np.isnan(a) & np.isnan(b)) | (a == b)  # NaN or the same infinity (a diverged trial's row)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b) / np.maximum(np.abs(a), 1e-12)
    return float(np.max(np.where(same, 0.0, err))) if a.size else 0.0


def compare(model, dataset, trials, rtol=RTOL, **kw):
    """Train on both devices; assert equal tables and parameters; return (runs, curves, max rel error)."""
    r_cpu, c_cpu, p_cpu = oe.train_pack(model, dataset, trials, return_params=True, **kw)
    r_gpu, c_gpu, p_gpu = oe.train_pack(model, dataset, trials, return_params=True, device="cuda", **kw)
    assert list(r_gpu.columns) == RUN_COLUMNS and list(c_gpu.columns) == CURVE_COLUMNS
    pd.testing.assert_frame_equal(r_cpu[EXACT_RUNS], r_gpu[EXACT_RUNS])
    pd.testing.assert_frame_equal(c_cpu[["trial_id", "epoch", "step"]], c_gpu[["trial_id", "epoch", "step"]])
    worst = 0.0
    for col in FLOAT_CURVES:
        worst = max(worst, rel_err(c_cpu[col], c_gpu[col]))
    for col in FLOAT_RUNS:
        worst = max(worst, rel_err(r_cpu[col], r_gpu[col]))
    # Parameters: |difference| <= rtol * the trial's largest |parameter|. An entry near 0 (say
    # 0.003 in a trial whose weights reach 0.7) carries the absolute rounding of its neighbours,
    # e.g. tanh's last bit (libm's tanhf on the CPU, float64 tanh rounded in the simulator,
    # libdevice on a GPU), which AdaGrad's g / sqrt(s) passes on unscaled.
    scale = np.maximum(np.abs(p_cpu).max(axis=1, keepdims=True), 1e-300)  # all-zero: a trial stopped at step 0
    worst_p = float(np.max(np.abs(p_cpu - p_gpu) / scale))
    print(f"max relative difference: curves/runs {worst:.2g}, parameters {worst_p:.2g}")  # shown with -s
    assert worst <= rtol, f"curves/runs differ by {worst:.3g}"
    assert worst_p <= rtol, f"parameters differ by {worst_p:.3g}"
    assert np.isfinite(p_gpu).all()
    return r_gpu, c_gpu, max(worst, worst_p)


@pytest.fixture(scope="module")
def classes():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)
    return oe.dataset("arrays", X=X, y=y, task="classification", val_fraction=0.25)


@pytest.fixture(scope="module")
def targets():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 4))
    y = np.stack([X @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.standard_normal(40), np.tanh(X[:, 0] * X[:, 1])], 1)
    return oe.dataset("arrays", X=X, y=y, task="regression", val_fraction=0.25)


MIXED = [
    {"optimizer": "adam", "lr": 0.02, "seed": 1, "schedule": "cosine", "clip": {"norm": 0.5}},
    {"optimizer": "nesterov", "lr": 0.05, "momentum": 0.8, "seed": 2,
     "schedule": {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_steps": 2}, "clip": {"value": 0.05}},
    {"optimizer": "rmsprop", "lr": 0.005, "l2": 0.01, "seed": 3, "clip": {"norm": 100.0}},
    {"optimizer": "adamw", "lr": 0.01, "weight_decay": 0.1, "seed": 1,
     "schedule": {"name": "exponential", "decay_rate": 0.3, "unit": "epoch"}},
]


def test_mlp_relu_classification(classes):
    _, c, err = compare({"name": "mlp", "sizes": [5, 7, 3]}, classes, MIXED, batch_size=12, epochs=2)
    assert len(c) == 8


def test_mlp_tanh_regression_with_r2(targets):
    trials = [{"optimizer": "sgd", "lr": 0.05, "seed": 0},
              {"optimizer": "momentum", "lr": 0.02, "seed": 4, "clip": {"value": 0.2}},
              {"optimizer": "adagrad", "lr": 0.1, "l2": 0.001, "seed": 5,
               "schedule": {"name": "cosine", "lr_min": 0.01, "unit": "epoch"}}]
    compare({"name": "mlp", "sizes": [4, 6, 5, 2], "activation": "tanh", "loss": "mse"}, targets, trials,
            batch_size=8, epochs=2)


def test_softmax_regression(classes):
    compare("softmax_regression", classes, MIXED[:3], batch_size=16, epochs=3)


def test_linear_regression_full_batch(targets):
    trials = [{"optimizer": "sgd", "lr": 0.1, "seed": 0}, {"optimizer": "adam", "lr": 0.05, "seed": 0,
                                                           "clip": {"norm": 0.3}}]
    compare("linear_regression", targets, trials, batch_size="full", epochs=3)


@pytest.mark.parametrize("threads", [32, 64, 256])
def test_block_sizes_and_multi_tile_layers(classes, threads, monkeypatch):
    """Wider than one 64-column tile and deeper than one 16-row chunk; 256 threads is the GPU's block."""
    monkeypatch.setattr(gpk, "SIM_THREADS", threads)
    monkeypatch.setattr(gpk, "THREADS", threads)
    model = {"name": "mlp", "sizes": [5, 70, 3]}
    epochs = 1 if threads == 256 else 2
    compare(model, classes, MIXED[:2], batch_size=18, epochs=epochs)


def test_divergence_is_the_cpus_and_leaves_the_pack_alone(classes):
    trials = [{"optimizer": "sgd", "lr": 1e4, "seed": 0}, {"optimizer": "adam", "lr": 0.01, "seed": 0},
              {"optimizer": "momentum", "lr": 50.0, "seed": 1}]
    kw = dict(batch_size=12, epochs=2, diverge_factor=3.0)
    r, c, _ = compare({"name": "mlp", "sizes": [5, 7, 3]}, classes, trials, **kw)
    assert r["status"].tolist()[:2] == ["diverged", "ok"] and (r["diverged_at_step"] >= 0).sum() >= 1
    assert r["error"].iloc[0].startswith("loss ") and " > 3 x starting loss " in r["error"].iloc[0]
    assert c.groupby("trial_id").size()[r["trial_id"].iloc[0]] == r["steps"].iloc[0] // 3 + 1  # + the partial epoch
    alone_r, alone_c = oe.train_pack({"name": "mlp", "sizes": [5, 7, 3]}, classes, [trials[1]], device="cuda", **kw)
    tid = alone_r["trial_id"].iloc[0]
    pd.testing.assert_frame_equal(c[c.trial_id == tid].reset_index(drop=True), alone_c)


def test_non_finite_gradient_is_caught_before_the_update():
    X = np.ones((20, 3))
    X[5, 1] = 1e300  # overflows the loss and gradient in float64
    ds = given(X, np.arange(20) % 2, np.ones((4, 3)), np.arange(4) % 2, standardize=False, task="classification")
    model = oe.model("softmax_regression", n_features=3, n_classes=2)
    s, c, p = oe.train(model=model, dataset=ds, optimizer="sgd", lr=0.1, batch_size="full", epochs=3,
                       dtype="float64", return_params=True, device="cuda")
    assert s["status"] == "diverged" and s["diverged_at_step"] == 0 and s["steps"] == 0
    assert s["error"] == "non-finite gradient norm (inf) at step 0"
    assert np.isfinite(p).all() and len(c) == 1 and np.isnan(c["val_loss"].iloc[0]) and c["step"].iloc[0] == 0


def test_divergence_reasons_and_partial_rows_are_the_cpus():
    """Non-finite gradient norm at step 0, non-finite loss at step 1 and a non-finite validation loss:
    the same error texts, partial-epoch rows and parameters on both devices."""
    X = np.ones((20, 3))
    X[5, 1] = 1e300
    ds = given(X, np.arange(20) % 2, np.ones((4, 3)), np.arange(4) % 2, standardize=False, task="classification")
    r, c, _ = compare(oe.model("softmax_regression", n_features=3, n_classes=2), ds, [{"optimizer": "sgd", "lr": 0.1}],
                      batch_size="full", epochs=2, dtype="float64")
    assert r["error"].tolist() == ["non-finite gradient norm (inf) at step 0"] and len(c) == 1
    X = np.random.default_rng(0).standard_normal((8, 2))
    Xv = np.ones((2, 2))
    Xv[0, 0] = 1e300
    ds = given(X, np.ones(8), Xv, np.ones(2), standardize=False)
    trials = [{"optimizer": "sgd", "lr": 1e200}, {"optimizer": "sgd", "lr": 0.1}]
    r, c, _ = compare("linear_regression", ds, trials, batch_size=4, epochs=3, dtype="float64")
    assert r["error"].tolist() == ["non-finite loss (inf) at step 1",
                                   "non-finite validation loss (inf) after epoch 1 (step 2)"]
    assert c["step"].tolist() == [1, 2] and c["val_loss"].isna().tolist() == [True, False]


def test_test_split_is_evaluated_with_the_final_parameters(classes):
    rng = np.random.default_rng(5)
    ds = given(classes.X_train, classes.y_train, classes.X_val, classes.y_val, rng.standard_normal((10, 5)),
               rng.integers(0, 3, 10), task="classification", standardize=False)
    trials = MIXED[:2] + [{"optimizer": "sgd", "lr": 1e4, "seed": 0}]
    r, _, _ = compare({"name": "mlp", "sizes": [5, 7, 3]}, ds, trials, batch_size=12, epochs=2, diverge_factor=3.0)
    assert r["final_test_loss"].notna().tolist() == [True, True, False]


def test_early_stopping_is_the_cpus(classes):
    r, c, _ = compare({"name": "mlp", "sizes": [5, 7, 3]}, classes,
                      [{"optimizer": "adam", "lr": 0.3, "seed": s} for s in range(3)],
                      batch_size=12, epochs=4, early_stopping={"patience": 1})
    assert r["early_stopped"].any()


def test_train_single_trial_on_cuda(classes):
    kw = dict(model={"name": "mlp", "sizes": [5, 4, 3]}, dataset=classes, optimizer="adam", lr=0.01,
              batch_size=16, epochs=2, seed=3)
    s_cpu, c_cpu = oe.train(**kw)
    s_gpu, c_gpu = oe.train(device="cuda", **kw)
    assert s_gpu["trial_id"] == s_cpu["trial_id"]  # the device is not part of a trial's identity
    assert rel_err(c_cpu["val_loss"], c_gpu["val_loss"]) <= RTOL


def test_non_dense_models_are_refused_on_cuda():
    with pytest.raises(ConfigError, match=r"^device:.*linear_regression, softmax_regression and mlp"):
        oe.train(model="rosenbrock", optimizer="adam", lr=0.1, device="cuda")
    with pytest.raises(ConfigError, match=r"^device:"):
        oe.train_pack(oe.model("beale"), None, [{"optimizer": "sgd", "lr": 0.1}], device="cuda")


def test_float64_pack(classes):
    compare({"name": "mlp", "sizes": [5, 6, 3], "activation": "tanh"}, classes, MIXED[:2], batch_size=16, epochs=2,
            dtype="float64")


def test_packs_too_big_for_the_device_run_in_groups(classes, monkeypatch):
    """Trials are independent, so a pack split into groups of 2 gives the same tables."""
    monkeypatch.setattr(gpk, "_group_size", lambda K, per_trial: 2)
    compare({"name": "mlp", "sizes": [5, 7, 3]}, classes, MIXED[:3], batch_size=16, epochs=2)


def test_steps_to_target_is_the_cpus_and_the_step_records_are_refused(classes):
    """A target evaluated per epoch comes from the curves: the same on both devices. The step table,
    validation every M steps and trajectories are not recorded on the GPU yet: refused before any work,
    naming the setting."""
    trials = [{"optimizer": "adam", "lr": 0.05}, {"optimizer": "sgd", "lr": 1e-4, "seed": 1}]
    runs, _, _ = compare({"name": "mlp", "sizes": [5, 7, 3]}, classes, trials, batch_size=16, epochs=3, target={"val_loss": 1.0})
    assert runs["steps_to_target"].dtype == np.int64
    for setting in ({"log_every": 2}, {"eval_every": 3}, {"trajectory": True}):
        with pytest.raises(ConfigError) as e:
            oe.train_pack({"name": "mlp", "sizes": [5, 7, 3]}, classes, trials, device="cuda", **setting)
        assert e.value.field == "device" and next(iter(setting)) in str(e.value)
