"""layers/conv.py: conv1d / conv2d planners and the batched im2col + gemm kernels.

Checked against a NumPy loop reference written from the definition (cross-correlation, zero
padding, stride, dilation, bias), float64 central finite differences through the kernels,
torch.nn.functional.conv1d/conv2d (float64, rel err <= 1e-8), float32 runs, the planner's errors
and the parameter names/shapes/init of torch.nn.Conv1d/Conv2d.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optengine.errors import ConfigError
from optengine.layers import base
from optengine.layers.base import Shape
from optengine.layers.conv import PLANNERS, conv_backward, conv_forward

CH = base.CHANNELS

# (kind, spec without type, input shape)
CASES = [
    ("conv1d", dict(channels=4, kernel=3), Shape(CH, (2, 9))),
    ("conv1d", dict(channels=3, kernel=5, stride=2, padding=1), Shape(base.VECTOR, (13,))),
    ("conv1d", dict(channels=2, kernel=3, stride=3, padding=2, dilation=2, bias=False), Shape(CH, (3, 11))),
    ("conv1d", dict(channels=5, kernel=1, stride=2), Shape(CH, (3, 7))),
    ("conv1d", dict(channels=2, kernel=4, padding=5), Shape(CH, (2, 3))),  # padding larger than the input
    ("conv2d", dict(channels=3, kernel=3, padding=1), Shape(CH, (2, 5, 6))),
    ("conv2d", dict(channels=2, kernel=[2, 3], stride=[2, 1], padding=[1, 0]), Shape(CH, (3, 5, 7))),
    ("conv2d", dict(channels=4, kernel=[3, 2], stride=[1, 2], padding=[2, 1], dilation=[2, 1]), Shape(CH, (2, 6, 5))),
    ("conv2d", dict(channels=2, kernel=[1, 3], stride=2, dilation=[1, 2], bias=False), Shape(CH, (1, 4, 9))),
]
IDS = [f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)]


def plan(kind, spec, shape, where="model.layers[0]"):
    return PLANNERS[kind](where, {"type": kind, **spec}, shape)


def geometry(p):
    r = p.ints
    return dict(cin=r[1], H=r[2], W=r[3], cout=r[4], KH=r[5], KW=r[6], SH=r[7], SW=r[8], PH=r[9], PW=r[10],
                DH=r[11], DW=r[12], Ho=r[13], Wo=r[14], bias=bool(r[15]))


def unpack(p, theta):
    g = geometry(p)
    nw = g["cout"] * g["cin"] * g["KH"] * g["KW"]
    Wt = theta[:nw].reshape(g["cout"], g["cin"], g["KH"], g["KW"])
    b = theta[nw:nw + g["cout"]] if g["bias"] else np.zeros(g["cout"])
    return g, Wt, b


# -- NumPy reference from the definition ----------------------------------------------------------

def ref_forward(p, theta, x):
    g, Wt, b = unpack(p, np.asarray(theta, np.float64))
    n = x.shape[0]
    xs = np.asarray(x, np.float64).reshape(n, g["cin"], g["H"], g["W"])
    y = np.zeros((n, g["cout"], g["Ho"], g["Wo"]))
    for i in range(n):
        for co in range(g["cout"]):
            for oh in range(g["Ho"]):
                for ow in range(g["Wo"]):
                    s = b[co]
                    for ci in range(g["cin"]):
                        for kh in range(g["KH"]):
                            for kw in range(g["KW"]):
                                ih = oh * g["SH"] + kh * g["DH"] - g["PH"]
                                iw = ow * g["SW"] + kw * g["DW"] - g["PW"]
                                if 0 <= ih < g["H"] and 0 <= iw < g["W"]:
                                    s += Wt[co, ci, kh, kw] * xs[i, ci, ih, iw]
                    y[i, co, oh, ow] = s
    return y.reshape(n, -1)


def ref_backward(p, theta, x, dy):
    """(dx, dtheta) by the same sums, each product's adjoint."""
    g, Wt, b = unpack(p, np.asarray(theta, np.float64))
    n = x.shape[0]
    xs = np.asarray(x, np.float64).reshape(n, g["cin"], g["H"], g["W"])
    dys = dy.reshape(n, g["cout"], g["Ho"], g["Wo"])
    dx = np.zeros_like(xs)
    dWt = np.zeros_like(Wt)
    for i in range(n):
        for co in range(g["cout"]):
            for oh in range(g["Ho"]):
                for ow in range(g["Wo"]):
                    d = dys[i, co, oh, ow]
                    for ci in range(g["cin"]):
                        for kh in range(g["KH"]):
                            for kw in range(g["KW"]):
                                ih = oh * g["SH"] + kh * g["DH"] - g["PH"]
                                iw = ow * g["SW"] + kw * g["DW"] - g["PW"]
                                if 0 <= ih < g["H"] and 0 <= iw < g["W"]:
                                    dWt[co, ci, kh, kw] += d * xs[i, ci, ih, iw]
                                    dx[i, ci, ih, iw] += d * Wt[co, ci, kh, kw]
    parts = [dWt.ravel()] + ([dys.sum(axis=(0, 2, 3))] if g["bias"] else [])
    return dx.reshape(n, -1), np.concatenate(parts)


