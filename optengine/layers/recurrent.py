"""Recurrent layers ``rnn``, ``gru``, ``lstm``: one layer each, batched over the mini-batch (BLAS gemms).

Conventions are PyTorch's (``torch.nn.RNN`` / ``GRU`` / ``LSTM`` with ``batch_first=True``,
``num_layers=1``, zero initial state), so weights copy one to one by name:

- RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)  (or relu, ``nonlinearity = "relu"``);
- GRU, gates in the order (r, z, n):
      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      h' = (1 - z) * n + z * h
- LSTM, gates in the order (i, f, g, o):
      i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*),  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
      c' = f * c + i * g,  h' = o * tanh(c')
- bidirectional: a second set of weights runs from t = T-1 down to 0.

Spec: ``hidden_size`` (required), ``bidirectional`` (false), ``output`` ("last" | "all"),
``input_size`` (a vector input (F,) is read as the time-major sequence (F / input_size, input_size);
default 1; for a sequence input (T, I) it may be left out or must equal I), and for ``rnn``
``nonlinearity`` ("tanh" | "relu"). Output ``last``: the vector (dirs*H,) = [h_fwd at T-1, h_bwd at 0]
(PyTorch's ``h_n``, directions concatenated); ``all``: the sequence (T, dirs*H) = PyTorch's ``output``
(time-major, [fwd_t, bwd_t]).

Parameters per direction (forward, then reverse; suffix ``_l0`` / ``_l0_reverse``): weight_ih (G*H, I),
weight_hh (G*H, H), bias_ih (G*H), bias_hh (G*H), G = 1 (RNN), 3 (GRU), 4 (LSTM); all U(-1/sqrt(H), 1/sqrt(H)).

Record ``r`` (int64) = [op, I, H, T, dirs, all (0 last / 1 all), relu (0 / 1), G]; no floats.

``save`` (per direction d, at d * rows * per_dir; per_dir per row below), time-major blocks of rows:
  states S: (T+1, rows, H), S[0] = 0 and S[s+1] the state after step s (step s reads time
    t = s forward, T-1-s reverse);
  GRU: gates (T, rows, 4H) = [r | z | n | W_hn h + b_hn] of each step;
  LSTM: gates (T, rows, 4H) = [i | f | g | o], then cells C: (T+1, rows, H), C[0] = 0.
  per_dir = (T+1)H (RNN), (T+1)H + 4TH (GRU), 2(T+1)H + 4TH (LSTM); save_per_row = dirs * per_dir.

``tmp``: [W_ih of all directions stacked (dirs*G*H, I)] (tmp_fixed = dirs*G*H*I), then
  forward: input projections P (rows*T, dirs*G*H) (row n*T + t, as x), hidden projections Q (rows, G*H);
  backward: input-side gate gradients DAi (rows*T, dirs*G*H) (laid out as P), hidden-side gate gradients
  DAh (T*rows, G*H) of one direction (laid out as S), dh, dh_prev, dc (rows, H) each;
  tmp_per_row = T*dirs*G*H + T*G*H + 3H.

Gemms: forward one (rows*T, I) @ (I, dirs*G*H) for all input projections, then per step
(rows, H) @ (H, G*H); backward per step (rows, G*H) @ (G*H, H) for dh_prev, per direction one
(G*H, T*rows) @ (T*rows, H) for dW_hh, one (dirs*G*H, rows*T) @ (rows*T, I) for dW_ih and one
(rows*T, dirs*G*H) @ (dirs*G*H, I) for dx; bias gradients are column sums in float64.
The float32 kernels take tanh through exp (``_tanh``: exact to float32, several times faster than libm's).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..jit import kernel
from .base import (CHANNELS, OPS, SEQUENCE, VECTOR, LayerPlan, Param, Shape, choice, fields, flag,
                   integer)

R_OP, R_I, R_H, R_T, R_DIRS, R_ALL, R_RELU, R_G = range(8)
OP_RNN, OP_GRU, OP_LSTM = OPS["rnn"], OPS["gru"], OPS["lstm"]
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
OUTPUTS = ("last", "all")
NONLINEARITIES = ("tanh", "relu")


def per_direction_save(kind: str, T: int, H: int) -> int:
    """Values ``save`` keeps per row and direction."""
    n = (T + 1) * H
    if kind == "gru":
        n += 4 * T * H
    elif kind == "lstm":
        n += 4 * T * H + (T + 1) * H
    return n


def param_list(kind: str, I: int, H: int, dirs: int) -> list:
    G = GATES[kind]
    bound = ("uniform", 1.0 / math.sqrt(H))
    out = []
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        out += [Param(f"weight_ih{sfx}", (G * H, I), bound), Param(f"weight_hh{sfx}", (G * H, H), bound),
                Param(f"bias_ih{sfx}", (G * H,), bound), Param(f"bias_hh{sfx}", (G * H,), bound)]
    return out


def _plan(kind: str, where: str, spec: dict, in_shape: Shape) -> LayerPlan:
    allowed = ["hidden_size", "bidirectional", "output", "input_size"] + (["nonlinearity"] if kind == "rnn" else [])
    rest = fields(where, spec, allowed, kind)
    if "hidden_size" not in rest:
        raise ConfigError(f"{where}.hidden_size", f"{kind} needs hidden_size (the state size), e.g. hidden_size = 32")
    H = integer(where, "hidden_size", rest["hidden_size"])
    bidirectional = flag(where, "bidirectional", rest.get("bidirectional", False))
    output = choice(where, "output", rest.get("output", "last"), OUTPUTS)
    nonlinearity = choice(where, "nonlinearity", rest.get("nonlinearity", "tanh"), NONLINEARITIES) \
        if kind == "rnn" else "tanh"
    if in_shape.kind == CHANNELS:
        raise ConfigError(where, f"{kind} takes a vector or sequence input, got {in_shape}; "
                                 f"add a flatten layer before it (type = \"flatten\")")
    if in_shape.kind == VECTOR and len(in_shape.dims) == 1:
        F = int(in_shape.dims[0])
        I = integer(where, "input_size", rest.get("input_size", 1))
        if F % I:
            raise ConfigError(f"{where}.input_size",
                              f"input_size {I} does not divide the input length {F} (input {in_shape}): a vector "
                              f"input is read as a sequence of (length / input_size, input_size) steps")
        T = F // I
    elif in_shape.kind == SEQUENCE and len(in_shape.dims) == 2:
        T, I = (int(v) for v in in_shape.dims)
        if "input_size" in rest:
            given = integer(where, "input_size", rest["input_size"])
            if given != I:
                raise ConfigError(f"{where}.input_size",
                                  f"input_size {given} differs from the {I} values per step of the input "
                                  f"{in_shape}; leave it out or set it to {I}")
    else:
        raise ConfigError(where, f"{kind} takes a vector or sequence input, got {in_shape}")
    G = GATES[kind]
    dirs = 2 if bidirectional else 1
    out_shape = Shape(SEQUENCE, (T, dirs * H)) if output == "all" else Shape(VECTOR, (dirs * H,))
    norm = {"type": kind, "hidden_size": H, "bidirectional": bidirectional, "output": output, "input_size": I}
    if kind == "rnn":
        norm["nonlinearity"] = nonlinearity
    return LayerPlan(
        kind=kind, op=OPS[kind], in_shape=in_shape, out_shape=out_shape,
        ints=[OPS[kind], I, H, T, dirs, OUTPUTS.index(output), int(nonlinearity == "relu"), G],
        floats=[], params=param_list(kind, I, H, dirs),
        save_per_row=dirs * per_direction_save(kind, T, H),
        tmp_per_row=T * dirs * G * H + T * G * H + 3 * H,
        tmp_fixed=dirs * G * H * I,
        spec=norm)


def plan_rnn(where: str, spec: dict, in_shape: Shape) -> LayerPlan:
    return _plan("rnn", where, spec, in_shape)


def plan_gru(where: str, spec: dict, in_shape: Shape) -> LayerPlan:
    return _plan("gru", where, spec, in_shape)


def plan_lstm(where: str, spec: dict, in_shape: Shape) -> LayerPlan:
    return _plan("lstm", where, spec, in_shape)


PLANNERS = {"rnn": plan_rnn, "gru": plan_gru, "lstm": plan_lstm}


# -- kernels -------------------------------------------------------------------------------------------

@kernel
def _per_dir(op, T, H):
    n = (T + 1) * H
    if op == OP_GRU:
        n += 4 * T * H
    elif op == OP_LSTM:
        n += 4 * T * H + (T + 1) * H
    return n


@kernel
def _stack_w_ih(r, W, Wst):
    """Copy each direction's W_ih (G*H, I) into ``Wst`` (flat), stacked: (dirs*G*H, I)."""
    I = r[R_I]
    H = r[R_H]
    GH = r[R_G] * H
    block = GH * (I + H + 2)
    n = GH * I
    for d in range(r[R_DIRS]):
        for j in range(n):
            Wst[d * n + j] = W[d * block + j]


