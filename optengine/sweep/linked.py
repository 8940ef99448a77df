"""Linked axes: the learning rate (and the warmup) follow the batch size, ``[scaling]`` in a spec.

::

    [train]
    batch_size = [32, 64, 128, 256]
    [optimizer]
    lr = [0.05, 0.1, 0.2]          # base learning rates: the lr at base_batch
    [scaling]
    lr = "linear"                  # or "sqrt"
    base_batch = 32
    warmup = "linear"              # "sqrt" or "none"; default: the same rule as lr

A trial at batch size ``B`` trains with ``lr x k``, where ``k = B / base_batch`` (linear, Goyal et
al. 2017) or ``sqrt(B / base_batch)`` (sqrt, e.g. for Adam); the schedule's ``lr_min`` and
``warmup_start`` are scaled with it, so the schedule keeps its shape. The warmup's length in
steps is multiplied by ``base_batch / B`` (linear: the same number of warmup *epochs* at every
batch size) or ``sqrt(base_batch / B)`` (sqrt), rounded to the nearest step and at least 1 when
it was set; with ``unit = "epoch"`` it is counted in epochs, so it is multiplied by 1 (linear)
or ``sqrt(B / base_batch)`` (sqrt). Scaled learning rates are rounded to 12 significant digits
(``0.1 x 3`` is ``0.3``, as written by hand).

Only the listed (or sampled) base values are crossed with the batch sizes: 3 base lrs at 4
batch sizes are 12 configurations, not a grid of every scaled lr at every batch size. A trial's
``trial_id`` hashes what it trains (the scaled values), so a scaled trial has the id of the same
configuration written out by hand, and configurations without ``[scaling]`` keep their ids. The
runner adds the runs column ``lr_base`` (the unscaled lr; a column read like a hyperparameter
column: float64, optional, NaN in folders without it).
"""

from __future__ import annotations

import math

from ..errors import check_choice, check_number, closest
from .problems import Problems

SCALING_KEYS = ("lr", "base_batch", "warmup")
LR_RULES = ("linear", "sqrt")
WARMUP_RULES = ("linear", "sqrt", "none")
MAX_BATCH = 2**31 - 1


def parse_scaling(table, spec_batches: list, search: dict | None, kind_axes: dict, p: Problems) -> dict | None:
    """``[scaling]`` checked -> ``{"lr", "base_batch", "warmup"}`` or None; problems name ``scaling.<key>``
    (or ``train.batch_size`` / ``search.batch_size`` when the batch sizes cannot be scaled)."""
    if table is None:
        return None
    if not isinstance(table, dict):
        p.add("scaling", f"must be a table like {{lr = \"linear\", base_batch = 32}}, got {table!r}")
        return None
    for key in table:
        if key not in SCALING_KEYS:
            p.add(f"scaling.{key}", f"unknown setting{closest(key, SCALING_KEYS)}; allowed: {', '.join(SCALING_KEYS)}")
    out = {"lr": None, "base_batch": None, "warmup": None}
    if "lr" not in table:
        p.add("scaling.lr", f"required: how the lr follows the batch size; allowed: {', '.join(LR_RULES)}")
    else:
        with p.at():
            out["lr"] = check_choice("scaling.lr", table["lr"], LR_RULES)
    if "base_batch" not in table:
        p.add("scaling.base_batch", "required: the batch size at which the listed lr values hold, an integer >= 1")
    else:
        with p.at():
            out["base_batch"] = check_number("scaling.base_batch", table["base_batch"], low=1, high=MAX_BATCH,
                                             integer=True)
    with p.at():
        out["warmup"] = check_choice("scaling.warmup", table.get("warmup", out["lr"] or "none"), WARMUP_RULES)

    sampled = (search or {}).get("dists", {}).get("train.batch_size")
    if sampled is not None:
        kind, args = sampled
        if kind == "choice" and "full" in args:
            p.add("search.batch_size", "[scaling] needs integer batch sizes; \"full\" depends on the data")
    else:
        if "full" in spec_batches:
            p.add("train.batch_size", "[scaling] needs integer batch sizes; \"full\" (the training set's size) "
                                      "depends on the data: list the sizes")
        elif len(spec_batches) == 1:  # (an empty or invalid list is reported at train.batch_size)
            p.add("scaling", f"links lr to the batch size, but train.batch_size is one value ({spec_batches!r}); "
                             "give a list of batch sizes (e.g. batch_size = [32, 64, 128]) or a [search] "
                             "distribution for batch_size, or remove [scaling]")
    if "warmup" in table and out["warmup"] not in (None, "none") and not _has_warmup(kind_axes, search):
        p.add("scaling.warmup", f"is {out['warmup']!r}, but no schedule of this sweep has warmup_steps > 0; "
                                "set schedule.warmup_steps, or leave scaling.warmup out")
    return out


