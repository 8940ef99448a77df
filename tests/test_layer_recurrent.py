"""Recurrent layers (rnn, gru, lstm): batched kernels against a NumPy reference, finite differences,
PyTorch (where installed), float32, the planner's errors and the parameter names."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from optengine.errors import ConfigError
from optengine.layers.base import OPS, Shape
from optengine.layers.recurrent import PLANNERS, recurrent_backward, recurrent_forward

WHERE = "model.layers[2]"
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("gru", None), ("lstm", None)]
CASES = [(k, nl, bi, out) for (k, nl), bi, out in itertools.product(CELLS, (False, True), ("last", "all"))]
R_, T_, I_, H_ = 3, 4, 2, 3


def case_id(c):
    kind, nl, bi, out = c
    return f"{kind}{'-' + nl if nl else ''}-{'bi' if bi else 'uni'}-{out}"


def make_plan(kind, nl, bi, out, T=T_, I=I_, H=H_, shape=None, **extra):
    spec = {"type": kind, "hidden_size": H, "bidirectional": bi, "output": out, **extra}
    if nl:
        spec["nonlinearity"] = nl
    return PLANNERS[kind](WHERE, spec, shape or Shape("sequence", (T, I)))


def init_params(plan, rng, scale=1.0):
    """Flat parameters drawn from each Param's init (times ``scale``), and a name -> array view dict."""
    W = np.concatenate([rng.uniform(-p.init[1], p.init[1], p.size) * scale for p in plan.params])
    views, o = {}, 0
    for p in plan.params:
        views[p.name] = W[o:o + p.size].reshape(p.shape)
        o += p.size
    return W, views


def run(plan, W, x, dy, need_dx=True, extra_rows=0):
    """Forward and backward through the kernels with exactly-sized (NaN-filled) save and tmp."""
    dt = W.dtype
    rows = x.shape[0]
    r = np.array(plan.ints, dtype=np.int64)
    f = np.array(plan.floats, dtype=np.float64)
    y = np.full((rows, plan.out_shape.width), np.nan, dt)
    save = np.full(rows * plan.save_per_row, np.nan, dt)
    tmp = np.full((rows + extra_rows) * plan.tmp_per_row + plan.tmp_fixed, np.nan, dt)
    recurrent_forward(r, f, W, x, y, save, tmp, True, np.int64(7))
    dx = np.full(x.shape, np.nan, dt)
    dW = np.full(W.shape, np.nan, dt)
    tmp[:] = np.nan
    recurrent_backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    return y, dx, dW


def forward_only(plan, W, x):
    rows = x.shape[0]
    y = np.empty((rows, plan.out_shape.width))
    save = np.empty(rows * plan.save_per_row)
    tmp = np.empty(rows * plan.tmp_per_row + plan.tmp_fixed)
    recurrent_forward(np.array(plan.ints, dtype=np.int64), np.zeros(0), W, x, y, save, tmp, False, np.int64(0))
    return y


# -- NumPy reference, written from the equations (loops over time, vectorised over the batch) ------------

