"""Block-level tiled matrix products in shared memory: the dense family's layers on the GPU.

One thread block computes C (M x N) = A (M x Kd) @ B (Kd x N) for one trial, tile by tile:

- a tile is TM x TN outputs with TM = 4 * (threads // 16) and TN = 64: thread (ty, tx)
  of the block (tx = tid % 16) owns the 4 x 4 outputs at rows ty + r*(threads // 16) and
  columns tx + 16*c, kept in 16 registers (strided ownership: conflict-free shared reads
  and coalesced stores);
- the reduction runs in chunks of KC = 16: the block loads the A and B chunks into
  shared memory (coalesced, zero-padded at the edges), then every thread does its
  16 x KC multiply-adds from shared memory.

Every output is accumulated by one thread in the CPU's order (the bias first, then
k = 0, 1, ... ascending), so in the simulator the layers equal the CPU's bit for bit; on a
GPU, FMA contraction changes the last bit.

A and B are strided views into a trial's row of a K x * array (``A[k, off + m*sm + kk*sk]``),
or, for the network's input, rows of the shared feature matrix X picked through the
trial's batch order. The epilogue stores C, C through the activation (forward), or C
masked by the activation's derivative (backward). Blocks of 16..256 threads (a multiple
of 16) are allowed: the simulator runs 16 or 32, a GPU 256.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..models.dense import RELU

TX = 16
RM = 4
RN = 4
KC = 16
MAX_THREADS = 256
TN = TX * RN
TM_MAX = (MAX_THREADS // TX) * RM
TM_PAD = TM_MAX + 1  # shared tiles are padded by one column: conflict-free stores
TN_PAD = TN + 1

EPI_STORE, EPI_ACT, EPI_DACT = 0, 1, 2


def build(dt):
    """The ``gemm`` device function for float type ``dt`` (numba.float32 or numba.float64)."""
    zero = np.dtype(dt.name).type(0.0)  # typed constants (cheaper than casts in the simulator)
    one = np.dtype(dt.name).type(1.0)

    @cuda.jit(device=True)
    def store(epi, act, C, k, c_off, ldc, Z, z_off, m, n, M, N, acc):
        if m < M and n < N:
            at = c_off + m * ldc + n
            if epi == EPI_ACT:
                if act == RELU:
                    if acc < zero:
                        acc = zero
                else:
                    acc = dt(math.tanh(acc))
            elif epi == EPI_DACT:
                a = Z[k, z_off + m * ldc + n]
                if act == RELU:
                    acc = acc if a > zero else zero
                else:
                    acc = acc * (one - a * a)
            C[k, at] = acc

    @cuda.jit(device=True)
    def gemm(M, N, Kd,
             X, orders, k, row0, use_orders, a_x, x_rows_on_m, A, a_off, as_m, as_k,
             B, b_off, bs_k, bs_n,
             theta, init_bias, bias_off,
             epi, act, C, c_off, ldc, Z, z_off,
             As, Bs):
        """C[k, c_off + m*ldc + n] = epi(bias[n] + sum_kk A(m, kk) * B(kk, n)) for m < M, n < N."""
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        ty_n = nt // TX
        tx = tid % TX
        ty = tid // TX
        tm = ty_n * RM
        a_k_fast = (x_rows_on_m if a_x else as_k == 1)
        b_k_fast = bs_k == 1
        for m0 in range(0, M, tm):
            for n0 in range(0, N, TN):
                n_0 = n0 + tx
                n_1 = n_0 + TX
                n_2 = n_1 + TX
                n_3 = n_2 + TX
                c0 = zero
                c1 = zero
                c2 = zero
                c3 = zero
                if init_bias:
                    if n_0 < N:
                        c0 = theta[k, bias_off + n_0]
                    if n_1 < N:
                        c1 = theta[k, bias_off + n_1]
                    if n_2 < N:
                        c2 = theta[k, bias_off + n_2]
                    if n_3 < N:
                        c3 = theta[k, bias_off + n_3]
                acc00 = c0
                acc01 = c1
                acc02 = c2
                acc03 = c3
                acc10 = c0
                acc11 = c1
                acc12 = c2
                acc13 = c3
                acc20 = c0
                acc21 = c1
                acc22 = c2
                acc23 = c3
                acc30 = c0
                acc31 = c1
                acc32 = c2
                acc33 = c3
                m_0 = m0 + ty
                busy = m_0 < M and n_0 < N  # else all 16 outputs of this thread are padding
                for k0 in range(0, Kd, KC):
                    kc = min(KC, Kd - k0)
                    cuda.syncthreads()  # the previous chunk has been used
                    for e in range(tid, KC * tm, nt):
                        if a_k_fast:
                            kk = e % KC
                            mm = e // KC
                        else:
                            mm = e % tm
                            kk = e // tm
                        m = m0 + mm
                        v = zero
                        if m < M and kk < kc:
                            if a_x:  # the network's input: rows of X in the trial's batch order
                                r = m if x_rows_on_m else k0 + kk
                                c = k0 + kk if x_rows_on_m else m
                                row = orders[k, row0 + r] if use_orders else row0 + r
                                v = X[row, c]
                            else:
                                v = A[k, a_off + m * as_m + (k0 + kk) * as_k]
                        As[kk, mm] = v
                    for e in range(tid, KC * TN, nt):
                        if b_k_fast:
                            kk = e % KC
                            nn = e // KC
                        else:
                            nn = e % TN
                            kk = e // TN
                        n = n0 + nn
                        v = zero
                        if n < N and kk < kc:
                            v = B[k, b_off + (k0 + kk) * bs_k + n * bs_n]
                        Bs[kk, nn] = v
                    cuda.syncthreads()
                    for kk in range(kc if busy else 0):
                        a0 = As[kk, ty]
                        a1 = As[kk, ty + ty_n]
                        a2 = As[kk, ty + 2 * ty_n]
                        a3 = As[kk, ty + 3 * ty_n]
                        b0 = Bs[kk, tx]
                        b1 = Bs[kk, tx + TX]
                        b2 = Bs[kk, tx + 2 * TX]
                        b3 = Bs[kk, tx + 3 * TX]
                        acc00 += a0 * b0
                        acc01 += a0 * b1
                        acc02 += a0 * b2
                        acc03 += a0 * b3
                        acc10 += a1 * b0
                        acc11 += a1 * b1
                        acc12 += a1 * b2
                        acc13 += a1 * b3
                        acc20 += a2 * b0
                        acc21 += a2 * b1
                        acc22 += a2 * b2
                        acc23 += a2 * b3
                        acc30 += a3 * b0
                        acc31 += a3 * b1
                        acc32 += a3 * b2
                        acc33 += a3 * b3
                m_1 = m_0 + ty_n
                m_2 = m_1 + ty_n
                m_3 = m_2 + ty_n
                if busy:
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_0, n_0, M, N, acc00)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_0, n_1, M, N, acc01)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_0, n_2, M, N, acc02)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_0, n_3, M, N, acc03)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_1, n_0, M, N, acc10)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_1, n_1, M, N, acc11)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_1, n_2, M, N, acc12)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_1, n_3, M, N, acc13)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_2, n_0, M, N, acc20)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_2, n_1, M, N, acc21)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_2, n_2, M, N, acc22)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_2, n_3, M, N, acc23)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_3, n_0, M, N, acc30)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_3, n_1, M, N, acc31)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_3, n_2, M, N, acc32)
                    store(epi, act, C, k, c_off, ldc, Z, z_off, m_3, n_3, M, N, acc33)
        cuda.syncthreads()  # C is complete for the next phase

    return gemm
