"""layers/pool.py: max/avg pools (1-D, 2-D) and global_avg_pool, planners and batched kernels.

Checked against a NumPy loop reference from the definitions (windows over the padded input,
MaxPool pads with -inf and routes the gradient to the first maximum, AvgPool divides by the
whole window, count_include_pad=True), float64 central finite differences through the kernels,
torch.nn.functional pools (float64, rel err <= 1e-8, ties included), float32 runs, planner errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from optengine.errors import ConfigError
from optengine.layers import base
from optengine.layers.base import Shape
from optengine.layers.pool import PLANNERS, pool_backward, pool_forward

CH = base.CHANNELS

CASES = [
    ("maxpool1d", dict(kernel=2), Shape(CH, (3, 9))),
    ("maxpool1d", dict(kernel=3, stride=2, padding=1), Shape(base.VECTOR, (10,))),
    ("avgpool1d", dict(kernel=3, stride=1, padding=1), Shape(CH, (2, 7))),
    ("avgpool1d", dict(kernel=4, stride=3), Shape(CH, (2, 11))),
    ("maxpool2d", dict(kernel=2), Shape(CH, (2, 5, 6))),
    ("maxpool2d", dict(kernel=[3, 2], stride=[2, 1], padding=[1, 1]), Shape(CH, (2, 6, 5))),
    ("avgpool2d", dict(kernel=3, stride=2, padding=1), Shape(CH, (3, 7, 6))),
    ("avgpool2d", dict(kernel=[2, 4], stride=[1, 3], padding=[1, 2]), Shape(CH, (1, 4, 9))),
    ("global_avg_pool", {}, Shape(CH, (4, 7))),
    ("global_avg_pool", {}, Shape(CH, (3, 4, 5))),
]
IDS = [f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)]


def plan(kind, spec, shape, where="model.layers[1]"):
    return PLANNERS[kind](where, {"type": kind, **spec}, shape)


def geometry(p):
    r = p.ints
    return dict(C=r[1], H=r[2], W=r[3], KH=r[4], KW=r[5], SH=r[6], SW=r[7], PH=r[8], PW=r[9], Ho=r[10], Wo=r[11])


# -- NumPy reference --------------------------------------------------------------------------------

def ref(p, x, dy):
    """(y, dx) from the definitions, one window at a time."""
    g = geometry(p)
    is_max = p.kind.startswith("maxpool")
    n = x.shape[0]
    xs = np.asarray(x, np.float64).reshape(n, g["C"], g["H"], g["W"])
    dys = np.asarray(dy, np.float64).reshape(n, g["C"], g["Ho"], g["Wo"])
    y = np.zeros((n, g["C"], g["Ho"], g["Wo"]))
    dx = np.zeros_like(xs)
    for i in range(n):
        for c in range(g["C"]):
            for oh in range(g["Ho"]):
                for ow in range(g["Wo"]):
                    best, where, total = -np.inf, None, 0.0
                    for kh in range(g["KH"]):
                        for kw in range(g["KW"]):
                            ih = oh * g["SH"] - g["PH"] + kh
                            iw = ow * g["SW"] - g["PW"] + kw
                            if 0 <= ih < g["H"] and 0 <= iw < g["W"]:
                                v = xs[i, c, ih, iw]
                                total += v
                                if where is None or v > best:
                                    best, where = v, (ih, iw)
                    if is_max:
                        y[i, c, oh, ow] = best
                        dx[i, c, where[0], where[1]] += dys[i, c, oh, ow]
                    else:
                        area = g["KH"] * g["KW"]
                        y[i, c, oh, ow] = total / area
                        for kh in range(g["KH"]):
                            for kw in range(g["KW"]):
                                ih = oh * g["SH"] - g["PH"] + kh
                                iw = ow * g["SW"] - g["PW"] + kw
                                if 0 <= ih < g["H"] and 0 <= iw < g["W"]:
                                    dx[i, c, ih, iw] += dys[i, c, oh, ow] / area
    return y.reshape(n, -1), dx.reshape(n, -1)


def run(p, x, dy=None, need_dx=True):
    dt = x.dtype
    n = x.shape[0]
    r = np.array(p.ints, np.int64)
    f = np.array(p.floats, np.float64)
    W = np.zeros(0, dt)
    save = np.full(n * p.save_per_row, np.nan, dt)
    tmp = np.full(n * p.tmp_per_row + p.tmp_fixed + 3, np.nan, dt)
    y = np.full((n, p.out_shape.width), np.nan, dt)
    pool_forward(r, f, W, x, y, save, tmp, True, 0)
    if dy is None:
        return y
    dx = np.full_like(x, np.nan)
    pool_backward(r, f, W, x, y, dy, dx, np.zeros(0, dt), save, tmp, need_dx)
    return y, dx


def data(p, n=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p.in_shape.width)).astype(dtype)
    dy = rng.standard_normal((n, p.out_shape.width)).astype(dtype)
    return x, dy


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / max(np.max(np.abs(b)), 1e-300))


# -- tests ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,spec,shape", CASES, ids=IDS)
def test_matches_numpy_reference(kind, spec, shape):
    p = plan(kind, spec, shape)
    x, dy = data(p)
    y, dx = run(p, x, dy)
    ry, rdx = ref(p, x, dy)
    assert rel(y, ry) < 1e-12 and rel(dx, rdx) < 1e-12
    y32, dx32 = run(p, x.astype(np.float32), dy.astype(np.float32))
    assert y32.dtype == dx32.dtype == np.float32
    assert rel(y32, ry) < 1e-6 and rel(dx32, rdx) < 1e-6


@pytest.mark.parametrize("kind,spec,shape", CASES, ids=IDS)
def test_ties_go_to_the_first_maximum(kind, spec, shape):
    p = plan(kind, spec, shape)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, (3, p.in_shape.width)).astype(np.float64)   # many ties
    dy = rng.standard_normal((3, p.out_shape.width))
    y, dx = run(p, x, dy)
    ry, rdx = ref(p, x, dy)
    assert rel(y, ry) < 1e-12 and rel(dx, rdx) < 1e-12


@pytest.mark.parametrize("kind,spec,shape", [CASES[1], CASES[5], CASES[7], CASES[9]], ids=["c1", "c5", "c7", "c9"])
def test_finite_differences(kind, spec, shape):
    p = plan(kind, spec, shape)
    x, R = data(p, n=2, seed=1)
    _, dx = run(p, x, R)
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (np.sum(run(p, xp) * R) - np.sum(run(p, xm) * R)) / (2 * eps)
    assert rel(dx, num) < 1e-7


def test_need_dx_false_leaves_dx():
    p = plan(*CASES[5])
    x, dy = data(p)
    _, dx = run(p, x, dy, need_dx=False)
    assert np.isnan(dx).all()


def test_maxpool_saves_argmax_positions():
    p = plan("maxpool1d", dict(kernel=2), Shape(CH, (2, 4)))
    x = np.array([[1.0, 3.0, 2.0, 2.0, 5.0, 4.0, 0.0, 7.0]])
    r = np.array(p.ints, np.int64)
    y = np.zeros((1, 4))
    save = np.full(p.save_per_row, np.nan)
    pool_forward(r, np.zeros(0), np.zeros(0), x, y, save, np.zeros(1), False, 0)
    np.testing.assert_array_equal(y, [[3.0, 2.0, 5.0, 7.0]])
    np.testing.assert_array_equal(save, [1.0, 2.0, 4.0, 7.0])


@pytest.mark.parametrize("kind,spec,shape", CASES, ids=IDS)
@pytest.mark.parametrize("ties", [False, True])
def test_against_torch(kind, spec, shape, ties):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    p = plan(kind, spec, shape)
    g = geometry(p)
    x, dy = data(p, n=4, seed=2)
    if ties:
        x = np.round(x)
    y, dx = run(p, x, dy)
    n = x.shape[0]
    two = len(shape.dims) == 3 if shape.kind == CH else False
    dims = (n, g["C"], g["H"], g["W"]) if two else (n, g["C"], g["W"])
    xt = torch.tensor(x.reshape(dims), requires_grad=True)
    k, s, pd = ((g["KH"], g["KW"]), (g["SH"], g["SW"]), (g["PH"], g["PW"])) if two else (g["KW"], g["SW"], g["PW"])
    if kind == "global_avg_pool":
        yt = (F.adaptive_avg_pool2d(xt, 1) if two else F.adaptive_avg_pool1d(xt, 1)).flatten(1)
    elif kind.startswith("maxpool"):
        yt = (F.max_pool2d if two else F.max_pool1d)(xt, k, s, pd)
    else:
        yt = (F.avg_pool2d if two else F.avg_pool1d)(xt, k, s, pd, count_include_pad=True)
    assert tuple(yt.shape[1:]) == tuple(p.out_shape.dims)
    yt.backward(torch.tensor(dy.reshape(yt.shape)))
    assert rel(y, yt.detach().numpy().reshape(n, -1)) < 1e-8
    assert rel(dx, xt.grad.numpy().reshape(n, -1)) < 1e-8


def test_plans():
    p = plan("maxpool1d", dict(kernel=2), Shape(CH, (25, 5)))
    assert p.out_shape == Shape(CH, (25, 2)) and p.params == [] and p.op == base.OPS["maxpool1d"]
    assert p.spec == {"type": "maxpool1d", "kernel": 2, "stride": 2, "padding": 0}
    assert p.save_per_row == 50 and p.tmp_per_row == 0 and p.tmp_fixed == 0
    q = plan("avgpool2d", dict(kernel=[2, 3], padding=1), Shape(CH, (4, 8, 9)))
    assert q.out_shape == Shape(CH, (4, 5, 3)) and q.save_per_row == 0
    assert q.spec == {"type": "avgpool2d", "kernel": [2, 3], "stride": [2, 3], "padding": [1, 1]}
    gp = plan("global_avg_pool", {}, Shape(CH, (6, 3, 3)))
    assert gp.out_shape == Shape(base.VECTOR, (6,)) and gp.spec == {"type": "global_avg_pool"}


BAD = [
    ("maxpool1d", dict(kernel=2, strid=1), Shape(CH, (2, 9)), "strid"),
    ("maxpool1d", dict(), Shape(CH, (2, 9)), "kernel"),
    ("maxpool1d", dict(kernel=0), Shape(CH, (2, 9)), "kernel"),
    ("avgpool1d", dict(kernel=2, stride=0), Shape(CH, (2, 9)), "stride"),
    ("avgpool1d", dict(kernel=3, padding=2), Shape(CH, (2, 9)), "padding"),
    ("avgpool1d", dict(kernel=3, padding=-1), Shape(CH, (2, 9)), "padding"),
    ("maxpool1d", dict(kernel=10), Shape(CH, (2, 9)), "kernel"),
    ("maxpool1d", dict(kernel=2), Shape(CH, (2, 4, 4)), None),
    ("maxpool2d", dict(kernel=2), Shape(base.VECTOR, (16,)), None),
    ("maxpool2d", dict(kernel=[2, 2, 2]), Shape(CH, (2, 4, 4)), "kernel"),
    ("maxpool2d", dict(kernel=[2, 5]), Shape(CH, (2, 4, 4)), "kernel"),
    ("avgpool2d", dict(kernel=[2, 3], padding=[1, 2]), Shape(CH, (2, 4, 4)), "padding"),
    ("global_avg_pool", dict(kernel=2), Shape(CH, (2, 4, 4)), "kernel"),
    ("global_avg_pool", {}, Shape(base.VECTOR, (16,)), None),
]


@pytest.mark.parametrize("kind,spec,shape,fieldname", BAD)
def test_planner_errors(kind, spec, shape, fieldname):
    where = "model.layers[5]"
    with pytest.raises(ConfigError) as e:
        plan(kind, spec, shape, where=where)
    assert e.value.field.startswith(where)
    if fieldname is not None:
        assert e.value.field == f"{where}.{fieldname}"
    else:
        assert str(shape) in str(e.value)