def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def ref_forward(kind, nl, P, x, dirs, out):
    """y (rows, width) and the per-direction caches. x: (rows, T, I)."""
    rows, T, _ = x.shape
    caches, hs = [], []
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        Wih, Whh, bih, bhh = (P[n + sfx] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        H = Whh.shape[1]
        h = np.zeros((rows, H))
        c = np.zeros((rows, H))
        order = range(T - 1, -1, -1) if d else range(T)
        steps, hout = [], [None] * T
        for t in order:
            gi = x[:, t] @ Wih.T + bih
            gh = h @ Whh.T + bhh
            st = {"t": t, "h": h, "c": c}
            if kind == "rnn":
                a = gi + gh
                hn = np.tanh(a) if nl == "tanh" else np.maximum(a, 0.0)
                st["a"] = a
            elif kind == "gru":
                rg = sig(gi[:, :H] + gh[:, :H])
                z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = np.tanh(gi[:, 2 * H:] + rg * gh[:, 2 * H:])
                hn = (1 - z) * n + z * h
                st.update(r=rg, z=z, n=n, ghn=gh[:, 2 * H:])
            else:
                a = gi + gh
                i, fg, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
                c = fg * c + i * g
                hn = o * np.tanh(c)
                st.update(i=i, f=fg, g=g, o=o, cn=c)
            steps.append(st)
            h = hn
            hout[t] = hn
        caches.append(steps)
        hs.append(hout)
    if out == "last":
        y = np.concatenate([hs[0][T - 1]] + ([hs[1][0]] if dirs == 2 else []), axis=1)
    else:
        y = np.stack([np.concatenate([hs[d][t] for d in range(dirs)], axis=1) for t in range(T)], axis=1)
        y = y.reshape(rows, -1)
    return y, caches


def ref_backward(kind, nl, P, x, dirs, out, caches, dy):
    """dx (rows, T, I) and the parameter gradients by name."""
    rows, T, _ = x.shape
    dx = np.zeros_like(x)
    grads = {}
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        Wih, Whh = P["weight_ih" + sfx], P["weight_hh" + sfx]
        H = Whh.shape[1]
        dWih, dWhh = np.zeros_like(Wih), np.zeros_like(Whh)
        dbih, dbhh = np.zeros(Wih.shape[0]), np.zeros(Wih.shape[0])
        if out == "all":
            dys = dy.reshape(rows, T, dirs, H)[:, :, d]
        dh = np.zeros((rows, H))
        dc = np.zeros((rows, H))
        for k, st in reversed(list(enumerate(caches[d]))):
            t = st["t"]
            if out == "all":
                dh = dh + dys[:, t]
            elif k == T - 1:
                dh = dh + dy[:, d * H:(d + 1) * H]
            h = st["h"]
            if kind == "rnn":
                da = dh * ((1 - np.tanh(st["a"]) ** 2) if nl == "tanh" else (st["a"] > 0))
                dgi = dgh = da
                direct = 0.0
            elif kind == "gru":
                rg, z, n = st["r"], st["z"], st["n"]
                dn = dh * (1 - z) * (1 - n ** 2)
                dr = dn * st["ghn"] * rg * (1 - rg)
                dz = dh * (h - n) * z * (1 - z)
                dgi = np.concatenate([dr, dz, dn], axis=1)
                dgh = np.concatenate([dr, dz, dn * rg], axis=1)
                direct = dh * z
            else:
                i, fg, g, o, cn = st["i"], st["f"], st["g"], st["o"], st["cn"]
                tc = np.tanh(cn)
                dcn = dc + dh * o * (1 - tc ** 2)
                dgi = dgh = np.concatenate([dcn * g * i * (1 - i), dcn * st["c"] * fg * (1 - fg),
                                            dcn * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
                dc = dcn * fg
                direct = 0.0
            dWih += dgi.T @ x[:, t]
            dbih += dgi.sum(0)
            dWhh += dgh.T @ h
            dbhh += dgh.sum(0)
            dx[:, t] += dgi @ Wih
            dh = direct + dgh @ Whh
        grads.update({"weight_ih" + sfx: dWih, "weight_hh" + sfx: dWhh, "bias_ih" + sfx: dbih, "bias_hh" + sfx: dbhh})
    return dx, grads


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


def flat_grads(plan, grads):
    return np.concatenate([np.asarray(grads[p.name]).ravel() for p in plan.params])


def data(plan, rng, rows=R_):
    T, I = plan.ints[3], plan.ints[1]
    x = rng.standard_normal((rows, T * I))
    dy = rng.standard_normal((rows, plan.out_shape.width))
    return x, dy


# -- kernels against the reference ------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_kernels_match_numpy_reference(case):
    kind, nl, bi, out = case
    rng = np.random.default_rng(1)
    plan = make_plan(*case)
    W, P = init_params(plan, rng, scale=2.0)
    x, dy = data(plan, rng)
    dirs = 2 if bi else 1
    y, dx, dW = run(plan, W, x, dy)
    y_ref, caches = ref_forward(kind, nl, P, x.reshape(R_, T_, I_), dirs, out)
    dx_ref, g_ref = ref_backward(kind, nl, P, x.reshape(R_, T_, I_), dirs, out, caches, dy)
    assert y.shape == y_ref.shape
    assert rel(y, y_ref) < 1e-12
    assert rel(dx, dx_ref.reshape(R_, -1)) < 1e-12
    assert rel(dW, flat_grads(plan, g_ref)) < 1e-12
    # float32 close to float64
    y32, dx32, dW32 = run(plan, W.astype(np.float32), x.astype(np.float32), dy.astype(np.float32))
    assert y32.dtype == np.float32 and dW32.dtype == np.float32
    assert rel(y32, y) < 1e-5 and rel(dx32, dx) < 1e-4 and rel(dW32, dW) < 1e-4


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_finite_differences(case):
    rng = np.random.default_rng(2)
    plan = make_plan(*case)
    W, _ = init_params(plan, rng, scale=2.0)
    x, Rm = data(plan, rng, rows=2)
    _, dx, dW = run(plan, W, x, Rm)
    eps = 1e-6

    def loss(W_, x_):
        return float(np.sum(forward_only(plan, W_, x_) * Rm))

    num_W = np.empty_like(W)
    for j in range(W.size):
        Wp, Wm = W.copy(), W.copy()
        Wp[j] += eps
        Wm[j] -= eps
        num_W[j] = (loss(Wp, x) - loss(Wm, x)) / (2 * eps)
    num_x = np.empty_like(x)
    for j in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[j] += eps
        xm[j] -= eps
        num_x[j] = (loss(W, xp) - loss(W, xm)) / (2 * eps)
    assert rel(dW, num_W) < 1e-6
    assert rel(dx, num_x) < 1e-6


def torch_module(torch, kind, nl, bi, I, H):
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    kw = {"nonlinearity": nl} if kind == "rnn" else {}
    return cls(I, H, batch_first=True, bidirectional=bi, **kw).double()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    kind, nl, bi, out = case
    rng = np.random.default_rng(3)
    plan = make_plan(*case)
    W, P = init_params(plan, rng, scale=2.0)
    x, Rm = data(plan, rng)
    y, dx, dW = run(plan, W, x, Rm)
    m = torch_module(torch, kind, nl, bi, I_, H_)
    with torch.no_grad():
        for name, prm in m.named_parameters():
            prm.copy_(torch.from_numpy(P[name]))
    xt = torch.tensor(x.reshape(R_, T_, I_), requires_grad=True)
    output, hn = m(xt)
    if kind == "lstm":
        hn = hn[0]
    yt = hn.transpose(0, 1).reshape(R_, -1) if out == "last" else output.reshape(R_, -1)
    (yt * torch.from_numpy(Rm)).sum().backward()
    assert rel(y, yt.detach().numpy()) < 1e-8
    assert rel(dx, xt.grad.numpy().reshape(R_, -1)) < 1e-8
    assert rel(dW, flat_grads(plan, {n: p.grad.numpy() for n, p in m.named_parameters()})) < 1e-8


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bi", [False, True])
def test_params_match_torch_named_parameters(kind, bi):
    torch = pytest.importorskip("torch")
    plan = make_plan(kind, None, bi, "last", I=5, H=7)
    m = torch_module(torch, kind, "tanh", bi, 5, 7)
    assert [(p.name, p.shape) for p in plan.params] == [(n, tuple(p.shape)) for n, p in m.named_parameters()]
    assert all(p.init == ("uniform", 1 / math.sqrt(7)) for p in plan.params)
    assert plan.n_params == sum(p.numel() for p in m.parameters())


# -- the other properties of the kernels ------------------------------------------------------------------

def test_vector_input_reads_time_major_steps_and_need_dx():
    rng = np.random.default_rng(4)
    seq = make_plan("gru", None, True, "all", T=4, I=3)
    vec = PLANNERS["gru"](WHERE, {"type": "gru", "hidden_size": H_, "bidirectional": True, "output": "all",
                                  "input_size": 3}, Shape("vector", (12,)))
    assert vec.ints == seq.ints and vec.out_shape == Shape("sequence", (4, 2 * H_))
    assert vec.spec == {"type": "gru", "hidden_size": H_, "bidirectional": True, "output": "all", "input_size": 3}
    W, _ = init_params(seq, rng)
    x, dy = data(seq, rng)
    y, dx, dW = run(seq, W, x, dy)
    # fewer rows than tmp was sized for (the driver sizes it for the largest batch); no dx for a first layer
    y1, dx1, dW1 = run(vec, W, x[:1], dy[:1], need_dx=False, extra_rows=5)
    assert np.isnan(dx1).all() and not np.isnan(dW1).any()
    assert rel(y1, y[:1]) < 1e-14
    _, dx1b, dW1b = run(vec, W, x[:1], dy[:1])
    assert rel(dW1, dW1b) == 0.0 and not np.isnan(dx1b).any()
    # default input_size 1 for a vector
    one = PLANNERS["lstm"](WHERE, {"type": "lstm", "hidden_size": 2}, Shape("vector", (40,)))
    assert one.ints[1:4] == [1, 2, 40] and one.out_shape == Shape("vector", (2,))
    assert one.spec["output"] == "last" and one.spec["bidirectional"] is False
    rnn = PLANNERS["rnn"](WHERE, {"type": "rnn", "hidden_size": 2}, Shape("sequence", (6, 4)))
    assert rnn.spec["nonlinearity"] == "tanh" and rnn.ints[0] == OPS["rnn"]


def test_sizes_are_what_the_kernels_use():
    """The declared save/tmp sizes suffice and are used (no slack larger than a few rows' worth)."""
    for kind, bi in itertools.product(("rnn", "gru", "lstm"), (False, True)):
        plan = make_plan(kind, None, bi, "all", T=5, I=2, H=3)
        dirs, G, T, H = 2 if bi else 1, {"rnn": 1, "gru": 3, "lstm": 4}[kind], 5, 3
        per = (T + 1) * H + {"rnn": 0, "gru": 4 * T * H, "lstm": 4 * T * H + (T + 1) * H}[kind]
        assert plan.save_per_row == dirs * per
        assert plan.tmp_fixed == dirs * G * H * 2
        assert plan.tmp_per_row == T * dirs * G * H + T * G * H + 3 * H


BAD = [
    ({"type": "gru"}, Shape("sequence", (4, 2)), ".hidden_size", "hidden_size"),
    ({"type": "gru", "hidden_size": 0}, Shape("sequence", (4, 2)), ".hidden_size", "[1"),
    ({"type": "gru", "hidden_size": 2.5}, Shape("sequence", (4, 2)), ".hidden_size", "integer"),
    ({"type": "lstm", "hidden_size": 3, "bidirectional": "yes"}, Shape("sequence", (4, 2)), ".bidirectional", "true"),
    ({"type": "lstm", "hidden_size": 3, "output": "first"}, Shape("sequence", (4, 2)), ".output", "last"),
    ({"type": "rnn", "hidden_size": 3, "nonlinearity": "sigmoid"}, Shape("sequence", (4, 2)), ".nonlinearity", "relu"),
    ({"type": "gru", "hidden_size": 3, "nonlinearity": "relu"}, Shape("sequence", (4, 2)), ".nonlinearity", "gru"),
    ({"type": "rnn", "hidden_size": 3, "dropout": 0.1}, Shape("sequence", (4, 2)), ".dropout", "allowed"),
    ({"type": "rnn", "hidden_size": 3, "input_size": 3}, Shape("vector", (10,)), ".input_size", "(10,)"),
    ({"type": "rnn", "hidden_size": 3, "input_size": 0}, Shape("vector", (10,)), ".input_size", "[1"),
    ({"type": "gru", "hidden_size": 3, "input_size": 3}, Shape("sequence", (5, 4)), ".input_size", "(5, 4)"),
    ({"type": "lstm", "hidden_size": 3}, Shape("channels", (2, 8)), "", "flatten"),
    ({"type": "lstm", "hidden_size": 3}, Shape("channels", (2, 4, 4)), "", "flatten"),
    ({"type": "gru", "hidden_size": 3}, Shape("bag", (50,)), "", "vector or sequence"),
]


BAD_IDS = [f"{s['type']}{f}-{i}" for i, (s, _, f, _) in enumerate(BAD)]


@pytest.mark.parametrize("spec,shape,field,text", BAD, ids=BAD_IDS)
def test_planner_errors(spec, shape, field, text):
    with pytest.raises(ConfigError) as e:
        PLANNERS[spec["type"]](WHERE, spec, shape)
    assert e.value.field == WHERE + field
    assert e.value.field.startswith(WHERE)
    assert text in str(e.value)


def test_input_size_equal_to_the_sequence_is_accepted():
    plan = PLANNERS["rnn"](WHERE, {"type": "rnn", "hidden_size": 3, "input_size": 4}, Shape("sequence", (5, 4)))
    assert plan.ints[1:4] == [4, 3, 5]


def test_fast_float32_tanh_is_exact_to_float32():
    from optengine.layers.recurrent import _tanh

    v = np.concatenate([np.geomspace(1e-30, 30, 4000), [0.0, 1.220703125e-4, 1.2207e-4, 1e3, np.inf]])
    v = np.concatenate([v, -v])
    ref = np.tanh(v)
    fast = np.array([_tanh(float(a), True) for a in v]).astype(np.float32)
    assert np.all(np.abs(fast - ref) <= 1.2e-7 * np.abs(ref))
    exact = np.array([_tanh(float(a), False) for a in v])   # libm's tanh (NumPy's may differ by an ulp or two)
    assert np.all(np.abs(exact - ref) <= 2 * np.spacing(np.abs(ref)))
