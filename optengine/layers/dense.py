"""``dense``: a fully connected layer, ``torch.nn.Linear(in, units, bias)``: y = x W^T + b.

A channels or sequence input is flattened first (as after ``torch.nn.Flatten``: the sample's tensor
row-major), so ``{type = "flatten"}`` before a dense layer is optional. W is stored as PyTorch's ``(units, in)`` (``weight_layout = "out_in"``, the default). The ready-made
``mlp`` keeps its own flat layout, W as ``(in, units)`` (``weight_layout = "in_out"``: y = x W + b), so
results written before the layer engine keep their meaning. An activation that follows (relu or tanh)
is fused into the layer by the compiler (``act``): one pass over the outputs instead of two.

Record ``r`` = [op, in, units, bias, act, layout]; no floats. Forward: one gemm over the batch;
backward: dW = dz^T x (or x^T dz), db = column sums of dz, dx = dz W (or dz W^T), with dz = dy * act'(y).
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import kernel
from .base import CHANNELS, OPS, SEQUENCE, VECTOR, LayerPlan, Param, Shape, fields, flag, integer, need_kind, choice

ACT_NONE, ACT_RELU, ACT_TANH = 0, 1, 2
OUT_IN, IN_OUT = 0, 1
LAYOUTS = ("out_in", "in_out")
R_OP, R_IN, R_UNITS, R_BIAS, R_ACT, R_LAYOUT = range(6)


def plan_dense(where, spec, in_shape: Shape) -> LayerPlan:
    """``{type = "dense", units = N, bias = true}`` on a vector input."""
    f = fields(where, spec, ["units", "bias", "weight_layout"], "dense")
    need_kind(where, "dense", in_shape, (VECTOR, CHANNELS, SEQUENCE))  # a multi-axis input is flattened
    if f.get("units") is None:
        from ..errors import ConfigError
        raise ConfigError(f"{where}.units", "is required: the number of outputs of the layer")
    units = integer(where, "units", f["units"])
    bias = flag(where, "bias", f.get("bias", True))
    layout = choice(where, "weight_layout", f.get("weight_layout", "out_in"), LAYOUTS)
    din = in_shape.width
    bound = 1.0 / math.sqrt(din)
    shape = (units, din) if layout == "out_in" else (din, units)
    params = [Param("weight", shape, ("uniform", bound))]
    if bias:
        params.append(Param("bias", (units,), ("uniform", bound)))
    out = {"units": units, "bias": bias}
    if layout != "out_in":
        out["weight_layout"] = layout
    return LayerPlan("dense", OPS["dense"], in_shape, Shape(VECTOR, (units,)),
                     ints=[OPS["dense"], din, units, int(bias), ACT_NONE, LAYOUTS.index(layout)],
                     params=params, spec=out)


def fuse_activation(plan: LayerPlan, act: str) -> None:
    """Fuse a following relu / tanh into the dense layer (its backward then needs dz scratch)."""
    plan.ints[R_ACT] = ACT_RELU if act == "relu" else ACT_TANH
    plan.tmp_per_row = max(plan.tmp_per_row, plan.ints[R_UNITS])


@kernel
def dense_forward(r, f, W, x, y, save, tmp, training, key):
    din = r[R_IN]
    units = r[R_UNITS]
    if r[R_LAYOUT] == OUT_IN:
        np.dot(x, W[:units * din].reshape((units, din)).T, y)
    else:
        np.dot(x, W[:units * din].reshape((din, units)), y)
    rows = y.shape[0]
    act = r[R_ACT]
    zero = y.dtype.type(0.0)
    has_bias = r[R_BIAS] == 1
    b = W[units * din:units * din + units] if has_bias else W[0:units]
    for i in range(rows):
        if has_bias:
            for j in range(units):
                y[i, j] += b[j]
        if act == ACT_RELU:
            for j in range(units):
                v = y[i, j]
                y[i, j] = zero if v < zero else v  # NaN stays NaN
        elif act == ACT_TANH:
            for j in range(units):
                y[i, j] = np.tanh(y[i, j])


@kernel
def dense_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    din = r[R_IN]
    units = r[R_UNITS]
    rows = y.shape[0]
    act = r[R_ACT]
    dz = dy
    if act != ACT_NONE:
        dz = tmp[:rows * units].reshape((rows, units))
        zero = y.dtype.type(0.0)
        one = y.dtype.type(1.0)
        for i in range(rows):
            if act == ACT_RELU:
                for j in range(units):
                    dz[i, j] = dy[i, j] if y[i, j] > zero else zero
            else:
                for j in range(units):
                    a = y[i, j]
                    dz[i, j] = dy[i, j] * (one - a * a)
    if r[R_LAYOUT] == OUT_IN:
        np.dot(dz.T, x, dW[:units * din].reshape((units, din)))
    else:
        np.dot(x.T, dz, dW[:units * din].reshape((din, units)))
    if r[R_BIAS] == 1:
        db = dW[units * din:units * din + units]
        for j in range(units):
            db[j] = 0.0
        for i in range(rows):
            for j in range(units):
                db[j] += dz[i, j]
    if need_dx:
        if r[R_LAYOUT] == OUT_IN:
            np.dot(dz, W[:units * din].reshape((units, din)), dx)
        else:
            np.dot(dz, W[:units * din].reshape((din, units)).T, dx)


PLANNERS = {"dense": plan_dense}
