"""The layer contract: what every layer kind provides to the model compiler and the driver.

A model is a list of layers (``oe.model("sequential", layers=[...])``). ``layers/program.py``
plans it once in Python: each layer kind's ``plan_<kind>(where, spec, in_shape)`` validates the
layer's fields, infers its output shape and returns a ``LayerPlan``. The plans become one integer
program (op codes and shape records) that ``layers/driver.py`` runs op by op, each op a batched
kernel of its module, so every architecture shares one compiled trainer.

Data layout. A mini-batch activation is a C-contiguous 2-D array ``(rows, width)``: one row per
sample, the sample's tensor flattened row-major in PyTorch's layout (``Shape.dims``):

- ``vector``   ``(F,)``
- ``channels`` ``(C, L)`` or ``(C, H, W)``: channel-major, as ``torch.nn.Conv1d/2d`` inputs
- ``sequence`` ``(T, I)``: time-major, as a ``batch_first=True`` recurrent input
- ``bag``      ``(V,)``: a sparse bag of words over a vocabulary of V tokens (the dataset's padded
  rows, read by ``embedding_bag`` only, which must come first)

Kernels (module level, ``@kernel``; one function may serve several kinds by reading ``r``):

    forward(r, f, W, x, y, save, tmp, training, key)
    backward(r, f, W, x, y, dy, dx, dW, save, tmp, need_dx)

- ``r``: int64 1-D, the layer's integer record (``LayerPlan.ints``); ``f``: float64 1-D, its floats.
- ``W``: the layer's parameters, a 1-D slice of the flat vector, tensors in ``LayerPlan.params``
  order, each row-major in PyTorch's shape; ``dW``: the same slice of the gradient, to OVERWRITE
  completely (every entry written).
- ``x`` ``(rows, in width)``, ``y`` ``(rows, out width)``: forward writes ``y`` completely.
- ``dy``: d(loss)/d(y); backward OVERWRITES ``dx`` (skipped when ``need_dx`` is False: the first
  layer) and ``dW``. ``x``, ``y`` are the values of the forward pass.
- ``save``: 1-D, ``rows * save_per_row`` values kept from forward to backward (gates, masks,
  argmax positions as floats); ``tmp``: 1-D scratch of ``rows * tmp_per_row + tmp_fixed``
  values, shared by all layers (not kept).
- ``training``: False at evaluation (dropout off); ``key``: int64, the step's random key
  (dropout draws from ``key``, the layer's position and the element only).
- Arrays are float32 or float64 (the parameters' dtype); constants in the kernels are cast to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import ConfigError, check_choice, check_keys, check_number

VECTOR, CHANNELS, SEQUENCE, BAG = "vector", "channels", "sequence", "bag"


@dataclass(frozen=True)
class Shape:
    """One sample's tensor: ``kind`` (vector, channels, sequence) and ``dims`` (PyTorch order, no batch)."""

    kind: str
    dims: tuple

    @property
    def width(self) -> int:
        return int(math.prod(self.dims))

    def __str__(self):
        return f"{self.kind} {tuple(self.dims)}"


@dataclass
class Param:
    """One parameter tensor: PyTorch's name and shape, and its default init.

    ``init``: ("uniform", bound) U(-bound, bound); ("normal", std); ("const", value)."""

    name: str
    shape: tuple
    init: tuple

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))


@dataclass
class LayerPlan:
    """A planned layer: its op code, records, shapes, parameters and workspace needs."""

    kind: str                       # the layer type as written in a spec ("conv2d", ...)
    op: int                         # op code (``OPS`` below)
    in_shape: Shape
    out_shape: Shape
    ints: list = field(default_factory=list)     # the record ``r`` the kernels read
    floats: list = field(default_factory=list)   # the floats ``f`` the kernels read
    params: list = field(default_factory=list)   # [Param, ...] in flat order
    save_per_row: int = 0
    tmp_per_row: int = 0
    tmp_fixed: int = 0
    spec: dict = field(default_factory=dict)     # the layer's settings, normalised (defaults filled)

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params)


# op codes: one per kind the driver dispatches on
OPS = {
    "dense": 1, "conv1d": 2, "conv2d": 3, "maxpool1d": 4, "avgpool1d": 5, "maxpool2d": 6, "avgpool2d": 7,
    "global_avg_pool": 8, "flatten": 9, "relu": 10, "leaky_relu": 11, "tanh": 12, "sigmoid": 13, "gelu": 14,
    "layernorm": 15, "dropout": 16, "residual_begin": 17, "residual_end": 18, "rnn": 19, "gru": 20, "lstm": 21,
    "embedding_bag": 22,
}


# -- helpers for the planners: errors name the layer ("model.layers[3].kernel") and the shapes ----------

def fields(where: str, spec: dict, allowed, kind: str) -> dict:
    """``spec`` without ``type``, after refusing any key the kind does not take."""
    rest = {k: v for k, v in spec.items() if k != "type"}
    check_keys(where, rest, allowed, f"layer type {kind!r}")
    return rest


def integer(where, name, value, low=1):
    return check_number(f"{where}.{name}", value, low=low, integer=True)


def int_tuple(where, name, value, n, low):
    """An int for every spatial axis, or a list of ``n`` ints (``kernel = 3`` or ``kernel = [3, 5]``)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ConfigError(f"{where}.{name}", f"must be one integer or a list of {n}, got {list(value)!r}")
        return tuple(check_number(f"{where}.{name}[{i}]", v, low=low, integer=True) for i, v in enumerate(value))
    v = check_number(f"{where}.{name}", value, low=low, integer=True)
    return (v,) * n


def flag(where, name, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{name}", f"must be true or false, got {value!r}")
    return value


def choice(where, name, value, allowed):
    return check_choice(f"{where}.{name}", value, allowed)


def need_kind(where, kind, shape: Shape, kinds, rank=None, hint=""):
    """Refuse an input shape of the wrong kind or rank, naming both shapes."""
    if shape.kind not in kinds or (rank is not None and len(shape.dims) != rank):
        want = " or ".join(kinds) + (f" of rank {rank}" if rank is not None else "")
        raise ConfigError(where, f"{kind} takes a {want} input, got {shape}{hint}")
