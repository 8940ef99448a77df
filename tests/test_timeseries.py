"""Time-series datasets (``optengine/data/timeseries.py``): windows, time-order split, generators, errors."""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.data import DATASETS
from optengine.errors import ConfigError

NAMES = ["sines", "ar2", "mackey_glass"]


@pytest.mark.parametrize("name", NAMES)
def test_windows_are_consecutive_slices_split_in_time_order(name):
    ds = oe.dataset(name, n_steps=200, window=10, horizon=3, val_fraction=0.25)  # test_fraction 0.2
    s = (ds.info["series"] - ds.info["mean"]) / ds.info["std"]
    val_at, test_at = ds.info["split"]["val_at"], ds.info["split"]["test_at"]
    assert (val_at, test_at) == (120, 160)  # test: the last 40 steps; val: 0.25 of the 160 before them
    assert ds.task == "regression" and ds.n_outputs == 3 and ds.n_features == 10
    assert (ds.n_train, ds.n_val, ds.n_test) == (120 - 10 - 3 + 1, 160 - 120 - 3 + 1, 200 - 160 - 3 + 1)
    assert ds.info["split"]["sizes"] == {"train": ds.n_train, "val": ds.n_val, "test": ds.n_test}
    for X, y, first in ((ds.X_train, ds.y_train, 0), (ds.X_val, ds.y_val, val_at - 10),
                        (ds.X_test, ds.y_test, test_at - 10)):
        for k in (0, len(X) // 2, len(X) - 1):
            i = first + k
            np.testing.assert_allclose(X[k], s[i:i + 10], rtol=0, atol=1e-12)
            np.testing.assert_allclose(y[k], s[i + 10:i + 13], rtol=0, atol=1e-12)
    # time order: training targets precede val_at, validation targets lie in [val_at, test_at),
    # test targets in [test_at, 200): windows start at consecutive steps, so the ends say it all
    assert ds.n_train - 1 + 10 + 3 == val_at
    assert (val_at - 10) + 10 == val_at and (val_at - 10) + ds.n_val - 1 + 10 + 3 == test_at
    assert (test_at - 10) + 10 == test_at and (test_at - 10) + ds.n_test - 1 + 10 + 3 == 200
    # statistics of the training part only
    assert ds.info["mean"] == pytest.approx(ds.info["series"][:val_at].mean())
    assert ds.info["std"] == pytest.approx(ds.info["series"][:val_at].std())


def test_default_sizes():
    ds = oe.dataset("sines")
    assert (ds.n_train, ds.n_val, ds.n_test) == (1248, 320, 400)
    assert (ds.info["split"]["val_at"], ds.info["split"]["test_at"]) == (1280, 1600)


@pytest.mark.parametrize("name", NAMES)
def test_seeded_and_deterministic(name):
    a, b = oe.dataset(name, n_steps=120, seed=1), oe.dataset(name, n_steps=120, seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    c = oe.dataset(name, n_steps=120, seed=2)
    assert not np.array_equal(a.info["series"], c.info["series"])


def test_unstandardized_series_is_raw():
    ds = oe.dataset("sines", n_steps=100, window=4, noise=0.0, standardize=False, periods=[10.0],
                    amplitudes=[2.0])
    t = np.arange(100)
    want = 2.0 * np.sin(2 * np.pi * t / 10 + ds.info["phases"][0])
    np.testing.assert_allclose(ds.info["series"], want, atol=1e-12)
    np.testing.assert_allclose(ds.X_train[0], want[:4], atol=1e-12)


def test_ar2_coefficients_are_recovered():
    ds = oe.dataset("ar2", n_steps=20000, phi1=0.5, phi2=-0.3, standardize=False)
    x = ds.info["series"]
    A = np.stack([x[1:-1], x[:-2]], axis=1)
    coef, *_ = np.linalg.lstsq(A, x[2:], rcond=None)
    np.testing.assert_allclose(coef, [0.5, -0.3], atol=0.03)


def test_mackey_glass_stays_in_its_attractor_range():
    x = oe.dataset("mackey_glass", n_steps=500).info["series"]
    assert 0.2 < x.min() < 0.7 and 1.0 < x.max() < 1.5


@pytest.mark.parametrize("name, kw, field, text", [
    ("sines", {"n_steps": 30, "window": 20, "horizon": 5}, "dataset.horizon", "horizon too long"),
    ("ar2", {"n_steps": 100, "horizon": 30, "window": 5, "val_fraction": 0.2}, "dataset.horizon",
     "validation part has only 16"),
    ("ar2", {"n_steps": 100, "horizon": 15, "window": 5, "test_fraction": 0.1}, "dataset.horizon",
     "test part has only 10"),
    ("sines", {"test_fraction": 0.0}, "dataset.test_fraction", "must be in"),
    ("ar2", {"phi1": 0.8, "phi2": 0.5}, "dataset.phi1", "not stationary"),
    ("sines", {"periods": []}, "dataset.periods", "non-empty"),
    ("sines", {"periods": [5.0, 0.0]}, "dataset.periods[1]", "must be in"),
    ("sines", {"amplitudes": [1.0, 2.0, 3.0]}, "dataset.amplitudes", "one amplitude per period"),
    ("mackey_glass", {"window": 0}, "dataset.window", "must be in"),
    ("mackey_glass", {"val_fraction": 1.0}, "dataset.val_fraction", "must be in"),
    ("mackey_glass", {"standardize": "yes"}, "dataset.standardize", "true or false"),
    ("sines", {"lags": 3}, "dataset.lags", "does not take"),
])
def test_bad_settings_name_the_field(name, kw, field, text):
    with pytest.raises(ConfigError, match=text) as e:
        oe.dataset(name, **kw)
    assert e.value.field == field


def test_listed():
    for name in NAMES:
        assert name in DATASETS
    assert {"cnn1d", "rnn", "gru"} <= set(oe.models.describe())