# -- running the kernels --------------------------------------------------------------------------

def run(p, theta, x, dy=None, need_dx=True):
    """Forward (and backward) through the kernels, with every output and the scratch pre-filled with NaN."""
    dt = theta.dtype
    n = x.shape[0]
    r = np.array(p.ints, np.int64)
    f = np.array(p.floats, np.float64)
    save = np.full(n * p.save_per_row, np.nan, dt)
    tmp = np.full(n * p.tmp_per_row + p.tmp_fixed + 7, np.nan, dt)
    y = np.full((n, p.out_shape.width), np.nan, dt)
    conv_forward(r, f, theta, x, y, save, tmp, True, 0)
    if dy is None:
        return y
    dx = np.full_like(x, np.nan)
    dW = np.full_like(theta, np.nan)
    tmp[:] = np.nan
    conv_backward(r, f, theta, x, y, dy, dx, dW, save, tmp, need_dx)
    return y, dx, dW


def data(p, n=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(p.n_params).astype(dtype)
    x = rng.standard_normal((n, p.in_shape.width)).astype(dtype)
    dy = rng.standard_normal((n, p.out_shape.width)).astype(dtype)
    return theta, x, dy


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / max(np.max(np.abs(b)), 1e-300))


# -- tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,spec,shape", CASES, ids=IDS)
def test_matches_numpy_reference(kind, spec, shape):
    p = plan(kind, spec, shape)
    theta, x, dy = data(p)
    y, dx, dW = run(p, theta, x, dy)
    assert rel(y, ref_forward(p, theta, x)) < 1e-12
    rdx, rdW = ref_backward(p, theta, x, dy)
    assert rel(dx, rdx) < 1e-12
    assert rel(dW, rdW) < 1e-12
    # float32 runs close to the float64 reference
    y32, dx32, dW32 = run(p, theta.astype(np.float32), x.astype(np.float32), dy.astype(np.float32))
    assert y32.dtype == dx32.dtype == dW32.dtype == np.float32
    assert rel(y32, y) < 1e-5 and rel(dx32, rdx) < 1e-5 and rel(dW32, rdW) < 1e-5


@pytest.mark.parametrize("kind,spec,shape", [CASES[2], CASES[4], CASES[7], CASES[8]], ids=["c1", "c4", "c7", "c8"])
def test_finite_differences(kind, spec, shape):
    p = plan(kind, spec, shape)
    theta, x, R = data(p, n=2, seed=1)
    _, dx, dW = run(p, theta, x, R)
    eps = 1e-6

    def loss(th, xx):
        return float(np.sum(run(p, th, xx) * R))

    num_dx = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num_dx[idx] = (loss(theta, xp) - loss(theta, xm)) / (2 * eps)
    num_dW = np.zeros_like(theta)
    for j in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[j] += eps
        tm[j] -= eps
        num_dW[j] = (loss(tp, x) - loss(tm, x)) / (2 * eps)
    assert rel(dx, num_dx) < 1e-7
    assert rel(dW, num_dW) < 1e-7


