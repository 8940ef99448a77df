"""From a layer list to the driver's program: planning (shapes, errors) and compiling (``ai``, ``af``).

``plan_layers(layers, in_shape)`` checks every layer against the shape it receives, in order, and
names the layer (``model.layers[3].kernel``) and the shapes in any error, before any work.
``compile_program(...)`` lays the planned layers out as the ``ai`` / ``af`` arrays of
``layers/driver.py`` and the flat parameter layout (each layer's tensors in order, PyTorch's
shapes; names as ``torch.nn.Sequential`` would give them: ``"3.weight"``, ``"2.0.bias"`` inside a
residual block).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, check_choice
from . import activations, conv, dense, driver, dropout, embedding, norm, pool, recurrent
from .base import BAG, OPS, VECTOR, LayerPlan, Shape, fields

PLANNERS = {}
for _module in (dense, conv, pool, activations, norm, dropout, recurrent, embedding):
    PLANNERS.update(_module.PLANNERS)
KINDS = tuple(sorted([*PLANNERS, "flatten", "residual"]))
FUSIBLE = ("relu", "tanh")  # activations the dense kernel applies itself


@dataclass
class Residual:
    """A residual block: y = x + block(x); the block must keep the shape."""

    where: str
    in_shape: Shape
    out_shape: Shape
    items: list = field(default_factory=list)
    kind: str = "residual"


def plan_layers(layers, in_shape: Shape, where: str = "model.layers", last_units=None) -> list:
    """Plan a layer list on ``in_shape``: a list of ``LayerPlan`` / ``Residual`` (nested).

    ``last_units``: the width a final ``dense`` without ``units`` gets (the dataset's outputs)."""
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ConfigError(where, "must be a non-empty list of layers, e.g. "
                                 "[{type = \"dense\", units = 64}, {type = \"relu\"}, {type = \"dense\"}]")
    items = []
    shape = in_shape
    top = where == "model.layers"
    for i, spec in enumerate(layers):
        w = f"{where}[{i}]"
        if not isinstance(spec, dict):
            raise ConfigError(w, f"must be a table with a type, e.g. {{type = \"relu\"}}, got {spec!r}")
        if spec.get("type") is None:
            raise ConfigError(f"{w}.type", f"is required; allowed: {', '.join(KINDS)}")
        kind = check_choice(f"{w}.type", spec["type"], KINDS)
        if kind == "embedding_bag" and not (top and i == 0):
            raise ConfigError(f"{w}.type", "embedding_bag reads the sparse bag-of-words input, so it must be "
                                           "the first layer (model.layers[0])")
        if shape.kind == BAG and kind != "embedding_bag":
            raise ConfigError(f"{w}.type", f"the input is a sparse bag of words ({shape}): the first layer must "
                                           "be {type = \"embedding_bag\", dim = ...}")
        if kind == "flatten":
            fields(w, spec, [], "flatten")
            plan = LayerPlan("flatten", OPS["flatten"], shape, Shape(VECTOR, (shape.width,)))
        elif kind == "residual":
            f = fields(w, spec, ["layers"], "residual")
            inner = plan_layers(f.get("layers"), shape, f"{w}.layers")
            out = inner[-1].out_shape
            if out != shape:
                raise ConfigError(f"{w}.layers", f"a residual block must give back its input's shape to add it: "
                                                 f"input {shape}, the block's output {out}")
            plan = Residual(w, shape, out, inner)
        else:
            if last_units is not None and top and i == len(layers) - 1 and kind == "dense" \
                    and spec.get("units") is None:
                spec = {**spec, "units": last_units}
            plan = PLANNERS[kind](w, spec, shape)
        items.append(plan)
        shape = plan.out_shape
    return items


def layer_specs(items) -> list:
    """The planned layers as a normalised layer list (defaults filled), as a spec would write it."""
    out = []
    for item in items:
        if isinstance(item, Residual):
            out.append({"type": "residual", "layers": layer_specs(item.items)})
        else:
            out.append({"type": item.kind, **item.spec})
    return out


@dataclass
class Program:
    """A compiled model: the driver's arrays, the flat parameter layout and the per-row workspace."""

    ai: np.ndarray
    af: np.ndarray
    params: list        # [(name, Param, offset)] in flat order
    n_params: int
    n_ops: int
    acts_per_row: int   # sum of activation widths
    save_per_row: int
    tmp: list           # [(per_row, fixed)] per op

    def workspace_size(self, rows: int) -> int:
        rows = max(1, int(rows))
        tmp = max([r * rows + f for r, f in self.tmp] + [0])
        return int(rows * (2 * self.acts_per_row + self.save_per_row) + tmp + 1)


def compile_program(items, in_shape: Shape, loss_code: int, n_outputs: int) -> Program:
    """Lay the planned layers out as the driver's ``ai`` / ``af`` (see ``layers/driver.py``)."""
    acts = [0 if in_shape.kind == BAG else in_shape.width]
    ops = []        # per op: dict of the op-table fields
    ints, floats = [], []
    params = []
    state = {"p": 0, "save": 0}

    def emit(code, a_in, width, plan=None, aux=0, prefix=""):
        acts.append(width)
        op = {"code": code, "in": a_in, "out": len(acts) - 1, "p": state["p"], "np": 0, "save": state["save"],
              "saverow": 0, "tmprow": 0, "tmpfixed": 0, "r": len(ints), "rlen": 0, "f": len(floats), "flen": 0,
              "aux": aux}
        if plan is not None:
            op.update(np=plan.n_params, saverow=plan.save_per_row, tmprow=plan.tmp_per_row,
                      tmpfixed=plan.tmp_fixed, rlen=len(plan.ints), flen=len(plan.floats))
            ints.extend(int(v) for v in plan.ints)
            floats.extend(float(v) for v in plan.floats)
            for prm in plan.params:
                params.append((f"{prefix}.{prm.name}", prm, state["p"]))
                state["p"] += prm.size
            state["save"] += plan.save_per_row
        ops.append(op)
        return op["out"]

    def walk(items, a_cur, path):
        skip_next = False
        for i, item in enumerate(items):
            name = f"{path}{i}"
            if skip_next:
                skip_next = False
                continue
            if isinstance(item, Residual):
                begin = len(ops)
                b_out = emit(OPS["residual_begin"], a_cur, item.in_shape.width)
                inner = walk(item.items, b_out, f"{name}.")
                a_cur = emit(OPS["residual_end"], inner, item.out_shape.width, aux=b_out)
                ops[begin]["aux"] = a_cur
            elif item.kind == "flatten":
                continue  # the same activation under a flat shape
            else:
                nxt = items[i + 1] if i + 1 < len(items) else None
                if item.kind == "dense" and isinstance(nxt, LayerPlan) and nxt.kind in FUSIBLE:
                    dense.fuse_activation(item, nxt.kind)
                    skip_next = True
                a_cur = emit(item.op, a_cur, item.out_shape.width, item, prefix=name)
        return a_cur

    out_act = walk(items, 0, "")
    if acts[out_act] != n_outputs:
        raise ConfigError("model.layers", f"the model outputs {acts[out_act]} values but needs {n_outputs}")
    n_header = driver.N_HEADER
    acts_at = n_header
    ops_at = acts_at + driver.ACT_FIELDS * len(acts)
    rec_at = ops_at + driver.OP_FIELDS * len(ops)
    ai = np.zeros(rec_at + len(ints), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(acts)[:-1]]).astype(np.int64)
    ai[driver.H_NOPS] = len(ops)
    ai[driver.H_NACTS] = len(acts)
    ai[driver.H_LOSS] = loss_code
    ai[driver.H_NOUT] = n_outputs
    ai[driver.H_SUMW] = int(sum(acts))
    ai[driver.H_SUMSAVE] = state["save"]
    ai[driver.H_OPS] = ops_at
    ai[driver.H_ACTS] = acts_at
    ai[driver.H_BAG] = int(in_shape.kind == BAG)
    ai[driver.H_OUT] = out_act
    for a, (w, off) in enumerate(zip(acts, offsets)):
        ai[acts_at + driver.ACT_FIELDS * a + driver.A_WIDTH] = w
        ai[acts_at + driver.ACT_FIELDS * a + driver.A_OFF] = off
    keys = ("code", "in", "out", "p", "np", "save", "saverow", "tmprow", "tmpfixed", "r", "rlen", "f", "flen", "aux")
    for o, op in enumerate(ops):
        op = dict(op, r=op["r"] + rec_at)
        for k, key in enumerate(keys):
            ai[ops_at + driver.OP_FIELDS * o + k] = op[key]
    ai[rec_at:] = ints
    af = np.array(floats + [0.0], dtype=np.float64)
    return Program(ai=ai, af=af, params=params, n_params=state["p"], n_ops=len(ops), acts_per_row=int(sum(acts)),
                   save_per_row=state["save"], tmp=[(op["tmprow"], op["tmpfixed"]) for op in ops])


