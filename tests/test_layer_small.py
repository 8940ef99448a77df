"""The small layer kinds: activations, layernorm, dropout, embedding_bag (``optengine/layers``).

NumPy references from the definitions, float64 finite differences through the kernels, PyTorch
comparisons (where torch is installed), float32 runs, planner errors and parameter layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optengine.errors import ConfigError
from optengine.layers import activations, dropout, embedding, norm
from optengine.layers.base import BAG, CHANNELS, OPS, SEQUENCE, VECTOR, Shape

RNG = np.random.default_rng(1234)
EMPTY_I = np.zeros(0, dtype=np.int64)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def records(plan):
    return np.array(plan.ints, dtype=np.int64), np.array(plan.floats, dtype=np.float64)


def init_params(plan, dtype=np.float64, rng=RNG):
    """Random (not the default-init) parameters, so every term of a gradient is exercised."""
    return np.ascontiguousarray(rng.normal(size=plan.n_params), dtype=dtype)


def run(fwd, bwd, plan, x, W, dy=None, training=True, key=7, need_dx=True):
    """Forward (and backward when dy is given) through a layer's standard kernels."""
    r, f = records(plan)
    rows = x.shape[0]
    dt = x.dtype
    y = np.full((rows, plan.out_shape.width), np.nan, dtype=dt)
    save = np.full(rows * plan.save_per_row, np.nan, dtype=dt)
    tmp = np.full(rows * plan.tmp_per_row + plan.tmp_fixed, np.nan, dtype=dt)
    fwd(r, f, W, x, y, save, tmp, training, key)
    if dy is None:
        return y, None, None, save
    dx = np.full_like(x, np.nan)
    dW = np.full_like(W, np.nan)
    bwd(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)
    return y, dx, dW, save


def fd_check(loss_of, theta, grad, h=1e-6, n=12, rng=RNG, tol=1e-6):
    """Central differences of ``loss_of`` at ``n`` random coordinates of ``theta`` (changed in place, restored)."""
    flat = theta.reshape(-1)
    g = grad.reshape(-1)
    picks = rng.choice(flat.size, size=min(n, flat.size), replace=False)
    for p in picks:
        old = flat[p]
        flat[p] = old + h
        lp = loss_of()
        flat[p] = old - h
        lm = loss_of()
        flat[p] = old
        num = (lp - lm) / (2 * h)
        assert abs(num - g[p]) <= tol * max(1.0, abs(g[p])), (p, num, g[p])


# -- activations ----------------------------------------------------------------------------------------

ACTS = [
    {"type": "relu"},
    {"type": "leaky_relu"},
    {"type": "leaky_relu", "negative_slope": 0.2},
    {"type": "tanh"},
    {"type": "sigmoid"},
    {"type": "gelu"},
    {"type": "gelu", "approximate": "tanh"},
]
_ERF = np.vectorize(math.erf)


def act_reference(spec, x):
    """(y, dy/dx) from the definitions."""
    kind = spec["type"]
    if kind == "relu":
        return np.where(x < 0, 0.0, x), (x > 0).astype(float)
    if kind == "leaky_relu":
        s = spec.get("negative_slope", 0.01)
        return np.where(x > 0, x, s * x), np.where(x > 0, 1.0, s)
    if kind == "tanh":
        t = np.tanh(x)
        return t, 1 - t * t
    if kind == "sigmoid":
        s = 1 / (1 + np.exp(-x))
        return s, s * (1 - s)
    if spec.get("approximate", "none") == "tanh":
        c = math.sqrt(2 / math.pi)
        u = c * (x + 0.044715 * x ** 3)
        t = np.tanh(u)
        return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
    Phi = 0.5 * (1 + _ERF(x / math.sqrt(2)))
    return x * Phi, Phi + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def act_plan(spec, shape=Shape(CHANNELS, (3, 5))):
    return activations.PLANNERS[spec["type"]]("model.layers[1]", spec, shape)