def test_need_dx_false_leaves_dx_and_still_fills_dW():
    p = plan(*CASES[6])
    theta, x, dy = data(p)
    _, dx_full, dW_full = run(p, theta, x, dy)
    _, dx, dW = run(p, theta, x, dy, need_dx=False)
    assert np.isnan(dx).all()
    np.testing.assert_array_equal(dW, dW_full)


@pytest.mark.parametrize("kind,spec,shape", CASES, ids=IDS)
def test_against_torch(kind, spec, shape):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    p = plan(kind, spec, shape)
    theta, x, dy = data(p, n=4, seed=2)
    g, Wt, b = unpack(p, theta)
    y, dx, dW = run(p, theta, x, dy)
    n = x.shape[0]
    if kind == "conv1d":
        xt = torch.tensor(x.reshape(n, g["cin"], g["W"]), requires_grad=True)
        wt = torch.tensor(Wt[:, :, 0, :].copy(), requires_grad=True)
        bt = torch.tensor(b.copy(), requires_grad=True) if g["bias"] else None
        yt = F.conv1d(xt, wt, bt, stride=g["SW"], padding=g["PW"], dilation=g["DW"])
    else:
        xt = torch.tensor(x.reshape(n, g["cin"], g["H"], g["W"]), requires_grad=True)
        wt = torch.tensor(Wt.copy(), requires_grad=True)
        bt = torch.tensor(b.copy(), requires_grad=True) if g["bias"] else None
        yt = F.conv2d(xt, wt, bt, stride=(g["SH"], g["SW"]), padding=(g["PH"], g["PW"]),
                      dilation=(g["DH"], g["DW"]))
    assert tuple(yt.shape[1:]) == tuple(p.out_shape.dims)
    yt.backward(torch.tensor(dy.reshape(yt.shape)))
    assert rel(y, yt.detach().numpy().reshape(n, -1)) < 1e-8
    assert rel(dx, xt.grad.numpy().reshape(n, -1)) < 1e-8
    grads = [wt.grad.numpy().ravel()] + ([bt.grad.numpy()] if g["bias"] else [])
    assert rel(dW, np.concatenate(grads)) < 1e-8


def test_params_match_torch_named_parameters():
    torch = pytest.importorskip("torch")
    cases = [
        (plan("conv1d", dict(channels=6, kernel=5), Shape(CH, (3, 20))), torch.nn.Conv1d(3, 6, 5)),
        (plan("conv1d", dict(channels=6, kernel=5, bias=False), Shape(base.VECTOR, (20,))),
         torch.nn.Conv1d(1, 6, 5, bias=False)),
        (plan("conv2d", dict(channels=4, kernel=[3, 2]), Shape(CH, (2, 8, 8))), torch.nn.Conv2d(2, 4, (3, 2))),
    ]
    for p, m in cases:
        named = [(name, tuple(t.shape)) for name, t in m.named_parameters()]
        assert [(q.name, q.shape) for q in p.params] == named
        assert p.n_params == sum(t.numel() for t in m.parameters())
        fan_in = m.weight.shape[1] * math.prod(m.weight.shape[2:])
        for q, (_, t) in zip(p.params, m.named_parameters()):
            kind, bound = q.init
            assert kind == "uniform" and bound == pytest.approx(1 / math.sqrt(fan_in))
            assert float(t.detach().abs().max()) <= bound  # torch's own draw lies inside the same bound


