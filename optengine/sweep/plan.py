"""``optengine plan``: what a spec would run (trials, packs, axes, first trials), without running it.

It runs the same checks as ``optengine run`` (``preflight``: data loaded, models resolved against it,
device, memory), so a spec that ``plan`` accepts is one that ``run`` starts."""

from __future__ import annotations

import json

from ..memory import available_bytes, format_bytes
from .environment import cores
from .expand import expand, search_record
from .linked import format_linked, linked_table
from .packs import default_pack_size, make_packs
from .preflight import check_run_options, preflight
from .spec import is_model_search, load_spec


def plan(spec, jobs: int | None = None, pack_size: int | None = None, show: int = 5,
         device: str | None = None, overrides=()) -> dict:
    """A dict describing the sweep; ``format_plan`` turns it into text. ``device`` overrides train.device;
    ``overrides`` as ``run_sweep``'s."""
    spec = load_spec(spec, overrides=overrides)
    jobs, pack_size = check_run_options(spec, jobs, pack_size, device)
    if is_model_search(spec):
        from .model_search import plan_info

        return plan_info(spec, jobs or cores(), pack_size)
    trials = expand(spec)
    largest = preflight(spec, trials, pack_size)
    jobs = jobs or cores()
    packs = make_packs(trials, pack_size or default_pack_size(len(trials), jobs), jobs)
    axes = {}
    if len(spec.models) > 1:
        axes["model"] = [json.dumps(m) for m in spec.models]
    if len(spec.datasets) > 1:
        axes["dataset"] = [json.dumps(d) for d in spec.datasets]
    for key in ("epochs", "batch_size", "dtype"):
        if len(spec.train[key]) > 1:
            axes[f"train.{key}"] = spec.train[key]
    axes["optimizer.name"] = spec.rules
    for rule in spec.rules:
        for key, values in spec.rule_axes[rule].items():
            if len(values) > 1:
                axes.setdefault(f"optimizer.{key}", {})[rule] = values
    if len(spec.kinds) > 1:
        axes["schedule.name"] = spec.kinds
    for kind in spec.kinds:
        for key, values in spec.kind_axes[kind].items():
            if len(values) > 1:
                axes.setdefault(f"schedule.{key}", {})[kind] = values
    if len(spec.clips) > 1:
        axes["clip"] = [c or "none" for c in spec.clips]
    if len(spec.seeds) > 1:
        axes["seeds"] = spec.seeds
    return {"name": spec.name, "description": spec.description, "trials": len(trials), "packs": len(packs),
            "pack_sizes": [len(p.trials) for p in packs], "jobs": jobs, "search": spec.search,
            "axes": axes, "first": [t.config() for t in trials[:show]], "trial_ids": [t.trial_id for t in trials],
            "memory": largest, "available": available_bytes(), "selection": search_record(spec, trials),
            "linked": linked_table(spec, trials), "halving": _halving_plan(spec, trials)}


def _halving_plan(spec, trials) -> list[str]:
    from .spec import is_halving

    if not is_halving(spec):
        return []
    from .halving import plan_lines

    return plan_lines(spec, len(trials), len({t.config_id for t in trials}))


def format_plan(info: dict) -> str:
    if info.get("rounds"):
        from .model_search import format_model_plan

        return "\n".join(format_model_plan(info))
    lines = [f"sweep {info['name']}: {info['trials']} trials in {info['packs']} packs "
             f"(sizes {min(info['pack_sizes'], default=0)}-{max(info['pack_sizes'], default=0)}) "
             f"for {info['jobs']} worker(s)"]
    if info["description"]:
        lines.append(f"  {info['description']}")
    if "memory" in info:
        lines.append(f"memory: the largest pack needs about {format_bytes(info['memory'])} per worker "
                     f"({format_bytes(info['available'])} available now)")
    for line in info.get("halving") or []:
        lines.append(line)
    if info["search"] and info["search"]["kind"] == "random":
        s = info["search"]
        dists = ", ".join(f"{k} ~ {v[0]}{v[1][:2] if v[0] != 'choice' else v[1]}" for k, v in s["dists"].items())
        lines.append(f"random search: {s['trials']} samples (seed {s['seed']}) x seeds"
                     + (f"; {dists}" if dists else ""))
    if info.get("selection") and len(info["selection"]["configurations"]) > 1:
        lines.append(_format_selection(info["selection"]))
    if info.get("linked"):
        lines += format_linked(info["linked"])
    lines.append("axes:")
    for key, values in info["axes"].items():
        if info.get("linked") and key == "optimizer.lr":
            key = f"optimizer.lr at {info['linked']['base_batch']}"  # the base lr, scaled per batch size above
        if isinstance(values, dict) and len({json.dumps(v) for v in values.values()}) == 1:
            lines.append(f"  {key:24s} {next(iter(values.values()))}  ({', '.join(values)})")
        elif isinstance(values, dict):
            per = "; ".join(f"{r}: {v}" for r, v in values.items())
            lines.append(f"  {key:24s} {per}")
        else:
            lines.append(f"  {key:24s} {values}")
    lines.append(f"first {len(info['first'])} trials:")
    for cfg in info["first"]:
        short = {k: v for k, v in cfg.items() if k not in ("model", "dataset", "early_stopping", "diverge_factor",
                                                             "device")}
        lines.append("  " + json.dumps(short, default=str))
    return "\n".join(lines)


def _format_selection(sel: dict) -> str:
    """The configurations per rule: the budget of a stratified random search, else what was drawn or listed."""
    got = sel["configurations"]
    if sel["kind"] == "grid":
        return "configurations per rule: " + ", ".join(f"{r} {n}" for r, n in got.items())
    if sel["budget"] is None:
        hint = "" if len(set(got.values())) == 1 else "; set per_rule = true in [search] for an equal budget"
        return ("configurations per rule (rules drawn at random, not stratified): "
                + ", ".join(f"{r} {n}" for r, n in got.items()) + hint)
    short = [f"{r} {got[r]} of {n}" for r, n in sel["budget"].items() if got[r] < n]
    return ("budget per rule (per_rule = true): " + ", ".join(f"{r} {n}" for r, n in sel["budget"].items())
            + (f"; fewer distinct configurations exist for {', '.join(short)}" if short else ""))
