"""Convolution layers ``conv1d`` and ``conv2d`` (``torch.nn.Conv1d`` / ``torch.nn.Conv2d``).

A cross-correlation with zero padding, stride and dilation, and an optional bias:

    y[n, co, oh, ow] = b[co] + sum_{ci, kh, kw} W[co, ci, kh, kw] * x[n, ci, oh*SH + kh*DH - PH, ow*SW + kw*DW - PW]

(zero outside the input), Hout = floor((H + 2 PH - DH (KH - 1) - 1) / SH) + 1, the same for W.
``conv1d`` is ``conv2d`` with H = 1, KH = 1: one kernel pair serves both.

The kernels lower the whole mini-batch to matrix products (im2col, one BLAS gemm):

- forward: ``cols (Cin KH KW, rows Hout Wout)`` = im2col(x) in ``tmp``;
  ``out (Cout, rows Hout Wout) = W (Cout, Cin KH KW) @ cols``; then ``y[n, co, :] = out[co, n, :] + b[co]``;
- backward: ``dyT (Cout, rows Hout Wout)`` = dy permuted (and db its row sums);
  ``dW = dyT @ cols.T`` (cols recomputed from x into ``tmp``), then, when ``need_dx``,
  ``dcols = W.T @ dyT`` (over the cols buffer) and col2im adds dcols into dx.

Record ``r`` (int64): [op, Cin, H, W, Cout, KH, KW, SH, SW, PH, PW, DH, DW, Hout, Wout, bias];
no floats. Parameters: ``weight`` (Cout, Cin, K) or (Cout, Cin, KH, KW), ``bias`` (Cout,) when
``bias`` is true. ``save``: none; ``tmp``: rows * (Cin KH KW + Cout) Hout Wout.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..jit import kernel
from . import base
from .base import CHANNELS, VECTOR, LayerPlan, Param, Shape

R_OP, R_CIN, R_H, R_W, R_COUT, R_KH, R_KW, R_SH, R_SW, R_PH, R_PW, R_DH, R_DW, R_HO, R_WO, R_BIAS = range(16)
RECORD_SIZE = 16

FIELDS = ("channels", "kernel", "stride", "padding", "dilation", "bias")


def out_size(size, k, stride, padding, dilation):
    """PyTorch's output size floor((size + 2 P - D (K - 1) - 1) / S) + 1 (< 1: the layer does not fit)."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _plan(where, spec, in_shape, kind, n):
    rest = base.fields(where, spec, FIELDS, kind)
    if "channels" not in rest:
        raise ConfigError(f"{where}.channels", f"{kind} needs channels (the number of output channels)")
    if "kernel" not in rest:
        raise ConfigError(f"{where}.kernel", f"{kind} needs kernel (the kernel size"
                                             + (", one integer or [KH, KW])" if n == 2 else ")"))
    cout = base.integer(where, "channels", rest["channels"])
    k = base.int_tuple(where, "kernel", rest["kernel"], n, 1)
    s = base.int_tuple(where, "stride", rest.get("stride", 1), n, 1)
    p = base.int_tuple(where, "padding", rest.get("padding", 0), n, 0)
    d = base.int_tuple(where, "dilation", rest.get("dilation", 1), n, 1)
    bias = base.flag(where, "bias", rest.get("bias", True))

    if n == 1:
        if in_shape.kind == VECTOR and len(in_shape.dims) == 1:
            cin, sizes = 1, (int(in_shape.dims[0]),)
        else:
            base.need_kind(where, kind, in_shape, (CHANNELS,), rank=2)
            cin, sizes = int(in_shape.dims[0]), (int(in_shape.dims[1]),)
    else:
        hint = ("; give the model an input_shape [C, H, W] or use a dataset with an image shape"
                if in_shape.kind != CHANNELS or len(in_shape.dims) != 3 else "")
        base.need_kind(where, kind, in_shape, (CHANNELS,), rank=3, hint=hint)
        cin, sizes = int(in_shape.dims[0]), (int(in_shape.dims[1]), int(in_shape.dims[2]))

    outs = []
    axes = ("length",) if n == 1 else ("height", "width")
    for i in range(n):
        o = out_size(sizes[i], k[i], s[i], p[i], d[i])
        if o < 1:
            eff = d[i] * (k[i] - 1) + 1
            what = f"kernel {k[i]}" if d[i] == 1 else f"kernel {k[i]} with dilation {d[i]} (spans {eff})"
            raise ConfigError(f"{where}.kernel", f"{what} is larger than the padded input {axes[i]} "
                                                 f"{sizes[i] + 2 * p[i]} (input {in_shape}, padding {p[i]})")
        outs.append(o)

    if n == 1:
        H, Wd, Ho, Wo = 1, sizes[0], 1, outs[0]
        KH, KW, SH, SW, PH, PW, DH, DW = 1, k[0], 1, s[0], 0, p[0], 1, d[0]
        out_shape = Shape(CHANNELS, (cout, Wo))
        wshape = (cout, cin, KW)
        norm = {"type": kind, "channels": cout, "kernel": k[0], "stride": s[0], "padding": p[0],
                "dilation": d[0], "bias": bias}
    else:
        H, Wd = sizes
        Ho, Wo = outs
        KH, KW = k
        SH, SW = s
        PH, PW = p
        DH, DW = d
        out_shape = Shape(CHANNELS, (cout, Ho, Wo))
        wshape = (cout, cin, KH, KW)
        norm = {"type": kind, "channels": cout, "kernel": list(k), "stride": list(s), "padding": list(p),
                "dilation": list(d), "bias": bias}

    bound = 1.0 / math.sqrt(cin * KH * KW)
    params = [Param("weight", wshape, ("uniform", bound))]
    if bias:
        params.append(Param("bias", (cout,), ("uniform", bound)))
    ints = [base.OPS[kind], cin, H, Wd, cout, KH, KW, SH, SW, PH, PW, DH, DW, Ho, Wo, int(bias)]
    ckk = cin * KH * KW
    return LayerPlan(kind, base.OPS[kind], in_shape, out_shape, ints=ints, floats=[], params=params,
                     save_per_row=0, tmp_per_row=(ckk + cout) * Ho * Wo, tmp_fixed=0, spec=norm)