def test_plan_shapes_records_and_spec():
    p = plan("conv1d", dict(channels=25, kernel=5, stride=2, padding=1), Shape(base.VECTOR, (40,)))
    assert p.out_shape == Shape(CH, (25, 19)) and p.op == base.OPS["conv1d"]
    assert p.ints == [2, 1, 1, 40, 25, 1, 5, 1, 2, 0, 1, 1, 1, 1, 19, 1]
    assert p.spec == {"type": "conv1d", "channels": 25, "kernel": 5, "stride": 2, "padding": 1,
                      "dilation": 1, "bias": True}
    assert p.save_per_row == 0 and p.tmp_per_row == (5 + 25) * 19 and p.tmp_fixed == 0
    q = plan("conv2d", dict(channels=8, kernel=3, padding=[1, 0]), Shape(CH, (3, 10, 12)))
    assert q.out_shape == Shape(CH, (8, 10, 10))
    assert q.spec["kernel"] == [3, 3] and q.spec["padding"] == [1, 0] and q.spec["stride"] == [1, 1]


BAD = [
    ("conv1d", dict(channels=4, kernel=3, strde=2), Shape(CH, (2, 9)), "strde"),
    ("conv1d", dict(kernel=3), Shape(CH, (2, 9)), "channels"),
    ("conv1d", dict(channels=4), Shape(CH, (2, 9)), "kernel"),
    ("conv1d", dict(channels=0, kernel=3), Shape(CH, (2, 9)), "channels"),
    ("conv1d", dict(channels=4, kernel=0), Shape(CH, (2, 9)), "kernel"),
    ("conv1d", dict(channels=4, kernel=2.5), Shape(CH, (2, 9)), "kernel"),
    ("conv1d", dict(channels=4, kernel=3, stride=0), Shape(CH, (2, 9)), "stride"),
    ("conv1d", dict(channels=4, kernel=3, padding=-1), Shape(CH, (2, 9)), "padding"),
    ("conv1d", dict(channels=4, kernel=3, dilation=0), Shape(CH, (2, 9)), "dilation"),
    ("conv1d", dict(channels=4, kernel=3, bias="yes"), Shape(CH, (2, 9)), "bias"),
    ("conv1d", dict(channels=4, kernel=[3, 3]), Shape(CH, (2, 9)), "kernel"),
    ("conv1d", dict(channels=4, kernel=10), Shape(CH, (2, 9)), "kernel"),
    ("conv1d", dict(channels=4, kernel=4, dilation=3), Shape(CH, (2, 9)), "kernel"),
    ("conv1d", dict(channels=4, kernel=3), Shape(CH, (2, 5, 5)), None),
    ("conv1d", dict(channels=4, kernel=3), Shape(base.SEQUENCE, (5, 3)), None),
    ("conv2d", dict(channels=4, kernel=[3, 3, 3]), Shape(CH, (2, 5, 5)), "kernel"),
    ("conv2d", dict(channels=4, kernel=[3, 6]), Shape(CH, (2, 5, 5)), "kernel"),
    ("conv2d", dict(channels=4, kernel=3, stride=[1, 0]), Shape(CH, (2, 5, 5)), "stride[1]"),
    ("conv2d", dict(channels=4, kernel=3), Shape(base.VECTOR, (25,)), None),
    ("conv2d", dict(channels=4, kernel=3), Shape(CH, (2, 25)), None),
]


@pytest.mark.parametrize("kind,spec,shape,fieldname", BAD)
def test_planner_errors(kind, spec, shape, fieldname):
    where = "model.layers[2].layers[0]"
    with pytest.raises(ConfigError) as e:
        plan(kind, spec, shape, where=where)
    assert e.value.field.startswith(where)
    if fieldname is not None:
        assert e.value.field == f"{where}.{fieldname}"
    else:
        assert str(shape) in str(e.value)


def test_misfit_and_image_messages_name_the_shapes():
    with pytest.raises(ConfigError, match=r"kernel 10 is larger than the padded input length 9 .*channels \(2, 9\)"):
        plan("conv1d", dict(channels=4, kernel=10), Shape(CH, (2, 9)))
    with pytest.raises(ConfigError, match=r"input_shape \[C, H, W\]"):
        plan("conv2d", dict(channels=4, kernel=3), Shape(base.VECTOR, (25,)))