# -- for ``optengine list``: every layer type with its settings and defaults ---------------------------
_REQUIRED = {"dense": {"units": 1}, "conv1d": {"channels": 1, "kernel": 1}, "conv2d": {"channels": 1, "kernel": 1},
             "maxpool1d": {"kernel": 1}, "avgpool1d": {"kernel": 1}, "maxpool2d": {"kernel": 1},
             "avgpool2d": {"kernel": 1}, "rnn": {"hidden_size": 1}, "gru": {"hidden_size": 1},
             "lstm": {"hidden_size": 1}, "embedding_bag": {"dim": 1}}


def _probe_shape(kind: str) -> Shape:
    from .base import CHANNELS, SEQUENCE

    if kind.endswith("2d"):
        return Shape(CHANNELS, (1, 4, 4))
    if kind.endswith("1d") or kind == "global_avg_pool":
        return Shape(CHANNELS, (1, 4))
    if kind in ("rnn", "gru", "lstm"):
        return Shape(SEQUENCE, (2, 1))
    if kind == "embedding_bag":
        return Shape(BAG, (4,))
    return Shape(VECTOR, (4,))


def describe() -> dict:
    """{layer type: {setting: default or "<required>"}} (``residual`` takes ``layers``; ``flatten`` nothing)."""
    out = {}
    for kind in sorted(PLANNERS):
        plan = PLANNERS[kind]("model.layers[0]", {"type": kind, **_REQUIRED.get(kind, {})}, _probe_shape(kind))
        settings = {k: ("<required>" if k in _REQUIRED.get(kind, {}) else v) for k, v in plan.spec.items()}
        for k in _REQUIRED.get(kind, {}):
            settings[k] = "<required>"
        settings.pop("weight_layout", None)
        settings.pop("type", None)
        if "pool" in kind and "stride" in settings:
            settings["stride"] = "<kernel>"
        if kind in ("rnn", "gru", "lstm"):
            settings.pop("input_size", None)
            settings["input_size"] = 1
        out[kind] = settings
    out["flatten"] = {}
    out["residual"] = {"layers": "<required>"}
    return dict(sorted(out.items()))