def plan_conv1d(where, spec, in_shape):
    return _plan(where, spec, in_shape, "conv1d", 1)


def plan_conv2d(where, spec, in_shape):
    return _plan(where, spec, in_shape, "conv2d", 2)


U = np.uint64  # kernel index type: unsigned indices skip numba's negative-index wraparound

PLANNERS = {"conv1d": plan_conv1d, "conv2d": plan_conv2d}


# -- kernels ---------------------------------------------------------------------------------------

@kernel
def _valid(off, stride, size, n_out):
    """Output positions o whose input index o*stride + off lies in 0..size-1: range(lo, hi)."""
    lo = 0
    if off < 0:
        lo = (-off + stride - 1) // stride
    hi = (size - 1 - off) // stride + 1 if size - 1 - off >= 0 else 0
    if hi > n_out:
        hi = n_out
    if hi < lo:
        hi = lo
    return lo, hi


@kernel
def _im2col(r, x, cols):
    """cols[(c KH + kh) KW + kw, n Ho Wo + oh Wo + ow] = x[n, c, oh SH + kh DH - PH, ow SW + kw DW - PW] (0 outside).

    Indices go through ``U`` (unsigned: no negative-index wraparound test per element)."""
    rows = x.shape[0]
    width = x.shape[1]
    xf = x.reshape(rows * width)
    cin, H, Wd = r[R_CIN], r[R_H], r[R_W]
    KH, KW, SH, SW = r[R_KH], r[R_KW], r[R_SH], r[R_SW]
    PH, PW, DH, DW = r[R_PH], r[R_PW], r[R_DH], r[R_DW]
    Ho, Wo = r[R_HO], r[R_WO]
    HWo = Ho * Wo
    ncol = rows * HWo
    zero = cols.dtype.type(0.0)
    for c in range(cin):
        for kh in range(KH):
            hoff = kh * DH - PH
            hlo, hhi = _valid(hoff, SH, H, Ho)
            for kw in range(KW):
                woff = kw * DW - PW
                wlo, whi = _valid(woff, SW, Wd, Wo)
                row = (c * KH + kh) * KW + kw
                for n in range(rows):
                    for oh in range(Ho):
                        d0 = row * ncol + n * HWo + oh * Wo
                        if oh < hlo or oh >= hhi:
                            for ow in range(Wo):
                                cols[U(d0 + ow)] = zero
                            continue
                        s0 = n * width + c * H * Wd + (oh * SH + hoff) * Wd + woff
                        for ow in range(wlo):
                            cols[U(d0 + ow)] = zero
                        if SW == 1:
                            for ow in range(wlo, whi):
                                cols[U(d0 + ow)] = xf[U(s0 + ow)]
                        else:
                            for ow in range(wlo, whi):
                                cols[U(d0 + ow)] = xf[U(s0 + ow * SW)]
                        for ow in range(whi, Wo):
                            cols[U(d0 + ow)] = zero