@pytest.mark.parametrize("spec", ACTS, ids=lambda s: "-".join(map(str, s.values())))
def test_activation_reference_fd_float32(spec):
    plan = act_plan(spec)
    assert plan.out_shape == plan.in_shape and plan.params == [] and plan.op == OPS[spec["type"]]
    x = RNG.normal(scale=2.0, size=(4, 15))
    R = RNG.normal(size=x.shape)
    W = np.zeros(0)
    y, dx, dW, _ = run(activations.activation_forward, activations.activation_backward, plan, x, W, R)
    y_ref, d_ref = act_reference(spec, x)
    assert rel_err(y, y_ref) < 1e-12
    assert rel_err(dx, R * d_ref) < 1e-12

    def loss():
        return float(np.sum(run(activations.activation_forward, None, plan, x, W)[0] * R))

    fd_check(loss, x, dx)
    x32 = x.astype(np.float32)
    y32, dx32, _, _ = run(activations.activation_forward, activations.activation_backward, plan, x32,
                          np.zeros(0, np.float32), R.astype(np.float32))
    assert y32.dtype == np.float32 and dx32.dtype == np.float32
    assert rel_err(y32, y_ref) < 1e-5 and rel_err(dx32, R * d_ref) < 1e-5
    # need_dx False leaves dx alone (nothing else to write)
    _, dx_skip, _, _ = run(activations.activation_forward, activations.activation_backward, plan, x, W, R,
                           need_dx=False)
    assert np.isnan(dx_skip).all()


@pytest.mark.parametrize("spec", ACTS, ids=lambda s: "-".join(map(str, s.values())))
def test_activation_nan_propagates(spec):
    plan = act_plan(spec, Shape(VECTOR, (3,)))
    for dt in (np.float64, np.float32):
        x = np.array([[np.nan, 1.0, -1.0]], dtype=dt)
        y = run(activations.activation_forward, None, plan, x, np.zeros(0, dt))[0]
        assert np.isnan(y[0, 0]) and np.isfinite(y[0, 1:]).all()


@pytest.mark.parametrize("spec", ACTS, ids=lambda s: "-".join(map(str, s.values())))
def test_activation_against_torch(spec):
    torch = pytest.importorskip("torch")
    mods = {"relu": lambda s: torch.nn.ReLU(),
            "leaky_relu": lambda s: torch.nn.LeakyReLU(s.get("negative_slope", 0.01)),
            "tanh": lambda s: torch.nn.Tanh(), "sigmoid": lambda s: torch.nn.Sigmoid(),
            "gelu": lambda s: torch.nn.GELU(approximate=s.get("approximate", "none"))}
    plan = act_plan(spec, Shape(SEQUENCE, (4, 3)))
    x = RNG.normal(scale=3.0, size=(5, 12))
    x[0, :3] = [0.0, 40.0, -40.0]  # zero and saturating inputs
    R = RNG.normal(size=x.shape)
    y, dx, _, _ = run(activations.activation_forward, activations.activation_backward, plan, x, np.zeros(0), R)
    xt = torch.tensor(x.reshape(5, 4, 3), dtype=torch.float64, requires_grad=True)
    yt = mods[spec["type"]](spec)(xt)
    (yt * torch.tensor(R.reshape(5, 4, 3))).sum().backward()
    assert rel_err(y, yt.detach().numpy().reshape(5, 12)) <= 1e-8
    assert rel_err(dx, xt.grad.numpy().reshape(5, 12)) <= 1e-8


# -- layernorm ------------------------------------------------------------------------------------------

def ln_reference(x, w, b, R, eps):
    """y and the gradients of sum(y * R) from the definition (per row, loops)."""
    rows, n = x.shape
    y = np.empty_like(x)
    dx = np.empty_like(x)
    dw = np.zeros(n)
    db = np.zeros(n)
    for i in range(rows):
        mu = x[i].mean()
        var = ((x[i] - mu) ** 2).mean()
        rstd = 1 / math.sqrt(var + eps)
        xh = (x[i] - mu) * rstd
        y[i] = xh * w + b
        dw += R[i] * xh
        db += R[i]
        g = R[i] * w
        dx[i] = rstd * (g - g.mean() - xh * (g * xh).mean())
    return y, dx, dw, db


@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_reference_fd_float32(affine):
    shape = Shape(CHANNELS, (3, 4))
    plan = norm.plan_layernorm("model.layers[2]", {"type": "layernorm", "eps": 1e-3, "elementwise_affine": affine},
                               shape)
    assert plan.save_per_row == 2 and plan.out_shape == shape
    assert [(p.name, p.shape) for p in plan.params] == ([("weight", (3, 4)), ("bias", (3, 4))] if affine else [])
    n = 12
    x = RNG.normal(loc=1.5, size=(5, n))
    R = RNG.normal(size=x.shape)
    W = init_params(plan)
    y, dx, dW, save = run(norm.layernorm_forward, norm.layernorm_backward, plan, x, W, R)
    w, b = (W[:n], W[n:]) if affine else (np.ones(n), np.zeros(n))
    y_ref, dx_ref, dw_ref, db_ref = ln_reference(x, w, b, R, 1e-3)
    assert rel_err(y, y_ref) < 1e-12 and rel_err(dx, dx_ref) < 1e-12
    assert np.allclose(save[0::2], x.mean(axis=1), rtol=1e-14)
    if affine:
        assert rel_err(dW, np.concatenate([dw_ref, db_ref])) < 1e-12
    else:
        assert dW.size == 0

    def loss():
        return float(np.sum(run(norm.layernorm_forward, None, plan, x, W)[0] * R))

    fd_check(loss, x, dx)
    if affine:
        fd_check(loss, W, dW)
    x32, W32, R32 = x.astype(np.float32), W.astype(np.float32), R.astype(np.float32)
    y32, dx32, dW32, _ = run(norm.layernorm_forward, norm.layernorm_backward, plan, x32, W32, R32)
    assert y32.dtype == np.float32
    assert rel_err(y32, y_ref) < 1e-5 and rel_err(dx32, dx_ref) < 1e-4
    if affine:
        assert rel_err(dW32, np.concatenate([dw_ref, db_ref])) < 1e-5
    # need_dx False: dW still written, dx untouched
    _, dx_skip, dW2, _ = run(norm.layernorm_forward, norm.layernorm_backward, plan, x, W, R, need_dx=False)
    assert np.isnan(dx_skip).all() and np.array_equal(dW2, dW)


@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_against_torch(affine):
    torch = pytest.importorskip("torch")
    dims = (2, 3, 4)
    plan = norm.plan_layernorm("model.layers[0]", {"type": "layernorm", "elementwise_affine": affine},
                               Shape(CHANNELS, dims))
    ref = torch.nn.LayerNorm(dims, eps=1e-5, elementwise_affine=affine).double()
    assert [(k, tuple(v.shape)) for k, v in ref.named_parameters()] == [(p.name, p.shape) for p in plan.params]
    for p in plan.params:  # default init matches torch's
        assert p.init == ("const", 1.0 if p.name == "weight" else 0.0)
        assert torch.all(getattr(ref, p.name) == p.init[1])
    W = init_params(plan)
    with torch.no_grad():
        off = 0
        for p in plan.params:
            getattr(ref, p.name).copy_(torch.tensor(W[off:off + p.size].reshape(p.shape)))
            off += p.size
    x = RNG.normal(loc=-2.0, scale=3.0, size=(4, 24))
    R = RNG.normal(size=x.shape)
    y, dx, dW, _ = run(norm.layernorm_forward, norm.layernorm_backward, plan, x, W, R)
    xt = torch.tensor(x.reshape(4, *dims), requires_grad=True)
    yt = ref(xt)
    (yt * torch.tensor(R.reshape(4, *dims))).sum().backward()
    assert rel_err(y, yt.detach().numpy().reshape(4, 24)) <= 1e-8
    assert rel_err(dx, xt.grad.numpy().reshape(4, 24)) <= 1e-8
    if affine:
        g = np.concatenate([ref.weight.grad.numpy().ravel(), ref.bias.grad.numpy().ravel()])
        assert rel_err(dW, g) <= 1e-8


def test_layernorm_constant_row():
    """A constant row normalises to 0 (variance 0 + eps), not NaN."""
    plan = norm.plan_layernorm("m", {"type": "layernorm"}, Shape(VECTOR, (6,)))
    x = np.full((2, 6), 3.25)
    W = np.concatenate([np.ones(6), np.zeros(6)])
    y = run(norm.layernorm_forward, None, plan, x, W)[0]
    assert np.array_equal(y, np.zeros_like(y))


# -- dropout --------------------------------------------------------------------------------------------

def drop_plan(p, shape=Shape(VECTOR, (50,))):
    return dropout.plan_dropout("model.layers[3]", {"type": "dropout", "p": p}, shape)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics(p):
    plan = drop_plan(p, Shape(CHANNELS, (4, 50)))
    assert plan.save_per_row == 200 and plan.floats == [p, 1 / (1 - p)]
    x = RNG.normal(size=(100, 200))
    y, _, _, save = run(dropout.dropout_forward, None, plan, x, np.zeros(0), key=12345)
    kept = save != 0
    assert abs(kept.mean() - (1 - p)) < 4 * math.sqrt(p * (1 - p) / kept.size)
    assert np.array_equal(y.ravel(), np.where(kept, x.ravel() * (1 / (1 - p)), 0.0))
    # the mask is u(key, i * width + j) >= p
    u = np.array([dropout.dropout_u(12345, e) for e in range(0, kept.size, 97)])
    assert np.array_equal(kept[::97], u >= p)


def test_dropout_uniform_draws():
    u = np.array([dropout.dropout_u(k, e) for k in (-3, 0, 1, 2**62) for e in range(5000)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    # neighbouring elements and neighbouring keys are not correlated
    a = u[:5000]
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.05
    assert abs(np.corrcoef(u[5000:10000], u[10000:15000])[0, 1]) < 0.05


def test_dropout_deterministic_keys_eval_gradient():
    plan = drop_plan(0.3)
    x = RNG.normal(size=(16, 50))
    R = RNG.normal(size=x.shape)
    y1, dx, dW, s1 = run(dropout.dropout_forward, dropout.dropout_backward, plan, x, np.zeros(0), R, key=99)
    y2, _, _, s2 = run(dropout.dropout_forward, None, plan, x, np.zeros(0), key=99)
    assert np.array_equal(y1, y2) and np.array_equal(s1, s2)
    # on a smaller batch the mask of the first rows is the same (a counter, not a stream)
    _, _, _, s3 = run(dropout.dropout_forward, None, plan, x[:5].copy(), np.zeros(0), key=99)
    assert np.array_equal(s3, s1[:5 * 50])
    _, _, _, s4 = run(dropout.dropout_forward, None, plan, x, np.zeros(0), key=100)
    assert (s4 != s1).mean() > 0.2
    # gradient = mask / (1 - p)
    mask = (s1 != 0).reshape(x.shape)
    assert np.array_equal(dx, R * np.where(mask, 1 / 0.7, 0.0)) and dW.size == 0
    assert np.allclose(s1[s1 != 0], 1 / 0.7, rtol=0)

    def loss():
        return float(np.sum(run(dropout.dropout_forward, None, plan, x, np.zeros(0), key=99)[0] * R))

    fd_check(loss, x, dx)
    # evaluation: identity, and its backward too
    ye, dxe, _, se = run(dropout.dropout_forward, dropout.dropout_backward, plan, x, np.zeros(0), R,
                         training=False)
    assert np.array_equal(ye, x) and np.array_equal(dxe, R) and np.all(se == 1)
    # p = 0: nothing dropped
    y0 = run(dropout.dropout_forward, None, drop_plan(0.0), x, np.zeros(0), key=5)[0]
    assert np.array_equal(y0, x)


def test_dropout_float32_same_mask():
    plan = drop_plan(0.5)
    x = RNG.normal(size=(8, 50))
    R = RNG.normal(size=x.shape)
    y, dx, _, s = run(dropout.dropout_forward, dropout.dropout_backward, plan, x, np.zeros(0), R, key=3)
    y32, dx32, _, s32 = run(dropout.dropout_forward, dropout.dropout_backward, plan, x.astype(np.float32),
                            np.zeros(0, np.float32), R.astype(np.float32), key=3)
    assert y32.dtype == np.float32 and np.array_equal(s32 != 0, s != 0)
    assert rel_err(y32, y) < 1e-6 and rel_err(dx32, dx) < 1e-6


def test_dropout_against_torch_scaling():
    """torch's masks come from its own generator; the scaling and gradient rule are the same."""
    torch = pytest.importorskip("torch")
    plan = drop_plan(0.25)
    x = RNG.normal(size=(6, 50))
    R = RNG.normal(size=x.shape)
    y, dx, _, s = run(dropout.dropout_forward, dropout.dropout_backward, plan, x, np.zeros(0), R, key=11)
    mask = torch.tensor((s != 0).reshape(x.shape).astype(np.float64))
    xt = torch.tensor(x, requires_grad=True)
    torch.manual_seed(0)
    m = torch.nn.Dropout(0.25)
    yt = m(xt)
    tmask = (yt != 0).double()  # torch's mask, to check its scaling; then ours applied the same way
    assert torch.allclose(yt, xt * tmask / 0.75, rtol=1e-15, atol=0)
    ours = xt * mask / 0.75
    (ours * torch.tensor(R)).sum().backward()
    assert rel_err(y, ours.detach().numpy()) <= 1e-8 and rel_err(dx, xt.grad.numpy()) <= 1e-8
    assert m.eval()(xt).detach().numpy().tolist() == x.tolist()


# -- embedding_bag --------------------------------------------------------------------------------------

def make_docs(n, V, max_nnz, rng=RNG, dtype=np.float64):
    """Padded ELL rows (distinct token ids per row, non-zero values, some empty rows), and the CSR parts."""
    m = max_nnz
    X = np.zeros((n, 1 + 2 * m), dtype=dtype)
    indptr = [0]
    cols, vals = [], []
    for i in range(n):
        k = 0 if i % 5 == 3 else int(rng.integers(1, m + 1))
        c = rng.choice(V, size=k, replace=False)
        v = rng.normal(size=k)
        X[i, 0] = k
        X[i, 1:1 + k] = c
        X[i, 1 + m:1 + m + k] = v
        X[i, 1 + k:1 + m] = 123456  # padding garbage after nnz is never read
        X[i, 1 + m + k:] = np.nan
        cols.extend(c)
        vals.extend(v)
        indptr.append(len(cols))
    return X, np.array(indptr), np.array(cols, dtype=np.int64), np.array(vals)


def emb_plan(V, dim, bias):
    return embedding.plan_embedding_bag("model.layers[0]", {"type": "embedding_bag", "dim": dim, "bias": bias},
                                        Shape(BAG, (V,)))


def emb_run(plan, X, idx, W, dy=None):
    r, f = records(plan)
    y = np.full((idx.size, plan.out_shape.width), np.nan, dtype=W.dtype)
    embedding.embedding_bag_forward(r, f, W, X, idx, y)
    if dy is None:
        return y, None
    dW = np.full_like(W, np.nan)
    embedding.embedding_bag_backward(r, f, W, X, idx, dy, dW)
    return y, dW


def emb_reference(X, idx, W, V, dim, bias, R):
    m = (X.shape[1] - 1) // 2
    w = W[:V * dim].reshape(V, dim)
    b = W[V * dim:] if bias else np.zeros(dim)
    y = np.zeros((idx.size, dim))
    dw = np.zeros((V, dim))
    for i, row in enumerate(idx):
        y[i] = b
        for k in range(int(X[row, 0])):
            c, v = int(X[row, 1 + k]), X[row, 1 + m + k]
            y[i] += v * w[c]
            dw[c] += v * R[i]
    dW = np.concatenate([dw.ravel(), R.sum(axis=0)]) if bias else dw.ravel()
    return y, dW


@pytest.mark.parametrize("bias", [True, False])
def test_embedding_bag_reference_fd_float32(bias):
    V, dim = 30, 4
    plan = emb_plan(V, dim, bias)
    assert plan.out_shape == Shape(VECTOR, (dim,)) and plan.ints == [OPS["embedding_bag"], V, dim, int(bias)]
    assert [(p.name, p.shape, p.init) for p in plan.params] == (
        [("weight", (V, dim), ("normal", 1.0))] + ([("bias", (dim,), ("const", 0.0))] if bias else []))
    X, *_ = make_docs(20, V, 5)
    idx = np.array([4, 0, 3, 17, 4, 9, 13], dtype=np.int64)  # repeats and empty documents (3, 13)
    W = init_params(plan)
    R = RNG.normal(size=(idx.size, dim))
    y, dW = emb_run(plan, X, idx, W, R)
    y_ref, dW_ref = emb_reference(X, idx, W, V, dim, bias, R)
    assert rel_err(y, y_ref) < 1e-12 and rel_err(dW, dW_ref) < 1e-12
    if bias:
        assert np.array_equal(y[2], W[V * dim:])  # empty document: the bias
    # only the rows of tokens in the batch (and the bias) are non-zero
    m = (X.shape[1] - 1) // 2
    present = {int(X[r, 1 + k]) for r in idx for k in range(int(X[r, 0]))}
    rows = dW[:V * dim].reshape(V, dim)
    for c in range(V):
        assert (np.any(rows[c] != 0)) == (c in present), c

    def loss():
        return float(np.sum(emb_run(plan, X, idx, W)[0] * R))

    fd_check(loss, W, dW, n=20)
    X32, W32 = X.astype(np.float32), W.astype(np.float32)
    y32, dW32 = emb_run(plan, X32, idx, W32, R.astype(np.float32))
    assert y32.dtype == np.float32 and dW32.dtype == np.float32
    assert rel_err(y32, y_ref) < 1e-5 and rel_err(dW32, dW_ref) < 1e-5
    del m


def test_embedding_bag_matches_softmax_regression():
    """embedding_bag(dim=C, bias=true) + cross-entropy is softmax regression on the densified documents
    (the dense family's kernel, an independent implementation): the same loss and gradient."""
    import optengine as oe

    V, C = 40, 5
    plan = emb_plan(V, C, True)
    X, *_ = make_docs(30, V, 6)
    yc = RNG.integers(0, C, size=30).astype(np.int64)
    idx = RNG.choice(30, size=12, replace=False).astype(np.int64)
    W = init_params(plan)
    dense = np.zeros((30, V))
    m = (X.shape[1] - 1) // 2
    for i in range(30):
        for k in range(int(X[i, 0])):
            dense[i, int(X[i, 1 + k])] += X[i, 1 + m + k]
    ref = oe.model("softmax_regression", n_features=V, n_classes=C)
    for dt in (np.float64, np.float32):
        Xd, Wd = X.astype(dt), W.astype(dt)
        loss_ref, grad = ref.loss_and_grad(Wd, dense[idx].astype(dt), yc[idx])
        z, _ = emb_run(plan, Xd, idx, Wd)
        zz = z.astype(np.float64)
        p = np.exp(zz - zz.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(np.exp(zz).sum(axis=1)) - zz[np.arange(idx.size), yc[idx]])
        delta = p.copy()
        delta[np.arange(idx.size), yc[idx]] -= 1
        dy = (delta / idx.size).astype(dt)
        _, dW = emb_run(plan, Xd, idx, Wd, dy)
        tol = 1e-12 if dt == np.float64 else 1e-5
        assert abs(loss - loss_ref) <= tol * abs(loss_ref)
        assert rel_err(dW, grad) <= tol
        assert np.array_equal(dW == 0, grad == 0)


@pytest.mark.parametrize("bias", [True, False])
def test_embedding_bag_against_torch(bias):
    torch = pytest.importorskip("torch")
    V, dim = 25, 3
    plan = emb_plan(V, dim, bias)
    ref = torch.nn.EmbeddingBag(V, dim, mode="sum").double()
    assert [(k, tuple(v.shape)) for k, v in ref.named_parameters()] == [(p.name, p.shape) for p in plan.params[:1]]
    X, indptr, cols, vals = make_docs(12, V, 4)
    idx = np.arange(12, dtype=np.int64)
    W = init_params(plan)
    R = RNG.normal(size=(12, dim))
    y, dW = emb_run(plan, X, idx, W, R)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(W[:V * dim].reshape(V, dim)))
    bt = torch.tensor(W[V * dim:], requires_grad=True)
    yt = ref(torch.tensor(cols), offsets=torch.tensor(indptr[:-1]), per_sample_weights=torch.tensor(vals))
    if bias:
        yt = yt + bt
    (yt * torch.tensor(R)).sum().backward()
    assert rel_err(y, yt.detach().numpy()) <= 1e-8
    g = ref.weight.grad.numpy().ravel()
    if bias:
        g = np.concatenate([g, bt.grad.numpy()])
    assert rel_err(dW, g) <= 1e-8


# -- planners: errors name where.field, specs are normalised ---------------------------------------------

W0 = "model.layers[2]"
VEC = Shape(VECTOR, (8,))
BAD = [
    (activations.plan_relu, {"type": "relu", "negative_slope": 0.1}, VEC, W0 + ".negative_slope"),
    (activations.plan_leaky_relu, {"type": "leaky_relu", "negative_slope": "x"}, VEC, W0 + ".negative_slope"),
    (activations.plan_leaky_relu, {"type": "leaky_relu", "negative_slope": float("nan")}, VEC,
     W0 + ".negative_slope"),
    (activations.plan_gelu, {"type": "gelu", "approximate": "tahn"}, VEC, W0 + ".approximate"),
    (activations.plan_tanh, {"type": "tanh", "inplace": True}, VEC, W0 + ".inplace"),
    (activations.plan_sigmoid, {"type": "sigmoid"}, Shape(BAG, (100,)), W0),
    (norm.plan_layernorm, {"type": "layernorm", "eps": 0}, VEC, W0 + ".eps"),
    (norm.plan_layernorm, {"type": "layernorm", "eps": -1e-5}, VEC, W0 + ".eps"),
    (norm.plan_layernorm, {"type": "layernorm", "elementwise_affine": 1}, VEC, W0 + ".elementwise_affine"),
    (norm.plan_layernorm, {"type": "layernorm", "normalized_shape": [8]}, VEC, W0 + ".normalized_shape"),
    (norm.plan_layernorm, {"type": "layernorm"}, Shape(BAG, (100,)), W0),
    (dropout.plan_dropout, {"type": "dropout", "p": 1.0}, VEC, W0 + ".p"),
    (dropout.plan_dropout, {"type": "dropout", "p": -0.1}, VEC, W0 + ".p"),
    (dropout.plan_dropout, {"type": "dropout", "p": True}, VEC, W0 + ".p"),
    (dropout.plan_dropout, {"type": "dropout", "rate": 0.1}, VEC, W0 + ".rate"),
    (dropout.plan_dropout, {"type": "dropout"}, Shape(BAG, (100,)), W0),
    (embedding.plan_embedding_bag, {"type": "embedding_bag"}, Shape(BAG, (100,)), W0 + ".dim"),
    (embedding.plan_embedding_bag, {"type": "embedding_bag", "dim": 0}, Shape(BAG, (100,)), W0 + ".dim"),
    (embedding.plan_embedding_bag, {"type": "embedding_bag", "dim": 2.5}, Shape(BAG, (100,)), W0 + ".dim"),
    (embedding.plan_embedding_bag, {"type": "embedding_bag", "dim": 4, "bias": "yes"}, Shape(BAG, (100,)),
     W0 + ".bias"),
    (embedding.plan_embedding_bag, {"type": "embedding_bag", "dim": 4, "mode": "mean"}, Shape(BAG, (100,)),
     W0 + ".mode"),
    (embedding.plan_embedding_bag, {"type": "embedding_bag", "dim": 4}, VEC, W0),
    (embedding.plan_embedding_bag, {"type": "embedding_bag", "dim": 4}, Shape(SEQUENCE, (5, 3)), W0),
]


@pytest.mark.parametrize("planner,spec,shape,field", BAD, ids=lambda v: v if isinstance(v, str) else None)
def test_planner_errors(planner, spec, shape, field):
    with pytest.raises(ConfigError) as info:
        planner(W0, spec, shape)
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(W0)


def test_planner_messages_name_shapes_and_first_layer():
    with pytest.raises(ConfigError, match=r"first layer.*vector \(8,\)"):
        embedding.plan_embedding_bag(W0, {"type": "embedding_bag", "dim": 4}, VEC)
    with pytest.raises(ConfigError, match=r"bag \(100,\)"):
        dropout.plan_dropout(W0, {"type": "dropout"}, Shape(BAG, (100,)))
    with pytest.raises(ConfigError, match="allowed: none, tanh"):
        activations.plan_gelu(W0, {"type": "gelu", "approximate": "erf"}, VEC)


def test_planner_defaults_and_registry():
    import json

    plans = [
        activations.PLANNERS["relu"](W0, {"type": "relu"}, VEC),
        activations.PLANNERS["leaky_relu"](W0, {"type": "leaky_relu"}, VEC),
        activations.PLANNERS["gelu"](W0, {"type": "gelu"}, VEC),
        norm.PLANNERS["layernorm"](W0, {"type": "layernorm"}, VEC),
        dropout.PLANNERS["dropout"](W0, {"type": "dropout"}, VEC),
        embedding.PLANNERS["embedding_bag"](W0, {"type": "embedding_bag", "dim": 3}, Shape(BAG, (10,))),
    ]
    specs = [p.spec for p in plans]
    assert specs == [{"type": "relu"}, {"type": "leaky_relu", "negative_slope": 0.01},
                     {"type": "gelu", "approximate": "none"},
                     {"type": "layernorm", "eps": 1e-5, "elementwise_affine": True},
                     {"type": "dropout", "p": 0.5}, {"type": "embedding_bag", "dim": 3, "bias": False}]
    json.dumps(specs)
    for p in plans:
        assert p.op == OPS[p.kind] and p.ints[0] == p.op
    assert set(activations.PLANNERS) == {"relu", "leaky_relu", "tanh", "sigmoid", "gelu"}
    assert plans[3].floats == [1e-5] and plans[3].n_params == 16
    assert plans[5].n_params == 30 and plans[5].out_shape == Shape(VECTOR, (3,))
