"""rnn / gru (the layer lists [rnn|gru, dense]) against finite differences, NumPy and PyTorch.

Conventions checked (module docstring): a row of X is ``seq_len`` steps of ``input_size``
values, time-major; Elman RNN h = tanh(W_ih x + b_ih + W_hh h + b_hh) and GRU gates r, z, n
as torch.nn.GRU; zero initial state; the reverse direction runs t = T-1..0; head ``last``
reads [h_fwd(T-1), h_bwd(0)], head ``all`` every step's [h_fwd(t), h_bwd(t)] time-major.
Flat parameters: per direction W_ih (G*H, D), W_hh (G*H, H), b_ih, b_hh; then head weight, bias.
"""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.errors import ConfigError
from reference import (assert_grad_close, assert_gradient_checks, assert_outputs_match, assert_pack_equals_alone,
                       central_fd)
from test_conv import ref_loss

# -- independent NumPy reference --------------------------------------------------------------


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def ref_unpack(params, cell, D, H, dirs, F, n_out):
    G = 3 if cell == "gru" else 1
    p, blocks = 0, []
    for _ in range(dirs):
        sizes = [(G * H, D), (G * H, H), (G * H,), (G * H,)]
        arrs = []
        for s in sizes:
            k = int(np.prod(s))
            arrs.append(params[p:p + k].reshape(s))
            p += k
        blocks.append(arrs)
    Wh = params[p:p + n_out * F].reshape(n_out, F)
    bh = params[p + n_out * F:]
    assert bh.size == n_out
    return blocks, Wh, bh


def ref_forward(params, X, cfg):
    cell, T, D, H = cfg["cell"], cfg["seq_len"], cfg["input_size"], cfg["hidden_size"]
    dirs = 2 if cfg.get("bidirectional") else 1
    head = cfg.get("head", "last")
    F = dirs * H * (T if head == "all" else 1)
    blocks, Wh, bh = ref_unpack(np.asarray(params, dtype=np.float64), cell, D, H, dirs, F, cfg["n_outputs"])
    n = X.shape[0]
    xs = np.asarray(X, dtype=np.float64).reshape(n, T, D)
    outs = np.zeros((n, T, dirs, H))
    for d, (Wi, Wr, bi, br) in enumerate(blocks):
        h = np.zeros((n, H))
        for t in (range(T - 1, -1, -1) if d == 1 else range(T)):
            gi = xs[:, t] @ Wi.T + bi
            gh = h @ Wr.T + br
            if cell == "rnn":
                h = np.tanh(gi + gh)
            else:
                r = sigmoid(gi[:, :H] + gh[:, :H])
                z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                nn_ = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                h = (1 - z) * nn_ + z * h
            outs[:, t, d] = h
    if head == "all":
        feat = outs.reshape(n, -1)
    else:
        feat = np.concatenate([outs[:, T - 1, 0]] + ([outs[:, 0, 1]] if dirs == 2 else []), axis=1)
    return feat @ Wh.T + bh


def settings(cfg):
    return {k: v for k, v in cfg.items() if k != "cell"}


CASES = []
for _cell in ("rnn", "gru"):
    for _bi in (False, True):
        for _head in ("last", "all"):
            for _loss in ("cross_entropy", "mse"):
                CASES.append({"cell": _cell, "seq_len": 5, "input_size": 2, "hidden_size": 3, "n_outputs": 3,
                              "bidirectional": _bi, "head": _head, "loss": _loss})
CASES.append({"cell": "gru", "seq_len": 9, "input_size": 1, "hidden_size": 2, "n_outputs": 2, "loss": "mse"})
CASES.append({"cell": "rnn", "seq_len": 1, "input_size": 3, "hidden_size": 4, "n_outputs": 2})


def cid(cfg):
    return (f"{cfg['cell']}-T{cfg['seq_len']}-{'bi' if cfg.get('bidirectional') else 'uni'}-"
            f"{cfg.get('head', 'last')}-{cfg.get('loss', 'cross_entropy')}")


def make(cfg, n, seed, scale=0.8):
    m = oe.model(cfg["cell"], **settings(cfg))
    rng = np.random.default_rng(seed)
    params = rng.uniform(-scale, scale, m.n_params)
    X = rng.standard_normal((n, m.n_features))
    if cfg.get("loss", "cross_entropy") == "cross_entropy":
        y = rng.integers(0, cfg["n_outputs"], n)
    else:
        y = rng.standard_normal((n, cfg["n_outputs"]))
    return m, params, X, y


@pytest.mark.parametrize("cfg", CASES, ids=cid)
def test_gradient_matches_finite_differences(cfg):
    m, params, X, y = make(cfg, 3, seed=cfg["seq_len"])
    assert_gradient_checks(m, params, X, y)