@kernel
def _tanh(v, fast):
    """tanh of the float64 ``v``. ``fast`` (the float32 kernels): through exp, which is several times
    faster than libm's tanh and exact to float32's precision (the cubic series below |v| = 2^-13, where
    1 - exp(-2|v|) would cancel); otherwise np.tanh."""
    if not fast:
        return np.tanh(v)
    av = abs(v)
    if av < 1.220703125e-4:
        return v - v * v * v / 3.0
    e = np.exp(-2.0 * av)
    t = (1.0 - e) / (1.0 + e)
    return t if v >= 0.0 else -t


@kernel
def recurrent_forward(r, f, W, x, y, save, tmp, training, key):
    """Forward pass of an rnn / gru / lstm layer over the mini-batch ``x`` (rows, T*I) into ``y``."""
    op = r[R_OP]
    I = r[R_I]
    H = r[R_H]
    T = r[R_T]
    dirs = r[R_DIRS]
    all_out = r[R_ALL] == 1
    relu = r[R_RELU] == 1
    GH = r[R_G] * H
    DG = dirs * GH
    R = x.shape[0]
    RH = R * H
    block = GH * (I + H + 2)
    per = _per_dir(op, T, H) * R
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    fast = x.itemsize == 4

    Wst = tmp[0:DG * I]
    _stack_w_ih(r, W, Wst)
    o = DG * I
    P = tmp[o:o + R * T * DG].reshape(R * T, DG)
    o += R * T * DG
    Q = tmp[o:o + R * GH].reshape(R, GH)
    np.dot(x.reshape(R * T, I), Wst.reshape(DG, I).T, P)   # every input projection, all directions

    for d in range(dirs):
        p = d * block
        W_hh = W[p + GH * I:p + GH * I + GH * H].reshape(GH, H)
        b_ih = W[p + GH * I + GH * H:p + GH * I + GH * H + GH]
        b_hh = W[p + GH * I + GH * H + GH:p + GH * I + GH * H + 2 * GH]
        base = d * per
        S = save[base:base + (T + 1) * RH]
        gates = base + (T + 1) * RH                      # GRU / LSTM gates (T, R, 4H)
        cells = gates + 4 * T * RH                       # LSTM cells (T+1, R, H)
        for j in range(RH):
            S[j] = zero
        if op == OP_LSTM:
            for j in range(RH):
                save[cells + j] = zero
        c0 = d * GH
        for s in range(T):
            t = T - 1 - s if d == 1 else s
            if s == 0:
                Q[:, :] = zero
            else:
                np.dot(S[s * RH:(s + 1) * RH].reshape(R, H), W_hh.T, Q)
            hp = s * RH
            hn = (s + 1) * RH
            yo = (t * dirs + d) * H if all_out else d * H
            write = all_out or s == T - 1
            if op == OP_GRU:
                for n in range(R):
                    pr = n * T + t
                    g0 = gates + (s * R + n) * 4 * H
                    for k in range(H):
                        rk = one / (one + np.exp(-(P[pr, c0 + k] + b_ih[k] + Q[n, k] + b_hh[k])))
                        zk = one / (one + np.exp(-(P[pr, c0 + H + k] + b_ih[H + k] + Q[n, H + k] + b_hh[H + k])))
                        hh = Q[n, 2 * H + k] + b_hh[2 * H + k]
                        nk = x.dtype.type(_tanh(np.float64(P[pr, c0 + 2 * H + k] + b_ih[2 * H + k] + rk * hh), fast))
                        h = (one - zk) * nk + zk * S[hp + n * H + k]
                        save[g0 + k] = rk
                        save[g0 + H + k] = zk
                        save[g0 + 2 * H + k] = nk
                        save[g0 + 3 * H + k] = hh
                        S[hn + n * H + k] = h
                        if write:
                            y[n, yo + k] = h
            elif op == OP_LSTM:
                for n in range(R):
                    pr = n * T + t
                    g0 = gates + (s * R + n) * 4 * H
                    for k in range(H):
                        ik = one / (one + np.exp(-(P[pr, c0 + k] + b_ih[k] + Q[n, k] + b_hh[k])))
                        fk = one / (one + np.exp(-(P[pr, c0 + H + k] + b_ih[H + k] + Q[n, H + k] + b_hh[H + k])))
                        gk = x.dtype.type(_tanh(np.float64(P[pr, c0 + 2 * H + k] + b_ih[2 * H + k] + Q[n, 2 * H + k]
                                                            + b_hh[2 * H + k]), fast))
                        ok = one / (one + np.exp(-(P[pr, c0 + 3 * H + k] + b_ih[3 * H + k]
                                                   + Q[n, 3 * H + k] + b_hh[3 * H + k])))
                        c = fk * save[cells + hp + n * H + k] + ik * gk
                        h = ok * x.dtype.type(_tanh(np.float64(c), fast))
                        save[g0 + k] = ik
                        save[g0 + H + k] = fk
                        save[g0 + 2 * H + k] = gk
                        save[g0 + 3 * H + k] = ok
                        save[cells + hn + n * H + k] = c
                        S[hn + n * H + k] = h
                        if write:
                            y[n, yo + k] = h
            else:
                for n in range(R):
                    pr = n * T + t
                    for k in range(H):
                        a = P[pr, c0 + k] + b_ih[k] + Q[n, k] + b_hh[k]
                        if relu:
                            h = a if a > zero else zero
                        else:
                            h = x.dtype.type(_tanh(np.float64(a), fast))
                        S[hn + n * H + k] = h
                        if write:
                            y[n, yo + k] = h


