"""The 7 update rules of ``optengine.optimizers`` as numba.cuda kernels.

``update[grid, threads](rules, theta, g, s1, s2, hypers, lrs, ts)`` is the CPU kernel
``update(rule, theta, g, s1, s2, hyper, lr, t)`` for a whole pack in one launch: theta, g,
s1, s2 are K x P device arrays (one row per trial, float32 or float64, C order); rules (int64),
lrs (float64) and ts (int64, the step counted from 1) have one entry per trial and hypers
is K x len(HYPER) in the CPU's HYPER layout. Rules without state ignore s1/s2 (pass any
array of the right shape, e.g. theta, as the CPU optimizer does; pass device arrays then:
numba copies each host-array argument separately, so aliased host arrays would clobber
each other on the way back).

The kernel is grid-stride over tiles of ``blockDim.x * ITEMS`` parameters of one trial:
each thread derives the rule's scalars once per tile (``coefficients``), then updates
ITEMS coalesced elements (``apply``). The arithmetic is the CPU's, expression for expression,
with scalars cast to the parameters' dtype; the only difference on a real GPU is that
the compiler fuses a*b+c into one FMA (one rounding instead of two), so results agree
to float32 rounding, not bit for bit. ``launch_update`` picks the grid (and takes one trial
the CPU way too: flat arrays, scalar rule, lr and t).
"""

from __future__ import annotations

import math

from numba import cuda

from ..optimizers import (ADAGRAD, ADAMW, H_BETA1, H_BETA2, H_DECAY, H_EPS, H_L2, H_MOMENTUM, H_WD, MOMENTUM,
                          NESTEROV, RMSPROP, SGD)

ITEMS = 8  # parameters per thread per tile (amortises the per-tile scalars, e.g. Adam's two float64 powers)
THREADS = 256


@cuda.jit(device=True)
def coefficients(rule, hyper, lr, t, theta):
    """The rule's scalars in theta's dtype: (eta, l2, c0..c7), computed as the CPU kernel does."""
    dt = theta.dtype.type
    zero = dt(0.0)
    eta = dt(lr)
    l2 = dt(hyper[H_L2])
    if rule == MOMENTUM or rule == NESTEROV:
        return (eta, l2, dt(hyper[H_MOMENTUM]), zero, zero, zero, zero, zero, zero, zero)
    if rule == ADAGRAD:
        return (eta, l2, dt(hyper[H_EPS]), zero, zero, zero, zero, zero, zero, zero)
    if rule == RMSPROP:
        return (eta, l2, dt(hyper[H_DECAY]), dt(1.0 - hyper[H_DECAY]), dt(hyper[H_EPS]), zero, zero, zero, zero, zero)
    if rule == SGD:
        return (eta, l2, zero, zero, zero, zero, zero, zero, zero, zero)
    b1 = hyper[H_BETA1]
    b2 = hyper[H_BETA2]
    wd = dt(hyper[H_WD]) if rule == ADAMW else zero
    return (eta, l2, dt(b1), dt(b2), dt(1.0 - b1), dt(1.0 - b2), dt(1.0 - b1 ** t), dt(1.0 - b2 ** t),
            dt(hyper[H_EPS]), wd)


@cuda.jit(device=True)
def apply(rule, co, theta, g, s1, s2, k, j):
    """Update element (k, j) in place with the scalars ``co`` from ``coefficients``."""
    eta = co[0]
    l2 = co[1]
    th = theta[k, j]
    gi = g[k, j] + l2 * th
    if rule == SGD:
        theta[k, j] = th - eta * gi
    elif rule == MOMENTUM:
        v = co[2] * s1[k, j] + gi
        s1[k, j] = v
        theta[k, j] = th - eta * v
    elif rule == NESTEROV:
        m = co[2]
        v = m * s1[k, j] + gi
        s1[k, j] = v
        theta[k, j] = th - eta * (gi + m * v)
    elif rule == ADAGRAD:
        s = s1[k, j] + gi * gi
        s1[k, j] = s
        theta[k, j] = th - eta * gi / (math.sqrt(s) + co[2])
    elif rule == RMSPROP:
        s = co[2] * s1[k, j] + co[3] * (gi * gi)
        s1[k, j] = s
        theta[k, j] = th - eta * gi / (math.sqrt(s) + co[4])
    else:  # ADAM, ADAMW
        m = co[2] * s1[k, j] + co[4] * gi
        v = co[3] * s2[k, j] + co[5] * (gi * gi)
        s1[k, j] = m
        s2[k, j] = v
        mhat = m / co[6]
        vhat = v / co[7]
        theta[k, j] = th - eta * (mhat / (math.sqrt(vhat) + co[8]) + co[9] * th)


@cuda.jit
def update(rules, theta, g, s1, s2, hypers, lrs, ts):
    """One step of every trial's rule: row k of theta/g/s1/s2 with rules[k], hypers[k], lrs[k], ts[k]."""
    n_trials = theta.shape[0]
    n = theta.shape[1]
    nt = cuda.blockDim.x
    per = nt * ITEMS
    chunks = (n + per - 1) // per
    for tile in range(cuda.blockIdx.x, n_trials * chunks, cuda.gridDim.x):
        k = tile // chunks
        base = (tile - k * chunks) * per + cuda.threadIdx.x
        rule = rules[k]
        co = coefficients(rule, hypers[k], lrs[k], ts[k], theta)
        for it in range(ITEMS):
            j = base + it * nt
            if j < n:
                apply(rule, co, theta, g, s1, s2, k, j)


def grid_size(n_tiles: int, threads: int = THREADS) -> int:
    """Blocks for a grid-stride launch over ``n_tiles``: enough to fill the device, no more."""
    from numba import cuda as _cuda

    try:
        sms = _cuda.get_current_device().MULTIPROCESSOR_COUNT
    except Exception:  # the simulator
        sms = 1
    per_sm = max(1, 2048 // threads)
    return max(1, min(n_tiles, sms * per_sm * 4))


def launch_update(rules, theta, g, s1, s2, hypers, lrs, ts, threads: int = THREADS) -> None:
    """``update`` with a grid sized for K x P parameters (device or host arrays).

    Also takes one trial the CPU's way: flat theta/g/s1/s2 with a scalar rule, lr and t and
    a flat hyper vector (they become a pack of one).
    """
    import numpy as np

    if theta.ndim == 1:
        theta, g, s1, s2 = (a.reshape(1, a.shape[0]) for a in (theta, g, s1, s2))
        rules = np.array([rules], dtype=np.int64)
        hypers = np.asarray(hypers, dtype=np.float64).reshape(1, -1)
        lrs = np.array([lrs], dtype=np.float64)
        ts = np.array([ts], dtype=np.int64)
    n_trials, n = theta.shape
    tiles = n_trials * ((n + threads * ITEMS - 1) // (threads * ITEMS))
    update[grid_size(tiles, threads), threads](rules, theta, g, s1, s2, hypers, lrs, ts)
