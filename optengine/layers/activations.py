"""Elementwise activations: relu, leaky_relu, tanh, sigmoid, gelu (as ``torch.nn.ReLU`` etc.).

Any vector / channels / sequence input; the output has the same shape; no parameters.

Record: ``ints = [op, gelu_tanh]`` (op: ``OPS[kind]``; gelu_tanh: 1 for ``approximate = "tanh"``,
else 0), ``floats = [negative_slope]`` (leaky_relu; 0 otherwise). No save, no tmp: backward
reads ``x`` (leaky_relu, gelu) or ``y`` (relu, tanh, sigmoid).

Definitions (PyTorch's):

- relu        y = max(x, 0)                      dy/dx = 0 if y <= 0 else 1
- leaky_relu  y = x if x > 0 else slope * x      dy/dx = 1 if x > 0 else slope
- tanh        y = tanh(x)                        dy/dx = 1 - y^2
- sigmoid     y = 1 / (1 + exp(-x))              dy/dx = y (1 - y)
- gelu        y = x Phi(x) = x/2 (1 + erf(x/sqrt 2))            ("none", exact, torch's default)
              y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  ("tanh")

NaN propagates through every forward (``relu(NaN) = NaN``: the select keeps x unless x < 0).
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import kernel
from .base import CHANNELS, OPS, SEQUENCE, VECTOR, LayerPlan, choice, fields, need_kind
from ..errors import check_number

RELU, LEAKY_RELU, TANH, SIGMOID, GELU = (OPS[k] for k in ("relu", "leaky_relu", "tanh", "sigmoid", "gelu"))
R_OP, R_GELU_TANH = 0, 1
F_SLOPE = 0
GELU_APPROXIMATE = ("none", "tanh")

_SQRT1_2 = 1.0 / math.sqrt(2.0)            # 1/sqrt(2)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)      # sqrt(2/pi)
_GELU_C = 0.044715


# -- planners ---------------------------------------------------------------------------------------------

def _plan(where, spec, in_shape, kind, allowed):
    rest = fields(where, spec, allowed, kind)
    need_kind(where, kind, in_shape, (VECTOR, CHANNELS, SEQUENCE))
    return rest


def _make(kind, in_shape, ints, floats, spec):
    return LayerPlan(kind=kind, op=OPS[kind], in_shape=in_shape, out_shape=in_shape,
                     ints=ints, floats=floats, params=[], spec=spec)


def plan_relu(where, spec, in_shape):
    _plan(where, spec, in_shape, "relu", ())
    return _make("relu", in_shape, [RELU, 0], [0.0], {"type": "relu"})


def plan_tanh(where, spec, in_shape):
    _plan(where, spec, in_shape, "tanh", ())
    return _make("tanh", in_shape, [TANH, 0], [0.0], {"type": "tanh"})


def plan_sigmoid(where, spec, in_shape):
    _plan(where, spec, in_shape, "sigmoid", ())
    return _make("sigmoid", in_shape, [SIGMOID, 0], [0.0], {"type": "sigmoid"})


def plan_leaky_relu(where, spec, in_shape):
    rest = _plan(where, spec, in_shape, "leaky_relu", ("negative_slope",))
    slope = check_number(f"{where}.negative_slope", rest.get("negative_slope", 0.01))
    return _make("leaky_relu", in_shape, [LEAKY_RELU, 0], [slope],
                 {"type": "leaky_relu", "negative_slope": slope})


def plan_gelu(where, spec, in_shape):
    rest = _plan(where, spec, in_shape, "gelu", ("approximate",))
    approx = choice(where, "approximate", rest.get("approximate", "none"), GELU_APPROXIMATE)
    return _make("gelu", in_shape, [GELU, 1 if approx == "tanh" else 0], [0.0],
                 {"type": "gelu", "approximate": approx})


PLANNERS = {"relu": plan_relu, "leaky_relu": plan_leaky_relu, "tanh": plan_tanh, "sigmoid": plan_sigmoid,
            "gelu": plan_gelu}


# -- kernels ----------------------------------------------------------------------------------------------

@kernel
def activation_forward(r, f, W, x, y, save, tmp, training, key):
    """y = act(x) elementwise (op ``r[0]``)."""
    op = r[R_OP]
    rows, n = x.shape
    T = y.dtype.type
    zero = T(0.0)
    one = T(1.0)
    half = T(0.5)
    if op == RELU:
        for i in range(rows):
            for j in range(n):
                v = x[i, j]
                y[i, j] = zero if v < zero else v  # NaN < 0 is False: NaN stays NaN
    elif op == LEAKY_RELU:
        slope = T(f[F_SLOPE])
        for i in range(rows):
            for j in range(n):
                v = x[i, j]
                y[i, j] = v if v > zero else v * slope
    elif op == TANH:
        for i in range(rows):
            for j in range(n):
                y[i, j] = np.tanh(x[i, j])
    elif op == SIGMOID:
        for i in range(rows):
            for j in range(n):
                y[i, j] = one / (one + np.exp(-x[i, j]))
    elif op == GELU:
        if r[R_GELU_TANH] == 1:
            k0 = T(_SQRT_2_PI)
            k1 = T(_GELU_C)
            for i in range(rows):
                for j in range(n):
                    v = x[i, j]
                    y[i, j] = half * v * (one + np.tanh(k0 * (v + k1 * v * v * v)))
        else:
            s = T(_SQRT1_2)
            for i in range(rows):
                for j in range(n):
                    v = x[i, j]
                    y[i, j] = half * v * (one + math.erf(v * s))


@kernel
def activation_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    """dx = dy * act'(x) (no parameters: dW is empty)."""
    if not need_dx:
        return
    op = r[R_OP]
    rows, n = x.shape
    T = dx.dtype.type
    zero = T(0.0)
    one = T(1.0)
    half = T(0.5)
    if op == RELU:
        for i in range(rows):
            for j in range(n):
                dx[i, j] = zero if y[i, j] <= zero else dy[i, j]  # torch's threshold_backward
    elif op == LEAKY_RELU:
        slope = T(f[F_SLOPE])
        for i in range(rows):
            for j in range(n):
                dx[i, j] = dy[i, j] if x[i, j] > zero else dy[i, j] * slope
    elif op == TANH:
        for i in range(rows):
            for j in range(n):
                v = y[i, j]
                dx[i, j] = dy[i, j] * (one - v * v)
    elif op == SIGMOID:
        for i in range(rows):
            for j in range(n):
                v = y[i, j]
                dx[i, j] = dy[i, j] * (v * (one - v))
    elif op == GELU:
        if r[R_GELU_TANH] == 1:
            k0 = T(_SQRT_2_PI)
            k1 = T(_GELU_C)
            k3 = T(3.0 * _GELU_C)
            for i in range(rows):
                for j in range(n):
                    v = x[i, j]
                    t = np.tanh(k0 * (v + k1 * v * v * v))
                    d = half * (one + t) + half * v * (one - t * t) * k0 * (one + k3 * v * v)
                    dx[i, j] = dy[i, j] * d
        else:
            s = T(_SQRT1_2)
            c = T(_INV_SQRT_2PI)
            mhalf = T(-0.5)
            for i in range(rows):
                for j in range(n):
                    v = x[i, j]
                    d = half * (one + math.erf(v * s)) + v * c * np.exp(mhalf * v * v)
                    dx[i, j] = dy[i, j] * d
