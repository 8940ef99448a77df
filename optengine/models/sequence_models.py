"""The sequence models' Model classes and builders: ``cnn1d``, ``rnn``, ``gru``.

Kernels and conventions: ``models/conv.py`` (1-D CNN) and ``models/recurrent.py``
(Elman RNN, GRU, BPTT). Both follow PyTorch, parameter for parameter, and store every
tensor row-major in PyTorch's shape (``param_shapes()`` lists them in flat order).
Inputs are rows of X (channel-major for the CNN, time-major for the recurrent nets);
3-D arrays (samples, channels, length) / (samples, steps, inputs) are accepted too.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_choice, check_number
from . import conv, kernels, recurrent
from .base import Model
from .heads import LOSSES

PRESETS = {
    # MNIST-1D reference models (github.com/greydanus/mnist1d, models.py: ConvBase, GRUBase)
    "cnn1d": {"mnist1d": {"input_length": 40, "in_channels": 1, "channels": [25, 25, 25], "kernel_size": [5, 3, 3],
                          "stride": [2, 2, 2], "padding": [1, 1, 1], "n_outputs": 10, "loss": "cross_entropy"}},
    "gru": {"mnist1d": {"seq_len": 40, "input_size": 1, "hidden_size": 6, "bidirectional": True, "head": "all",
                        "n_outputs": 10, "loss": "cross_entropy"}},
}


class SequenceModel(Model):
    """Shared plumbing: PyTorch-default init, 2-D/3-D inputs, forward and predict."""

    seq_shape: tuple  # the 3-D layout of one row: (channels, length) or (steps, inputs)
    seq_axes: tuple   # names of those two axes

    def __init__(self, name, spec, ai, loss):
        self.loss = loss
        self.task = "classification" if loss == "cross_entropy" else "regression"
        self.metric = "accuracy" if loss == "cross_entropy" else "r2"
        shapes = self._shapes(ai)
        n = int(sum(int(np.prod(s)) for _, s in shapes))
        n_out = int(shapes[-1][1][0])
        super().__init__(name, spec, ai, np.zeros(1), n, int(np.prod(self.seq_shape)), n_out)

    def param_shapes(self):
        """[(PyTorch parameter name, shape), ...] in flat order."""
        return self._shapes(self.ai)

    def unpack(self, params) -> dict:
        """The flat vector as named arrays (views) in PyTorch's shapes."""
        params = self._check_params(params)
        out, p = {}, 0
        for name, shape in self.param_shapes():
            size = int(np.prod(shape))
            out[name] = params[p:p + size].reshape(shape)
            p += size
        return out

    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        """PyTorch's default init: every tensor ~ U(+-1/sqrt(fan_in)) (Conv1d and Linear: fan_in =
        inputs per output; RNN/GRU: 1/sqrt(hidden_size)); drawn in float64 from ``seed``, then cast."""
        seed, dtype = self.check_init_args(seed, dtype)
        rng = np.random.default_rng([seed, 1])
        parts = [rng.uniform(-b, b, size) for b, size in self._bounds()]
        return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)

    def features(self, X, dtype, field: str = "X") -> np.ndarray:
        try:
            A = np.asarray(X, dtype=dtype)
        except (TypeError, ValueError):
            raise ConfigError(field, f"must be a numeric 2-D or 3-D array, got {type(X).__name__}") from None
        a, b = self.seq_shape
        if A.ndim == 3:
            if A.shape[1:] != (a, b):
                raise ConfigError(field, f"a 3-D input must have shape (samples, {a}, {b}) = (samples, "
                                         f"{self.seq_axes[0]}, {self.seq_axes[1]}) for this {self.name}, "
                                         f"got {A.shape}{self._hint(A.shape[1] * A.shape[2], A.shape[1:])}")
            A = A.reshape(A.shape[0], a * b)
        elif A.ndim != 2:
            raise ConfigError(field, f"wrong input rank: {self.name} takes a 2-D array (samples x {a * b}) "
                                     f"or a 3-D array (samples, {a}, {b}), got {A.ndim}-D shape {A.shape}")
        elif A.shape[1] != a * b:
            raise ConfigError(field, f"must have {a * b} columns for this {self.name} ({self.seq_axes[0]}={a} x "
                                     f"{self.seq_axes[1]}={b}), got shape {A.shape}{self._hint(A.shape[1], None)}")
        return np.ascontiguousarray(A)

    def _hint(self, n_values, shape3):
        return ""

    def forward(self, params, X) -> np.ndarray:
        """Raw outputs (logits or predicted values), one row per sample."""
        params = self._check_params(params)
        X = self.features(X, params.dtype)
        out = np.empty((X.shape[0], self.n_outputs), dtype=params.dtype)
        ws = np.empty(self.workspace_size(1), dtype=params.dtype)
        self._forward_kernel(self.ai, params, X, ws, out)
        return out