def test_gradient_reaches_the_first_step():
    """BPTT carries the loss back to x_0: a 12-step GRU's W_ih gradient changes when only x_0 changes."""
    cfg = {"cell": "gru", "seq_len": 12, "input_size": 1, "hidden_size": 4, "n_outputs": 2, "loss": "mse"}
    m, params, X, y = make(cfg, 2, seed=1, scale=1.5)
    X2 = X.copy()
    X2[:, 0] += 0.5
    assert m.loss_and_grad(params, X, y)[0] != m.loss_and_grad(params, X2, y)[0]
    fd = central_fd(lambda p: m.loss_and_grad(p, X, y)[0], params)
    assert_grad_close(m.loss_and_grad(params, X, y)[1], fd)


@pytest.mark.parametrize("cfg", CASES[::3], ids=cid)
def test_loss_metric_predict_match_numpy(cfg):
    m, params, X, y = make(cfg, 8, seed=2)
    z = ref_forward(params, X, cfg)
    loss = cfg.get("loss", "cross_entropy")
    assert_outputs_match(m, params, X, y, z, loss, ref_loss(z, y, loss))


@pytest.mark.parametrize("cfg", [c for c in CASES if c["seq_len"] == 5 and c["loss"] == "cross_entropy"] +
                         [CASES[1], CASES[-2]], ids=cid)
def test_matches_torch_autograd(cfg):
    torch = pytest.importorskip("torch")
    m, _, X, y = make(cfg, 6, seed=9)
    params = m.init(4)
    value, g = m.loss_and_grad(params, X, y)
    u = m.unpack(params)
    bi = bool(cfg.get("bidirectional"))
    net = (torch.nn.GRU if cfg["cell"] == "gru" else torch.nn.RNN)(
        cfg["input_size"], cfg["hidden_size"], batch_first=True, bidirectional=bi, dtype=torch.float64)
    with torch.no_grad():
        for k, v in net.named_parameters():
            v.copy_(torch.tensor(u[k]))
    head = torch.nn.Linear(*u["head.weight"].shape[::-1], dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.tensor(u["head.weight"]))
        head.bias.copy_(torch.tensor(u["head.bias"]))
    n = X.shape[0]
    out, h_n = net(torch.tensor(X).reshape(n, cfg["seq_len"], cfg["input_size"]))
    feat = out.reshape(n, -1) if cfg.get("head") == "all" else h_n.permute(1, 0, 2).reshape(n, -1)
    z = head(feat)
    if cfg.get("loss", "cross_entropy") == "cross_entropy":
        t_loss = torch.nn.functional.cross_entropy(z, torch.tensor(y))
    else:
        t_loss = torch.nn.functional.mse_loss(z, torch.tensor(y))
    t_loss.backward()
    grads = {**{k: v.grad for k, v in net.named_parameters()}, "head.weight": head.weight.grad,
             "head.bias": head.bias.grad}
    tg = np.concatenate([grads[k].numpy().ravel() for k, _ in m.param_shapes()])
    assert value == pytest.approx(t_loss.item(), rel=1e-12)
    err = np.abs(g - tg).max() / np.abs(tg).max()
    assert err < 1e-12, err


def test_mnist1d_gru_preset_is_the_reference_grubase():
    m = oe.model("gru", preset="mnist1d")
    assert m.spec() == {"name": "gru", "seq_len": 40, "input_size": 1, "hidden_size": 6, "n_outputs": 10,
                        "head": "all", "loss": "cross_entropy", "bidirectional": True}
    assert m.n_params == 2 * (18 * 1 + 18 * 6 + 18 + 18) + 10 * 480 + 10
    names = [n for n, _ in m.param_shapes()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"]


def test_init_is_pytorch_default():
    m = oe.model("gru", seq_len=4, hidden_size=16, n_outputs=3, head="all")
    u = m.unpack(m.init(0))
    assert np.abs(u["weight_hh_l0"]).max() <= 0.25 and np.abs(u["bias_ih_l0"]).max() > 0.2
    assert np.abs(u["head.weight"]).max() <= 1 / 8


def test_float32_agrees_with_float64():
    m, params, X, y = make(CASES[4], 5, seed=3)
    l64, g64 = m.loss_and_grad(params, X, y)
    l32, g32 = m.loss_and_grad(params.astype(np.float32), X, y)
    assert g32.dtype == np.float32 and l32 == pytest.approx(l64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=0, atol=1e-5 * np.abs(g64).max())


def test_three_d_input_is_batch_first():
    m, params, X, y = make(CASES[0], 4, seed=5)
    assert m.loss_and_grad(params, X.reshape(4, 5, 2), y)[0] == m.loss_and_grad(params, X, y)[0]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, field, text", [
    ({"n_outputs": 3}, "model.seq_len", "required"),
    ({"seq_len": 0, "n_outputs": 3}, "model.seq_len", "must be in"),
    ({"seq_len": 5, "n_outputs": 3, "hidden_size": 0}, "model.hidden_size", "must be in"),
    ({"seq_len": 5, "n_outputs": 3, "input_size": 1.5}, "model.input_size", "integer"),
    ({"seq_len": 5, "n_outputs": 3, "head": "mean"}, "model.head", "allowed: last, all"),
    ({"seq_len": 5, "n_outputs": 3, "bidirectional": "yes"}, "model.bidirectional", "true or false"),
    ({"seq_len": 5}, "model.n_outputs", "required"),
    ({"seq_len": 5, "n_outputs": 2, "loss": "l1"}, "model.loss", "allowed"),
])
@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_bad_settings_name_the_field(cell, kw, field, text):
    with pytest.raises(ConfigError, match=text) as e:
        oe.model(cell, **kw)
    assert e.value.field == field


