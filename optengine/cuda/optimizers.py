"""Every update rule of ``optengine/rules`` as numba.cuda code, compiled from the records' own source.

Each record's ``coefficients`` and ``element`` are the Python functions the CPU kernel is compiled
from, compiled as device functions (``cuda.jit(device=True)(fn)``, as ``schedules.py`` does), and
``rule_step`` is the same dispatch the CPU uses, generated from the records
(``rules/dispatch.py``): one branch per rule and number of buffers in use.

``rule_update(rule, theta, g, state, scal, k, j0, j1, stride, hyper, lr, t)`` updates
elements ``j0:j1:stride`` of trial k (row k of the K x P arrays ``theta``, ``g``; its buffers
``state[k]``, K x n_buffers x P; its scalar state ``scal[k]``, K x 2 x MAX_SCALARS float64,
step t reading row (t-1) % 2 and writing row t % 2, so threads never race on it). The pack
trainer calls it from its step kernel; ``update`` applies it to a whole pack in one launch.

``update[grid, threads](rules, theta, g, state, scal, hypers, lrs, ts)`` is the CPU kernel
``update`` for K trials: rules (int64), lrs (float64) and ts (int64, the step counted from 1)
have one entry per trial, hypers is K x len(HYPER) in the CPU's layout. It is grid-stride over
tiles of ``blockDim.x * ITEMS`` parameters of one trial; each thread computes the rule's
coefficients once per tile. The arithmetic is the CPU's, expression for expression, in the
parameters' dtype; the only difference on a real GPU is that the compiler fuses a*b+c into
one FMA, so results agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

from numba import cuda

from ..rules import dispatch as _dispatch

ITEMS = 8  # parameters per thread per tile (amortises the per-tile coefficients)
THREADS = 256

rule_step = _dispatch.build("cuda", cuda.jit(device=True), wrap=cuda.jit(device=True))


@cuda.jit(device=True)
def n_buffers(rule, hyper):
    """Buffers trial of rule id ``rule`` with hyperparameters ``hyper`` uses (``optimizers.n_buffers``)."""
    flag = _dispatch.FLAG_INDEX[rule]
    extra = 1 if flag >= 0 and hyper[flag] != 0.0 else 0
    return _dispatch.BASE_BUFFERS[rule] + extra


@cuda.jit(device=True)
def rule_update(rule, theta, g, state, scal, k, j0, j1, stride, hyper, lr, t):
    """Elements j0:j1:stride of trial k take step t of rule id ``rule`` (see the module docstring)."""
    entry = _dispatch.ENTRY[rule, n_buffers(rule, hyper)]
    rule_step(entry, theta, g, state, scal, k, j0, j1, stride, hyper, lr, t)


@cuda.jit
def update(rules, theta, g, state, scal, hypers, lrs, ts):
    """One step of every trial's rule: row k of theta/g/state/scal with rules[k], hypers[k], lrs[k], ts[k]."""
    n_trials = theta.shape[0]
    n = theta.shape[1]
    nt = cuda.blockDim.x
    per = nt * ITEMS
    chunks = (n + per - 1) // per
    for tile in range(cuda.blockIdx.x, n_trials * chunks, cuda.gridDim.x):
        k = tile // chunks
        base = (tile - k * chunks) * per + cuda.threadIdx.x
        rule_update(rules[k], theta, g, state, scal, k, base, min(n, base + per), nt, hypers[k], lrs[k], ts[k])


def grid_size(n_tiles: int, threads: int = THREADS) -> int:
    """Blocks for a grid-stride launch over ``n_tiles``: enough to fill the device, no more."""
    from numba import cuda as _cuda

    try:
        sms = _cuda.get_current_device().MULTIPROCESSOR_COUNT
    except Exception:  # the simulator
        sms = 1
    per_sm = max(1, 2048 // threads)
    return max(1, min(n_tiles, sms * per_sm * 4))


def pack_state(rules, hypers, n_params: int, dtype):
    """Zeroed (state K x n_buffers x P, scalar state K x 2 x MAX_SCALARS) host arrays for a pack:
    as many buffers as its most demanding trial uses (at least one row, never read then)."""
    import numpy as np

    from ..optimizers import MAX_SCALARS, pack_buffers

    rules = np.asarray(rules, dtype=np.int64)
    K = rules.shape[0]
    state = np.zeros((K, max(1, pack_buffers(rules, hypers)), n_params), dtype=dtype)
    scal = np.zeros((K, 2, MAX_SCALARS))
    scal[:, 0] = _dispatch.SCALAR_INIT[rules]
    return state, scal


def launch_update(rules, theta, g, state, scal, hypers, lrs, ts, threads: int = THREADS) -> None:
    """``update`` with a grid sized for K x P parameters (device or host arrays).

    Also takes one trial the CPU's way: flat theta/g, state n_buffers x P, scal 2 x MAX_SCALARS,
    a scalar rule, lr and t and a flat hyper vector (they become a pack of one).
    """
    import numpy as np

    if theta.ndim == 1:
        theta, g = (a.reshape(1, a.shape[0]) for a in (theta, g))
        state = state.reshape((1,) + state.shape)
        scal = scal.reshape((1,) + scal.shape)
        rules = np.array([rules], dtype=np.int64)
        hypers = np.asarray(hypers, dtype=np.float64).reshape(1, -1)
        lrs = np.array([lrs], dtype=np.float64)
        ts = np.array([ts], dtype=np.int64)
    n_trials, n = theta.shape
    tiles = n_trials * ((n + threads * ITEMS - 1) // (threads * ITEMS))
    update[grid_size(tiles, threads), threads](rules, theta, g, state, scal, hypers, lrs, ts)
