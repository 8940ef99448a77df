"""Pooling layers: ``maxpool1d``, ``avgpool1d``, ``maxpool2d``, ``avgpool2d``, ``global_avg_pool``.

PyTorch semantics (``torch.nn.MaxPool1d/2d``, ``AvgPool1d/2d`` with ``ceil_mode=False``,
``count_include_pad=True``): a window of KH x KW at stride (SH, SW) over the input padded by
(PH, PW) on each side (padding at most half the kernel, PyTorch's rule); Hout = floor((H + 2 PH - KH) / SH) + 1.
MaxPool pads with -inf and takes the first maximum in row-major window order (a NaN wins, as in
torch); AvgPool divides the window's sum of the real inputs by KH KW. ``global_avg_pool``
(``AdaptiveAvgPool(1)`` then flatten) is an AvgPool whose window is the whole input: (C, *spatial) -> (C,).
1-D pools are 2-D pools with H = 1, KH = 1.

Record ``r`` (int64): [op, C, H, W, KH, KW, SH, SW, PH, PW, Hout, Wout]; no floats, no parameters.
``save``: MaxPool keeps, per row, the argmax of every output (its index in the sample's input
row, as a float): C Hout Wout values; the others keep nothing. No ``tmp``.
Windows sum in float64; averages divide by KH KW as torch does.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..jit import kernel
from . import base
from .base import CHANNELS, VECTOR, LayerPlan, Shape

R_OP, R_C, R_H, R_W, R_KH, R_KW, R_SH, R_SW, R_PH, R_PW, R_HO, R_WO = range(12)
RECORD_SIZE = 12
OP_MAX1, OP_MAX2 = base.OPS["maxpool1d"], base.OPS["maxpool2d"]


def out_size(size, k, stride, padding):
    """PyTorch's pooled size floor((size + 2 P - K) / S) + 1 (ceil_mode=False)."""
    return (size + 2 * padding - k) // stride + 1


def _plan(where, spec, in_shape, kind, n):
    rest = base.fields(where, spec, ("kernel", "stride", "padding"), kind)
    if "kernel" not in rest:
        raise ConfigError(f"{where}.kernel", f"{kind} needs kernel (the window size"
                                             + (", one integer or [KH, KW])" if n == 2 else ")"))
    k = base.int_tuple(where, "kernel", rest["kernel"], n, 1)
    s = base.int_tuple(where, "stride", rest["stride"], n, 1) if rest.get("stride") is not None else k
    p = base.int_tuple(where, "padding", rest.get("padding", 0), n, 0)
    for i in range(n):
        if 2 * p[i] > k[i]:
            raise ConfigError(f"{where}.padding", f"padding {p[i]} is more than half the kernel {k[i]} "
                                                  f"(PyTorch allows at most kernel / 2)")
    if n == 1:
        if in_shape.kind == VECTOR and len(in_shape.dims) == 1:
            C, sizes = 1, (int(in_shape.dims[0]),)
        else:
            base.need_kind(where, kind, in_shape, (CHANNELS,), rank=2)
            C, sizes = int(in_shape.dims[0]), (int(in_shape.dims[1]),)
    else:
        hint = ("; give the model an input_shape [C, H, W] or use a dataset with an image shape"
                if in_shape.kind != CHANNELS or len(in_shape.dims) != 3 else "")
        base.need_kind(where, kind, in_shape, (CHANNELS,), rank=3, hint=hint)
        C, sizes = int(in_shape.dims[0]), (int(in_shape.dims[1]), int(in_shape.dims[2]))
    axes = ("length",) if n == 1 else ("height", "width")
    outs = []
    for i in range(n):
        o = out_size(sizes[i], k[i], s[i], p[i])
        if o < 1:
            raise ConfigError(f"{where}.kernel", f"kernel {k[i]} is larger than the padded input {axes[i]} "
                                                 f"{sizes[i] + 2 * p[i]} (input {in_shape}, padding {p[i]})")
        outs.append(o)
    if n == 1:
        H, Wd, Ho, Wo = 1, sizes[0], 1, outs[0]
        KH, KW, SH, SW, PH, PW = 1, k[0], 1, s[0], 0, p[0]
        out_shape = Shape(CHANNELS, (C, Wo))
        norm = {"type": kind, "kernel": k[0], "stride": s[0], "padding": p[0]}
    else:
        (H, Wd), (Ho, Wo), (KH, KW), (SH, SW), (PH, PW) = sizes, outs, k, s, p
        out_shape = Shape(CHANNELS, (C, Ho, Wo))
        norm = {"type": kind, "kernel": list(k), "stride": list(s), "padding": list(p)}
    op = base.OPS[kind]
    ints = [op, C, H, Wd, KH, KW, SH, SW, PH, PW, Ho, Wo]
    save = C * Ho * Wo if op in (OP_MAX1, OP_MAX2) else 0
    return LayerPlan(kind, op, in_shape, out_shape, ints=ints, floats=[], params=[],
                     save_per_row=save, tmp_per_row=0, tmp_fixed=0, spec=norm)


def plan_maxpool1d(where, spec, in_shape):
    return _plan(where, spec, in_shape, "maxpool1d", 1)


