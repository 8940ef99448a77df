"""Spec -> trials: the full grid, or ``[search] kind = "random"`` samples crossed with the seeds.

Grid order (outermost first): model, dataset, epochs, batch size, dtype, rule, the rule's
hyperparameter axes (in ``RULE_HYPER`` order), schedule, its setting axes, clipping, seed.

Random search draws ``trials`` configurations from one ``numpy`` generator seeded with
``search.seed``: each axis is sampled from its ``[search]`` distribution when it has one,
otherwise uniformly from its listed values; each configuration then runs with every seed.
Configurations drawn twice are kept once.

With ``search.per_rule = true`` every rule gets the same budget of configurations (``budget``:
``trials // n_rules`` each, the remainder one each to the first rules of ``optimizer.name``). The
draws are the same stream as above, in the same order; a draw is skipped when its rule's budget
is full or when it repeats a configuration already drawn, until every rule has its budget (or a
rule's settings have fewer distinct configurations than its budget: after ``20 x budget + 100``
repeats in a row it keeps what it has, and ``search_record`` says so).

With ``[scaling]`` (``linked.py``) each configuration's lr, and its warmup, follow its batch size.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np

from ..errors import ConfigError
from ..optimizers import RULE_HYPER
from ..settings import TrialSettings, canonical, canonical_hyper
from ..schedules import COMMON_PARAMS, KIND_PARAMS
from .linked import scale
from .problems import Problems
from .spec import Spec, is_model_search
from .trial import Trial


def expand(spec: Spec) -> list[Trial]:
    """Every trial of the spec, in a fixed order; raises SpecError for settings that clash (e.g. lr_min > lr)."""
    if is_model_search(spec):
        raise ConfigError("search.kind", f"{spec.search['kind']} search chooses its configurations as results "
                                         "arrive; run it with run_sweep (or see them with plan)")
    p = Problems()
    trials: dict[str, Trial] = {}
    configs = _random_configs(spec) if spec.search and spec.search["kind"] != "grid" and (
        spec.search["kind"] == "random" or spec.search.get("trials")) else _grid_configs(spec)
    for pack, rule, hyper, kind, sched, clip in configs:
        hyper, sched, lr_base = scale(spec.scaling, pack["batch_size"], hyper, sched)
        validated = _settings(rule, hyper, kind, sched, clip, pack["dtype"], p)
        if validated is None:
            continue
        parsed, settings = validated
        for seed in spec.seeds:
            t = Trial.make(pack["model"], pack["dataset"], pack["batch_size"], pack["epochs"], pack["dtype"],
                           spec.train["early_stopping"], spec.train["diverge_factor"], spec.train["device"],
                           {**settings, "seed": seed}, parsed=parsed.replace(seed=seed), lr_base=lr_base,
                           recording=spec.train.get("recording"))
            trials.setdefault(t.trial_id, t)
    p.raise_if_any(spec.source)
    return list(trials.values())


def _settings(rule, hyper, kind, sched, clip, dtype, p: Problems):
    """The trial's settings validated once (``TrialSettings``, what the worker's trainer takes as it is)
    and their canonical form (what the trial_id hashes), or None after recording the problem."""
    try:
        parsed = TrialSettings.parse({"optimizer": rule, **hyper, "schedule": {"name": kind, **sched}, "clip": clip},
                                     None, dtype)
    except ConfigError as exc:
        p.add_error(exc)
        return None
    settings = parsed.schedule.settings()
    if kind == "constant" and not settings["warmup_steps"]:
        settings.pop("unit")  # steps or epochs: the same constant lr, so the same trial
    return parsed, {"optimizer": rule, **canonical_hyper(rule, parsed.hypers), "schedule": {"name": kind, **settings},
                    "clip": clip}


def _packs(spec: Spec):
    for model, dataset, epochs, batch, dtype in itertools.product(
            spec.models, spec.datasets, spec.train["epochs"], spec.train["batch_size"], spec.train["dtype"]):
        yield {"model": model, "dataset": dataset, "epochs": epochs, "batch_size": batch, "dtype": dtype}


def _product(axes: dict):
    keys = list(axes)
    for values in itertools.product(*(axes[k] for k in keys)):
        yield dict(zip(keys, values))


def _grid_configs(spec: Spec):
    for pack in _packs(spec):
        for rule in spec.rules:
            for hyper in _product(spec.rule_axes[rule]):
                for kind in spec.kinds:
                    for sched in _product(spec.kind_axes[kind]):
                        for clip in spec.clips:
                            yield pack, rule, hyper, kind, sched, clip


def _random_configs(spec: Spec):
    draws = _draws(spec)
    if spec.search.get("per_rule"):
        return _stratified(draws, budget(spec))
    return itertools.islice(draws, spec.search["trials"])


def budget(spec: Spec) -> dict | None:
    """``{rule: configurations}`` of a random search with ``per_rule = true`` (None otherwise): the trials
    shared equally, the remainder one each to the first rules in ``optimizer.name`` order."""
    if not spec.search or not spec.search.get("per_rule"):
        return None
    share, rest = divmod(spec.search["trials"], len(spec.rules))
    return {rule: share + (i < rest) for i, rule in enumerate(spec.rules)}


def _stratified(draws, budgets: dict):
    """The draws whose rule has budget left and that are new, until every rule's budget is spent
    (or its distinct configurations are: ``20 x budget + 100`` repeats in a row)."""
    got = dict.fromkeys(budgets, 0)
    repeats = dict.fromkeys(budgets, 0)
    done = {rule for rule, n in budgets.items() if n == 0}
    seen = set()
    for config in draws:
        if len(done) == len(budgets):
            return
        rule = config[1]
        if rule in done:
            continue
        key = canonical(config)
        if key in seen:
            repeats[rule] += 1
            if repeats[rule] > 20 * budgets[rule] + 100:
                done.add(rule)
            continue
        seen.add(key)
        repeats[rule] = 0
        got[rule] += 1
        if got[rule] == budgets[rule]:
            done.add(rule)
        yield config


def search_record(spec: Spec, trials) -> dict:
    """How the configurations were chosen, for sweep.json and the report: ``{kind, trials, seed, per_rule,
    budget: {rule: n} | None, configurations: {rule: distinct configurations expanded}}`` (random search)
    or ``{kind: "grid", configurations}``."""
    configs: dict = {}
    for t in trials:
        configs.setdefault(json.loads(t.settings)["optimizer"], set()).add(t.config_id)
    counts = {rule: len(configs.get(rule, ())) for rule in spec.rules}
    s = spec.search
    if s and (s["kind"] in ("halving", "hyperband", "asha") or s.get("median_stopping")):
        out = {k: s.get(k) for k in ("kind", "trials", "seed", "min_epochs", "max_epochs", "eta", "batch", "objective",
                                     "direction", "median_stopping")}
        return {**out, "per_rule": False, "budget": None, "configurations": counts}
    if not s:
        return {"kind": "grid", "configurations": counts}
    return {"kind": "random", "trials": s["trials"], "seed": s["seed"], "per_rule": bool(s.get("per_rule")),
            "budget": budget(spec), "configurations": counts}


def _draws(spec: Spec):
    """Random configurations from the generator seeded by ``search.seed``, one after another, forever."""
    rng = np.random.default_rng(spec.search["seed"])
    dists = spec.search["dists"]

    def draw(paths, values, own=False):
        """Most specific first: the owner's distribution, its own list, the shared distribution, the shared list."""
        if paths and paths[0] in dists:
            return _sample(rng, *dists[paths[0]])
        if not own:
            for path in paths[1:]:
                if path in dists:
                    return _sample(rng, *dists[path])
        return values[int(rng.integers(len(values)))]

    while True:
        pack = {
            "model": draw([], spec.models), "dataset": draw([], spec.datasets),
            "epochs": draw(["train.epochs"], spec.train["epochs"]),
            "batch_size": draw(["train.batch_size"], spec.train["batch_size"]),
            "dtype": draw([], spec.train["dtype"]),
        }
        rule = draw(["optimizer.name"], spec.rules)
        hyper = {}
        for key in RULE_HYPER[rule]:
            paths = [f"optimizer.{rule}.{key}", f"optimizer.{key}"]
            values = spec.rule_axes[rule].get(key)
            if values or any(pth in dists for pth in paths):
                hyper[key] = draw(paths, values or [None], key in spec.rule_own.get(rule, ()))
        kind = draw([], spec.kinds)
        sched = {}
        for key in {**KIND_PARAMS[kind], **COMMON_PARAMS}:
            paths = [f"schedule.{kind}.{key}", f"schedule.{key}"]
            values = spec.kind_axes[kind].get(key)
            if values or any(pth in dists for pth in paths):
                sched[key] = draw(paths, values or [None], key in spec.kind_own.get(kind, ()))
        if "clip.norm" in dists or "clip.value" in dists:
            key = "norm" if "clip.norm" in dists else "value"
            c = _sample(rng, *dists[f"clip.{key}"])
            clip = None if c == "none" else {key: c}
        else:
            clip = draw([], spec.clips)
        yield pack, rule, hyper, kind, sched, clip


def _sample(rng, kind, args):
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    lo, hi, integer = args
    if kind == "int_uniform":
        return int(rng.integers(int(lo), int(hi) + 1))
    if kind == "log_uniform":
        v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        v = float(rng.uniform(lo, hi))
    return int(min(max(round(v), lo), hi)) if integer else v