@kernel
def _col2im(r, dcols, dx):
    """dx[n, c, ih, iw] = sum of dcols over the (kh, kw, oh, ow) that read x[n, c, ih, iw] (im2col's adjoint)."""
    rows = dx.shape[0]
    width = dx.shape[1]
    dxf = dx.reshape(rows * width)
    cin, H, Wd = r[R_CIN], r[R_H], r[R_W]
    KH, KW, SH, SW = r[R_KH], r[R_KW], r[R_SH], r[R_SW]
    PH, PW, DH, DW = r[R_PH], r[R_PW], r[R_DH], r[R_DW]
    Ho, Wo = r[R_HO], r[R_WO]
    HWo = Ho * Wo
    ncol = rows * HWo
    zero = dx.dtype.type(0.0)
    for i in range(rows * width):
        dxf[U(i)] = zero
    for c in range(cin):
        for kh in range(KH):
            hoff = kh * DH - PH
            hlo, hhi = _valid(hoff, SH, H, Ho)
            for kw in range(KW):
                woff = kw * DW - PW
                wlo, whi = _valid(woff, SW, Wd, Wo)
                row = (c * KH + kh) * KW + kw
                for n in range(rows):
                    for oh in range(hlo, hhi):
                        d0 = row * ncol + n * HWo + oh * Wo
                        s0 = n * width + c * H * Wd + (oh * SH + hoff) * Wd + woff
                        if SW == 1:
                            for ow in range(wlo, whi):
                                dxf[U(s0 + ow)] += dcols[U(d0 + ow)]
                        else:
                            for ow in range(wlo, whi):
                                dxf[U(s0 + ow * SW)] += dcols[U(d0 + ow)]


@kernel
def conv_forward(r, f, W, x, y, save, tmp, training, key):
    rows = x.shape[0]
    cin, cout = r[R_CIN], r[R_COUT]
    ckk = cin * r[R_KH] * r[R_KW]
    HWo = r[R_HO] * r[R_WO]
    ncol = rows * HWo
    cols = tmp[:ckk * ncol]
    out = tmp[ckk * ncol:(ckk + cout) * ncol]
    _im2col(r, x, cols)
    np.dot(W[:cout * ckk].reshape(cout, ckk), cols.reshape(ckk, ncol), out.reshape(cout, ncol))
    has_bias = r[R_BIAS] != 0
    yf = y.reshape(rows * cout * HWo)
    for n in range(rows):
        for co in range(cout):
            b = W[cout * ckk + co] if has_bias else y.dtype.type(0.0)
            s0 = co * ncol + n * HWo
            d0 = (n * cout + co) * HWo
            for p in range(HWo):
                yf[U(d0 + p)] = out[U(s0 + p)] + b


@kernel
def conv_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx):
    rows = x.shape[0]
    cin, cout = r[R_CIN], r[R_COUT]
    ckk = cin * r[R_KH] * r[R_KW]
    HWo = r[R_HO] * r[R_WO]
    ncol = rows * HWo
    cols = tmp[:ckk * ncol]
    dyT = tmp[ckk * ncol:(ckk + cout) * ncol]
    dyf = dy.reshape(rows * cout * HWo)
    has_bias = r[R_BIAS] != 0
    for co in range(cout):
        acc = 0.0
        for n in range(rows):
            s0 = (n * cout + co) * HWo
            d0 = co * ncol + n * HWo
            for p in range(HWo):
                v = dyf[U(s0 + p)]
                dyT[U(d0 + p)] = v
                acc += v
        if has_bias:
            dW[cout * ckk + co] = acc
    _im2col(r, x, cols)
    dyT2 = dyT.reshape(cout, ncol)
    np.dot(dyT2, cols.reshape(ckk, ncol).T, dW[:cout * ckk].reshape(cout, ckk))
    if need_dx:
        np.dot(W[:cout * ckk].reshape(cout, ckk).T, dyT2, cols.reshape(ckk, ncol))
        _col2im(r, cols, dx)