class CNN1dModel(SequenceModel):
    """1-D CNN: Conv1d + ReLU layers, flatten, linear head (``models/conv.py``)."""

    family = kernels.CONV
    seq_axes = ("in_channels", "input_length")

    def __init__(self, name, spec, ai, loss):
        self.seq_shape = (int(ai[conv.A_CIN]), int(ai[conv.A_LIN]))
        super().__init__(name, spec, ai, loss)

    @staticmethod
    def _shapes(ai):
        return conv.shapes(ai)

    def _bounds(self):
        out = []
        for name, shape in self.param_shapes():
            if name.endswith("weight"):
                fan_in = int(np.prod(shape[1:]))
            out.append((1.0 / np.sqrt(fan_in), int(np.prod(shape))))
        return out

    @staticmethod
    def _forward_kernel(ai, params, X, ws, out):
        kernels.ROWS_FORWARD[kernels.CONV](ai, params, X, ws, out)

    def workspace_size(self, rows: int) -> int:
        return conv.workspace_size(self.ai)

    def layer_lengths(self):
        """Output length of every conv layer."""
        n = int(self.ai[conv.A_NCONV])
        return [int(self.ai[conv.A_LAYERS + conv.PER_LAYER * l + conv.L_LOUT]) for l in range(n)]


class RecurrentModel(SequenceModel):
    """Elman RNN or GRU over a sequence, BPTT, linear head (``models/recurrent.py``)."""

    family = kernels.RECURRENT
    seq_axes = ("seq_len", "input_size")

    def __init__(self, name, spec, ai, loss):
        self.seq_shape = (int(ai[recurrent.A_T]), int(ai[recurrent.A_D]))
        super().__init__(name, spec, ai, loss)

    def _hint(self, n_values, shape3):
        T, D = self.seq_shape
        if shape3 is not None:
            return f" (sequence length mismatch: {shape3[0]} steps of {shape3[1]} inputs, built for {T} of {D})"
        if n_values % D == 0:
            return f" (sequence length mismatch: {n_values // D} steps of {D} inputs, built for seq_len={T})"
        return f" ({n_values} values is not a whole number of steps of input_size={D})"

    @staticmethod
    def _shapes(ai):
        return recurrent.shapes(ai)

    def _bounds(self):
        H = int(self.ai[recurrent.A_H])
        out = []
        for name, shape in self.param_shapes():
            bound = 1.0 / np.sqrt(H)
            if name.startswith("head"):
                bound = 1.0 / np.sqrt(recurrent.n_features_head(self.ai))
            out.append((bound, int(np.prod(shape))))
        return out

    @staticmethod
    def _forward_kernel(ai, params, X, ws, out):
        kernels.ROWS_FORWARD[kernels.RECURRENT](ai, params, X, ws, out)

    def workspace_size(self, rows: int) -> int:
        return recurrent.workspace_size(self.ai)


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
        out = conv.out_length(length, ks[l], st[l], pd_[l])
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
    ai = conv.arch(cin, lin, list(zip(ch, ks, st, pd_)), n_out, LOSSES.index(loss))
    spec = {"input_length": lin, "in_channels": cin, "channels": ch, "kernel_size": ks, "stride": st,
            "padding": pd_, "n_outputs": n_out, "loss": loss}
    return CNN1dModel("cnn1d", spec, ai, loss)


REC_DEFAULTS = {"input_size": 1, "hidden_size": 32, "bidirectional": False, "head": "last", "loss": "cross_entropy"}


def _recurrent(cell, seq_len, input_size, hidden_size, n_outputs, head, loss, bidirectional, preset):
    s = _apply_preset(cell, preset, {"seq_len": seq_len, "input_size": input_size, "hidden_size": hidden_size,
                                     "n_outputs": n_outputs, "head": head, "loss": loss,
                                     "bidirectional": bidirectional}, REC_DEFAULTS)
    loss = _loss(s["loss"])
    head = check_choice("model.head", s["head"], recurrent.HEADS)
    if not isinstance(s["bidirectional"], (bool, np.bool_)):
        raise ConfigError("model.bidirectional", f"must be true or false, got {s['bidirectional']!r}")
    if s["seq_len"] is None:
        raise ConfigError("model.seq_len", "is required: time steps per sequence (or give a dataset so it can be "
                                           "inferred)")
    T = check_number("model.seq_len", s["seq_len"], low=1, integer=True)
    D = check_number("model.input_size", s["input_size"], low=1, integer=True)
    H = check_number("model.hidden_size", s["hidden_size"], low=1, integer=True)
    n_out = _n_outputs(s["n_outputs"], loss)
    ai = recurrent.arch(cell, D, H, T, bool(s["bidirectional"]), head, LOSSES.index(loss), n_out)
    spec = {"seq_len": T, "input_size": D, "hidden_size": H, "n_outputs": n_out, "head": head, "loss": loss,
            "bidirectional": bool(s["bidirectional"])}
    return RecurrentModel(cell, spec, ai, loss)


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
