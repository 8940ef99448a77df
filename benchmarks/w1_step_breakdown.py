"""Where a W1 training step spends its time: the 8 dense products against everything else.

Run: python benchmarks/w1_step_breakdown.py   (from a checkout, after ``pip install -e .``)

One W1 trial (MNIST-1D, MLP 40-100-100-10 relu, batch 64, 20 epochs, float32) per rule on
one thread: the trial's time / its steps is the trainer's cost per step, validation passes
included. Beside it, each piece alone in a compiled loop at the same shapes (best of 5):

- the 8 BLAS products of one step, called as ``models/dense.py`` calls them (forward x 3,
  weight gradients x 3, input gradients x 2);
- the update rule on the 15,210 parameters; the loss head (softmax cross-entropy, 64 x 10);
  the gradient's global norm; the validation pass of an epoch (1000 rows), per step.

The products alone bound what W1 can reach on this machine: 28 trials x 1260 steps x their
time per step, on 2 cores, is printed as the floor of W1's wall time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numba import njit

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` (and this checkout's optengine) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optengine as oe  # noqa: E402
from benchmarks.common import W1_BATCH as BATCH, W1_SIZES, mlp_flops, time_calls  # noqa: E402
from optengine.blas import one_blas_thread  # noqa: E402
from optengine.clipping import global_norm  # noqa: E402
from optengine.models import dense  # noqa: E402
from optengine.models.base import EVAL_CHUNK  # noqa: E402
from optengine.optimizers import RULE_ID, hyper_vector, new_state, update, validate_hyper  # noqa: E402
from benchmarks.common import RULES  # noqa: E402  (W1's seven rules)

SIZES = list(W1_SIZES)
EPOCHS, TRIALS, CORES = 20, 28, 2


@njit(cache=True, nogil=True)
def products(n, X, W1, W2, W3, A1, A2, Z3, D3, D2, D1, G1, G2, G3):
    """The step's 8 products, n times, as dense_loss_grad calls them."""
    for _ in range(n):
        np.dot(X, W1, A1)
        np.dot(A1, W2, A2)
        np.dot(A2, W3, Z3)
        np.dot(A2.T, D3, G3)
        np.dot(D3, W3.T, D2)
        np.dot(A1.T, D2, G2)
        np.dot(D2, W2.T, D1)
        np.dot(X.T, D1, G1)


@njit(cache=True, nogil=True)
def updates(n, rule, theta, g, state, scalars, hyper):
    for t in range(n):
        update(rule, theta, g, state, scalars, hyper, 1e-9, t + 1)


@njit(cache=True, nogil=True)
def loss_heads(n, ai, out, yc, yr, idx, delta):
    total = 0.0
    for _ in range(n):
        total += dense._output_loss(ai, out, yc, yr, idx, delta)
    return total


@njit(cache=True, nogil=True)
def norms(n, g):
    total = 0.0
    for _ in range(n):
        total += global_norm(g)
    return total


@njit(cache=True, nogil=True)
def evaluations(n, ai, theta, X, yc, yr, ws, chunk):
    total = 0.0
    for _ in range(n):
        total += dense.dense_evaluate(ai, theta, X, yc, yr, ws, chunk)[0]
    return total


def best_of(f, *args, reps=5):
    """Fastest of ``reps`` calls of ``f(*args)`` after one untimed call."""
    return time_calls(lambda: f(*args), reps).min


def main() -> None:
    rng = np.random.default_rng(0)
    f32 = np.float32
    ds = oe.dataset("mnist1d")
    model = oe.model("mlp", sizes=SIZES, activation="relu")
    n_train, n_val = ds.X_train.shape[0], ds.X_val.shape[0]
    steps = EPOCHS * -(-n_train // BATCH)

    trial = {}
    kw = dict(batch_size=BATCH, epochs=EPOCHS, dtype="float32", threads=1)
    oe.train_pack(model, ds, [{"optimizer": "sgd", "lr": 1e-3}], **dict(kw, epochs=1))
    for rule in RULES:
        trial[rule] = best_of(lambda r=rule: oe.train_pack(model, ds, [{"optimizer": r, "lr": 1e-3}], **kw),
                              reps=3) / steps

    a = lambda *shape: rng.standard_normal(shape).astype(f32)  # noqa: E731
    n = 2000
    with one_blas_thread():
        prod = best_of(products, n, a(BATCH, 40), a(40, 100), a(100, 100), a(100, 10), a(BATCH, 100),
                       a(BATCH, 100), a(BATCH, 10), a(BATCH, 10), a(BATCH, 100), a(BATCH, 100), a(40, 100),
                       a(100, 100), a(100, 10)) / n
        P = dense.n_params(SIZES)
        g = a(P) * f32(1e-3)
        upd = {}
        for rule in RULES:
            hyper = validate_hyper(rule, {"lr": 1e-3})
            state, scalars = new_state(rule, hyper, P, f32)
            state[1:] = 1.0  # a positive second moment, as before
            upd[rule] = best_of(updates, n, RULE_ID[rule], a(P), g, state, scalars, hyper_vector(hyper)) / n
        ai = dense.arch(SIZES, "relu", "cross_entropy")
        head = best_of(loss_heads, n, ai, a(BATCH, 10), rng.integers(0, 10, n_train), np.zeros((1, 1), f32),
                       np.arange(BATCH), np.empty((BATCH, 10), f32)) / n
        norm = best_of(norms, n, g) / n
        Xv = np.ascontiguousarray(ds.X_val, dtype=f32)
        yv = np.asarray(ds.y_val, dtype=np.int64)
        chunk = min(EVAL_CHUNK, n_val)
        ws = np.empty(dense.workspace_size(SIZES, chunk), f32)
        theta = model.init(0, np.float64).astype(f32)
        ev = best_of(evaluations, 20, ai, theta, Xv, yv, np.zeros((1, 1), f32), ws, chunk) / 20 / (steps / EPOCHS)

    flops = BATCH * mlp_flops(SIZES, n_train, n_val, EPOCHS)["train_sample"]  # the 8 products of a step
    print(f"W1 step, one thread, float32 (us per step; {steps} steps per trial)")
    print(f"  8 products alone      {prod * 1e6:7.1f}   ({flops / prod / 1e9:.0f} GFLOP/s)")
    print(f"  loss head alone       {head * 1e6:7.1f}")
    print(f"  gradient norm alone   {norm * 1e6:7.1f}")
    print(f"  validation, per step  {ev * 1e6:7.1f}")
    print(f"  {'rule':10s} {'trial/step':>10s} {'update':>8s} {'products share':>15s}")
    for rule in RULES:
        print(f"  {rule:10s} {trial[rule] * 1e6:10.1f} {upd[rule] * 1e6:8.1f} {prod / trial[rule]:15.0%}")
    mean = float(np.mean(list(trial.values())))
    print(f"W1 on {CORES} cores: the trials' steps at these rates take {TRIALS * steps * mean / CORES:.2f} s; "
          f"the 8 products alone {TRIALS * steps * prod / CORES:.2f} s; with the validation passes "
          f"{TRIALS * steps * (prod + ev) / CORES:.2f} s")


if __name__ == "__main__":
    main()
