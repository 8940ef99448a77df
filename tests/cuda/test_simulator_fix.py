"""The simulator's ``cuda.shared.array`` gives every thread of a block the same array
(``optengine/cuda/simulator_fix.py``); on a GPU there is nothing to fix."""

from __future__ import annotations

import time

import numpy as np
import pytest
from numba import cuda, int64

import optengine.cuda  # noqa: F401  (installs the fix in the simulator)
from optengine.cuda import simulating

pytestmark = pytest.mark.skipif(not simulating(), reason="a fix for numba's CUDA simulator")


@cuda.jit
def _count_threads(out):
    seen = cuda.shared.array(32, int64)
    t = cuda.threadIdx.x
    seen[t] = 1
    cuda.syncthreads()
    s = 0
    for i in range(32):
        s += seen[i]
    out[cuda.blockIdx.x, t] = s


def test_every_thread_of_a_block_gets_the_same_shared_array(monkeypatch):
    # A slow allocation opens the window between "missing" and "created" that the simulator's
    # own code leaves unlocked: without the fix most blocks see several arrays.
    empty = np.empty

    def slow_empty(*args, **kwargs):
        time.sleep(0.002)
        return empty(*args, **kwargs)

    monkeypatch.setattr(np, "empty", slow_empty)
    out = np.zeros((8, 32), dtype=np.int64)
    _count_threads[8, 32](out)
    assert (out == 32).all(), f"{int((out != 32).any(axis=1).sum())} of 8 blocks saw several shared arrays"


def test_distinct_lines_keep_distinct_arrays():
    @cuda.jit
    def two(out):
        a = cuda.shared.array(4, int64)
        b = cuda.shared.array(4, int64)
        t = cuda.threadIdx.x
        a[t] = 1
        b[t] = 2
        cuda.syncthreads()
        out[t] = a[t] + b[(t + 1) % 4]

    out = np.zeros(4, dtype=np.int64)
    two[1, 4](out)
    assert (out == 3).all()