def _has_warmup(kind_axes: dict, search: dict | None) -> bool:
    if any(k.endswith(".warmup_steps") for k in (search or {}).get("dists", {})):
        return True
    return any(any(isinstance(v, int) and v > 0 for v in axes.get("warmup_steps", ()))
               for axes in kind_axes.values())


def lr_factor(scaling: dict, batch: int) -> float:
    ratio = batch / scaling["base_batch"]
    return ratio if scaling["lr"] == "linear" else math.sqrt(ratio)


def warmup_factor(scaling: dict, batch: int, unit: str = "step") -> float:
    """What the warmup's length is multiplied by: in steps ``base/B`` (linear) or ``sqrt(base/B)`` (sqrt);
    in epochs (``unit = "epoch"``) the same times ``B/base`` (an epoch has base/B times the steps)."""
    rule = scaling["warmup"]
    if rule == "none":
        return 1.0
    ratio = scaling["base_batch"] / batch
    steps = ratio if rule == "linear" else math.sqrt(ratio)
    return steps / ratio if unit == "epoch" else steps


def _round_lr(x: float) -> float:
    return float(f"{x:.12g}")


def scale(scaling: dict, batch, hyper: dict, sched: dict) -> tuple[dict, dict, float | None]:
    """(hyper, schedule settings, lr_base) of a configuration at ``batch``: copies with the lr (and the
    schedule's lr_min, warmup_start and warmup_steps) scaled; lr_base is the unscaled lr."""
    if not scaling or not isinstance(batch, int) or hyper.get("lr") is None:
        return hyper, sched, None
    k = lr_factor(scaling, batch)
    lr_base = float(hyper["lr"])
    hyper = {**hyper, "lr": _round_lr(lr_base * k)}
    sched = dict(sched)
    for key in ("lr_min", "warmup_start"):
        if isinstance(sched.get(key), (int, float)) and not isinstance(sched[key], bool) and sched[key]:
            sched[key] = _round_lr(sched[key] * k)
    w = sched.get("warmup_steps")
    if isinstance(w, int) and not isinstance(w, bool) and w > 0 and scaling["warmup"] != "none":
        sched["warmup_steps"] = max(1, int(math.floor(w * warmup_factor(scaling, batch, sched.get("unit", "step"))
                                                      + 0.5)))
    return hyper, sched, lr_base


def linked_table(spec, trials) -> dict | None:
    """What ``optengine plan`` shows: per batch size, the lr factor and the lr and warmup values trained."""
    if not spec.scaling:
        return None
    rows: dict = {}
    for t in trials:
        s = t.parsed
        if s is None:
            continue
        r = rows.setdefault(t.batch_size, {"lr": set(), "lr_base": set(), "warmup_steps": set()})
        r["lr"].add(s.lr)
        r["lr_base"].add(t.lr_base)
        r["warmup_steps"].add(s.schedule.warmup_steps)
    out = []
    for batch in sorted(rows, key=lambda b: (isinstance(b, str), b)):
        r = rows[batch]
        out.append({"batch_size": batch, "lr_factor": lr_factor(spec.scaling, batch),
                    "warmup_factor": warmup_factor(spec.scaling, batch),
                    "lr": sorted(r["lr"]), "lr_base": sorted(v for v in r["lr_base"] if v is not None),
                    "warmup_steps": sorted(r["warmup_steps"])})
    return {**spec.scaling, "rows": out}


def format_linked(linked: dict) -> list[str]:
    def values(vs, n=5):
        vs = list(vs)
        if len(vs) <= n:
            return ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in vs)
        return f"{vs[0]:.4g} .. {vs[-1]:.4g} ({len(vs)} values)"

    lines = [f"linked axes: [scaling] lr = \"{linked['lr']}\", warmup = \"{linked['warmup']}\", "
             f"base_batch = {linked['base_batch']}",
             f"  {'batch_size':>10s}  {'lr x':>7s}  {'lr':36s}  warmup_steps"]
    for r in linked["rows"]:
        lines.append(f"  {r['batch_size']!s:>10s}  {r['lr_factor']:7.4g}  {values(r['lr']):36s}  "
                     f"{values(r['warmup_steps'])}")
    return lines


