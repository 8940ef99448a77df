"""The CPU's per-trial SplitMix64 shuffle stream (``optengine/rng.py``) on the GPU.

Each trial keeps its stream state (one uint64, made on the host by the CPU's
``new_state(seed, _STREAM_SHUFFLE)``) and its own permutation of the training rows on the
device. ``shuffle[blocks, threads](orders, states, results)`` runs the CPU's Fisher-Yates,
draw for draw, for every trial still training (``results[k, 0] == 0``), one thread per
trial, so each trial sees exactly the batches it sees on the CPU.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..rng import _GOLDEN, _MIX1, _MIX2, _S11, _S27, _S30, _S31

_INV53 = 1.0 / 9007199254740992.0


@cuda.jit(device=True)
def next_u64(state):
    """(new state, 64 random bits): the CPU's ``next_u64`` on a scalar state."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@cuda.jit
def shuffle(orders, states, results):
    """Fisher-Yates shuffle of orders[k] in place with stream states[k], for each k with results[k, 0] == 0."""
    k = cuda.grid(1)
    if k >= orders.shape[0] or results[k, 0] != 0:
        return
    state = states[k]
    for i in range(orders.shape[1] - 1, 0, -1):
        state, z = next_u64(state)
        u = np.float64(z >> _S11) * _INV53
        j = int(u * (i + 1))
        tmp = orders[k, i]
        orders[k, i] = orders[k, j]
        orders[k, j] = tmp
    states[k] = state
