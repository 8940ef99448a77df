"""cnn1d (the layer list conv1d + relu ..., flatten, dense) against finite differences, a NumPy forward pass and PyTorch.

Conventions checked (module docstring): a row of X is ``in_channels x input_length``,
channel-major; each conv layer is torch.nn.Conv1d (cross-correlation, zero padding,
L_out = floor((L + 2P - K) / S) + 1) then ReLU; flatten channel-major; Linear head.
Flat parameters: per layer weight (C_out, C_in, K) and bias, then head weight (out, C*L) and bias.
"""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.errors import ConfigError
from reference import assert_gradient_checks, assert_outputs_match, assert_pack_equals_alone


# -- independent NumPy reference --------------------------------------------------------------


def ref_layers(cfg):
    """[(C_in, C_out, K, S, P, L_in, L_out)] from the settings, written out independently."""
    n = len(cfg["channels"])
    per = {k: (cfg[k] if isinstance(cfg[k], list) else [cfg[k]] * n) for k in ("kernel_size", "stride", "padding")}
    out, cin, L = [], cfg.get("in_channels", 1), cfg["input_length"]
    for l, cout in enumerate(cfg["channels"]):
        K, S, P = per["kernel_size"][l], per["stride"][l], per["padding"][l]
        Lo = (L + 2 * P - K) // S + 1
        out.append((cin, cout, K, S, P, L, Lo))
        cin, L = cout, Lo
    return out


def ref_unpack(params, cfg):
    p, conv = 0, []
    for cin, cout, K, S, P, L, Lo in ref_layers(cfg):
        W = params[p:p + cout * cin * K].reshape(cout, cin, K)
        p += cout * cin * K
        b = params[p:p + cout]
        p += cout
        conv.append((W, b))
    F = ref_layers(cfg)[-1][1] * ref_layers(cfg)[-1][6]
    no = cfg["n_outputs"]
    Wh = params[p:p + no * F].reshape(no, F)
    bh = params[p + no * F:p + no * F + no]
    assert p + no * F + no == params.size
    return conv, Wh, bh


def ref_forward(params, X, cfg):
    """(outputs, list of conv pre-activations) by explicit sums over taps."""
    conv, Wh, bh = ref_unpack(np.asarray(params, dtype=np.float64), cfg)
    n = X.shape[0]
    a = np.asarray(X, dtype=np.float64).reshape(n, cfg.get("in_channels", 1), cfg["input_length"])
    pre = []
    for (W, b), (cin, cout, K, S, P, L, Lo) in zip(conv, ref_layers(cfg)):
        ap = np.pad(a, ((0, 0), (0, 0), (P, P)))
        z = np.empty((n, cout, Lo))
        for o in range(Lo):
            z[:, :, o] = np.einsum("nck,dck->nd", ap[:, :, o * S:o * S + K], W) + b
        pre.append(z)
        a = np.maximum(z, 0.0)
    return a.reshape(n, -1) @ Wh.T + bh, pre


def ref_loss(z, y, loss):
    if loss == "cross_entropy":
        m = z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - z[np.arange(len(z)), y]))
    return float(np.mean((z - np.asarray(y).reshape(z.shape)) ** 2))


CASES = {
    "two_layers_stride_pad": dict(input_length=12, channels=[3, 2], kernel_size=[3, 2], stride=[2, 1],
                                  padding=[1, 0], n_outputs=3),
    "two_channels_in_mse": dict(input_length=9, in_channels=2, channels=[2], kernel_size=4, stride=3, padding=2,
                                n_outputs=2, loss="mse"),
    "three_layers_stride1": dict(input_length=7, channels=[2, 2, 2], kernel_size=[3, 3, 2], stride=1,
                                 padding=[0, 1, 1], n_outputs=3),
    "stride_longer_than_kernel": dict(input_length=11, in_channels=2, channels=[3], kernel_size=2, stride=3,
                                      padding=1, n_outputs=2),
}


def problem(cfg, n, seed, margin=1e-3):
    """Random (params, X, y) whose conv pre-activations all stay >= margin away from the ReLU kink."""
    m = oe.model("cnn1d", **cfg)
    loss = cfg.get("loss", "cross_entropy")
    for attempt in range(500):
        rng = np.random.default_rng([seed, attempt])
        params = rng.uniform(-0.8, 0.8, m.n_params)
        X = rng.standard_normal((n, m.n_features))
        no = cfg["n_outputs"]
        y = rng.integers(0, no, n) if loss == "cross_entropy" else rng.standard_normal((n, no))
        _, pre = ref_forward(params, X, cfg)
        if all(np.abs(z).min() > margin for z in pre):
            return m, params, X, y
    raise AssertionError("no kink-free problem")


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("name", list(CASES))
def test_cnn_gradient_matches_finite_differences(name, batch):
    cfg = CASES[name]
    m, params, X, y = problem(cfg, batch, seed=batch)
    assert_gradient_checks(m, params, X, y)


