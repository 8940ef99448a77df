"""Where a sparse_logreg training step spends its time: sparse gradient vs the dense parts.

Run: PYTHONPATH=. NUMBA_NUM_THREADS=1 python benchmarks/sparse_step_breakdown.py
Per step the trainer runs: the layer driver's loss and gradient (sparse_logreg is the layer list
[embedding_bag]; its backward first clears the whole gradient), the
pre-clip global norm (clipping.clip, computed even without clipping), and the dense update
rule over all vocab x classes + classes parameters. Times are the best of 7 epochs, per step.
"""
import time

import numpy as np
from numba import njit
from optengine.data.text import synthetic_text
from optengine.models.sparse_model import sparse_logreg
from optengine.layers.driver import layers_loss_grad
from optengine.optimizers import update, hyper_vector, new_state, validate_hyper, RULE_ID
from optengine.clipping import clip

@njit
def sparse_loss_grad(ai, af, theta, X, yc, idx, grad, ws):
    """The trainer's call for a layer model (no regression targets, step key 0)."""
    return layers_loss_grad(ai, af, theta, X, yc, np.zeros((0, 0), dtype=theta.dtype), idx, grad, ws, 0)

@njit
def grad_only(ai, af, theta, X, yc, batches, grad, ws):
    t = 0.0
    for b in range(batches.shape[0]):
        t += sparse_loss_grad(ai, af, theta, X, yc, batches[b], grad, ws)
    return t

@njit
def clear_only(grad, nsteps):
    acc = 0.0
    n = grad.size
    for s in range(nsteps):
        for i in range(n):
            grad[i] = 0.0
        grad[(s * 7919) % n] = 1.0
        acc += grad[(s * 104729) % n]
    return acc

@njit
def norm_only(grad, nsteps):
    t = 0.0
    for s in range(nsteps):
        t += clip(grad, 0, 0.0)
    return t

@njit
def update_only(rule, theta, grad, state, scalars, hyper, nsteps):
    for s in range(nsteps):
        update(rule, theta, grad, state, scalars, hyper, 1e-3, s + 1)

@njit
def full_step(rule, ai, af, theta, X, yc, batches, grad, state, scalars, hyper, ws):
    for b in range(batches.shape[0]):
        sparse_loss_grad(ai, af, theta, X, yc, batches[b], grad, ws)
        clip(grad, 0, 0.0)
        update(rule, theta, grad, state, scalars, hyper, 1e-3, b + 1)

def bench(f, *a, reps=7):
    f(*a)
    best = 1e9
    for _ in range(reps):
        t = time.perf_counter(); f(*a); best = min(best, time.perf_counter() - t)
    return best

for V, C, L, batch, dtype in [(20000, 4, 80, 32, np.float32), (20000, 4, 80, 32, np.float64), (20000, 20, 80, 32, np.float32), (20000, 4, 80, 256, np.float32)]:
    ds = synthetic_text(n_docs=4000, vocab_size=V, n_classes=C, doc_length=L, rare_per_class=100, seed=0)
    m = sparse_logreg(vocab_size=V, n_classes=C)
    X, yc, _ = m.prepare(ds.X_train, ds.y_train, dtype)
    n = X.shape[0]
    nb = n // batch
    rng = np.random.default_rng(0)
    batches = rng.permutation(n)[:nb * batch].reshape(nb, batch)
    theta = m.init(0, dtype) + dtype(0.01)
    grad = np.zeros_like(theta)
    ws = np.empty(m.workspace_size(batch), dtype=dtype)
    tg = bench(grad_only, m.ai, m.af, theta, X, yc, batches, grad, ws) / nb
    tc = bench(clear_only, grad, nb) / nb
    tn = bench(norm_only, grad, nb) / nb
    print(f"V={V} C={C} P={theta.size} batch={batch} {np.dtype(dtype).name} ELL width {X.shape[1]} mean nnz/doc {ds.info['mean_tokens_per_doc']:.1f}")
    print(f"   sparse loss+grad {tg*1e6:8.1f} us/step  (of which clearing grad {tc*1e6:6.1f} us);  clip/norm {tn*1e6:6.1f} us")
    for r in ["sgd", "momentum", "adagrad", "rmsprop", "adam"]:
        hyper = validate_hyper(r, {"lr": 1e-3})
        h = hyper_vector(hyper)
        state, scalars = new_state(r, hyper, theta.size, dtype)
        tu = bench(update_only, RULE_ID[r], theta.copy(), grad, state, scalars, h, nb) / nb
        tf = bench(full_step, RULE_ID[r], m.ai, m.af, theta.copy(), X, yc, batches, grad, state, scalars, h, ws) / nb
        print(f"   {r:9s} update {tu*1e6:7.1f} us; full step {tf*1e6:7.1f} us; dense (clear+norm+update) share {(tc+tn+tu)/(tg+tn+tu):5.1%}; gradient share excl. clear {(tg-tc)/(tg+tn+tu):5.1%}")
