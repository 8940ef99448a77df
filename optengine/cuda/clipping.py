"""Gradient clipping (the CPU's ``clipping.py``) as numba.cuda code, one thread block per trial.

``clip[K, threads](g, modes, cs, norms)`` clips every row of the K x P gradient in place
(mode NO_CLIP, CLIP_VALUE or CLIP_NORM with threshold cs[k]) and writes the pre-clip global
L2 norm of each row to ``norms``. The norm is a proper block reduction: each thread sums
its strided share of g^2 in float64, then a shared-memory tree adds the partial sums
(the CPU adds sequentially in float64: the two differ by float64 rounding only).
By norm: g *= min(1, c / (norm + 1e-6)), applied only when the factor is below 1.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from ..clipping import CLIP_NORM, CLIP_VALUE

MAX_THREADS = 256  # threads per block the reduction buffers hold


@cuda.jit(device=True)
def block_sum(red, value):
    """Sum ``value`` over the threads of the block (any block size <= MAX_THREADS); every thread gets it."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    red[tid] = value
    cuda.syncthreads()
    s = 1
    while s < nt:
        if tid % (2 * s) == 0 and tid + s < nt:
            red[tid] += red[tid + s]
        s *= 2
        cuda.syncthreads()
    total = red[0]
    cuda.syncthreads()  # red may be reused right away
    return total


@cuda.jit(device=True)
def global_norm(g, k, red):
    """L2 norm of row k of g, accumulated in float64."""
    acc = 0.0
    for j in range(cuda.threadIdx.x, g.shape[1], cuda.blockDim.x):
        x = float(g[k, j])
        acc += x * x
    return math.sqrt(block_sum(red, acc))


@cuda.jit(device=True)
def clip_row(g, k, mode, c, red):
    """Clip row k of g in place; return its pre-clip norm (all threads of the block call this)."""
    norm = global_norm(g, k, red)
    dt = g.dtype.type
    if mode == CLIP_VALUE:
        hi = dt(c)
        lo = -hi
        for j in range(cuda.threadIdx.x, g.shape[1], cuda.blockDim.x):
            x = g[k, j]
            if x > hi:
                g[k, j] = hi
            elif x < lo:
                g[k, j] = lo
    elif mode == CLIP_NORM:
        scale = c / (norm + 1e-6)
        if scale < 1.0:
            s = dt(scale)
            for j in range(cuda.threadIdx.x, g.shape[1], cuda.blockDim.x):
                g[k, j] *= s
    return norm


@cuda.jit
def clip(g, modes, cs, norms):
    """Clip each row k of g by modes[k] / cs[k]; norms[k] = its pre-clip norm. One block per trial."""
    red = cuda.shared.array(MAX_THREADS, float64)
    for k in range(cuda.blockIdx.x, g.shape[0], cuda.gridDim.x):
        norm = clip_row(g, k, modes[k], cs[k], red)
        if cuda.threadIdx.x == 0:
            norms[k] = norm
