"""``LayersModel``: a model given as a list of layers, run by the one compiled driver.

``oe.model("sequential", layers=[...], input_shape=None, n_outputs=None, loss=None)`` builds one; the
ready-made ``cnn1d``, ``rnn``, ``gru`` and ``sparse_logreg`` are layer lists too (``models/presets``),
with their names and settings, so their trial ids and flat layouts are unchanged.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_choice, check_number
from .base import EVAL_CHUNK, Model
from ..layers.bag_rows import bag_rows
from ..layers.base import BAG, CHANNELS, SEQUENCE, VECTOR, Shape
from ..layers.loss import LOSSES
from ..layers.program import compile_program, layer_specs, plan_layers

LAYERS_FAMILY = 5  # the trainer's family code (``models/kernels.py``)
INPUT_KINDS = (VECTOR, CHANNELS, SEQUENCE, BAG)


class LayersModel(Model):
    """A layer list on one flat parameter vector (PyTorch's shapes and order, layer after layer)."""

    family = LAYERS_FAMILY

    def __init__(self, name: str, spec: dict, layers, input_shape: Shape, n_outputs: int, loss: str,
                 inits: dict | None = None, prefixes: dict | None = None):
        """``inits``: {parameter name: init} overriding the layers' defaults; ``prefixes``: {layer
        position: name prefix ("" for none)} renaming parameters (the ready-made models keep the names
        they always had, e.g. ``conv0.weight``, ``head.bias``, ``weight_ih_l0``)."""
        self.loss = loss
        self.task = "classification" if loss == "cross_entropy" else "regression"
        self.metric = "accuracy" if loss == "cross_entropy" else "r2"
        self.input_shape = input_shape
        self.items = plan_layers(layers, input_shape, last_units=n_outputs)
        self.program = compile_program(self.items, input_shape, LOSSES.index(loss), n_outputs)
        if prefixes:
            self.program.params = [(_renamed(name, prefixes), p, off) for name, p, off in self.program.params]
        self._inits = dict(inits or {})
        super().__init__(name, spec, self.program.ai, self.program.af, self.program.n_params,
                         input_shape.width, n_outputs)

    # -- description ---------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The layer list with every default filled in (what ``oe.model("sequential", layers=...)`` takes)."""
        return layer_specs(self.items)

    def param_shapes(self):
        """[(name, shape), ...] in flat order, names as ``torch.nn.Sequential`` would give them (the ready-made models keep
        the names they always had: ``conv0.weight``, ``head.bias``, ``weight_ih_l0``)."""
        return [(name, tuple(p.shape)) for name, p, _ in self.program.params]

    def unpack(self, params) -> dict:
        """The flat vector as named arrays (views) in PyTorch's shapes."""
        params = self._check_params(params)
        return {name: params[off:off + p.size].reshape(p.shape) for name, p, off in self.program.params}

    def summary(self) -> str:
        """One line per layer: where, type, output shape, parameters."""
        lines = [f"{'layer':<22} {'type':<16} {'output':<26} params", f"{'input':<22} {'':<16} "
                                                                       f"{str(self.input_shape):<26}"]

        def walk(items, where):
            for i, item in enumerate(items):
                w = f"{where}[{i}]"
                n = _count(item)
                lines.append(f"{w:<22} {item.kind:<16} {str(item.out_shape):<26} {n}")
                if item.kind == "residual":
                    walk(item.items, f"{w}.layers")
        walk(self.items, "layers")
        lines.append(f"{self.n_params} parameters, loss {self.loss}")
        return "\n".join(lines)

    # -- parameters ------------------------------------------------------------------------
    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        """Every tensor by its layer's default (PyTorch's: U(+-1/sqrt(fan_in)) for dense and conv,
        U(+-1/sqrt(hidden)) for recurrent, N(0, 1) for embeddings, 1 and 0 for layer norm), drawn in
        float64 from one stream of ``seed``, tensor after tensor in flat order, then cast."""
        seed, dtype = self.check_init_args(seed, dtype)
        rng = np.random.default_rng([seed, 1])
        parts = []
        for name, p, _ in self.program.params:
            kind, value = self._inits.get(name, p.init)
            if kind == "uniform":
                parts.append(rng.uniform(-value, value, p.size))
            elif kind == "normal":
                parts.append(rng.normal(0.0, value, p.size))
            else:
                parts.append(np.full(p.size, float(value)))
        flat = np.concatenate(parts) if parts else np.zeros(0)
        return np.ascontiguousarray(flat, dtype=dtype)

    # -- data ------------------------------------------------------------------------------
    def workspace_size(self, rows: int) -> int:
        return self.program.workspace_size(rows)

    def features(self, X, dtype, field: str = "X") -> np.ndarray:
        """``X`` as the driver reads it: (samples, width) rows in ``dtype``; (samples, *dims) arrays are
        flattened; a sparse bag-of-words matrix becomes padded rows (``layers/bag_rows.py``)."""
        if self.input_shape.kind == BAG:
            return bag_rows(X, dtype, field, self.input_shape.width)
        try:
            A = np.asarray(X, dtype=dtype)
        except (TypeError, ValueError):
            raise ConfigError(field, f"must be a numeric array, got {type(X).__name__}") from None
        dims = tuple(self.input_shape.dims)
        full = f"(samples, {', '.join(map(str, dims))})"
        if A.ndim not in (2, 1 + len(dims)):
            raise ConfigError(field, f"wrong input rank: {self.name} takes a 2-D array (samples x {self.n_features})"
                                     + (f" or an array {full}" if len(dims) > 1 else "")
                                     + f", got {A.ndim}-D shape {A.shape}")
        if A.ndim > 2:
            if A.shape[1:] != dims:
                raise ConfigError(field, f"must have shape {full} for this {self.name} (input {self.input_shape}), "
                                         f"got {A.shape}{self._hint(int(np.prod(A.shape[1:])), A.shape[1:])}")
            A = A.reshape(A.shape[0], -1)
        elif A.shape[1] != self.n_features:
            also = f" or {full}" if len(dims) > 1 else ""
            raise ConfigError(field, f"must have {self.n_features} columns (shape (samples, {self.n_features}){also}) "
                                     f"for this {self.name} (input {self.input_shape}), got {A.shape}"
                                     f"{self._hint(A.shape[1], None)}")
        return np.ascontiguousarray(A)

    def _hint(self, n_values, shape3):
        """Why a sequence does not fit: its length, or a width that is not whole steps."""
        if self.input_shape.kind != SEQUENCE:
            return ""
        T, D = self.input_shape.dims
        if shape3 is not None:
            return f" (sequence length mismatch: {shape3[0]} steps of {shape3[1]} inputs, built for {T} of {D})"
        if n_values % D == 0:
            return f" (sequence length mismatch: {n_values // D} steps of {D} inputs, built for seq_len={T})"
        return f" ({n_values} values is not a whole number of steps of input_size={D})"

    def forward(self, params, X) -> np.ndarray:
        """Raw outputs (logits or predicted values), one row per sample (dropout off)."""
        from ..layers.driver import layers_forward

        params = self._check_params(params)
        X = self.features(X, params.dtype)
        out = np.empty((X.shape[0], self.n_outputs), dtype=params.dtype)
        ws = np.empty(self.workspace_size(min(EVAL_CHUNK, max(1, X.shape[0]))), dtype=params.dtype)
        layers_forward(self.ai, self.af, params, X, ws, EVAL_CHUNK, out)
        return out


def _renamed(name: str, prefixes: dict) -> str:
    head, _, rest = name.partition(".")
    if head not in prefixes:
        return name
    return f"{prefixes[head]}.{rest}" if prefixes[head] else rest


def _count(item) -> int:
    if item.kind == "residual":
        return sum(_count(i) for i in item.items)
    return sum(p.size for p in item.params)


def input_shape_of(value, field="model.input_shape") -> Shape:
    """A user's ``input_shape``: [F] (vector), [C, L] / [C, H, W] (channels), or a table
    {kind = "sequence", dims = [T, I]}."""
    if isinstance(value, Shape):
        return value
    kind = None
    dims = value
    if isinstance(value, dict):
        kind = check_choice(f"{field}.kind", value.get("kind"), INPUT_KINDS)
        dims = value.get("dims")
    if not isinstance(dims, (list, tuple)) or not 1 <= len(dims) <= 3:
        raise ConfigError(field, f"must be a list of 1 to 3 sizes ([features], [channels, length] or "
                                 f"[channels, height, width]), got {value!r}")
    dims = tuple(check_number(f"{field}[{i}]", d, low=1, integer=True) for i, d in enumerate(dims))
    if kind is None:
        kind = VECTOR if len(dims) == 1 else CHANNELS
    return Shape(kind, dims)


def sequential(layers=None, input_shape=None, n_outputs=None, loss="cross_entropy"):
    """A network from a list of layers: ``oe.model("sequential", layers=[{type = "conv2d", channels = 16,
    kernel = 3, padding = 1}, {type = "relu"}, {type = "flatten"}, {type = "dense"}])``.

    With a dataset, ``input_shape`` (its image or sequence shape, else its feature count), ``n_outputs``
    (classes or targets) and ``loss`` (cross_entropy for classification, mse for regression) come
    from it, and a last ``dense`` without ``units`` gets ``n_outputs``."""
    if layers is None:
        raise ConfigError("model.layers", "is required: a list of layers, e.g. [{type = \"dense\", units = 64}, "
                                          "{type = \"relu\"}, {type = \"dense\"}]")
    loss = check_choice("model.loss", loss, LOSSES)
    if input_shape is None:
        raise ConfigError("model.input_shape", "is required without a dataset: [features], [channels, length] "
                                               "or [channels, height, width]")
    shape = input_shape_of(input_shape)
    if n_outputs is None:
        raise ConfigError("model.n_outputs", "is required without a dataset: classes (cross_entropy) or targets (mse)")
    n_out = check_number("model.n_outputs", n_outputs, low=1, integer=True)
    if loss == "cross_entropy" and n_out < 2:
        raise ConfigError("model.n_outputs", f"a cross-entropy model needs at least 2 classes, got {n_out}")
    probe = LayersModel("sequential", {}, layers, shape, n_out, loss)
    spec = {"layers": probe.layers, "input_shape": _shape_setting(shape), "n_outputs": n_out, "loss": loss}
    probe._spec = spec
    return probe


def _shape_setting(shape: Shape):
    if shape.kind in (VECTOR, CHANNELS):
        return list(shape.dims)
    return {"kind": shape.kind, "dims": list(shape.dims)}