@pytest.mark.parametrize("name", list(CASES))
def test_cnn_loss_metric_predict_match_numpy(name):
    cfg = CASES[name]
    loss = cfg.get("loss", "cross_entropy")
    m = oe.model("cnn1d", **cfg)
    rng = np.random.default_rng(3)
    n = 9
    params = rng.uniform(-0.8, 0.8, m.n_params)
    X = rng.standard_normal((n, m.n_features))
    y = rng.integers(0, cfg["n_outputs"], n) if loss == "cross_entropy" else rng.standard_normal((n, cfg["n_outputs"]))
    z, _ = ref_forward(params, X, cfg)
    assert_outputs_match(m, params, X, y, z, loss, ref_loss(z, y, loss))
    if loss == "cross_entropy":
        np.testing.assert_array_equal(m.predict(params, X), z.argmax(1))


def test_three_d_input_is_the_same_as_rows():
    cfg = CASES["two_channels_in_mse"]
    m = oe.model("cnn1d", **cfg)
    rng = np.random.default_rng(0)
    X3 = rng.standard_normal((4, 2, 9))
    y = rng.standard_normal((4, 2))
    p = m.init(1)
    assert m.loss_and_grad(p, X3, y)[0] == m.loss_and_grad(p, X3.reshape(4, 18), y)[0]


def conv_lengths(m):
    """Output length of every conv layer of a cnn1d (its layer list's planned shapes)."""
    return [item.out_shape.dims[1] for item in m.items if item.kind == "conv1d"]


def test_mnist1d_preset_is_the_reference_convbase():
    m = oe.model("cnn1d", preset="mnist1d")
    assert conv_lengths(m) == [19, 10, 5]
    assert [s for _, s in m.param_shapes()] == [(25, 1, 5), (25,), (25, 25, 3), (25,), (25, 25, 3), (25,),
                                               (10, 125), (10,)]
    assert m.n_params == 5210 and (m.n_features, m.n_outputs) == (40, 10)
    assert m.spec() == oe.model("cnn1d", input_length=40, n_outputs=10, kernel_size=[5, 3, 3]).spec()
    assert conv_lengths(oe.model("cnn1d", input_length=40, n_outputs=10, channels=[8, 8])) == [20, 10]
    with pytest.raises(ConfigError, match="model.channels"):
        oe.model("cnn1d", preset="mnist1d", channels=[8, 8])


def test_init_is_pytorch_default_and_seeded():
    m = oe.model("cnn1d", preset="mnist1d")
    p = m.init(0)
    np.testing.assert_array_equal(p, m.init(0))
    assert not np.array_equal(p, m.init(1))
    assert m.init(0, np.float32).dtype == np.float32
    for name, a in m.unpack(p).items():
        fan_in = {"conv0": 5, "conv1": 75, "conv2": 75, "head": 125}[name.split(".")[0]]
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.8 * bound


def test_float32_agrees_with_float64():
    cfg = CASES["two_layers_stride_pad"]
    m, params, X, y = problem(cfg, 6, seed=11)
    l64, g64 = m.loss_and_grad(params, X, y)
    l32, g32 = m.loss_and_grad(params.astype(np.float32), X, y)
    assert g32.dtype == np.float32
    assert l32 == pytest.approx(l64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=0, atol=1e-5 * np.abs(g64).max())