def test_preset_only_for_gru_and_conflicts_refused():
    with pytest.raises(ConfigError, match="does not take 'preset'"):
        oe.model("rnn", preset="mnist1d")
    with pytest.raises(ConfigError, match="preset 'mnist1d' sets hidden_size") as e:
        oe.model("gru", preset="mnist1d", hidden_size=64)
    assert e.value.field == "model.hidden_size"


def test_bad_inputs_name_the_field():
    m = oe.model("gru", seq_len=6, input_size=2, hidden_size=3, n_outputs=2)
    p = m.init(0)
    y = np.zeros(3, dtype=int)
    with pytest.raises(ConfigError, match="sequence length mismatch: 5 steps of 2 inputs, built for seq_len=6") as e:
        m.loss_and_grad(p, np.zeros((3, 10)), y)
    assert e.value.field == "X"
    with pytest.raises(ConfigError, match="not a whole number of steps"):
        m.loss_and_grad(p, np.zeros((3, 11)), y)
    with pytest.raises(ConfigError, match="sequence length mismatch: 7 steps"):
        m.loss_and_grad(p, np.zeros((3, 7, 2)), y)
    with pytest.raises(ConfigError, match="wrong input rank"):
        m.loss_and_grad(p, np.zeros(12), y)
    with pytest.raises(ConfigError, match="must hold 3 class labels"):
        m.loss_and_grad(p, np.zeros((3, 12)), np.zeros(4, dtype=int))
    with pytest.raises(ConfigError, match="takes 12 input features but dataset 'iris' has 4"):
        oe.train(model=m, dataset="iris", optimizer="sgd", lr=0.1)


# -- training ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sines():
    return oe.dataset("sines", n_steps=300, window=8, horizon=2)


def test_settings_come_from_the_dataset(sines):
    s, _ = oe.train(model={"name": "gru", "hidden_size": 4}, dataset=sines, optimizer="adam", lr=1e-2,
                    batch_size=32, epochs=1)
    assert s["status"] == "ok"
    from optengine.train import resolve_model

    m = resolve_model({"name": "rnn", "hidden_size": 4}, sines)
    assert m.spec() == {"name": "rnn", "seq_len": 8, "input_size": 1, "hidden_size": 4, "n_outputs": 2,
                        "head": "last", "loss": "mse", "bidirectional": False}
    m = resolve_model({"name": "gru", "preset": "mnist1d"}, None)
    assert tuple(m.input_shape.dims) == (40, 1)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_pack_equals_trials_alone(cell, sines):
    model = {"name": cell, "hidden_size": 4, "bidirectional": cell == "gru"}
    trials = [{"optimizer": "rmsprop", "lr": 3e-3, "seed": 0, "clip": {"norm": 0.5}},
              {"optimizer": "adam", "lr": 1e-2, "seed": 1, "schedule": {"name": "cosine", "warmup_steps": 3}},
              {"optimizer": "sgd", "lr": 0.05, "seed": 2, "clip": {"value": 0.05}},
              {"optimizer": "adamw", "lr": 1e-2, "seed": 0}]
    assert_pack_equals_alone(model, sines, trials, (0, 2), batch_size=32, epochs=2)


def test_gru_forecasts_sines(sines):
    s, _ = oe.train(model={"name": "gru", "hidden_size": 8}, dataset=sines, optimizer="rmsprop", lr=1e-2,
                    batch_size=16, epochs=8, clip={"norm": 1.0})
    assert s["final_val_metric"] > 0.8


def test_preset_refuses_an_explicit_default_that_differs():
    with pytest.raises(ConfigError, match="preset 'mnist1d' sets bidirectional = True") as e:
        oe.model("gru", preset="mnist1d", bidirectional=False)
    assert e.value.field == "model.bidirectional"
    assert oe.model("gru", preset="mnist1d", hidden_size=6, seq_len=40).spec() == \
        oe.model("gru", preset="mnist1d").spec()
