"""The optimised CPU paths equal the plain references (issue 4: speed never changes the numbers).

- dense layers run their matrix products through BLAS (``np.dot`` in numba): at the sizes a
  sweep uses (MNIST-1D MLP 40-100-100-10, batch 64) the loss and gradient equal NumPy
  backpropagation written from the notes;
- ``global_norm`` adds eight partial sums: equal to one float64 sum, NaN and inf included;
- BLAS runs on one thread inside the pack trainer, and a trial's numbers stay the same alone
  or in a pack whatever the memory alignment of its row of parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.blas import one_blas_thread
from optengine.clipping import clip, global_norm, CLIP_NORM
from optengine.models import kernels
from reference import assert_pack_equals_alone, global_norm as ref_global_norm, unpack_dense

SIZES = [40, 100, 100, 10]


def ref_loss_grad(params, X, y, sizes, activation):
    """Mean softmax cross-entropy and its gradient by backpropagation (notes 2.3), float64 NumPy."""
    layers = unpack_dense(params.astype(np.float64), sizes)
    acts = [X.astype(np.float64)]
    for i, (W, b) in enumerate(layers):
        z = acts[-1] @ W + b
        if i < len(layers) - 1:
            z = np.maximum(z, 0.0) if activation == "relu" else np.tanh(z)
        acts.append(z)
    z = acts[-1]
    zmax = z.max(axis=1, keepdims=True)
    e = np.exp(z - zmax)
    p = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = float(np.mean(np.log(e.sum(axis=1)) + zmax[:, 0] - z[np.arange(n), y]))
    delta = p
    delta[np.arange(n), y] -= 1.0
    delta /= n
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        W, _ = layers[i]
        grads.append((acts[i].T @ delta, delta.sum(axis=0)))
        if i > 0:
            a = acts[i]
            delta = (delta @ W.T) * ((a > 0) if activation == "relu" else (1.0 - a * a))
    flat = [np.concatenate([dW.ravel(), db]) for dW, db in reversed(grads)]
    return loss, np.concatenate(flat)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("rows", [64, 37])
def test_blas_dense_gradient_equals_numpy_backprop_at_sweep_size(dtype, activation, rows):
    m = oe.model("mlp", sizes=SIZES, activation=activation)
    rng = np.random.default_rng(rows)
    params = m.init(3, np.float64).astype(dtype)
    X = rng.standard_normal((200, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], 200)
    idx = rng.permutation(200)[:rows]
    grad = np.full_like(params, np.nan)
    ws = np.full(m.workspace_size(rows), np.nan, dtype=dtype)
    loss = kernels.loss_grad(m.family, m.ai, m.af, params, X, y, np.zeros((1, 1), dtype), idx, grad, ws, 0)
    want_loss, want = ref_loss_grad(params, X[idx], y[idx], SIZES, activation)
    tol = 2e-5 if dtype == "float32" else 1e-12
    assert loss == pytest.approx(want_loss, rel=tol)
    scale = np.abs(want).max()
    np.testing.assert_allclose(grad, want, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 15010])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_norm_equals_one_float64_sum(n, dtype):
    g = np.random.default_rng(n).standard_normal(n).astype(dtype) * 3
    assert global_norm(g) == pytest.approx(ref_global_norm(g), rel=1e-13, abs=0)
    if n:
        for bad in (np.nan, np.inf):
            h = g.copy()
            h[n - 1] = bad  # the remainder loop for most n, a partial sum for n = 8, 16
            assert not np.isfinite(global_norm(h))
            assert not np.isfinite(clip(h.copy(), CLIP_NORM, 1.0))


def test_the_pack_trainer_runs_blas_on_one_thread():
    from threadpoolctl import threadpool_info

    with one_blas_thread():
        blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
        assert blas and all(lib["num_threads"] == 1 for lib in blas)


@pytest.fixture(scope="module")
def mnist1d(tmp_path_factory):
    import os

    os.environ.setdefault("OPTENGINE_CACHE", str(tmp_path_factory.mktemp("cache")))
    return oe.dataset("mnist1d")


def test_sweep_sized_mlp_alone_equals_in_a_pack(mnist1d):
    # 15,010 float32 parameters per row: rows of the pack start at different alignments
    trials = [{"optimizer": r, "lr": lr, "seed": 0} for r, lr in
              [("sgd", 3e-2), ("momentum", 1e-2), ("rmsprop", 1e-3), ("adam", 3e-3), ("adamw", 1e-3)]]
    trials.append({"optimizer": "adam", "lr": 1e-3, "seed": 1, "clip": {"norm": 0.5}})
    assert_pack_equals_alone({"name": "mlp", "sizes": SIZES}, mnist1d, trials, (1, 3, 5), batch_size=64, epochs=1)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_trainer_threads_give_the_numbers_of_one_thread(threads):
    iris = oe.dataset("iris")
    trials = [{"optimizer": r, "lr": 0.05, "seed": s} for r in ("sgd", "adam", "rmsprop") for s in (0, 1)]
    trials.append({"optimizer": "nesterov", "lr": 0.05, "seed": 2, "clip": {"value": 0.1}})
    model = {"name": "mlp", "sizes": [4, 8, 3]}
    r1, c1, p1 = oe.train_pack(model, iris, trials, batch_size=16, epochs=3, threads=1, return_params=True)
    rt, ct, pt = oe.train_pack(model, iris, trials, batch_size=16, epochs=3, threads=threads, return_params=True)
    np.testing.assert_array_equal(p1, pt)
    import pandas as pd

    pd.testing.assert_frame_equal(c1, ct)
    timing = ["wall_s", "compile_s"]
    pd.testing.assert_frame_equal(r1.drop(columns=timing), rt.drop(columns=timing))
