"""The layer engine as a user meets it: layer lists from Python and specs, shape errors before any work,
one compiled trainer for every architecture, dropout, and the ready-made models as layer lists.

Gradients against torch autograd and finite differences: ``test_layers_vs_torch.py``; each layer
kind against its NumPy reference: ``test_layer_*.py``."""

from __future__ import annotations

import numpy as np
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.train import train_pack

SMALL_MNIST = {"name": "mnist1d", "num_samples": 600}
CNN = [{"type": "conv1d", "channels": 4, "kernel": 5, "stride": 2, "padding": 1}, {"type": "relu"},
       {"type": "residual", "layers": [{"type": "conv1d", "channels": 4, "kernel": 3, "padding": 1},
                                       {"type": "relu"}]},
       {"type": "maxpool1d", "kernel": 2}, {"type": "flatten"}, {"type": "dense"}]


def errors(model, dataset="mnist1d"):
    with pytest.raises(ConfigError) as e:
        oe.train(model=model, dataset=SMALL_MNIST if dataset == "mnist1d" else dataset, optimizer="sgd", lr=0.1,
                 epochs=1)
    return e.value


@pytest.mark.parametrize("layers, field, words", [
    ([{"type": "conv2d", "channels": 4, "kernel": 3}], "model.layers[0]", ["conv2d", "input_shape"]),
    ([{"type": "conv1d", "channels": 4, "kernel": 3}, {"type": "conv1d", "channels": 4, "kernel": 60}],
     "model.layers[1].kernel", ["38"]),
    ([{"type": "dense", "units": 8}, {"type": "residual", "layers": [{"type": "dense", "units": 5}]},
      {"type": "dense"}], "model.layers[1].layers", ["(8,)", "(5,)"]),
    ([{"type": "dense", "units": 8}, {"type": "rleu"}], "model.layers[1].type", ["relu"]),
    ([{"type": "dense", "units": 8}, {"type": "dense", "units": 3}], "model.layers", ["3", "10"]),
    ([{"type": "dense", "unit": 8}], "model.layers[0].unit", ["units"]),
    ([{"type": "dense", "units": 0}], "model.layers[0].units", ["[1, inf)"]),
    ([{"type": "dropout", "p": 1.5}, {"type": "dense"}], "model.layers[0].p", []),
    ([{"type": "dense", "units": 4}, {"type": "embedding_bag", "dim": 3}], "model.layers[1].type", ["first"]),
    ("dense", "model.layers", ["list"]),
    ([], "model.layers", ["non-empty"]),
    ([{"units": 3}], "model.layers[0].type", ["required"]),
])
def test_a_layer_that_does_not_fit_names_its_index_field_and_shapes(layers, field, words):
    e = errors({"name": "sequential", "layers": layers})
    assert e.field == field, str(e)
    for w in words:
        assert w in str(e), str(e)


