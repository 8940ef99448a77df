"""JAX + optax baseline for W1: ``jax.jit(jax.vmap(train))`` over the learning rates, one
compiled program per rule; the whole training (all epochs) is one program (``lax.scan`` over
epochs and, inside, over mini-batches).

Nothing imports jax at module level; ``available()`` says whether it can be used.
"""

from __future__ import annotations

import importlib
import math
import time

import numpy as np

from .common import HYPER, NOT_INSTALLED


def available() -> tuple[bool, str]:
    """(True, 'jax X, optax Y') if both import, else (False, 'not installed: <reason>')."""
    try:
        jax = importlib.import_module("jax")
        optax = importlib.import_module("optax")
    except Exception as exc:
        return False, f"{NOT_INSTALLED} ({type(exc).__name__}: {exc})"
    return True, f"jax {jax.__version__}, optax {optax.__version__}"


def make_optimizer(optax, rule: str, lr):
    """optax transformation with the engine's hyperparameters (``lr`` may be a traced scalar).

    adagrad starts its accumulator at 0 (optax's default is 0.1; the engine's and PyTorch's 0);
    rmsprop puts eps outside the square root, as the engine and PyTorch do.
    """
    m = HYPER["momentum"]
    b1, b2 = HYPER["betas"]
    if rule == "sgd":
        return optax.sgd(lr)
    if rule == "momentum":
        return optax.sgd(lr, momentum=m)
    if rule == "nesterov":
        return optax.sgd(lr, momentum=m, nesterov=True)
    if rule == "adagrad":
        return optax.adagrad(lr, initial_accumulator_value=0.0, eps=HYPER["adagrad_eps"])
    if rule == "rmsprop":
        try:
            return optax.rmsprop(lr, decay=HYPER["rmsprop_alpha"], eps=HYPER["rmsprop_eps"], eps_in_sqrt=False)
        except TypeError:  # older optax
            return optax.rmsprop(lr, decay=HYPER["rmsprop_alpha"], eps=HYPER["rmsprop_eps"])
    if rule == "adam":
        return optax.adam(lr, b1=b1, b2=b2, eps=HYPER["adam_eps"])
    if rule == "adamw":
        return optax.adamw(lr, b1=b1, b2=b2, eps=HYPER["adam_eps"], weight_decay=HYPER["adamw_weight_decay"])
    raise ValueError(rule)


def unflatten(init_flat, sizes):
    """The engine's flat vector -> [(W din x dout, b), ...] float32 (same initial weights)."""
    params, off = [], 0
    for i in range(len(sizes) - 1):
        din, dout = sizes[i], sizes[i + 1]
        w = np.asarray(init_flat[off:off + din * dout], dtype=np.float32).reshape(din, dout)
        off += din * dout
        b = np.asarray(init_flat[off:off + dout], dtype=np.float32)
        off += dout
        params.append((w, b))
    return params


def make_train(rule: str, n_train: int, epochs: int, batch: int):
    """train(lr, params, X, y, Xv, yv, key) -> validation accuracy after each epoch (epochs,).

    Each epoch shuffles (``jax.random.permutation``) and runs ceil(n/batch) steps; the last,
    smaller batch is padded to ``batch`` rows with weight 0, so its loss is the mean over its
    real rows, as in the engine and in PyTorch.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    n_batches = math.ceil(n_train / batch)
    pad = n_batches * batch - n_train

    def forward(params, x):
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss_fn(params, xb, yb, wb):
        ce = optax.softmax_cross_entropy_with_integer_labels(forward(params, xb), yb)
        return jnp.sum(ce * wb) / jnp.sum(wb)

    grad_fn = jax.grad(loss_fn)
    weights = jnp.concatenate([jnp.ones(n_train, jnp.float32), jnp.zeros(pad, jnp.float32)]).reshape(n_batches, batch)

    def train(lr, params, X, y, Xv, yv, key):
        opt = make_optimizer(optax, rule, lr)
        state = opt.init(params)

        def epoch(carry, k):
            def step(carry, inp):
                p, s = carry
                idx, wb = inp
                g = grad_fn(p, X[idx], y[idx], wb)
                upd, s = opt.update(g, s, p)
                return (optax.apply_updates(p, upd), s), None

            perm = jax.random.permutation(k, n_train)
            idx = jnp.concatenate([perm, perm[:pad]]).reshape(n_batches, batch)
            carry, _ = lax.scan(step, carry, (idx, weights))
            acc = jnp.mean((jnp.argmax(forward(carry[0], Xv), axis=-1) == yv).astype(jnp.float32))
            return carry, acc

        _, accs = lax.scan(epoch, (params, state), jax.random.split(key, epochs))
        return accs

    return train


class W1Programs:
    """One ``jax.jit(jax.vmap(train))`` program per rule (vmap over the learning rates),
    compiled by ``.lower(...).compile()`` in the constructor (``compile_s``: seconds per rule).

    ``run()`` runs all of them once (the whole sweep) up to ``block_until_ready`` and returns
    ``{rule: validation accuracy array (len(lrs), epochs)}``.
    """

    def __init__(self, rules, lrs, data, sizes, epochs: int, batch: int, init_flat, seed: int = 0, log=None):
        import jax
        import jax.numpy as jnp

        X, y, Xv, yv = (jnp.asarray(a) for a in data)
        y, yv = y.astype(jnp.int32), yv.astype(jnp.int32)
        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in unflatten(init_flat, sizes)]
        lr_vec = jnp.asarray(np.asarray(lrs, dtype=np.float32))
        self.args = (lr_vec, params, X, y, Xv, yv, jax.random.PRNGKey(seed))
        self.compiled, self.compile_s = {}, {}
        for rule in rules:
            t0 = time.perf_counter()
            fn = jax.jit(jax.vmap(make_train(rule, X.shape[0], epochs, batch), in_axes=(0,) + (None,) * 6))
            self.compiled[rule] = fn.lower(*self.args).compile()
            self.compile_s[rule] = time.perf_counter() - t0
            if log:
                log(f"    jax {rule}: compiled in {self.compile_s[rule]:.1f} s")

    def run(self) -> dict:
        accs = {}
        for rule, fn in self.compiled.items():
            out = fn(*self.args)
            out.block_until_ready()
            accs[rule] = np.asarray(out)
        return accs