@pytest.mark.parametrize("name", ["two_layers_stride_pad", "two_channels_in_mse", "mnist1d"])
def test_cnn_matches_torch_autograd(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    cfg = {"preset": "mnist1d"} if name == "mnist1d" else CASES[name]
    m = oe.model("cnn1d", **cfg)
    layers = ref_layers(m.spec())
    rng = np.random.default_rng(4)
    n = 7
    params = m.init(2)
    X = 2.0 * rng.standard_normal((n, m.n_features))
    y = rng.integers(0, m.n_outputs, n) if m.loss == "cross_entropy" else rng.standard_normal((n, m.n_outputs))
    value, g = m.loss_and_grad(params, X, y)
    w = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True) for k, v in m.unpack(params).items()}
    a = torch.tensor(X).reshape(n, layers[0][0], layers[0][5])
    for l, (cin, cout, K, S, P, L, Lo) in enumerate(layers):
        a = F.conv1d(a, w[f"conv{l}.weight"], w[f"conv{l}.bias"], stride=S, padding=P).relu()
    out = F.linear(a.reshape(n, -1), w["head.weight"], w["head.bias"])
    t_loss = F.cross_entropy(out, torch.tensor(y)) if m.loss == "cross_entropy" else F.mse_loss(out, torch.tensor(y))
    t_loss.backward()
    tg = np.concatenate([w[k].grad.numpy().ravel() for k, _ in m.param_shapes()])
    assert value == pytest.approx(t_loss.item(), rel=1e-12)
    err = np.abs(g - tg).max() / np.abs(tg).max()
    assert err < 1e-12, err


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, field, text", [
    ({"input_length": 2, "kernel_size": [5, 3, 3]}, "model.kernel_size", "output length"),
    ({"input_length": 40, "channels": [4], "kernel_size": 3, "padding": 3}, "model.padding", "smaller than"),
    ({"input_length": 40, "kernel_size": [5, 3]}, "model.kernel_size", "3 entries"),
    ({"input_length": 40, "stride": 0}, "model.stride", "must be in"),
    ({"input_length": 40, "padding": -1}, "model.padding", "must be in"),
    ({"input_length": 40, "channels": []}, "model.channels", "list"),
    ({"input_length": 40, "channels": [4, 0, 2]}, "model.channels[1]", "must be in"),
    ({"input_length": 40, "in_channels": 0}, "model.in_channels", "must be in"),
    ({"n_outputs": 10}, "model.input_length", "required"),
    ({"input_length": 40}, "model.n_outputs", "required"),
    ({"input_length": 40, "n_outputs": 1}, "model.n_outputs", "at least 2 classes"),
    ({"input_length": 40, "loss": "hinge"}, "model.loss", "allowed"),
    ({"preset": "mnist"}, "model.preset", "did you mean 'mnist1d'"),
])
def test_bad_settings_name_the_field(kw, field, text):
    kw = {"n_outputs": 3, **kw} if "n_outputs" not in kw and field != "model.n_outputs" else kw
    with pytest.raises(ConfigError, match=text) as e:
        oe.model("cnn1d", **kw)
    assert e.value.field == field


def test_bad_inputs_name_the_field():
    m = oe.model("cnn1d", input_length=10, in_channels=2, channels=[2], n_outputs=3, kernel_size=3)
    p = m.init(0)
    y = np.zeros(3, dtype=int)
    with pytest.raises(ConfigError, match="wrong input rank") as e:
        m.loss_and_grad(p, np.zeros(20), y)
    assert e.value.field == "X"
    with pytest.raises(ConfigError, match="wrong input rank"):
        m.loss_and_grad(p, np.zeros((3, 2, 10, 1)), y)
    with pytest.raises(ConfigError, match="20 columns"):
        m.loss_and_grad(p, np.zeros((3, 19)), y)
    with pytest.raises(ConfigError, match=r"\(samples, 2, 10\)"):
        m.loss_and_grad(p, np.zeros((3, 1, 20)), y)
    with pytest.raises(ConfigError, match="labels"):
        m.loss_and_grad(p, np.zeros((3, 20)), np.array([0, 1, 3]))
    with pytest.raises(ConfigError) as e:
        oe.train(model={"name": "cnn1d", "in_channels": 3}, dataset="iris", optimizer="sgd", lr=0.1)
    assert e.value.field == "model.in_channels"


# -- training ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_signals():
    """Two classes of 1-D signals: a bump on the left or on the right half, plus noise."""
    rng = np.random.default_rng(0)
    n, L = 120, 16
    y = np.arange(n) % 2
    X = 0.3 * rng.standard_normal((n, L))
    centre = np.where(y == 0, 4, 11) + rng.integers(-1, 2, n)
    X[np.arange(n), centre] += 2.0
    return oe.dataset("arrays", X=X, y=y, task="classification", val_fraction=0.25)


def test_pack_equals_trials_alone(tiny_signals):
    model = {"name": "cnn1d", "channels": [3, 2], "kernel_size": [3, 3], "stride": [2, 1]}
    trials = [{"optimizer": "adam", "lr": 1e-2, "seed": 0},
              {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.05, "seed": 1, "schedule":
               {"name": "cosine", "warmup_steps": 5}},
              {"optimizer": "momentum", "lr": 5e-2, "seed": 2, "clip": {"norm": 0.5}},
              {"optimizer": "rmsprop", "lr": 1e-3, "seed": 0, "clip": {"value": 0.1}}]
    assert_pack_equals_alone(model, tiny_signals, trials, (1, 3), batch_size=16, epochs=3)


def test_cnn_learns_bump_position(tiny_signals):
    s, _ = oe.train(model={"name": "cnn1d", "channels": [4], "kernel_size": 3, "stride": 2}, dataset=tiny_signals,
                    optimizer="adam", lr=3e-2, batch_size=16, epochs=15)
    assert s["model"] == "cnn1d" and s["final_val_metric"] >= 0.9