@kernel
def recurrent_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    """Backpropagation through time: overwrites ``dW`` (and ``dx`` when ``need_dx``) from ``dy``."""
    op = r[R_OP]
    I = r[R_I]
    H = r[R_H]
    T = r[R_T]
    dirs = r[R_DIRS]
    all_out = r[R_ALL] == 1
    relu = r[R_RELU] == 1
    GH = r[R_G] * H
    DG = dirs * GH
    R = x.shape[0]
    RH = R * H
    block = GH * (I + H + 2)
    per = _per_dir(op, T, H) * R
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    fast = x.itemsize == 4

    Wst = tmp[0:DG * I]
    o = DG * I
    DAi = tmp[o:o + R * T * DG].reshape(R * T, DG)
    o += R * T * DG
    DAh = tmp[o:o + T * R * GH]
    o += T * R * GH
    dh = tmp[o:o + RH]
    dhp = tmp[o + RH:o + 2 * RH]
    dc = tmp[o + 2 * RH:o + 3 * RH]

    for d in range(dirs):
        p = d * block
        W_hh = W[p + GH * I:p + GH * I + GH * H].reshape(GH, H)
        base = d * per
        S = save[base:base + (T + 1) * RH]
        gates = base + (T + 1) * RH
        cells = gates + 4 * T * RH
        c0 = d * GH
        for j in range(RH):
            dh[j] = zero
            dhp[j] = zero
            dc[j] = zero
        for s in range(T - 1, -1, -1):
            t = T - 1 - s if d == 1 else s
            hp = s * RH
            hn = (s + 1) * RH
            read = all_out or s == T - 1
            yo = (t * dirs + d) * H if all_out else d * H
            for n in range(R):
                pr = n * T + t
                ah = (s * R + n) * GH
                g0 = gates + (s * R + n) * 4 * H
                for k in range(H):
                    g = dh[n * H + k] + dhp[n * H + k]
                    if read:
                        g += dy[n, yo + k]
                    if op == OP_GRU:
                        rk = save[g0 + k]
                        zk = save[g0 + H + k]
                        nk = save[g0 + 2 * H + k]
                        dan = g * (one - zk) * (one - nk * nk)
                        dar = dan * save[g0 + 3 * H + k] * rk * (one - rk)
                        daz = g * (S[hp + n * H + k] - nk) * zk * (one - zk)
                        DAi[pr, c0 + k] = dar
                        DAi[pr, c0 + H + k] = daz
                        DAi[pr, c0 + 2 * H + k] = dan
                        DAh[ah + k] = dar
                        DAh[ah + H + k] = daz
                        DAh[ah + 2 * H + k] = dan * rk
                        dh[n * H + k] = g * zk
                    elif op == OP_LSTM:
                        ik = save[g0 + k]
                        fk = save[g0 + H + k]
                        gk = save[g0 + 2 * H + k]
                        ok = save[g0 + 3 * H + k]
                        tc = x.dtype.type(_tanh(np.float64(save[cells + hn + n * H + k]), fast))
                        cg = dc[n * H + k] + g * ok * (one - tc * tc)
                        dai = cg * gk * ik * (one - ik)
                        daf = cg * save[cells + hp + n * H + k] * fk * (one - fk)
                        dag = cg * ik * (one - gk * gk)
                        dao = g * tc * ok * (one - ok)
                        DAi[pr, c0 + k] = dai
                        DAi[pr, c0 + H + k] = daf
                        DAi[pr, c0 + 2 * H + k] = dag
                        DAi[pr, c0 + 3 * H + k] = dao
                        DAh[ah + k] = dai
                        DAh[ah + H + k] = daf
                        DAh[ah + 2 * H + k] = dag
                        DAh[ah + 3 * H + k] = dao
                        dc[n * H + k] = cg * fk
                        dh[n * H + k] = zero
                    else:
                        h = S[hn + n * H + k]
                        if relu:
                            a = g if h > zero else zero
                        else:
                            a = g * (one - h * h)
                        DAi[pr, c0 + k] = a
                        DAh[ah + k] = a
                        dh[n * H + k] = zero
            if s > 0:   # the zero initial state needs no gradient
                np.dot(DAh[s * R * GH:(s + 1) * R * GH].reshape(R, GH), W_hh, dhp.reshape(R, H))
        # this direction's hidden-side weight and bias gradients: one gemm over all steps
        ob = p + GH * I + GH * H
        np.dot(DAh.reshape(T * R, GH).T, S[0:T * RH].reshape(T * R, H), dW[p + GH * I:ob].reshape(GH, H))
        for q in range(GH):
            acc = 0.0
            for m in range(T * R):
                acc += DAh[m * GH + q]
            dW[ob + GH + q] = acc
            acc = 0.0
            for m in range(R * T):
                acc += DAi[m, c0 + q]
            dW[ob + q] = acc

    if need_dx:
        _stack_w_ih(r, W, Wst)
        np.dot(DAi, Wst.reshape(DG, I), dx.reshape(R * T, I))
    # input-side weight gradients of all directions: one gemm, then copied into place
    np.dot(DAi.T, x.reshape(R * T, I), Wst.reshape(DG, I))
    n_ih = GH * I
    for d in range(dirs):
        for j in range(n_ih):
            dW[d * block + j] = Wst[d * n_ih + j]


KERNELS = {kind: (recurrent_forward, recurrent_backward) for kind in PLANNERS}
