"""The layer engine against an independent PyTorch twin (``tests/torch_twin.py``), float64.

For ~25 architectures covering every layer type: the mean loss and the flat gradient of
``model.loss_and_grad`` equal torch autograd's (relative error ||g - g_t|| / ||g_t|| <= 1e-8), and
``evaluate()`` / ``forward()`` equal torch's evaluation-mode forward. Float64 central finite
differences of ``loss_and_grad`` for some of them (one with dropout p > 0 at a fixed key), and the
ready-made cnn1d / gru / rnn / sparse_logreg models against twins built from their ``.layers``.

A layer type the planner does not know yet (a module not merged into this build) skips its cases.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optengine as oe  # noqa: E402
from optengine.errors import ConfigError  # noqa: E402
from optengine.layers.program import KINDS  # noqa: E402

from torch_twin import as_input, load_flat, loss_and_grad, torch_loss, torch_module  # noqa: E402

GRAD_TOL = 1e-8
VALUE_TOL = 1e-10
N_ROWS = 7


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def seq(T, I):
    return {"kind": "sequence", "dims": [T, I]}


def bag(V):
    return {"kind": "bag", "dims": [V]}


D = lambda units, **kw: {"type": "dense", "units": units, **kw}  # noqa: E731
OUT = {"type": "dense"}
RELU, TANH, SIGMOID = {"type": "relu"}, {"type": "tanh"}, {"type": "sigmoid"}


def RES(*layers):
    return {"type": "residual", "layers": list(layers)}


# name: (layers, input_shape, n_outputs, loss)
ARCHS = {
    # dense + activations (relu / tanh fused into dense by the compiler)
    "mlp_relu_tanh": ([D(8), RELU, D(6), TANH, OUT], [5], 3, "cross_entropy"),
    "mlp_sigmoid_leaky_nobias": ([D(7), SIGMOID, D(6, bias=False), {"type": "leaky_relu", "negative_slope": 0.2},
                                  D(3, bias=False)], [6], 3, "cross_entropy"),
    "mlp_gelu_both_mse": ([D(6), {"type": "gelu"}, D(5), {"type": "gelu", "approximate": "tanh"}, OUT],
                          [4], 2, "mse"),
    "dense_in_out_layout": ([D(5, weight_layout="in_out"), TANH, {"type": "dense", "weight_layout": "in_out"}],
                            [4], 3, "cross_entropy"),
    "activation_first_unfused": ([{"type": "leaky_relu"}, D(6), SIGMOID, RELU, D(5), {"type": "gelu"}, TANH, OUT],
                                 [5], 4, "cross_entropy"),
    "mse_deep": ([D(6), TANH, D(6), SIGMOID, D(5), {"type": "leaky_relu", "negative_slope": 0.05}, OUT],
                 [5], 3, "mse"),
    # layernorm
    "layernorm_vector_noaffine": ([D(6), {"type": "layernorm", "eps": 1e-3, "elementwise_affine": False}, RELU, OUT],
                                  [5], 3, "cross_entropy"),
    "layernorm_over_channels": ([{"type": "layernorm"}, D(5), TANH, OUT], [3, 4], 3, "cross_entropy"),
    "flatten_channels": ([{"type": "flatten"}, D(5), RELU, OUT], [2, 3, 4], 3, "mse"),
    # residual blocks
    "residual_dense_ln_gelu": ([D(6), RES(D(6), {"type": "layernorm"}, {"type": "gelu"}), OUT],
                               [5], 3, "cross_entropy"),
    "nested_residuals": ([D(5), RES(D(5), TANH, RES(D(5), SIGMOID), D(5)), RELU, RES(RES(TANH)), OUT],
                         [4], 3, "cross_entropy"),
    # dropout (p = 0: the training forward is the identity, so the gradient compares too)
    "dropout_p0": ([D(8), RELU, {"type": "dropout", "p": 0.0}, OUT], [5], 3, "cross_entropy"),
    # embedding bags
    "embedding_bag_relu_dense": ([{"type": "embedding_bag", "dim": 6, "bias": True}, RELU, OUT],
                                 bag(20), 3, "cross_entropy"),
    "embedding_bag_nobias_tanh_mse": ([{"type": "embedding_bag", "dim": 4}, TANH, D(2)], bag(15), 2, "mse"),
    # convolutions and pools
    "conv2d_maxpool_relu_flatten_dense": ([{"type": "conv2d", "channels": 3, "kernel": 3, "padding": 1}, RELU,
                                           {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"}, D(5), RELU, OUT],
                                          [2, 6, 6], 3, "cross_entropy"),
    "conv1d_dilation_avgpool_gap": ([{"type": "conv1d", "channels": 4, "kernel": 3, "dilation": 2, "padding": 1},
                                     TANH, {"type": "avgpool1d", "kernel": 2},
                                     {"type": "conv1d", "channels": 3, "kernel": 2, "stride": 2},
                                     {"type": "global_avg_pool"}, OUT], [2, 12], 3, "cross_entropy"),
    "conv1d_vector_maxpool_pad": ([{"type": "conv1d", "channels": 3, "kernel": 3, "stride": 2}, RELU,
                                   {"type": "maxpool1d", "kernel": 2, "stride": 1, "padding": 1}, OUT],
                                  [11], 3, "cross_entropy"),
    "conv2d_rect_avgpool_gap_mse": ([{"type": "conv2d", "channels": 4, "kernel": [2, 3], "stride": [1, 2],
                                      "padding": [1, 0], "dilation": [2, 1], "bias": False}, SIGMOID,
                                     {"type": "avgpool2d", "kernel": 2, "stride": 1, "padding": 1},
                                     {"type": "global_avg_pool"}, OUT], [1, 5, 7], 2, "mse"),
    "residual_conv_relu": ([{"type": "conv1d", "channels": 4, "kernel": 3, "padding": 1},
                            RES({"type": "conv1d", "channels": 4, "kernel": 3, "padding": 1}, RELU,
                                {"type": "conv1d", "channels": 4, "kernel": 3, "padding": 1}),
                            RELU, {"type": "global_avg_pool"}, OUT], [3, 8], 3, "cross_entropy"),
    "conv2d_layernorm_gelu": ([{"type": "conv2d", "channels": 2, "kernel": 2}, {"type": "layernorm"},
                               {"type": "gelu"}, {"type": "maxpool2d", "kernel": [1, 2]}, OUT],
                              [2, 4, 5], 3, "cross_entropy"),
    # recurrent layers
    "bigru_all_dense": ([{"type": "gru", "hidden_size": 4, "bidirectional": True, "output": "all"}, OUT],
                        seq(5, 3), 3, "cross_entropy"),
    "stacked_lstm_all_last": ([{"type": "lstm", "hidden_size": 4, "output": "all"},
                               {"type": "lstm", "hidden_size": 3, "output": "last"}, OUT],
                              seq(5, 2), 3, "cross_entropy"),
    "rnn_relu_vector_input": ([{"type": "rnn", "hidden_size": 5, "input_size": 3, "nonlinearity": "relu"}, OUT],
                              [12], 3, "cross_entropy"),
    "birnn_last_tanh_mse": ([{"type": "rnn", "hidden_size": 3, "bidirectional": True, "output": "last"}, TANH, OUT],
                            seq(4, 2), 2, "mse"),
    "bilstm_last_residual": ([{"type": "lstm", "hidden_size": 3, "bidirectional": True},
                              RES(D(6), TANH), OUT], seq(4, 3), 3, "cross_entropy"),
    "conv1d_then_gru": ([{"type": "conv1d", "channels": 2, "kernel": 3, "padding": 1}, {"type": "flatten"},
                         {"type": "gru", "hidden_size": 3, "input_size": 2}, OUT], [1, 6], 3, "cross_entropy"),
}

# dropout p > 0: evaluation-mode forward only (torch's mask cannot be reproduced); finite differences below
EVAL_ONLY = {
    "dropout_eval": ([D(8), RELU, {"type": "dropout", "p": 0.3}, D(6), TANH, {"type": "dropout"}, OUT],
                     [5], 3, "cross_entropy"),
    "gru_all_dropout_eval": ([{"type": "gru", "hidden_size": 4, "output": "all"}, {"type": "dropout", "p": 0.2},
                              OUT], seq(4, 2), 2, "mse"),
}

# finite differences of loss_and_grad (smooth architectures; dropout at a fixed key)
FD_CASES = {
    "mlp_gelu_both_mse": ARCHS["mlp_gelu_both_mse"],
    "residual_dense_ln_gelu": ARCHS["residual_dense_ln_gelu"],
    "embedding_bag_nobias_tanh_mse": ARCHS["embedding_bag_nobias_tanh_mse"],
    "dropout_train_fixed_key": ([D(6), TANH, {"type": "dropout", "p": 0.4}, D(5), SIGMOID, OUT],
                                [4], 3, "cross_entropy"),
    "conv1d_dilation_avgpool_gap": ARCHS["conv1d_dilation_avgpool_gap"],
    "bigru_all_dense": ARCHS["bigru_all_dense"],
    "stacked_lstm_all_last": ARCHS["stacked_lstm_all_last"],
}


# -- helpers -------------------------------------------------------------------------------------

def kinds_in(layers):
    out = set()
    for spec in layers:
        out.add(spec["type"])
        if spec["type"] == "residual":
            out |= kinds_in(spec["layers"])
    return out


def skip_unknown(layers):
    missing = sorted(kinds_in(layers) - set(KINDS))
    if missing:
        pytest.skip(f"layer type(s) {', '.join(missing)} not in this build's planner yet")


def data(model, input_shape, n_outputs, loss, seed, n=N_ROWS):
    """Random inputs (a count matrix with an empty document for a bag) and targets."""
    rng = np.random.default_rng(seed)
    if isinstance(input_shape, dict) and input_shape["kind"] == "bag":
        V = input_shape["dims"][0]
        X = rng.integers(0, 3, size=(n, V)) * (rng.random((n, V)) < 0.3)
        X = X.astype(np.float64) * rng.choice([1.0, 0.5, -1.5], size=(n, V))
        X[1] = 0.0  # an empty document
    else:
        X = rng.normal(size=(n, model.n_features))
    if loss == "cross_entropy":
        y = rng.integers(0, n_outputs, size=n)
    else:
        y = rng.normal(size=(n, n_outputs))
    return X, y


def params_of(model, seed):
    """The default init plus noise, so layer-norm scales, zero biases etc. are all exercised."""
    p = model.init(seed, np.float64)
    rng = np.random.default_rng(seed + 99)
    return np.ascontiguousarray(p + 0.2 * rng.normal(size=p.size))


def build(layers, input_shape, n_outputs, loss):
    skip_unknown(layers)
    return oe.model("sequential", layers=layers, input_shape=input_shape, n_outputs=n_outputs, loss=loss)


def r2(out, y):
    y = np.asarray(y, dtype=np.float64).reshape(out.shape)
    ss_res = ((out - y) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - ss_res / ss_tot))


def check_eval(model, twin, params, X, y, loss):
    """forward() and evaluate() against the twin in evaluation mode."""
    twin.eval()
    with torch.no_grad():
        out_t = twin(as_input(X))
        loss_t = float(torch_loss(out_t, y, loss))
    out_t = out_t.numpy()
    out = model.forward(params, X)
    assert out.shape == out_t.shape
    assert rel(out, out_t) <= VALUE_TOL, f"forward: rel err {rel(out, out_t):.3e}"
    ev_loss, metric = model.evaluate(params, X, y)
    assert abs(ev_loss - loss_t) <= VALUE_TOL * abs(loss_t), (ev_loss, loss_t)
    if loss == "cross_entropy":
        assert metric == pytest.approx(float(np.mean(out_t.argmax(axis=1) == np.asarray(y))), abs=1e-12)
    else:
        assert metric == pytest.approx(r2(out_t, y), rel=1e-9, abs=1e-12)


def check_against_twin(model, layers, input_shape, n_outputs, loss, seed=0, grad=True, renamed=False):
    params = params_of(model, seed)
    X, y = data(model, input_shape, n_outputs, loss, seed)
    twin = torch_module(layers, input_shape, n_outputs)
    load_flat(twin, model, params, renamed=renamed)
    if grad:
        loss_t, g_t, _ = loss_and_grad(twin, model, X, y, loss, train=True, renamed=renamed)
        value, g = model.loss_and_grad(params, X, y, key=0)
        assert g.shape == g_t.shape
        assert abs(value - loss_t) <= VALUE_TOL * abs(loss_t), f"loss {value!r} vs torch {loss_t!r}"
        err = rel(g, g_t)
        if err > GRAD_TOL:  # name the worst tensor
            worst = []
            off = 0
            for name, shape in model.param_shapes():
                size = int(np.prod(shape))
                worst.append((rel(g[off:off + size], g_t[off:off + size]), name))
                off += size
            pytest.fail(f"gradient rel err {err:.3e} > {GRAD_TOL}; per tensor: "
                        + ", ".join(f"{n} {e:.2e}" for e, n in sorted(worst, reverse=True)))
    check_eval(model, twin, params, X, y, loss)


# -- tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ARCHS))
def test_loss_grad_and_forward_match_torch(name):
    layers, input_shape, n_outputs, loss = ARCHS[name]
    model = build(layers, input_shape, n_outputs, loss)
    check_against_twin(model, layers, input_shape, n_outputs, loss, seed=len(name))


@pytest.mark.parametrize("name", list(EVAL_ONLY))
def test_dropout_eval_forward_matches_torch(name):
    layers, input_shape, n_outputs, loss = EVAL_ONLY[name]
    model = build(layers, input_shape, n_outputs, loss)
    check_against_twin(model, layers, input_shape, n_outputs, loss, seed=3, grad=False)
    # training does drop: the loss at a key differs from the evaluation loss and repeats at that key
    params = params_of(model, 3)
    X, y = data(model, input_shape, n_outputs, loss, 3)
    a, ga = model.loss_and_grad(params, X, y, key=5)
    b, gb = model.loss_and_grad(params, X, y, key=5)
    assert a == b and np.array_equal(ga, gb)
    assert a != model.evaluate(params, X, y)[0]


@pytest.mark.parametrize("name", list(FD_CASES))
def test_finite_differences(name):
    layers, input_shape, n_outputs, loss = FD_CASES[name]
    model = build(layers, input_shape, n_outputs, loss)
    params = params_of(model, 11)
    X, y = data(model, input_shape, n_outputs, loss, 11)
    key = 123
    _, g = model.loss_and_grad(params, X, y, key=key)
    f = lambda p: model.loss_and_grad(p, X, y, key=key)[0]  # noqa: E731
    rng = np.random.default_rng(5)
    h = 1e-5
    gnorm = np.linalg.norm(g)
    for _ in range(3):  # random directions
        d = rng.normal(size=params.size)
        d /= np.linalg.norm(d)
        fd = (f(params + h * d) - f(params - h * d)) / (2 * h)
        assert abs(fd - g @ d) <= 1e-6 * gnorm, (name, fd, g @ d)
    for i in rng.choice(params.size, size=min(6, params.size), replace=False):  # coordinates
        e = np.zeros(params.size)
        e[i] = h
        fd = (f(params + e) - f(params - e)) / (2 * h)
        assert abs(fd - g[i]) <= 1e-6 * gnorm, (name, int(i), fd, g[i])


PRESETS = [
    ("cnn1d", {"preset": "mnist1d"}, ("conv1d",)),
    ("gru", {"preset": "mnist1d"}, ("gru",)),
    ("rnn", {"seq_len": 8, "hidden_size": 5, "n_outputs": 3}, ("rnn",)),
    ("sparse_logreg", {"vocab_size": 30, "n_classes": 3, "init": "pytorch"}, ("embedding_bag",)),
]


@pytest.mark.parametrize("name,settings,needs", PRESETS, ids=[p[0] for p in PRESETS])
def test_ready_made_models_match_torch(name, settings, needs):
    missing = [k for k in needs if k not in KINDS]
    if missing:
        pytest.skip(f"layer type(s) {', '.join(missing)} not in this build's planner yet")
    model = oe.model(name, **settings)
    layers = model.layers
    shape = model.input_shape
    input_shape = {"kind": shape.kind, "dims": list(shape.dims)}
    assert set(kinds_in(layers)) >= set(needs)
    # the ready-made models keep their own parameter names (conv0.weight, head.bias): paired in flat order
    check_against_twin(model, layers, input_shape, model.n_outputs, model.loss, seed=21, renamed=True)


def test_unknown_type_is_refused():
    """The skip above relies on the planner refusing a type it does not know with a ConfigError."""
    with pytest.raises(ConfigError) as e:
        oe.model("sequential", layers=[{"type": "no_such_layer"}], input_shape=[3], n_outputs=2)
    assert e.value.field.startswith("model.layers[0].type")
