"""``oe.gradient_noise_scale``: B_simple = tr(Sigma) / |G|^2 from per-example gradients (McCandlish et al.
2018), against analytic per-example gradients of linear regression and a NumPy reference."""

import numpy as np
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.noise_scale import noise_scale_from_gradients

from given_splits import given


def test_hand_computed_case():
    """Two examples, one parameter: g = (1, 3): G = 2, |G|^2 = 4, tr(Sigma) = ((1-2)^2 + (3-2)^2) / 1 = 2."""
    r = noise_scale_from_gradients(np.array([[1.0], [3.0]]))
    assert r["g_norm_sq"] == 4.0 and r["trace_sigma"] == 2.0 and r["B_simple"] == 0.5
    assert r["g_norm_sq_unbiased"] == 3.0 and r["B_simple_unbiased"] == pytest.approx(2 / 3)


def test_linear_regression_per_example_gradients_are_analytic():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(40)
    ds = given(X, y, X[:5], y[:5], task="regression", standardize=False)
    model = oe.model("linear_regression", n_features=3, n_outputs=1)
    theta = np.array([0.2, 0.1, -0.3, 0.05])  # W (3 x 1) then b
    r = oe.gradient_noise_scale(model, ds, theta, batch_size=10, n_batches=4, seed=1)
    # loss_i = (x_i . w + b - y_i)^2 (MSE over one output): g_i = 2 r_i (x_i, 1)
    Xt, yt = ds.X_train, np.asarray(ds.y_train, dtype=float).reshape(-1)
    res = Xt @ theta[:3] + theta[3] - yt
    g = 2.0 * res[:, None] * np.hstack([Xt, np.ones((len(yt), 1))])
    mean = g.mean(0)
    trace = ((g - mean) ** 2).sum() / (len(g) - 1)  # all 40 examples: batch_size x n_batches
    assert r["n_examples"] == 40
    np.testing.assert_allclose(r["g_norm_sq"], mean @ mean, rtol=1e-10)
    np.testing.assert_allclose(r["trace_sigma"], trace, rtol=1e-10)
    np.testing.assert_allclose(r["B_simple"], trace / (mean @ mean), rtol=1e-10)
    np.testing.assert_allclose(r["trace_sigma"], np.cov(g.T, ddof=1).trace(), rtol=1e-10)  # NumPy's covariance


def test_surface_noise_scale_grows_with_the_noise_and_inputs_are_checked():
    """noisy_quadratic: per-example gradient = grad f - noise * x_i, so tr(Sigma) = noise^2 tr(cov(x))."""
    data = {"name": "surface_noise", "n_samples": 500, "seed": 2}
    lo = oe.gradient_noise_scale({"name": "noisy_quadratic", "noise": 0.5}, data, np.array([1.0, 1.0]),
                                 batch_size=100, n_batches=5)
    hi = oe.gradient_noise_scale({"name": "noisy_quadratic", "noise": 2.0}, data, np.array([1.0, 1.0]),
                                 batch_size=100, n_batches=5)
    np.testing.assert_allclose(hi["trace_sigma"], 16 * lo["trace_sigma"], rtol=1e-10)
    assert hi["B_simple"] > lo["B_simple"]
    with pytest.raises(ConfigError, match="params"):
        oe.gradient_noise_scale("rosenbrock", None, np.zeros(3))
    with pytest.raises(ConfigError, match="n_batches"):
        oe.gradient_noise_scale("rosenbrock", None, np.zeros(2), n_batches=0)
