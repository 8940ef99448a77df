"""Spec -> trials: the full grid, or ``[search] kind = "random"`` samples crossed with the seeds.

Grid order (outermost first): model, dataset, epochs, batch size, dtype, rule, the rule's
hyperparameter axes (in ``RULE_HYPER`` order), schedule, its setting axes, clipping, seed.

Random search draws ``trials`` configurations from one ``numpy`` generator seeded with
``search.seed``: each axis is sampled from its ``[search]`` distribution when it has one,
otherwise uniformly from its listed values; each configuration then runs with every seed.
Configurations drawn twice are kept once.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..errors import ConfigError
from ..optimizers import RULE_HYPER
from ..settings import TrialSettings, canonical_hyper
from ..schedules import COMMON_PARAMS, KIND_PARAMS
from .problems import Problems
from .spec import Spec
from .trial import Trial


def expand(spec: Spec) -> list[Trial]:
    """Every trial of the spec, in a fixed order; raises SpecError for settings that clash (e.g. lr_min > lr)."""
    p = Problems()
    trials: dict[str, Trial] = {}
    configs = _random_configs(spec) if spec.search else _grid_configs(spec)
    for pack, rule, hyper, kind, sched, clip in configs:
        validated = _settings(rule, hyper, kind, sched, clip, pack["dtype"], p)
        if validated is None:
            continue
        parsed, settings = validated
        for seed in spec.seeds:
            t = Trial.make(pack["model"], pack["dataset"], pack["batch_size"], pack["epochs"], pack["dtype"],
                           spec.train["early_stopping"], spec.train["diverge_factor"], spec.train["device"],
                           {**settings, "seed": seed}, parsed=parsed.replace(seed=seed),
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

    for _ in range(spec.search["trials"]):
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
