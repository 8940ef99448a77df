"""Layer normalisation over the whole sample: ``torch.nn.LayerNorm(normalized_shape=dims, eps, elementwise_affine)``.

Each row (one sample's F = prod(dims) features) is normalised with its own mean and biased
variance, then scaled and shifted elementwise::

    mu = mean(x),  rstd = 1 / sqrt(mean((x - mu)^2) + eps),  xhat = (x - mu) rstd,  y = xhat * weight + bias

Fields: ``eps`` (> 0, default 1e-5), ``elementwise_affine`` (default true). Params (affine only):
``weight`` (dims) init 1, ``bias`` (dims) init 0, as PyTorch.

Record: ``ints = [op, F, affine]``, ``floats = [eps]``. Save: 2 per row, ``[mu, rstd]`` of each row.
No tmp. Means and variances are accumulated in float64 (two passes). Backward::

    g = dy * weight
    dx = rstd (g - mean(g) - xhat mean(g xhat))
    dweight = sum_rows dy xhat,   dbias = sum_rows dy
"""

from __future__ import annotations

import numpy as np

from ..errors import check_number
from ..jit import kernel
from .base import CHANNELS, OPS, SEQUENCE, VECTOR, LayerPlan, Param, fields, flag, need_kind

R_OP, R_F, R_AFFINE = 0, 1, 2
F_EPS = 0


def plan_layernorm(where, spec, in_shape):
    rest = fields(where, spec, ("eps", "elementwise_affine"), "layernorm")
    eps = check_number(f"{where}.eps", rest.get("eps", 1e-5), low=0.0, low_open=True)
    affine = flag(where, "elementwise_affine", rest.get("elementwise_affine", True))
    need_kind(where, "layernorm", in_shape, (VECTOR, CHANNELS, SEQUENCE))
    dims = tuple(int(d) for d in in_shape.dims)
    params = [Param("weight", dims, ("const", 1.0)), Param("bias", dims, ("const", 0.0))] if affine else []
    return LayerPlan(kind="layernorm", op=OPS["layernorm"], in_shape=in_shape, out_shape=in_shape,
                     ints=[OPS["layernorm"], in_shape.width, int(affine)], floats=[eps], params=params,
                     save_per_row=2, spec={"type": "layernorm", "eps": eps, "elementwise_affine": affine})


PLANNERS = {"layernorm": plan_layernorm}


@kernel
def layernorm_forward(r, f, W, x, y, save, tmp, training, key):
    rows, n = x.shape
    affine = r[R_AFFINE] == 1
    eps = f[F_EPS]
    T = y.dtype.type
    for i in range(rows):
        s = 0.0
        for j in range(n):
            s += np.float64(x[i, j])
        mu = s / n
        q = 0.0
        for j in range(n):
            d = np.float64(x[i, j]) - mu
            q += d * d
        rstd = 1.0 / np.sqrt(q / n + eps)
        save[2 * i] = mu
        save[2 * i + 1] = rstd
        m = T(mu)
        rs = T(rstd)
        if affine:
            for j in range(n):
                y[i, j] = (x[i, j] - m) * rs * W[j] + W[n + j]
        else:
            for j in range(n):
                y[i, j] = (x[i, j] - m) * rs


@kernel
def layernorm_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    rows, n = x.shape
    affine = r[R_AFFINE] == 1
    T = dx.dtype.type
    zero = T(0.0)
    if affine:
        for j in range(2 * n):
            dW[j] = zero
    for i in range(rows):
        m = T(save[2 * i])
        rs = T(save[2 * i + 1])
        if affine:
            for j in range(n):
                d = dy[i, j]
                dW[j] += d * ((x[i, j] - m) * rs)
                dW[n + j] += d
        if need_dx:
            sg = 0.0
            sgx = 0.0
            for j in range(n):
                g = dy[i, j] * W[j] if affine else dy[i, j]
                sg += np.float64(g)
                sgx += np.float64(g) * np.float64((x[i, j] - m) * rs)
            a = T(sg / n)
            b = T(sgx / n)
            for j in range(n):
                g = dy[i, j] * W[j] if affine else dy[i, j]
                dx[i, j] = rs * (g - a - (x[i, j] - m) * rs * b)
