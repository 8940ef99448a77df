"""Per-trial random streams for Numba code (SplitMix64), independent of threads and packs."""

import numpy as np

from .jit import kernel
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_STREAM_SHUFFLE = 0x5EED5EED  # separates the shuffling stream from other uses of a seed


@kernel
def next_u64(state):
    """Advance ``state`` (a 1-element uint64 array) and return 64 random bits."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@kernel
def next_uniform(state):
    """A float64 in [0, 1) with 53 random bits."""
    return np.float64(next_u64(state) >> _S11) * (1.0 / 9007199254740992.0)


@kernel
def new_state(seed, stream):
    """A fresh stream for (seed, stream): the same pair always gives the same numbers."""
    state = np.zeros(1, dtype=np.uint64)
    state[0] = np.uint64(seed & 0x7FFFFFFFFFFFFFFF)
    next_u64(state)
    state[0] ^= np.uint64(stream)
    next_u64(state)
    return state


@kernel
def shuffle(order, state):
    """Fisher-Yates shuffle of ``order`` in place."""
    for i in range(order.size - 1, 0, -1):
        j = int(next_uniform(state) * (i + 1))
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp
