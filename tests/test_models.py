"""Models (``optengine/models``) against finite differences and an independent NumPy forward pass.

Conventions checked (``models/dense.py`` docstring): layer l maps sizes[l] -> sizes[l+1] by
z = a @ W_l + b_l, with W_l stored row-major as sizes[l] x sizes[l+1] followed by b_l; hidden
layers apply relu or tanh, the output is linear. Cross-entropy = mean_i [logsumexp(z_i) - z_i[y_i]];
MSE = mean over samples AND outputs of (z - y)^2; R^2 = 1 - SS_res / SS_tot per output, averaged over outputs (scikit-learn's default).
Surfaces: a data row x_i is a gradient-noise draw and the sample loss is f(theta) - noise x_i . theta.
"""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.errors import ConfigError
from reference import unpack_dense as ref_unpack
from reference import FD_H, assert_grad_close, assert_gradient_checks, central_fd


# -- independent NumPy reference ----------------------------------------------------------------


def ref_forward(params, X, sizes, activation):
    """(outputs, list of hidden pre-activations)."""
    a = np.asarray(X, dtype=np.float64)
    pre = []
    layers = ref_unpack(np.asarray(params, dtype=np.float64), sizes)
    for l, (W, b) in enumerate(layers):
        z = a @ W + b
        if l < len(layers) - 1:
            pre.append(z)
            a = np.maximum(z, 0.0) if activation == "relu" else np.tanh(z)
        else:
            a = z
    return a, pre


def ref_loss(z, y, loss):
    if loss == "cross_entropy":
        m = z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - z[np.arange(z.shape[0]), y]))
    y = np.asarray(y, dtype=np.float64).reshape(z.shape)
    return float(np.mean((z - y) ** 2))


def ref_metric(z, y, loss):
    if loss == "cross_entropy":
        return float(np.mean(z.argmax(axis=1) == y))
    y = np.asarray(y, dtype=np.float64).reshape(z.shape)
    ss_res = np.sum((z - y) ** 2, axis=0)
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - ss_res / ss_tot))


# -- cases ------------------------------------------------------------------------------------


def dense_settings(case):
    """(model name, settings, sizes, activation, loss) for a named case."""
    kind = case[0]
    if kind == "linreg":
        _, nf, no = case
        return "linear_regression", {"n_features": nf, "n_outputs": no}, [nf, no], "relu", "mse"
    if kind == "softmax":
        _, nf, nc = case
        return "softmax_regression", {"n_features": nf, "n_classes": nc}, [nf, nc], "relu", "cross_entropy"
    _, sizes, act, loss = case
    return "mlp", {"sizes": list(sizes), "activation": act, "loss": loss}, list(sizes), act, loss


DENSE_CASES = [
    ("linreg", 4, 1),
    ("linreg", 4, 3),
    ("softmax", 4, 3),
]
for _act in ("relu", "tanh"):
    for _loss in ("cross_entropy", "mse"):
        for _sizes in ([3, 4, 3], [3, 4, 3, 3], [3, 3, 3, 3, 2]):
            DENSE_CASES.append(("mlp", tuple(_sizes), _act, _loss))


def case_id(case):
    if case[0] == "mlp":
        return f"mlp{'-'.join(map(str, case[1]))}-{case[2]}-{case[3]}"
    return f"{case[0]}{case[1]}x{case[2]}"


