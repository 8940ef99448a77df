"""An independent PyTorch twin of an optengine layer list (``oe.model("sequential", layers=[...])``).

Built from the layer list alone (no optengine code): each layer becomes the ``torch.nn`` module it
stands for, applied to the previous layer's output as a sample's tensor in PyTorch's layout, so
torch's autograd gives the reference loss and gradient.

- ``torch_module(layers, input_shape, n_outputs)``: an ``nn.Module`` taking the flat input rows
  ``(N, width)`` (a bag-of-words input: the dense ``(N, V)`` count matrix) and giving ``(N, n_outputs)``.
  Children are named ``"0"``, ``"1"``, ... (a residual block's children ``"2.0"``, ...), so its
  ``named_parameters()`` carry the names of ``model.param_shapes()``.
- ``load_flat(module, model, params)``: optengine's flat vector into the module, by name and shape
  (``renamed=True``: a ready-made model's own names, ``conv0.weight``, ``head.bias``: by flat order).
- ``flat_grad(module, model)``: torch's gradients in optengine's flat order.
- ``torch_loss(out, y, loss)``: mean cross-entropy / MSE, as optengine defines them.

Conventions written down independently from PyTorch's documentation:
- every activation between layers is the flat row of the sample's tensor (row-major), as
  optengine's driver keeps it; a layer reshapes it to its input layout ((C, L), (C, H, W), (T, I));
- ``dense`` flattens any input (``nn.Linear``); ``weight_layout = "in_out"`` stores the transpose
  of ``nn.Linear.weight``;
- ``conv1d`` / 1-D pools read a vector (F,) as one channel (1, F); pools' stride defaults to the kernel;
- recurrent layers: ``batch_first``, one layer, zero initial state; a vector (F,) input is the
  sequence (F / input_size, input_size); ``output = "last"``: ``h_n`` with the directions
  concatenated ([forward at T-1, backward at t = 0]); ``"all"``: ``output`` flattened time-major;
- ``embedding_bag``: ``F.embedding_bag(mode="sum", per_sample_weights=counts)`` plus a separate bias.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VECTOR, CHANNELS, SEQUENCE, BAG = "vector", "channels", "sequence", "bag"


def shape_of(spec):
    """(kind, dims) of an input shape: [F] / [C, L] / [C, H, W], {kind, dims}, or an object with .kind/.dims."""
    if hasattr(spec, "kind") and hasattr(spec, "dims"):
        return spec.kind, tuple(int(d) for d in spec.dims)
    if isinstance(spec, dict):
        return spec["kind"], tuple(int(d) for d in spec["dims"])
    dims = tuple(int(d) for d in spec)
    return (VECTOR if len(dims) == 1 else CHANNELS), dims


def _tuple(v, n):
    if isinstance(v, (list, tuple)):
        assert len(v) == n, (v, n)
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _width(dims):
    return int(math.prod(dims))


class TwinSequential(nn.Module):
    """Children "0", "1", ... applied in order to flat rows; each child has an ``apply`` step that
    reshapes the flat rows to its input layout and flattens its output."""

    def __init__(self, layers, shape, n_outputs=None, top=True):
        super().__init__()
        self.in_shape = shape
        self.steps = []
        for i, spec in enumerate(layers):
            last = top and i == len(layers) - 1
            module, step, shape = _build(spec, shape, n_outputs if last else None)
            self.add_module(str(i), module)
            self.steps.append(step)
        self.out_shape = shape

    def forward(self, x):
        for module, step in zip(self.children(), self.steps):
            x = step(module, x)
        return x


class Residual(TwinSequential):
    """y = x + block(x) (the block's children are named "0", "1", ...)."""

    def __init__(self, layers, shape):
        super().__init__(layers, shape, top=False)
        assert self.out_shape == shape, ("a residual block must keep its shape", shape, self.out_shape)

    def forward(self, x):
        return x + super().forward(x)


class EmbeddingBagSum(nn.Module):
    """``embedding_bag``: weight (V, dim), y = bias + sum_k count_k weight[token_k] (per-sample weights)."""

    def __init__(self, V, dim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(V, dim, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(dim, dtype=torch.float64)) if bias else None

    def forward(self, counts):
        counts = counts.detach()
        rows, cols = torch.nonzero(counts, as_tuple=True)
        values = counts[rows, cols]
        per_row = torch.bincount(rows, minlength=counts.shape[0])
        offsets = torch.cat([per_row.new_zeros(1), torch.cumsum(per_row, 0)[:-1]])
        y = F.embedding_bag(cols, self.weight, offsets, mode="sum", per_sample_weights=values)
        return y + self.bias if self.bias is not None else y


def _seq(module, x):
    return module(x)


def _reshaped(dims, out=True):
    """A step that views the flat rows as (N, *dims), runs the module, and flattens its output."""
    def step(module, x):
        y = module(x.reshape(x.shape[0], *dims))
        return y.reshape(y.shape[0], -1) if out else y
    return step


def _conv_out(size, k, s, p, d=1):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _spatial_input(kind_name, shape, n):
    kind, dims = shape
    if n == 1 and kind == VECTOR:
        return (1, dims[0])
    assert kind == CHANNELS and len(dims) == n + 1, f"{kind_name} cannot take {shape}"
    return dims


def _build(spec, shape, last_units):
    """(module, step, out_shape) of one layer on ``shape`` = (kind, dims)."""
    spec = dict(spec)
    t = spec.pop("type")
    kind, dims = shape
    width = _width(dims)
    if t == "dense":
        units = spec.get("units")
        units = last_units if units is None else int(units)
        m = nn.Linear(width, units, bias=spec.get("bias", True), dtype=torch.float64)
        m.oe_layout = spec.get("weight_layout", "out_in")
        return m, _seq, (VECTOR, (units,))
    if t in ("conv1d", "conv2d"):
        n = 1 if t == "conv1d" else 2
        cin, *sizes = _spatial_input(t, shape, n)
        k, s = _tuple(spec["kernel"], n), _tuple(spec.get("stride", 1), n)
        p, d = _tuple(spec.get("padding", 0), n), _tuple(spec.get("dilation", 1), n)
        cls = nn.Conv1d if n == 1 else nn.Conv2d
        m = cls(cin, int(spec["channels"]), k, stride=s, padding=p, dilation=d, bias=spec.get("bias", True),
                dtype=torch.float64)
        outs = tuple(_conv_out(sizes[i], k[i], s[i], p[i], d[i]) for i in range(n))
        return m, _reshaped((cin, *sizes)), (CHANNELS, (int(spec["channels"]), *outs))
    if t in ("maxpool1d", "avgpool1d", "maxpool2d", "avgpool2d"):
        n = 1 if t.endswith("1d") else 2
        cin, *sizes = _spatial_input(t, shape, n)
        k = _tuple(spec["kernel"], n)
        s = _tuple(spec["stride"], n) if spec.get("stride") is not None else k
        p = _tuple(spec.get("padding", 0), n)
        cls = {"maxpool1d": nn.MaxPool1d, "avgpool1d": nn.AvgPool1d,
               "maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d}[t]
        m = cls(k, stride=s, padding=p)  # ceil_mode False; avg: count_include_pad True (torch's defaults)
        outs = tuple(_conv_out(sizes[i], k[i], s[i], p[i]) for i in range(n))
        return m, _reshaped((cin, *sizes)), (CHANNELS, (cin, *outs))
    if t == "global_avg_pool":
        assert kind == CHANNELS and len(dims) in (2, 3), shape
        pool = nn.AdaptiveAvgPool1d(1) if len(dims) == 2 else nn.AdaptiveAvgPool2d(1)
        return nn.Sequential(pool, nn.Flatten()), _reshaped(dims), (VECTOR, (dims[0],))
    if t == "flatten":
        return nn.Flatten(), _seq, (VECTOR, (width,))
    if t in ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "dropout"):
        m = {"relu": lambda: nn.ReLU(), "tanh": lambda: nn.Tanh(), "sigmoid": lambda: nn.Sigmoid(),
             "leaky_relu": lambda: nn.LeakyReLU(spec.get("negative_slope", 0.01)),
             "gelu": lambda: nn.GELU(approximate=spec.get("approximate", "none")),
             "dropout": lambda: nn.Dropout(spec.get("p", 0.5))}[t]()
        return m, _seq, shape
    if t == "layernorm":
        m = nn.LayerNorm(list(dims), eps=spec.get("eps", 1e-5),
                         elementwise_affine=spec.get("elementwise_affine", True), dtype=torch.float64)
        return m, _reshaped(dims), shape
    if t == "residual":
        m = Residual(spec["layers"], shape)
        return m, _seq, shape
    if t in ("rnn", "gru", "lstm"):
        H = int(spec["hidden_size"])
        bidir = bool(spec.get("bidirectional", False))
        output = spec.get("output", "last")
        if kind == SEQUENCE:
            T, I = dims
            assert spec.get("input_size", I) == I
        else:
            assert kind == VECTOR, f"{t} cannot take {shape}"
            I = int(spec.get("input_size", 1))
            assert dims[0] % I == 0
            T = dims[0] // I
        extra = {"nonlinearity": spec.get("nonlinearity", "tanh")} if t == "rnn" else {}
        cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[t]
        m = cls(I, H, num_layers=1, batch_first=True, bidirectional=bidir, dtype=torch.float64, **extra)
        D = 2 if bidir else 1

        def step(module, x, T=T, I=I, output=output, lstm=(t == "lstm")):
            out, h = module(x.reshape(x.shape[0], T, I))
            if output == "all":
                return out.reshape(x.shape[0], -1)          # (N, T, D*H) time-major, [fwd_t, bwd_t]
            if lstm:
                h = h[0]
            return h.permute(1, 0, 2).reshape(x.shape[0], -1)  # h_n: [fwd at T-1, bwd at t=0]
        out_shape = (SEQUENCE, (T, D * H)) if output == "all" else (VECTOR, (D * H,))
        return m, step, out_shape
    if t == "embedding_bag":
        assert kind == BAG, shape
        m = EmbeddingBagSum(dims[0], int(spec["dim"]), spec.get("bias", False))
        return m, _seq, (VECTOR, (int(spec["dim"]),))
    raise ValueError(f"torch twin: unknown layer type {t!r}")


def torch_module(layers, input_shape, n_outputs) -> TwinSequential:
    """The torch twin of a layer list on ``input_shape``; a last dense without units gets ``n_outputs``."""
    m = TwinSequential(layers, shape_of(input_shape), n_outputs=n_outputs)
    assert _width(m.out_shape[1]) == n_outputs, (m.out_shape, n_outputs)
    return m


def _layout(module, name):
    owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
    return getattr(owner, "oe_layout", "out_in")


def _pairs(module, model, renamed):
    """[(optengine name, stored shape, torch name, torch parameter)] in optengine's flat order.

    optengine's names must be the twin's (``renamed``: the ready-made models keep their own prefixes,
    ``conv0.weight``, ``head.bias``: then the tensors pair up in flat order, which must be torch's
    ``named_parameters()`` order, and only the last part of each name must agree)."""
    named = list(module.named_parameters())
    shapes = model.param_shapes()
    if renamed:
        assert len(shapes) == len(named), f"optengine {[n for n, _ in shapes]}, torch {[n for n, _ in named]}"
        pairs = [(n, s, tn, tp) for (n, s), (tn, tp) in zip(shapes, named)]
        for n, _, tn, _ in pairs:
            assert n.split(".")[-1] == tn.split(".")[-1], f"optengine {n!r} pairs with torch {tn!r}"
    else:
        lookup = dict(named)
        names = [n for n, _ in shapes]
        assert sorted(names) == sorted(lookup), f"names differ: optengine {names}, torch {sorted(lookup)}"
        pairs = [(n, s, n, lookup[n]) for n, s in shapes]
    for n, shape, tn, tp in pairs:
        torch_shape = tuple(tp.shape)[::-1] if _layout(module, tn) == "in_out" else tuple(tp.shape)
        assert tuple(shape) == torch_shape, f"{n}: optengine {tuple(shape)}, torch {tn} {tuple(tp.shape)}"
    return pairs


def load_flat(module, model, params, renamed=False):
    """Copy optengine's flat parameters into the twin by the names and shapes of model.param_shapes()
    (``weight_layout = "in_out"``: the stored tensor is the transpose of torch's Linear weight)."""
    params = np.asarray(params, dtype=np.float64)
    off = 0
    with torch.no_grad():
        for _, shape, tn, tp in _pairs(module, model, renamed):
            size = int(math.prod(shape))
            a = params[off:off + size].reshape(shape)
            off += size
            if _layout(module, tn) == "in_out":
                a = a.T
            tp.copy_(torch.from_numpy(np.ascontiguousarray(a)))
    assert off == params.size, (off, params.size)
    return module


def flat_grad(module, model, renamed=False) -> np.ndarray:
    """torch's .grad of every parameter, in optengine's flat order and layout."""
    parts = []
    for _, _, tn, tp in _pairs(module, model, renamed):
        g = tp.grad.detach().numpy() if tp.grad is not None else np.zeros(tuple(tp.shape))
        if _layout(module, tn) == "in_out":
            g = g.T
        parts.append(np.ascontiguousarray(g).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0)


def torch_loss(out, y, loss):
    """Mean cross-entropy (integer labels) or mean squared error over samples and outputs."""
    if loss == "cross_entropy":
        return F.cross_entropy(out, torch.as_tensor(np.asarray(y), dtype=torch.long))
    t = torch.as_tensor(np.asarray(y, dtype=np.float64)).reshape(out.shape)
    return F.mse_loss(out, t)


def as_input(X) -> torch.Tensor:
    """The twin's input: float64 rows (N, width); a (N, *dims) array is flattened; a sparse matrix made dense."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    return torch.from_numpy(np.ascontiguousarray(X.reshape(X.shape[0], -1)))


def loss_and_grad(module, model, X, y, loss, train=True, renamed=False):
    """(loss, flat gradient in optengine's order, outputs) of the twin on (X, y)."""
    module.train(train)
    module.zero_grad(set_to_none=True)
    out = module(as_input(X))
    value = torch_loss(out, y, loss)
    value.backward()
    return value.item(), flat_grad(module, model, renamed), out.detach().numpy()
