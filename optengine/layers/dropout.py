"""Dropout (``torch.nn.Dropout(p)``) with a stateless, counter-based mask.

Training: ``y = x * mask / (1 - p)`` with ``mask[i, j] = u(key, i * width + j) >= p``, where
``u(key, e)`` in [0, 1) is a SplitMix64 output: the stream seeded by a mix of ``key``, read at
position ``e`` (``z = mix(mix(key) + (e + 1) * golden)``, 53 bits). The same (key, element)
always gives the same draw, on any thread and in any order; the driver passes a key already
distinct per layer and per step. Evaluation (``training`` False): ``y = x``.

Field: ``p`` in [0, 1) (default 0.5). No parameters. Any vector / channels / sequence input.

Record: ``ints = [op]``, ``floats = [p, 1 / (1 - p)]``. Save: ``width`` per row, the multiplier
of each element, ``mask / (1 - p)`` (0 or 1/(1-p); 1 everywhere after an evaluation forward),
so backward is ``dx = dy * save``. No tmp.
"""

from __future__ import annotations

import numpy as np

from ..errors import check_number
from ..jit import kernel
from .base import CHANNELS, OPS, SEQUENCE, VECTOR, LayerPlan, fields, need_kind

R_OP = 0
F_P, F_SCALE = 0, 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE = np.uint64(1)


def plan_dropout(where, spec, in_shape):
    rest = fields(where, spec, ("p",), "dropout")
    p = check_number(f"{where}.p", rest.get("p", 0.5), low=0.0, high=1.0, high_open=True)
    need_kind(where, "dropout", in_shape, (VECTOR, CHANNELS, SEQUENCE))
    return LayerPlan(kind="dropout", op=OPS["dropout"], in_shape=in_shape, out_shape=in_shape,
                     ints=[OPS["dropout"]], floats=[p, 1.0 / (1.0 - p)], params=[],
                     save_per_row=in_shape.width, spec={"type": "dropout", "p": p})


PLANNERS = {"dropout": plan_dropout}


@kernel
def _mix(z):
    """SplitMix64's output function (a bijection of uint64)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@kernel
def key_base(key):
    """The stream start for ``key`` (int64): mix(key + golden), any sign."""
    return _mix(np.uint64(key) + _GOLDEN)


@kernel
def uniform_at(base, e):
    """The draw in [0, 1) of element ``e`` (int64 >= 0) of the stream ``base`` (from ``key_base``)."""
    z = _mix(base + (np.uint64(e) + _ONE) * _GOLDEN)
    return np.float64(z >> _S11) * (1.0 / 9007199254740992.0)


@kernel
def dropout_u(key, e):
    """u(key, e): the uniform draw of element ``e`` under ``key``."""
    return uniform_at(key_base(key), e)


@kernel
def dropout_forward(r, f, W, x, y, save, tmp, training, key):
    rows, n = x.shape
    T = y.dtype.type
    if not training:
        one = T(1.0)
        for i in range(rows):
            for j in range(n):
                y[i, j] = x[i, j]
                save[i * n + j] = one
        return
    p = f[F_P]
    scale = T(f[F_SCALE])
    zero = T(0.0)
    base = key_base(key)
    for i in range(rows):
        for j in range(n):
            e = i * n + j
            m = scale if uniform_at(base, e) >= p else zero
            save[e] = m
            y[i, j] = x[i, j] * m


@kernel
def dropout_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    if not need_dx:
        return
    rows, n = x.shape
    for i in range(rows):
        for j in range(n):
            dx[i, j] = dy[i, j] * save[i * n + j]