def plan_avgpool1d(where, spec, in_shape):
    return _plan(where, spec, in_shape, "avgpool1d", 1)


def plan_maxpool2d(where, spec, in_shape):
    return _plan(where, spec, in_shape, "maxpool2d", 2)


def plan_avgpool2d(where, spec, in_shape):
    return _plan(where, spec, in_shape, "avgpool2d", 2)


def plan_global_avg_pool(where, spec, in_shape):
    base.fields(where, spec, (), "global_avg_pool")
    if in_shape.kind != CHANNELS or len(in_shape.dims) not in (2, 3):
        raise ConfigError(where, f"global_avg_pool takes a channels input (C, L) or (C, H, W), got {in_shape}")
    C = int(in_shape.dims[0])
    H, Wd = (1, int(in_shape.dims[1])) if len(in_shape.dims) == 2 else (int(in_shape.dims[1]), int(in_shape.dims[2]))
    op = base.OPS["global_avg_pool"]
    ints = [op, C, H, Wd, H, Wd, 1, 1, 0, 0, 1, 1]
    return LayerPlan("global_avg_pool", op, in_shape, Shape(VECTOR, (C,)), ints=ints, floats=[], params=[],
                     save_per_row=0, tmp_per_row=0, tmp_fixed=0, spec={"type": "global_avg_pool"})


PLANNERS = {"maxpool1d": plan_maxpool1d, "avgpool1d": plan_avgpool1d, "maxpool2d": plan_maxpool2d,
            "avgpool2d": plan_avgpool2d, "global_avg_pool": plan_global_avg_pool}


# -- kernels ---------------------------------------------------------------------------------------

U = np.uint64  # kernel index type: unsigned indices skip numba's negative-index wraparound


@kernel
def _window(o, stride, pad, k, size):
    """The input positions lo..hi-1 of output o's window that lie inside the input."""
    lo = o * stride - pad
    hi = lo + k
    if lo < 0:
        lo = 0
    if hi > size:
        hi = size
    return lo, hi


@kernel
def pool_forward(r, f, W, x, y, save, tmp, training, key):
    rows = x.shape[0]
    width = x.shape[1]
    C, H, Wd = r[R_C], r[R_H], r[R_W]
    KH, KW, SH, SW, PH, PW = r[R_KH], r[R_KW], r[R_SH], r[R_SW], r[R_PH], r[R_PW]
    Ho, Wo = r[R_HO], r[R_WO]
    nout = C * Ho * Wo
    xf = x.reshape(rows * width)
    yf = y.reshape(rows * nout)
    is_max = r[R_OP] == OP_MAX1 or r[R_OP] == OP_MAX2
    area = KH * KW
    for n in range(rows):
        for c in range(C):
            base0 = n * width + c * H * Wd
            for oh in range(Ho):
                h0, h1 = _window(oh, SH, PH, KH, H)
                for ow in range(Wo):
                    w0, w1 = _window(ow, SW, PW, KW, Wd)
                    j = (c * Ho + oh) * Wo + ow
                    if is_max:
                        best = h0 * Wd + w0
                        m = xf[U(base0 + best)]
                        for ih in range(h0, h1):
                            for iw in range(w0, w1):
                                v = xf[U(base0 + ih * Wd + iw)]
                                if v > m or v != v:
                                    m = v
                                    best = ih * Wd + iw
                        yf[U(n * nout + j)] = m
                        save[U(n * nout + j)] = best + c * H * Wd
                    else:
                        acc = 0.0
                        for ih in range(h0, h1):
                            s0 = base0 + ih * Wd
                            for iw in range(w0, w1):
                                acc += xf[U(s0 + iw)]
                        yf[U(n * nout + j)] = acc / area


@kernel
def pool_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    if not need_dx:
        return
    rows = x.shape[0]
    width = x.shape[1]
    C, H, Wd = r[R_C], r[R_H], r[R_W]
    KH, KW, SH, SW, PH, PW = r[R_KH], r[R_KW], r[R_SH], r[R_SW], r[R_PH], r[R_PW]
    Ho, Wo = r[R_HO], r[R_WO]
    nout = C * Ho * Wo
    dxf = dx.reshape(rows * width)
    dyf = dy.reshape(rows * nout)
    zero = dx.dtype.type(0.0)
    for i in range(rows * width):
        dxf[U(i)] = zero
    if r[R_OP] == OP_MAX1 or r[R_OP] == OP_MAX2:
        for n in range(rows):
            for j in range(nout):
                dxf[U(n * width + int(save[U(n * nout + j)]))] += dyf[U(n * nout + j)]
        return
    area = dx.dtype.type(KH * KW)
    for n in range(rows):
        for c in range(C):
            base0 = n * width + c * H * Wd
            for oh in range(Ho):
                h0, h1 = _window(oh, SH, PH, KH, H)
                for ow in range(Wo):
                    w0, w1 = _window(ow, SW, PW, KW, Wd)
                    g = dyf[U(n * nout + (c * Ho + oh) * Wo + ow)] / area
                    for ih in range(h0, h1):
                        s0 = base0 + ih * Wd
                        for iw in range(w0, w1):
                            dxf[U(s0 + iw)] += g