def test_plan_refuses_what_run_refuses(tmp_path):
    from optengine.sweep.preflight import preflight
    from optengine.sweep.spec import load_spec

    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\n[model]\nname = "sequential"\nlayers = [{type = "conv1d", channels = 4, '
                    'kernel = 3}, {type = "maxpool1d", kernel = 50}, {type = "dense"}]\n'
                    '[dataset]\nname = "mnist1d"\nnum_samples = 600\n[train]\nepochs = 1\n'
                    '[optimizer]\nname = "sgd"\nlr = 0.1\n')
    from optengine.cli import main

    for command in (["plan", str(spec)], ["run", str(spec), "--out", str(tmp_path / "out")]):
        assert main(command) == 2
    assert not (tmp_path / "out").exists()


def test_a_user_architecture_trains_in_a_sweep_from_a_spec(tmp_path):
    spec = tmp_path / "mine.toml"
    spec.write_text('''name = "mine"
seeds = [0, 1]
[model]
name = "sequential"
layers = [
  {type = "conv1d", channels = 4, kernel = 5, stride = 2, padding = 1}, {type = "relu"},
  {type = "residual", layers = [{type = "conv1d", channels = 4, kernel = 3, padding = 1}, {type = "relu"}]},
  {type = "layernorm"}, {type = "dropout", p = 0.1}, {type = "flatten"}, {type = "dense"},
]
[dataset]
name = "mnist1d"
num_samples = 600
[train]
epochs = 2
batch_size = 50
[optimizer]
name = ["adam", "momentum"]
lr = [1e-2]
''')
    runs = oe.run_sweep(str(spec), out=str(tmp_path / "out"))
    assert len(runs) == 4 and set(runs.status) == {"ok"}
    assert runs.final_val_metric.mean() > 0.15  # above chance (10 classes) after two epochs
    loaded, curves = oe.load(str(tmp_path / "out"))
    assert set(loaded.trial_id) == set(runs.trial_id) and len(curves) == 8


def test_every_architecture_shares_one_compiled_trainer(compiler_entries):
    """A new architecture or a new width is data for the same compiled code: no compile after the first."""
    trial = [{"optimizer": "adam", "lr": 1e-2, "seed": 0}]
    train_pack({"name": "sequential", "layers": CNN}, SMALL_MNIST, trial, batch_size=50, epochs=1)
    compiler_entries.clear()  # the first architecture compiles (or loads) the trainer
    wider = [{**CNN[0], "channels": 9}, CNN[1], {"type": "residual", "layers": [
        {**CNN[2]["layers"][0], "channels": 9}, {"type": "relu"}]}, *CNN[3:]]
    other = [{"type": "gru", "hidden_size": 5, "output": "last"}, {"type": "layernorm"}, {"type": "gelu"},
             {"type": "dense", "units": 7}, {"type": "tanh"}, {"type": "dense"}]
    for layers in (wider, other):
        runs, _ = train_pack({"name": "sequential", "layers": layers}, SMALL_MNIST, trial, batch_size=50, epochs=1)
        assert runs.status[0] == "ok"
        assert runs.compile_s[0] < 0.5
    assert compiler_entries == [], compiler_entries


def test_dropout_is_seeded_per_trial_and_off_at_evaluation():
    layers = [{"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dropout", "p": 0.5}, {"type": "dense"}]
    trials = [{"optimizer": "adam", "lr": 1e-2, "seed": s} for s in (0, 1, 2)]
    pack, _, params = train_pack({"name": "sequential", "layers": layers}, SMALL_MNIST, trials, batch_size=50,
                                 epochs=2, dtype="float64", return_params=True)
    alone, _ = train_pack({"name": "sequential", "layers": layers}, SMALL_MNIST, trials[1:2], batch_size=50,
                          epochs=2, dtype="float64")
    assert alone.final_val_loss[0] == pack.final_val_loss[1]  # the pack does not change a trial's masks
    m = oe.model("sequential", layers=layers, input_shape=[40], n_outputs=10)
    X = np.random.default_rng(0).standard_normal((20, 40))
    y = np.arange(20) % 10
    assert m.evaluate(params[0], X, y) == m.evaluate(params[0], X, y)
    np.testing.assert_array_equal(m.forward(params[0], X), m.forward(params[0], X))
    a, b, c = (m.loss_and_grad(params[0], X, y, key=k)[0] for k in (5, 5, 6))
    assert a == b != c  # training draws masks from the step's key


def test_mlp_is_its_layer_list():
    mlp = oe.model("mlp", sizes=[6, 9, 7, 3], activation="tanh")
    assert mlp.layers[:2] == [{"type": "dense", "units": 9, "bias": True, "weight_layout": "in_out"},
                              {"type": "tanh"}]
    seq = oe.model("sequential", layers=mlp.layers, input_shape=[6], n_outputs=3)
    p = mlp.init(4)
    np.testing.assert_array_equal(seq.init(4), p)
    X = np.random.default_rng(1).standard_normal((11, 6))
    y = np.arange(11) % 3
    (l1, g1), (l2, g2) = mlp.loss_and_grad(p, X, y), seq.loss_and_grad(p, X, y)
    assert l1 == pytest.approx(l2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=0, atol=1e-13 * np.abs(g1).max())


@pytest.mark.parametrize("name, settings", [
    ("cnn1d", {"preset": "mnist1d"}), ("gru", {"preset": "mnist1d"}),
    ("rnn", {"seq_len": 40, "hidden_size": 8, "n_outputs": 10}),
])
def test_ready_made_models_are_layer_lists_with_their_layout(name, settings):
    m = oe.model(name, **settings)
    seq = oe.model("sequential", layers=m.layers, input_shape=m.spec().get("input_shape", list(m.input_shape.dims))
                   if m.input_shape.kind != "sequence" else {"kind": "sequence", "dims": list(m.input_shape.dims)},
                   n_outputs=10)
    assert seq.n_params == m.n_params
    assert [s for _, s in seq.param_shapes()] == [s for _, s in m.param_shapes()]
    p = m.init(0)
    np.testing.assert_array_equal(seq.init(0), p)
    X = np.random.default_rng(2).standard_normal((9, 40))
    y = np.arange(9)
    assert m.loss_and_grad(p, X, y)[0] == seq.loss_and_grad(p, X, y)[0]
    assert m.spec()["name"] == name  # the name and settings (and so the trial ids) stay


def test_digits_images_feed_conv2d_and_summary_shows_shapes():
    layers = [{"type": "conv2d", "channels": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
              {"type": "maxpool2d", "kernel": 2}, {"type": "global_avg_pool"}, {"type": "dense"}]
    summary, curve = oe.train(model={"name": "sequential", "layers": layers}, dataset="digits", optimizer="adam",
                              lr=1e-2, epochs=2, batch_size=64)
    assert summary["status"] == "ok" and len(curve) == 2
    m = oe.model("sequential", layers=layers, input_shape=[1, 8, 8], n_outputs=10)
    text = m.summary()
    assert "channels (4, 8, 8)" in text and "channels (4, 4, 4)" in text and "vector (4,)" in text
    assert m.spec()["layers"][0] == {"type": "conv2d", "channels": 4, "kernel": [3, 3], "stride": [1, 1],
                                     "padding": [1, 1], "dilation": [1, 1], "bias": True}


def test_optengine_list_shows_every_layer_type(capsys):
    from optengine.cli import main
    from optengine.layers.program import KINDS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Layers ("):]
    for kind in KINDS:
        assert f"\n  {kind} " in section, kind
    assert "channels='<required>'" in section and "stride='<kernel>'" in section
