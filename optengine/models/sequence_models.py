"""The ready-made sequence models ``cnn1d``, ``rnn`` and ``gru``: builders that check their settings
and return the equivalent layer list as a ``LayersModel`` (``layers/``), under their own name and
settings (so their trial ids do not change).

Both follow PyTorch, parameter for parameter, and store every tensor row-major in PyTorch's shape
(``param_shapes()`` lists them in flat order). Inputs are rows of X (channel-major for the CNN,
time-major for the recurrent nets); 3-D arrays (samples, channels, length) / (samples, steps,
inputs) are accepted too.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_choice, check_number
from ..layers.base import CHANNELS, SEQUENCE, Shape
from ..layers.loss import LOSSES
from .layered import LayersModel

HEADS = ("last", "all")


def out_length(length: int, kernel_size: int, stride: int, padding: int) -> int:
    """Conv1d output length floor((L + 2P - K) / S) + 1 (< 1: the layer does not fit)."""
    return (length + 2 * padding - kernel_size) // stride + 1

PRESETS = {
    # MNIST-1D reference models (github.com/greydanus/mnist1d, models.py: ConvBase, GRUBase)
    "cnn1d": {"mnist1d": {"input_length": 40, "in_channels": 1, "channels": [25, 25, 25], "kernel_size": [5, 3, 3],
                          "stride": [2, 2, 2], "padding": [1, 1, 1], "n_outputs": 10, "loss": "cross_entropy"}},
    "gru": {"mnist1d": {"seq_len": 40, "input_size": 1, "hidden_size": 6, "bidirectional": True, "head": "all",
                        "n_outputs": 10, "loss": "cross_entropy"}},
}


def _cnn_layers(channels, kernels, strides, paddings):
    """The ``cnn1d`` preset as layers: Conv1d + ReLU per entry, flatten, Linear (PyTorch's layout)."""
    layers = []
    for c, k, st, p in zip(channels, kernels, strides, paddings):
        layers += [{"type": "conv1d", "channels": c, "kernel": k, "stride": st, "padding": p}, {"type": "relu"}]
    return layers + [{"type": "flatten"}, {"type": "dense"}]


def _recurrent_layers(cell, input_size, hidden_size, bidirectional, head):
    """The ``rnn`` / ``gru`` presets as layers: one recurrent layer, then Linear on its last state(s)
    (``head = "last"``) or on every step's output (``"all"``)."""
    return [{"type": cell, "hidden_size": hidden_size, "bidirectional": bidirectional, "output": head,
             "input_size": input_size}, {"type": "dense"}]


# -- builders ---------------------------------------------------------------------------------


def _per_layer(field, value, n_layers, low):
    """An int for every layer, or a list with one entry per layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_layers:
            raise ConfigError(field, f"must have {n_layers} entries (one per conv layer, as channels), "
                                     f"got {len(value)}: {list(value)!r}")
        return [check_number(f"{field}[{i}]", v, low=low, integer=True) for i, v in enumerate(value)]
    v = check_number(field, value, low=low, integer=True)
    return [v] * n_layers


def resolve_preset(name, settings: dict) -> dict:
    """``settings`` with ``preset`` expanded: the preset fills every setting not given; a given
    setting that differs from the preset is refused (``oe.model`` calls this, so it knows exactly
    which settings were given)."""
    if settings.get("preset") is None or name not in PRESETS:
        return settings
    preset = check_choice("model.preset", settings["preset"], list(PRESETS[name]))
    out = {k: v for k, v in settings.items() if k != "preset"}
    for key, value in PRESETS[name][preset].items():
        if out.get(key) is None:
            out[key] = value
        elif not _same(out[key], value):
            raise ConfigError(f"model.{key}", f"preset {preset!r} sets {key} = {value!r}; got {out[key]!r} "
                                              "(leave it out, or drop the preset)")
    return out


def _same(given, value) -> bool:
    """Whether a given setting equals the preset's (one int stands for the same value in every layer)."""
    given = list(given) if isinstance(given, tuple) else given
    if isinstance(value, list) and not isinstance(given, list):
        return all(_same(given, v) for v in value)
    if isinstance(value, bool) or isinstance(given, bool):
        return type(given) is type(value) and given == value
    return given == value


def _apply_preset(name, preset, given: dict, defaults: dict) -> dict:
    """A preset given to the builder directly: it fills what is left at its default (``oe.model``
    expands presets earlier, with ``resolve_preset``, and also refuses explicit defaults that differ)."""
    if preset is None:
        return given
    table = PRESETS[name]
    check_choice("model.preset", preset, list(table))
    out = dict(given)
    for key, value in table[preset].items():
        current = given.get(key)
        norm = list(current) if isinstance(current, tuple) else current
        if current is None or norm == defaults.get(key):
            out[key] = value
        elif not _same(current, value):
            raise ConfigError(f"model.{key}", f"preset {preset!r} sets {key} = {value!r}; got {current!r} "
                                              "(leave it out, or drop the preset)")
    return out


def _loss(loss):
    return check_choice("model.loss", loss, LOSSES)


def _n_outputs(n_outputs, loss):
    if n_outputs is None:
        raise ConfigError("model.n_outputs", "is required: classes (cross_entropy) or predicted values (mse) "
                                             "(or give a dataset so it can be inferred)")
    n = check_number("model.n_outputs", n_outputs, low=1, integer=True)
    if loss == "cross_entropy" and n < 2:
        raise ConfigError("model.n_outputs", f"a cross-entropy model needs at least 2 classes, got {n}")
    return n


CNN_DEFAULTS = {"in_channels": 1, "channels": [25, 25, 25], "kernel_size": 3, "stride": 2, "padding": 1,
                "loss": "cross_entropy"}


def cnn1d(input_length=None, in_channels=1, channels=(25, 25, 25), kernel_size=3, stride=2, padding=1,
          n_outputs=None, loss="cross_entropy", preset=None):
    """1-D CNN: Conv1d(kernel_size, stride, padding) + ReLU per entry of ``channels``, flatten, Linear.

    ``kernel_size``, ``stride``, ``padding``: one int for every layer or a list per layer.
    ``n_outputs``: classes (cross_entropy) or predicted values (mse). ``preset = "mnist1d"``:
    the MNIST-1D reference ConvBase (3 x 25 channels, kernels 5/3/3, stride 2, padding 1,
    40 inputs, 10 classes). With a dataset, input_length and n_outputs come from it.
    """
    s = _apply_preset("cnn1d", preset, {"input_length": input_length, "in_channels": in_channels,
                                        "channels": channels, "kernel_size": kernel_size, "stride": stride,
                                        "padding": padding, "n_outputs": n_outputs, "loss": loss}, CNN_DEFAULTS)
    loss = _loss(s["loss"])
    cin = check_number("model.in_channels", s["in_channels"], low=1, integer=True)
    if s["input_length"] is None:
        raise ConfigError("model.input_length", "is required (or give a dataset so it can be inferred)")
    lin = check_number("model.input_length", s["input_length"], low=1, integer=True)
    ch = s["channels"]
    if not isinstance(ch, (list, tuple)) or len(ch) < 1:
        raise ConfigError("model.channels", f"must be a list of output channels, one per conv layer, got {ch!r}")
    ch = [check_number(f"model.channels[{i}]", c, low=1, integer=True) for i, c in enumerate(ch)]
    ks = _per_layer("model.kernel_size", s["kernel_size"], len(ch), 1)
    st = _per_layer("model.stride", s["stride"], len(ch), 1)
    pd_ = _per_layer("model.padding", s["padding"], len(ch), 0)
    length = lin
    for l in range(len(ch)):
        out = out_length(length, ks[l], st[l], pd_[l])
        if out < 1:
            raise ConfigError("model.kernel_size", f"conv layer {l} gets length {length}; kernel_size={ks[l]} with "
                                                   f"padding={pd_[l]} leaves output length {out} < 1 "
                                                   "(need length + 2*padding >= kernel_size): use fewer layers, "
                                                   "smaller kernels or strides, or more padding")
        if pd_[l] >= ks[l] and pd_[l] > 0:
            raise ConfigError("model.padding", f"conv layer {l}: padding={pd_[l]} must be smaller than "
                                               f"kernel_size={ks[l]} (outputs would see only padding)")
        length = out
    n_out = _n_outputs(s["n_outputs"], loss)
    spec = {"input_length": lin, "in_channels": cin, "channels": ch, "kernel_size": ks, "stride": st,
            "padding": pd_, "n_outputs": n_out, "loss": loss}
    names = {str(2 * l): f"conv{l}" for l in range(len(ch))}
    names[str(2 * len(ch) + 1)] = "head"
    return LayersModel("cnn1d", spec, _cnn_layers(ch, ks, st, pd_), Shape(CHANNELS, (cin, lin)), n_out, loss,
                       prefixes=names)


REC_DEFAULTS = {"input_size": 1, "hidden_size": 32, "bidirectional": False, "head": "last", "loss": "cross_entropy"}


def _recurrent(cell, seq_len, input_size, hidden_size, n_outputs, head, loss, bidirectional, preset):
    s = _apply_preset(cell, preset, {"seq_len": seq_len, "input_size": input_size, "hidden_size": hidden_size,
                                     "n_outputs": n_outputs, "head": head, "loss": loss,
                                     "bidirectional": bidirectional}, REC_DEFAULTS)
    loss = _loss(s["loss"])
    head = check_choice("model.head", s["head"], HEADS)
    if not isinstance(s["bidirectional"], (bool, np.bool_)):
        raise ConfigError("model.bidirectional", f"must be true or false, got {s['bidirectional']!r}")
    if s["seq_len"] is None:
        raise ConfigError("model.seq_len", "is required: time steps per sequence (or give a dataset so it can be "
                                           "inferred)")
    T = check_number("model.seq_len", s["seq_len"], low=1, integer=True)
    D = check_number("model.input_size", s["input_size"], low=1, integer=True)
    H = check_number("model.hidden_size", s["hidden_size"], low=1, integer=True)
    n_out = _n_outputs(s["n_outputs"], loss)
    spec = {"seq_len": T, "input_size": D, "hidden_size": H, "n_outputs": n_out, "head": head, "loss": loss,
            "bidirectional": bool(s["bidirectional"])}
    layers = _recurrent_layers(cell, D, H, bool(s["bidirectional"]), head)
    return LayersModel(cell, spec, layers, Shape(SEQUENCE, (T, D)), n_out, loss, prefixes={"0": "", "1": "head"})


def rnn(seq_len=None, input_size=1, hidden_size=32, n_outputs=None, head="last", loss="cross_entropy",
        bidirectional=False):
    """Elman RNN (tanh, as ``torch.nn.RNN``) over ``seq_len`` steps of ``input_size`` values, then Linear.

    ``head``: ``last`` (final state(s)) or ``all`` (every step's state, flattened). ``loss``:
    cross_entropy (sequence classification) or mse (forecasting ``n_outputs`` next values).
    """
    return _recurrent("rnn", seq_len, input_size, hidden_size, n_outputs, head, loss, bidirectional, None)


def gru(seq_len=None, input_size=1, hidden_size=32, n_outputs=None, head="last", loss="cross_entropy",
        bidirectional=False, preset=None):
    """GRU (``torch.nn.GRU`` equations, gates r, z, n) over ``seq_len`` steps, then Linear.

    As ``rnn``; ``preset = "mnist1d"``: the MNIST-1D reference GRUBase (bidirectional, hidden 6,
    head ``all`` over 40 steps, 10 classes).
    """
    return _recurrent("gru", seq_len, input_size, hidden_size, n_outputs, head, loss, bidirectional, preset)
