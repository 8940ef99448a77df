"""DeepOBS quadratic_deep: the problem as DeepOBS defines it, the kernels against NumPy and finite differences."""

import numpy as np
import pytest

import optengine as oe
from optengine.models import kernels
from optengine.models.quadratic import (deepobs_draws, deepobs_hessian, random_rotation,
                                        reference_loss_grad)


def test_hessian_is_deepobs_construction():
    Q, eig = deepobs_hessian()
    # DeepOBS: 90 eigenvalues ~ U(0, 1) then 10 ~ U(30, 60), from RandomState(42), before the rotation's draws
    rng = np.random.RandomState(42)
    np.testing.assert_array_equal(eig[:90], rng.uniform(0.0, 1.0, 90))
    np.testing.assert_array_equal(eig[90:], rng.uniform(30.0, 60.0, 10))
    np.testing.assert_allclose(Q, Q.T, atol=1e-10)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(Q)), np.sort(eig), atol=1e-9)
    R = random_rotation(6, np.random.RandomState(0))
    np.testing.assert_allclose(R @ R.T, np.eye(6), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_dataset_sizes_seeds_and_float32_draws():
    ds = oe.dataset("quadratic_deep")
    assert (ds.n_train, ds.n_val, ds.n_test, ds.n_features) == (1000, 896, 896, 100)
    for X, seed in ((ds.X_train, 42), (ds.X_val, 44), (ds.X_test, 43)):
        want = np.float32(np.random.RandomState(seed).normal(0.0, 0.6, (1000, 100)))
        np.testing.assert_array_equal(X, want[:X.shape[0]].astype(np.float64))
    assert oe.dataset("quadratic_deep", eval_batch=None).n_test == 1000
    assert oe.dataset("quadratic_deep", eval_batch=100).n_test == 1000


def test_initial_test_loss_is_deepobs_figure():
    m, ds = oe.model("quadratic_deep"), oe.dataset("quadratic_deep")
    p = m.init(seed=5)
    np.testing.assert_array_equal(p, np.ones(100))
    loss, metric = m.evaluate(p, ds.X_test, ds.y_test)
    assert round(loss, 4) == 353.4468 and metric == 0.0
    assert m.evaluate(p.astype(np.float32), ds.X_test, ds.y_test)[0] == pytest.approx(353.4468, abs=1e-3)


@pytest.mark.parametrize("dim", [3, 100])
def test_loss_and_grad_match_numpy_reference(dim):
    m = oe.model("quadratic_deep", dim=dim, seed=7)
    rng = np.random.default_rng(1)
    X = rng.normal(0.0, 0.6, (37, dim))
    theta = rng.standard_normal(dim)
    loss, grad = m.loss_and_grad(theta, X)
    ref_loss, ref_grad = reference_loss_grad(m.hessian, theta, X)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-11)
    assert m.evaluate(theta, X)[0] == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(m.predict(theta, X).mean(), ref_loss, rtol=1e-12)


def test_gradient_matches_finite_differences():
    m = oe.model("quadratic_deep", dim=8, seed=3)
    rng = np.random.default_rng(2)
    X = rng.normal(0.0, 0.6, (5, 8))
    theta = rng.standard_normal(8)
    _, grad = m.loss_and_grad(theta, X)
    h = 1e-6
    for j in range(8):
        e = np.zeros(8)
        e[j] = h
        fd = (m.loss_and_grad(theta + e, X)[0] - m.loss_and_grad(theta - e, X)[0]) / (2 * h)
        assert fd == pytest.approx(grad[j], rel=1e-6, abs=1e-7)


def test_sgd_step_in_the_trainer_is_the_reference_step():
    m = oe.model("quadratic_deep", dim=6, seed=1)
    X = deepobs_draws("train", dim=6, n=20)
    ds = oe.data.from_arrays(X=X, y=np.zeros(20), X_val=X[:4], y_val=np.zeros(4), X_test=X[:4],
                             y_test=np.zeros(4), standardize=False, task="regression")
    summary, curves, params = oe.train(m, ds, optimizer="sgd", lr=0.01, batch_size="full", epochs=3,
                                       dtype="float64", return_params=True)
    theta = np.ones(6)
    for _ in range(3):
        theta = theta - 0.01 * reference_loss_grad(m.hessian, theta, X)[1]
    np.testing.assert_allclose(params, theta, rtol=1e-12)
    assert summary["final_test_loss"] == pytest.approx(reference_loss_grad(m.hessian, theta, X[:4])[0], rel=1e-12)


def test_family_code_is_registered():
    assert kernels.QUADRATIC == 2 and kernels.QUADRATIC in kernels.FAMILIES
    assert oe.model("quadratic_deep").family == kernels.QUADRATIC
