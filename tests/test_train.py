"""The pack trainer: the notes' section 12 loop, divergence, determinism, batch semantics."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.clipping import clip
from optengine.errors import ConfigError
from optengine.rng import _STREAM_SHUFFLE, new_state, shuffle
from optengine.train import RUN_COLUMNS, CURVE_COLUMNS
from given_splits import given

MLP = {"name": "mlp", "sizes": [4, 8, 3]}


@pytest.fixture(scope="module")
def iris():
    return oe.dataset("iris")


@pytest.fixture(scope="module")
def mnist1d(tmp_path_factory):
    import os

    os.environ.setdefault("OPTENGINE_CACHE", str(tmp_path_factory.mktemp("cache")))
    return oe.dataset("mnist1d")


def _mixed_trials(n, seed0=0):
    rules = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        out.append({"optimizer": rules[i % 7], "lr": float(10 ** rng.uniform(-3, -1)), "seed": seed0 + i % 5,
                    "schedule": [None, "cosine", {"name": "step", "step_size": 7}][i % 3],
                    "clip": [None, {"norm": 1.0}, {"value": 0.1}][i % 3]})
    return out


# -- tables ----------------------------------------------------------------------------

def test_tables_have_the_design_columns(iris):
    runs, curves = oe.train_pack(MLP, iris, _mixed_trials(3), batch_size=16, epochs=4)
    assert list(runs.columns) == RUN_COLUMNS
    assert list(curves.columns) == CURVE_COLUMNS
    assert len(runs) == 3 and len(curves) == 12
    assert runs["trial_id"].is_unique
    assert (runs["status"] == "ok").all()
    assert (curves.groupby("trial_id")["epoch"].apply(list) == pd.Series([[1, 2, 3, 4]] * 3,
            index=curves.groupby("trial_id")["epoch"].apply(list).index)).all()
    assert runs["steps"].tolist() == [4 * -(-iris.n_train // 16)] * 3  # e.g. 120 rows / 16 -> 8 batches, last partial


def test_train_returns_summary_and_curve(iris):
    summary, curve = oe.train(model=MLP, dataset=iris, optimizer="momentum", lr=0.05, momentum=0.8,
                              batch_size=32, epochs=3, seed=1)
    assert summary["optimizer"] == "momentum" and summary["momentum"] == 0.8 and np.isnan(summary["beta1"])
    assert summary["final_val_loss"] == curve["val_loss"].iloc[-1]
    assert summary["best_val_loss"] == curve["val_loss"].min()
    per_epoch = -(-iris.n_train // 32)
    assert len(curve) == 3 and curve["step"].tolist() == [per_epoch, 2 * per_epoch, 3 * per_epoch]


def test_trial_id_is_stable_and_config_sensitive(iris):
    a = oe.train(model=MLP, dataset=iris, optimizer="adam", lr=1e-2, epochs=1)[0]["trial_id"]
    b = oe.train(model=MLP, dataset=iris, optimizer="adam", lr=1e-2, epochs=1)[0]["trial_id"]
    c = oe.train(model=MLP, dataset=iris, optimizer="adam", lr=2e-2, epochs=1)[0]["trial_id"]
    assert a == b != c


# -- the loop equals the plain path ------------------------------------------------------------

@pytest.mark.parametrize("batch_size", ["full", 1, 16, 50])
def test_trainer_equals_a_plain_python_loop(iris, batch_size):
    """Section 12 written out with the public pieces gives the same parameters (float64)."""
    model = oe.model("mlp", sizes=[4, 8, 3], activation="tanh")
    sched = {"name": "cosine", "lr_min": 1e-4, "warmup_steps": 5}
    runs, curves, params = oe.train_pack(model, iris, [{"optimizer": "adamw", "lr": 0.02, "seed": 3,
                                                        "schedule": sched, "clip": {"norm": 0.5}}],
                                         batch_size=batch_size, epochs=3, dtype="float64", return_params=True)
    X, y = iris.X_train, iris.y_train
    n = len(y)
    B = n if batch_size == "full" else batch_size
    nb = -(-n // B)
    theta = model.init(3)
    opt = oe.optimizer("adamw", lr=0.02)
    state = opt.init(theta)
    lr_sched = oe.schedule("cosine", lr=0.02, lr_min=1e-4, warmup_steps=5, total_steps=max(1, 3 * nb - 5))
    order = np.arange(n)
    rng = new_state(3, _STREAM_SHUFFLE)
    t = 0
    for epoch in range(3):
        if nb > 1:
            shuffle(order, rng)
        for b in range(nb):
            idx = order[b * B:(b + 1) * B]
            _, g = model.loss_and_grad(theta, X[idx], y[idx])
            clip(g, 2, 0.5)
            opt.step(theta, g, state, lr=lr_sched(t))
            t += 1
        vl, vm = model.evaluate(theta, iris.X_val, iris.y_val)
        assert curves["val_loss"].iloc[epoch] == pytest.approx(vl, rel=1e-12)
        assert curves["val_metric"].iloc[epoch] == pytest.approx(vm, rel=1e-12)
    np.testing.assert_allclose(params[0], theta, rtol=1e-12, atol=1e-14)
    assert runs["steps"].iloc[0] == 3 * nb


def test_batch_modes_step_counts(iris):
    n = iris.n_train
    for batch, per_epoch in (("full", 1), (1, n), (32, -(-n // 32)), (10_000, 1)):
        s, c = oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=0.01, batch_size=batch, epochs=2)
        assert s["steps"] == 2 * per_epoch, batch
        assert s["batch_size"] == min(n, n if batch == "full" else batch)


# -- schedules and clipping inside the loop ------------------------------------------------------

def test_curve_lr_follows_the_schedule(iris):
    sched = {"name": "step", "step_size": 2, "gamma": 0.5, "unit": "epoch", "warmup_steps": 1}
    s, c = oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=0.1, schedule=sched, batch_size=40, epochs=6)
    ref = oe.schedule("step", lr=0.1, step_size=2, gamma=0.5, unit="epoch", warmup_steps=1).values(6)
    np.testing.assert_allclose(c["lr"], ref, rtol=1e-15)
    s, c = oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=0.1, schedule="cosine", batch_size=40, epochs=5)
    # cosine's T defaults to the run's steps, so the last step's lr is just above lr_min = 0
    total = s["steps"]
    ref = oe.schedule("cosine", lr=0.1, total_steps=total)
    np.testing.assert_allclose(c["lr"], [ref(t - 1) for t in c["step"]], rtol=1e-15)
    assert 0 < c["lr"].iloc[-1] < 0.02 * 0.1


def test_norm_clipping_bounds_every_step(iris):
    model = oe.model("mlp", sizes=[4, 8, 3])
    s, c, p = oe.train(model=model, dataset=iris, optimizer="sgd", lr=1.0, clip={"norm": 1e-3}, batch_size=30,
                       epochs=2, dtype="float64", return_params=True)
    assert np.linalg.norm(p - model.init(0)) <= s["steps"] * 1e-3 * (1 + 1e-9)
    assert (c["grad_norm"] > 1e-3).all()  # the curve reports the pre-clip norm


def test_value_clipping_in_the_loop(iris):
    model = oe.model("mlp", sizes=[4, 8, 3])
    s, c, p = oe.train(model=model, dataset=iris, optimizer="sgd", lr=1.0, clip={"value": 1e-4}, batch_size="full",
                       epochs=3, dtype="float64", return_params=True)
    assert np.abs(p - model.init(0)).max() <= 3 * 1e-4 * (1 + 1e-9)


# -- divergence ---------------------------------------------------------------------------------------

def test_divergence_marks_only_that_trial(mnist1d):
    model = {"name": "mlp", "sizes": [40, 32, 10]}
    trials = [{"optimizer": "adam", "lr": lr, "seed": 0} for lr in (1e-3, 1e3, 1e-2)]
    trials += [{"optimizer": "sgd", "lr": 1e3, "seed": 1}]
    runs, curves = oe.train_pack(model, mnist1d, trials, batch_size=100, epochs=2)
    assert runs["status"].tolist() == ["ok", "diverged", "ok", "diverged"]
    bad = runs[runs.status == "diverged"]
    assert (bad["diverged_at_step"] >= 0).all() and (bad["diverged_at_step"] < 80).all()
    assert (runs.loc[runs.status == "ok", "diverged_at_step"] == -1).all()
    # the healthy trials are untouched by their diverging neighbours
    alone, alone_curves = oe.train_pack(model, mnist1d, [trials[0], trials[2]], batch_size=100, epochs=2)
    for tid in alone["trial_id"]:
        pd.testing.assert_frame_equal(curves[curves.trial_id == tid].reset_index(drop=True),
                                      alone_curves[alone_curves.trial_id == tid].reset_index(drop=True))


def test_non_finite_gradient_is_divergence_not_nan_parameters():
    X = np.ones((20, 3))
    X[5, 1] = 1e300  # overflows the loss and gradient in float64
    ds = given(X, np.arange(20) % 2, np.ones((4, 3)), np.arange(4) % 2, standardize=False, task="classification")
    model = oe.model("softmax_regression", n_features=3, n_classes=2)
    s, c, p = oe.train(model=model, dataset=ds, optimizer="sgd", lr=0.1, batch_size="full", epochs=3,
                       dtype="float64", return_params=True)
    assert s["status"] == "diverged" and s["diverged_at_step"] == 0 and s["steps"] == 0
    assert np.isfinite(p).all()  # the bad gradient never reached the parameters
    assert len(c) == 1 and np.isnan(c["val_loss"].iloc[0])  # the partial first epoch


def test_exploding_loss_is_divergence(iris):
    s, _ = oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=5.0, batch_size=8, epochs=5, diverge_factor=2.0)
    assert s["status"] == "diverged"


# -- determinism --------------------------------------------------------------------------------------

def test_trial_alone_equals_trial_in_a_pack_of_50(mnist1d):
    model = {"name": "mlp", "sizes": [40, 16, 10]}
    pack = _mixed_trials(51)
    target = pack[23]
    runs, curves, params = oe.train_pack(model, mnist1d, pack, batch_size=64, epochs=2, return_params=True)
    r1, c1, p1 = oe.train_pack(model, mnist1d, [target], batch_size=64, epochs=2, return_params=True)
    tid = r1["trial_id"].iloc[0]
    assert tid == runs["trial_id"].iloc[23]
    np.testing.assert_array_equal(params[23], p1[0])
    got = curves[curves.trial_id == tid].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, c1)


def test_run_to_run_and_thread_count_identical(iris):
    import numba

    trials = _mixed_trials(6)
    a = oe.train_pack(MLP, iris, trials, batch_size=16, epochs=3, threads=1, return_params=True)
    b = oe.train_pack(MLP, iris, trials, batch_size=16, epochs=3, threads=numba.config.NUMBA_NUM_THREADS,
                      return_params=True)
    np.testing.assert_array_equal(a[2], b[2])
    pd.testing.assert_frame_equal(a[1], b[1])
    cols = [c for c in RUN_COLUMNS if c not in ("wall_s", "compile_s")]
    pd.testing.assert_frame_equal(a[0][cols], b[0][cols])


def test_same_seed_same_batches_different_seed_different(iris):
    t = {"optimizer": "sgd", "lr": 0.05}
    r, c, p = oe.train_pack(MLP, iris, [{**t, "seed": 0}, {**t, "seed": 0}, {**t, "seed": 1}], batch_size=8,
                            epochs=2, return_params=True)
    np.testing.assert_array_equal(p[0], p[1])
    assert not np.array_equal(p[0], p[2])


def test_float32_and_float64_agree(iris):
    trials = [{"optimizer": r, "lr": 0.01, "seed": 2} for r in ("sgd", "momentum", "adam", "rmsprop")]
    a = oe.train_pack(MLP, iris, trials, batch_size=20, epochs=3, dtype="float32")[1]
    b = oe.train_pack(MLP, iris, trials, batch_size=20, epochs=3, dtype="float64")[1]
    for col in ("train_loss", "val_loss", "grad_norm"):
        np.testing.assert_allclose(a[col], b[col], rtol=2e-4)


# -- early stopping, regression, surfaces -------------------------------------------------------------

def test_early_stopping_on_validation_loss():
    ds = oe.dataset("synthetic_classification", n_samples=60, n_features=20, n_classes=3, class_sep=0.3, seed=1)
    model = {"name": "mlp", "sizes": [20, 64, 3]}
    s, c = oe.train(model=model, dataset=ds, optimizer="adam", lr=0.05, batch_size=8, epochs=60,
                    early_stopping={"patience": 3})
    assert s["status"] == "ok" and s["early_stopped"]
    assert len(c) == s["best_epoch"] + 3 < 60
    assert s["best_val_loss"] == c["val_loss"].min()


def test_linear_regression_on_diabetes():
    s, c = oe.train(model="linear_regression", dataset="diabetes", optimizer="sgd", lr=0.1, batch_size="full",
                    epochs=2000, dtype="float64")
    from sklearn.linear_model import LinearRegression

    ds = oe.dataset("diabetes")
    ols = LinearRegression().fit(ds.X_train, ds.y_train).score(ds.X_val, ds.y_val)
    assert s["status"] == "ok" and s["final_val_metric"] == pytest.approx(ols, abs=1e-3)


@pytest.mark.parametrize("name", ["rosenbrock", "beale", "ravine"])
def test_adam_descends_every_surface(name):
    model = oe.model(name)
    start = model.evaluate(model.init(0))[0]
    s, c = oe.train(model=model, optimizer="adam", lr=0.05, batch_size="full", epochs=500, dtype="float64")
    assert s["status"] == "ok" and s["final_val_loss"] < 0.05 * start


def test_noisy_quadratic_noise_shrinks_with_batch_size():
    model = oe.model("noisy_quadratic", noise=2.0)
    finals = {}
    for batch in (1, 100):
        r, _ = oe.train_pack(model, {"name": "surface_noise", "n_samples": 2000},
                             [{"optimizer": "sgd", "lr": 0.1, "seed": s} for s in range(20)],
                             batch_size=batch, epochs=1 if batch == 1 else 100, dtype="float64")
        finals[batch] = r["final_val_loss"].mean()  # f(theta) near the optimum: the noise floor
    assert finals[100] < 0.1 * finals[1]


# -- the MNIST-1D reference result ------------------------------------------------------------------------

def test_mnist1d_mlp_adam_reaches_60_percent(mnist1d):
    """The paper's protocol: the generator's 4000 training sequences, scored on its 1000 test sequences."""
    from optengine.data.mnist1d import mnist1d_arrays

    a = mnist1d_arrays()
    X_out, y_out = (a["X_test"], a["y_test"]) if "X_test" in a else (a["X_val"], a["y_val"])
    ds = given(a["X_train"], a["y_train"], X_out, y_out, task="classification", standardize=False)
    assert ds.n_train == 4000 and len(y_out) == 1000
    s, c = oe.train(model={"name": "mlp", "sizes": [40, 100, 100, 10]}, dataset=ds, optimizer="adam",
                    lr=1e-2, batch_size=100, epochs=25, seed=0)
    assert s["status"] == "ok"
    assert s["final_val_metric"] >= 0.60, c[["epoch", "val_metric"]].to_string()


# -- bad input ------------------------------------------------------------------------------------------------

BAD = [
    ("optimizer.name", dict(optimizer="adamm")),
    ("optimizer.lr", dict(lr=None)),
    ("optimizer.lr", dict(lr=0.0)),
    ("optimizer.momentum", dict(optimizer="sgd", momentum=0.9)),
    ("optimizer.beta2", dict(beta2=1.0)),
    ("batch_size", dict(batch_size=0)),
    ("batch_size", dict(batch_size="fulll")),
    ("epochs", dict(epochs=0)),
    ("dtype", dict(dtype="float16")),
    ("seed", dict(seed=-1)),
    ("schedule.name", dict(schedule="cosinus")),
    ("schedule.lr", dict(schedule={"name": "cosine", "lr": 0.5})),
    ("schedule.step_size", dict(schedule={"name": "step"})),
    ("clip", dict(clip={"norm": 1.0, "value": 1.0})),
    ("clip.nrom", dict(clip={"nrom": 1.0})),
    ("clip.norm", dict(clip={"norm": -1.0})),
    ("early_stopping.patience", dict(early_stopping=0)),
    ("early_stopping.patiense", dict(early_stopping={"patiense": 3})),
    ("diverge_factor", dict(diverge_factor=0.5)),
    ("model", dict(model={"name": "mlp", "sizes": [5, 8, 3]})),
    ("model", dict(model={"name": "mlp", "sizes": [4, 8, 4]})),
    ("model", dict(model={"name": "mlp", "sizes": [4, 8, 1], "loss": "mse"})),
    ("model.name", dict(model="mpl")),
    ("model.sizes", dict(model={"name": "mlp"})),
    ("dataset.name", dict(dataset="iriss")),
    ("dataset", dict(dataset=42)),
    ("dataset", dict(model="rosenbrock")),
    ("threads", dict(threads=0)),
]


@pytest.mark.parametrize("field,change", BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_bad_input_names_the_field(iris, field, change):
    kwargs = dict(model=MLP, dataset=iris, optimizer="adam", lr=1e-2, batch_size=16, epochs=1)
    kwargs.update(change)
    with pytest.raises(ValueError) as err:
        oe.train(**kwargs)
    assert isinstance(err.value, ConfigError)
    assert err.value.field == field, str(err.value)
    assert str(err.value).startswith(field + ":")


def test_bad_pack_input_names_the_trial(iris):
    with pytest.raises(ConfigError, match=r"^trials\[1\]\.lr:"):
        oe.train_pack(MLP, iris, [{"optimizer": "adam", "lr": 0.1}, {"optimizer": "adam", "lr": -0.1}])
    with pytest.raises(ConfigError, match=r"^trials:"):
        oe.train_pack(MLP, iris, [])
    with pytest.raises(ConfigError, match=r"^trials\[0\]\.optimizer:"):
        oe.train_pack(MLP, iris, [{"lr": 0.1}, {"optimizer": "sgd", "lr": 0.1}])


def test_mlp_hidden_widths_take_their_ends_from_the_dataset(iris):
    s, _ = oe.train(model={"name": "mlp", "hidden": [16, 8]}, dataset=iris, optimizer="adam", lr=1e-2, epochs=1)
    assert s["status"] == "ok"
    s2, _ = oe.train(model={"name": "mlp", "sizes": [4, 16, 8, 3]}, dataset=iris, optimizer="adam", lr=1e-2,
                     epochs=1)
    assert s["trial_id"] == s2["trial_id"]  # the same model, however it was written
    with pytest.raises(ConfigError, match=r"^model\.sizes:"):
        oe.model("mlp", hidden=[16])


def test_unknown_trial_setting_suggests_the_closest(iris):
    with pytest.raises(ConfigError, match=r"^scheduler:.*did you mean 'schedule'"):
        oe.train(model=MLP, dataset=iris, optimizer="adam", lr=1e-2, epochs=1, scheduler="cosine")


def test_threads_setting_is_restored(iris):
    import numba

    before = numba.get_num_threads()
    oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=1e-2, epochs=1, threads=1)
    assert numba.get_num_threads() == before


def test_settings_that_vanish_in_float32_are_refused_before_training(iris):
    with pytest.raises(ConfigError, match=r"^trials\[1\]\.eps:.*float32"):
        oe.train_pack(MLP, iris, [{"optimizer": "adam", "lr": 0.1}, {"optimizer": "adagrad", "lr": 0.1, "eps": 1e-50}])
    with pytest.raises(ConfigError, match=r"^optimizer\.lr:.*float32"):
        oe.train(model=MLP, dataset=iris, optimizer="sgd", lr=1e39)
    s, _ = oe.train(model=MLP, dataset=iris, optimizer="adagrad", lr=0.1, eps=1e-50, dtype="float64", epochs=1)
    assert s["status"] == "ok"


def test_single_sample_losses_do_not_fake_divergence():
    """Divergence is judged against the whole training loss at the start, not one lucky first sample."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = np.where(rng.random(300) < 0.5, 0.0, 300 + 50 * X[:, 0])
    ds = oe.dataset("arrays", X=X, y=y, standardize=False)
    runs, _ = oe.train_pack("linear_regression", ds, [{"optimizer": "sgd", "lr": 1e-9, "seed": s} for s in range(10)],
                            batch_size=1, epochs=2, dtype="float64")
    assert (runs["status"] == "ok").all()