def make_data(sizes, loss, n, rng):
    X = rng.standard_normal((n, sizes[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    else:
        y = rng.standard_normal((n, sizes[-1]))
        if sizes[-1] == 1 and n % 2:
            y = y[:, 0]  # 1-D targets are accepted for one output
    return X, y


def kink_free_problem(sizes, activation, loss, n, seed, margin=1e-3):
    """Random (params, X, y) whose hidden pre-activations all stay >= margin away from 0."""
    for attempt in range(200):
        rng = np.random.default_rng([seed, attempt])
        params = rng.uniform(-0.8, 0.8, oe_n_params(sizes))
        X, y = make_data(sizes, loss, n, rng)
        _, pre = ref_forward(params, X, sizes, activation)
        if activation != "relu" or all(np.abs(z).min() > margin for z in pre):
            return params, X, y
    raise AssertionError("could not draw a kink-free relu problem")


def oe_n_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


# -- 1. gradients vs central finite differences ------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("case", DENSE_CASES, ids=case_id)
def test_dense_gradient_matches_finite_differences(case, batch):
    name, settings, sizes, act, loss = dense_settings(case)
    m = oe.model(name, **settings)
    assert m.n_params == oe_n_params(sizes) <= 60
    params, X, y = kink_free_problem(sizes, act, loss, batch, seed=len(sizes) * 10 + batch)
    assert_gradient_checks(m, params, X, y)  # also: inputs left alone, repeatable


def test_relu_perturbation_stays_off_kinks():
    """The margin used for relu problems is far larger than any change an h-step can cause."""
    sizes = [3, 3, 3, 3, 2]
    params, X, _ = kink_free_problem(sizes, "relu", "mse", 7, seed=1)
    _, pre = ref_forward(params, X, sizes, "relu")
    for i in range(params.size):
        p = params.copy()
        p[i] += FD_H
        _, pre_p = ref_forward(p, X, sizes, "relu")
        for z, zp in zip(pre, pre_p):
            assert np.all(np.sign(z) == np.sign(zp))


# -- 2. losses, metrics and predictions vs NumPy ----------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 1100])  # 1100 rows spans several evaluation chunks of 512
@pytest.mark.parametrize("case", DENSE_CASES, ids=case_id)
def test_dense_loss_metric_predict_match_numpy(case, n):
    name, settings, sizes, act, loss = dense_settings(case)
    m = oe.model(name, **settings)
    rng = np.random.default_rng([n, len(sizes)])
    params = rng.uniform(-0.8, 0.8, m.n_params)
    X, y = make_data(sizes, loss, n, rng)
    z, _ = ref_forward(params, X, sizes, act)

    want_loss = ref_loss(z, y, loss)
    value, _ = m.loss_and_grad(params, X, y)
    assert value == pytest.approx(want_loss, rel=1e-12, abs=1e-14)

    ev_loss, metric = m.evaluate(params, X, y)
    assert ev_loss == pytest.approx(want_loss, rel=1e-12, abs=1e-14)
    if loss == "cross_entropy" or n > 1:
        assert metric == pytest.approx(ref_metric(z, y, loss), rel=1e-10, abs=1e-12)

    pred = m.predict(params, X)
    if loss == "cross_entropy":
        np.testing.assert_array_equal(pred, z.argmax(axis=1))
    elif sizes[-1] == 1:
        assert pred.shape == (n,)
        np.testing.assert_allclose(pred, z[:, 0], rtol=1e-12, atol=1e-14)
    else:
        assert pred.shape == (n, sizes[-1])
        np.testing.assert_allclose(pred, z, rtol=1e-12, atol=1e-14)


def test_model_attributes():
    m = oe.model("mlp", sizes=[5, 4, 3])
    assert (m.n_features, m.n_outputs, m.n_params) == (5, 3, 5 * 4 + 4 + 4 * 3 + 3)
    assert (m.task, m.metric) == ("classification", "accuracy")
    r = oe.model("mlp", sizes=[5, 4, 2], loss="mse")
    assert (r.task, r.metric) == ("regression", "r2")
    assert oe.model("linear_regression", n_features=3).metric == "r2"
    assert oe.model("softmax_regression", n_features=3, n_classes=4).metric == "accuracy"
    spec = m.spec()
    assert oe.model(**spec).spec() == spec


def test_r2_averaged_over_outputs_as_scikit_learn():
    """R^2 is per output, then averaged (scikit-learn's r2_score default), not pooled."""
    from sklearn.metrics import r2_score

    m = oe.model("linear_regression", n_features=2, n_outputs=2)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # output 0 has tiny spread, output 1 large spread: pooled and averaged R^2 differ
    y = np.array([[0.1, 10.0], [0.2, -10.0], [0.0, 5.0], [0.3, -5.0]])
    params = np.zeros(m.n_params)
    ss_res = np.sum(y ** 2, axis=0)
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    loss, r2 = m.evaluate(params, X, y)
    assert loss == pytest.approx(np.mean(y ** 2))
    assert r2 == pytest.approx(np.mean(1.0 - ss_res / ss_tot), rel=1e-12)
    assert r2 == pytest.approx(r2_score(y, np.zeros_like(y)), rel=1e-12)
    pooled = 1.0 - ss_res.sum() / ss_tot.sum()
    assert abs(r2 - pooled) > 0.1  # the case tells the two apart
    # constant targets: 1 when predicted exactly, else 0 (as scikit-learn)
    const = np.tile([[0.0, 2.0]], (4, 1))
    assert m.evaluate(params, X, const)[1] == pytest.approx(r2_score(const, np.zeros_like(const)))
    # perfect fit -> R^2 == 1, MSE == 0
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([0.5, -0.5])
    yp = X @ W + b
    loss, r2 = m.evaluate(np.concatenate([W.ravel(), b]), X, yp)
    assert loss == pytest.approx(0.0, abs=1e-24)
    assert r2 == pytest.approx(1.0)


def test_cross_entropy_is_stable_for_large_logits():
    m = oe.model("softmax_regression", n_features=1, n_classes=3)
    params = np.array([1000.0, -1000.0, 0.0, 0.0, 0.0, 0.0])
    X = np.array([[1.0], [1.0]])
    y = np.array([0, 1])
    loss, g = m.loss_and_grad(params, X, y)
    assert np.isfinite(loss) and np.all(np.isfinite(g))
    assert loss == pytest.approx(0.5 * (0.0 + 2000.0))


# -- 3. surfaces --------------------------------------------------------------------------------


def ref_surface(name, x, y, **kw):
    if name == "rosenbrock":
        a, b = kw.get("a", 1.0), kw.get("b", 100.0)
        return (a - x) ** 2 + b * (y - x ** 2) ** 2
    if name == "ravine":
        return 0.5 * (x ** 2 + kw.get("kappa", 100.0) * y ** 2)
    if name == "beale":
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2
    h1, h2 = kw.get("scales", (1.0, 1.0))
    return 0.5 * (h1 * x ** 2 + h2 * y ** 2)


SURFACES = [
    ("rosenbrock", {}),
    ("rosenbrock", {"a": 2.0, "b": 10.0}),
    ("ravine", {}),
    ("ravine", {"kappa": 7.0}),
    ("beale", {}),
    ("noisy_quadratic", {"scales": (3.0, 0.5)}),
]
POINTS = [(-1.5, 2.0), (0.3, -0.7), (1.2, 1.1), (2.5, 0.25), (-0.4, 0.9)]


@pytest.mark.parametrize("name,kw", SURFACES, ids=lambda v: str(v))
def test_surface_value_and_gradient(name, kw):
    m = oe.model(name, **kw)
    assert m.n_params == 2 and m.task == "surface"
    for pt in POINTS:
        p = np.array(pt)
        f, g = m.loss_and_grad(p)  # X=None: noise-free
        assert f == pytest.approx(ref_surface(name, *pt, **kw), rel=1e-13, abs=1e-13)
        assert m.value(*pt) == pytest.approx(f, rel=1e-15, abs=0)
        assert m.predict(p) == pytest.approx(f, rel=1e-15, abs=0)
        fd = central_fd(lambda q: ref_surface(name, q[0], q[1], **kw), p)
        assert_grad_close(g, fd)
        fd_model = central_fd(lambda q: m.loss_and_grad(q)[0], p)
        assert_grad_close(g, fd_model)


@pytest.mark.parametrize("name,kw,minimum", [
    ("rosenbrock", {}, (1.0, 1.0)),
    ("rosenbrock", {"a": 2.0}, (2.0, 4.0)),
    ("beale", {}, (3.0, 0.5)),
    ("ravine", {}, (0.0, 0.0)),
    ("noisy_quadratic", {}, (0.0, 0.0)),
])
def test_surface_minimum(name, kw, minimum):
    m = oe.model(name, **kw)
    assert m.minimum == minimum
    p = np.array(minimum)
    f, g = m.loss_and_grad(p)
    assert f == pytest.approx(0.0, abs=1e-14)
    np.testing.assert_allclose(g, 0.0, atol=1e-12)
    loss, dist = m.evaluate(p)
    assert loss == pytest.approx(0.0, abs=1e-14) and dist == 0.0
    # distance metric away from the minimum
    q = p + np.array([3.0, 4.0])
    loss, dist = m.evaluate(q)
    assert dist == pytest.approx(5.0)
    assert loss == pytest.approx(ref_surface(name, *q, **kw))
    # the minimum is a local minimum
    for d in ([1e-3, 0], [0, 1e-3], [-1e-3, 1e-3]):
        assert m.loss_and_grad(p + np.array(d))[0] > f


@pytest.mark.parametrize("name,kw", [("noisy_quadratic", {"scales": (2.0, 0.5), "noise": 0.7}),
                                     ("rosenbrock", {"noise": 0.3})])
def test_surface_gradient_noise(name, kw):
    m = oe.model(name, **kw)
    noise = kw["noise"]
    p = np.array([0.8, -1.3])
    f_clean, g_clean = m.loss_and_grad(p)
    assert f_clean == pytest.approx(ref_surface(name, *p, **kw))
    rng = np.random.default_rng(5)
    for n in (1, 4, 50):
        X = rng.standard_normal((n, 2))
        mean = X.mean(axis=0)
        f, g = m.loss_and_grad(p, X)
        np.testing.assert_allclose(g, g_clean - noise * mean, rtol=1e-12, atol=1e-14)
        assert f == pytest.approx(f_clean - noise * mean @ p, rel=1e-12, abs=1e-14)
        # the noisy sample loss's gradient is still its exact derivative
        assert_grad_close(g, central_fd(lambda q: m.loss_and_grad(q, X)[0], p))
    # zero rows (the validation split) are noise-free
    f0, g0 = m.loss_and_grad(p, np.zeros((3, 2)))
    assert f0 == f_clean
    np.testing.assert_array_equal(g0, g_clean)


def test_noisy_quadratic_noise_free_without_data():
    m = oe.model("noisy_quadratic", noise=5.0)
    p = np.array([2.0, -1.0])
    f, g = m.loss_and_grad(p)
    assert f == pytest.approx(0.5 * (4.0 + 1.0))
    np.testing.assert_allclose(g, [2.0, -1.0])
    # repeatable: no hidden randomness
    f2, g2 = m.loss_and_grad(p)
    assert f2 == f
    np.testing.assert_array_equal(g2, g)
    # noise averages out over many draws (unbiased)
    X = np.random.default_rng(0).standard_normal((200_000, 2))
    _, gn = m.loss_and_grad(p, X)
    np.testing.assert_allclose(gn, g, atol=5.0 * 5 / np.sqrt(200_000))


# -- 4. initialisation --------------------------------------------------------------------------

INIT_MODELS = [
    ("mlp", {"sizes": [5, 7, 3]}),
    ("mlp", {"sizes": [5, 7, 6, 3], "init": "he"}),
    ("mlp", {"sizes": [5, 7, 2], "init": "glorot", "loss": "mse"}),
    ("linear_regression", {"n_features": 4, "n_outputs": 2, "init": "pytorch"}),
    ("softmax_regression", {"n_features": 4, "n_classes": 3, "init": "glorot"}),
]


@pytest.mark.parametrize("name,kw", INIT_MODELS, ids=lambda v: str(v))
def test_init_deterministic_and_seeded(name, kw):
    m = oe.model(name, **kw)
    a = m.init(seed=3)
    assert a.shape == (m.n_params,) and a.dtype == np.float64
    np.testing.assert_array_equal(a, m.init(seed=3))
    np.testing.assert_array_equal(a, oe.model(name, **kw).init(seed=3))
    assert not np.array_equal(a, m.init(seed=4))
    f32 = m.init(seed=3, dtype=np.float32)
    assert f32.dtype == np.float32 and f32.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(f32, a.astype(np.float32))


def test_pytorch_init_bounds():
    sizes = [9, 16, 4, 3]
    m = oe.model("mlp", sizes=sizes)  # pytorch is the MLP default
    assert m.spec()["init"] == "pytorch"
    for seed in range(5):
        layers = ref_unpack(m.init(seed), sizes)
        for (W, b), fan_in in zip(layers, sizes[:-1]):
            bound = 1.0 / np.sqrt(fan_in)
            assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
            # actually spread over the interval, biases included
            assert np.abs(W).max() > 0.5 * bound and np.abs(b).max() > 0.0


def test_he_and_glorot_init_bounds():
    sizes = [9, 16, 4, 3]
    he = ref_unpack(oe.model("mlp", sizes=sizes, init="he").init(0), sizes)
    for l, ((W, b), din, dout) in enumerate(zip(he, sizes[:-1], sizes[1:])):
        bound = np.sqrt(6.0 / (din + dout)) if l == len(he) - 1 else np.sqrt(6.0 / din)
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.3 * bound
        np.testing.assert_array_equal(b, 0.0)
    gl = ref_unpack(oe.model("mlp", sizes=sizes, init="glorot").init(0), sizes)
    for (W, b), din, dout in zip(gl, sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / (din + dout))
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.3 * bound
        np.testing.assert_array_equal(b, 0.0)


@pytest.mark.parametrize("name,kw", [("linear_regression", {"n_features": 4, "n_outputs": 2}),
                                     ("softmax_regression", {"n_features": 4, "n_classes": 3}),
                                     ("mlp", {"sizes": [4, 3, 2], "init": "zeros"})])
def test_zeros_init(name, kw):
    m = oe.model(name, **kw)
    assert m.spec()["init"] == "zeros"
    for seed in (0, 1):
        for dtype in (np.float64, np.float32):
            p = m.init(seed, dtype)
            assert p.dtype == dtype and p.shape == (m.n_params,)
            np.testing.assert_array_equal(p, 0.0)


def test_surface_init():
    m = oe.model("rosenbrock")
    np.testing.assert_array_equal(m.init(0), [-1.5, 2.0])
    np.testing.assert_array_equal(m.init(7), [-1.5, 2.0])
    j = oe.model("beale", start=(1.0, 1.0), init_scale=0.1)
    a = j.init(2)
    np.testing.assert_array_equal(a, j.init(2))
    assert not np.array_equal(a, j.init(3))
    assert np.all(np.abs(a - [1.0, 1.0]) < 1.0)
    np.testing.assert_array_equal(j.init(2, np.float32), a.astype(np.float32))


# -- 5. float32 vs float64 ----------------------------------------------------------------------


@pytest.mark.parametrize("case", DENSE_CASES, ids=case_id)
def test_float32_agrees_with_float64(case):
    name, settings, sizes, act, loss = dense_settings(case)
    m = oe.model(name, **settings)
    rng = np.random.default_rng(11)
    params = rng.uniform(-0.8, 0.8, m.n_params).astype(np.float32).astype(np.float64)
    X, y = make_data(sizes, loss, 16, rng)
    X = X.astype(np.float32).astype(np.float64)
    if loss == "mse":
        y = y.astype(np.float32).astype(np.float64)
    l64, g64 = m.loss_and_grad(params, X, y)
    l32, g32 = m.loss_and_grad(params.astype(np.float32), X.astype(np.float32), y)
    assert g32.dtype == np.float32
    assert l32 == pytest.approx(l64, rel=1e-5)
    scale = np.linalg.norm(g64)
    assert np.linalg.norm(g32 - g64) <= 1e-5 * scale
    e64 = m.evaluate(params, X, y)
    e32 = m.evaluate(params.astype(np.float32), X.astype(np.float32), y)
    assert e32[0] == pytest.approx(e64[0], rel=1e-5)
    assert e32[1] == pytest.approx(e64[1], rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(m.predict(params.astype(np.float32), X.astype(np.float32)),
                               m.predict(params, X), rtol=1e-4, atol=1e-5)


def test_float32_surface():
    m = oe.model("rosenbrock")
    p = np.array([0.3, -0.7])
    f64, g64 = m.loss_and_grad(p)
    f32, g32 = m.loss_and_grad(p.astype(np.float32))
    assert g32.dtype == np.float32
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-5)


# -- 6. errors ----------------------------------------------------------------------------------


def raises(field, fn, *args, **kw):
    with pytest.raises(ValueError) as info:
        fn(*args, **kw)
    assert isinstance(info.value, ConfigError)
    assert info.value.field == field
    assert field in str(info.value)
    return str(info.value)


def test_unknown_model_suggests_close_name():
    msg = raises("model.name", oe.model, "mpl", sizes=[2, 2])
    assert "'mlp'" in msg
    msg = raises("model.name", oe.model, "rosenbrok")
    assert "'rosenbrock'" in msg


def test_unknown_setting():
    msg = raises("model.activaton", oe.model, "mlp", sizes=[2, 3, 2], activaton="tanh")
    assert "'activation'" in msg
    raises("model.n_classes", oe.model, "linear_regression", n_features=3, n_classes=2)
    raises("model.sizes", oe.model, "rosenbrock", sizes=[2, 2])


@pytest.mark.parametrize("kw,field", [
    ({"sizes": [4]}, "model.sizes"),
    ({"sizes": []}, "model.sizes"),
    ({"sizes": 4}, "model.sizes"),
    ({}, "model.sizes"),
    ({"sizes": [4, 0, 2]}, "model.sizes[1]"),
    ({"sizes": [4, 3, 0]}, "model.sizes[2]"),
    ({"sizes": [4, 2.5, 2]}, "model.sizes[1]"),
    ({"sizes": [4, 1]}, "model.sizes"),  # cross-entropy needs >= 2 classes
    ({"sizes": [4, 3, 2], "activation": "sigmoid"}, "model.activation"),
    ({"sizes": [4, 3, 2], "loss": "hinge"}, "model.loss"),
    ({"sizes": [4, 3, 2], "init": "xavier"}, "model.init"),
])
def test_bad_mlp_settings(kw, field):
    raises(field, oe.model, "mlp", **kw)


def test_bad_regression_settings():
    raises("model.init", oe.model, "linear_regression", n_features=3, init="ones")
    raises("model.n_features", oe.model, "linear_regression")
    raises("model.n_outputs", oe.model, "linear_regression", n_features=3, n_outputs=0)
    raises("model.n_classes", oe.model, "softmax_regression", n_features=3)
    raises("model.n_classes", oe.model, "softmax_regression", n_features=3, n_classes=1)
    raises("model.b", oe.model, "rosenbrock", b=0.0)
    raises("model.start", oe.model, "beale", start=(1.0,))
    raises("model.noise", oe.model, "noisy_quadratic", noise=-1.0)
    raises("model.scales[1]", oe.model, "noisy_quadratic", scales=(1.0, 0.0))


def test_bad_data():
    clf = oe.model("mlp", sizes=[3, 4, 3])
    reg = oe.model("linear_regression", n_features=3, n_outputs=2)
    p, pr = clf.init(0), reg.init(0)
    X = np.zeros((5, 3))
    y = np.array([0, 1, 2, 0, 1])
    yr = np.zeros((5, 2))
    # X with the wrong number of columns
    for fn, args in ((clf.loss_and_grad, (p, np.zeros((5, 4)), y)), (clf.evaluate, (p, np.zeros((5, 2)), y)),
                     (clf.predict, (p, np.zeros((5, 4)))), (reg.loss_and_grad, (pr, np.zeros((5, 4)), yr)),
                     (clf.loss_and_grad, (p, np.zeros(3), y[:1]))):
        raises("X", fn, *args)
    # labels out of range / not integers
    for bad in ([0, 1, 3, 0, 1], [0, -1, 2, 0, 1], [0, 1.5, 2, 0, 1]):
        msg = raises("y", clf.loss_and_grad, p, X, np.array(bad))
        assert "[0, 2]" in msg
        raises("y", clf.evaluate, p, X, np.array(bad))
    # y of the wrong length / shape
    raises("y", clf.loss_and_grad, p, X, y[:4])
    raises("y", clf.evaluate, p, X, np.zeros((5, 1), dtype=int))
    raises("y", reg.loss_and_grad, pr, X, yr[:4])
    raises("y", reg.loss_and_grad, pr, X, np.zeros((5, 3)))
    raises("y", reg.evaluate, pr, X, np.zeros(5))  # 1-D only for one output
    # params of the wrong length / kind
    for bad in (p[:-1], np.append(p, 0.0), p.astype(np.int64), list(p), p.reshape(1, -1)):
        raises("params", clf.loss_and_grad, bad, X, y)
        raises("params", clf.predict, bad, X)
    raises("params", oe.model("ravine").loss_and_grad, np.zeros(3))


def test_more_bad_input_names_the_field():
    m = oe.model("mlp", sizes=[2, 3])
    p = m.init(0)
    cases = [("X", lambda: m.loss_and_grad(p, np.zeros((0, 2)), np.zeros(0))),
             ("y", lambda: m.loss_and_grad(p, np.zeros((2, 2)), np.array(["a", "b"]))),
             ("X", lambda: m.loss_and_grad(p, [["a", "b"]], [0])),
             ("seed", lambda: m.init(-1)),
             ("seed", lambda: m.init(1.5)),
             ("dtype", lambda: m.init(0, np.float16))]
    for field, call in cases:
        with pytest.raises(ValueError) as err:
            call()
        assert err.value.field == field, str(err.value)
