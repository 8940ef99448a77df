"""A trial's settings in one typed, frozen form, and the canonical form its ``trial_id`` hashes.

``TrialSettings.parse`` validates a trial once (rule, hyperparameters, schedule, clipping, seed);
the result is frozen and is what the sweep's trials, the worker and the trainer pass around, so
nothing downstream re-parses it. ``canonical_hyper`` is the one rule that keeps trial_ids stable
when rules gain hyperparameters:

* A hyperparameter that a rule gained after results had been written with it (PyTorch's
  ``dampening`` for momentum, ``amsgrad`` for Adam, ...) is marked **added later** in the rule's
  record: ``Hyper(..., added=True)`` in ``optengine/rules/<rule>.py``.
* The canonical form of a trial leaves out every added-later hyperparameter that is at its
  default. So a configuration that existed before the hyperparameter did keeps its trial_id (old
  folders resume), and a configuration that uses the new setting gets a new id.

This module imports no numba: ``canonical``/``hash_id`` are used by code that only reads results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .errors import ConfigError, check_choice, check_keys, check_number


def canonical(obj) -> str:
    """Canonical JSON (sorted keys, no spaces): equal configurations give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def hash_id(config: dict) -> str:
    """Stable id of a configuration: SHA-1 of its canonical JSON form (sorted keys), 16 hex digits."""
    return hashlib.sha1(canonical(config).encode()).hexdigest()[:16]


DTYPES = ("float32", "float64")


def parse_early_stopping(spec) -> tuple[int, float]:
    """``early_stopping`` (None/False, a patience, or {patience, min_delta}) -> (patience, min_delta)."""
    if spec is None or spec is False:
        return 0, 0.0
    if isinstance(spec, dict):
        check_keys("early_stopping", spec, ["patience", "min_delta"], "early_stopping")
        patience = spec.get("patience", 5)
        min_delta = spec.get("min_delta", 0.0)
    else:
        patience, min_delta = spec, 0.0
    return (check_number("early_stopping.patience", patience, low=1, integer=True),
            check_number("early_stopping.min_delta", min_delta, low=0.0))


# -- hyperparameters added to a rule later -------------------------------------------------------

def added_later(rule: str) -> dict:
    """``{hyperparameter: default}`` of the hyperparameters ``rule`` gained after results were first
    written (``Hyper.added`` in its record, ``optengine/rules``; the records import no numba)."""
    from .rules import BY_NAME

    record = BY_NAME.get(rule)
    return {h.name: h.default for h in record.hyper if h.added} if record is not None else {}


def canonical_hyper(rule: str, hyper: dict) -> dict:
    """``hyper`` without the added-later hyperparameters that are at their defaults (see the module)."""
    later = added_later(rule)
    return {k: v for k, v in hyper.items() if not (k in later and _same(v, later[k]))}


def _same(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


# -- one trial ---------------------------------------------------------------------------------------

_CLIP_NORM = 2  # clipping.CLIP_NORM (checked by tests/test_settings.py)


@dataclass(frozen=True)
class TrialSettings:
    """A validated trial: rule + hyperparameters (with defaults), schedule (its span not yet known:
    ``with_total`` resolves it per pack), clipping, seed; ``trial_id`` when a sweep gave one."""

    optimizer: str
    hyper: tuple          # ((name, value), ...) in the rule's order, defaults filled in
    schedule: object      # schedules.Schedule
    clip_mode: int
    clip_c: float
    seed: int
    trial_id: str | None = None

    @property
    def hypers(self) -> dict:
        return dict(self.hyper)

    @property
    def lr(self) -> float:
        return dict(self.hyper)["lr"]

    def replace(self, **changes) -> "TrialSettings":
        from dataclasses import replace

        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The settings in ``train_pack``'s trial-dict form (hyperparameters with their defaults)."""
        return {"optimizer": self.optimizer, **self.hypers,
                "schedule": {"name": self.schedule.name, **self.schedule.settings()},
                "clip": None if not self.clip_mode else {"norm" if self.clip_mode == _CLIP_NORM else "value": self.clip_c},
                "seed": self.seed, **({"trial_id": self.trial_id} if self.trial_id else {})}

    @classmethod
    def parse(cls, trial, where: str | None, dtype) -> "TrialSettings":
        """Validate a trial dict once. ``where`` is ``"trials[i]"`` inside a pack (fields
        ``trials[i].lr`` ...) or None for ``oe.train``, whose fields are its own arguments
        (``optimizer.lr``, ``seed``, ``schedule.name`` ...). A TrialSettings is returned as it is."""
        if isinstance(trial, cls):
            return trial
        from .clipping import parse_clip
        from .optimizers import HYPER, RULE_HYPER, RULES, check_representable, validate_hyper

        def field(name):
            return f"{where}.{name}" if where else name

        if not isinstance(trial, dict):
            raise ConfigError(where or "trial", f"must be a dict of trial settings, got {trial!r}")
        t = dict(trial)
        name = t.pop("optimizer", None)
        if name is None:
            raise ConfigError(field("optimizer"), f"is required; allowed: {', '.join(RULES)}")
        check_choice(field("optimizer") if where else "optimizer.name", name, RULES)
        sched = t.pop("schedule", None)
        clip = t.pop("clip", None)
        seed = check_number(field("seed"), t.pop("seed", 0), low=0, high=2**63 - 1, integer=True)
        tid = t.pop("trial_id", None)
        check_keys(where or "", [k for k in t if k not in HYPER],
                   ["optimizer", *RULE_HYPER[name], "schedule", "clip", "seed"], "a trial")
        hyper_prefix = where or "optimizer"
        hyper = validate_hyper(name, t, prefix=hyper_prefix)
        check_representable(hyper, dtype, hyper_prefix)
        schedule = parse_schedule(sched, hyper["lr"], field("schedule"))
        clip_mode, clip_c = parse_clip(clip, field("clip"))
        return cls(name, tuple(hyper.items()), schedule, clip_mode, clip_c, seed, tid)

    def config(self, schedule=None) -> dict:
        """The trial's canonical settings in ``oe.train``'s id form (added-later hyperparameters at
        their defaults left out), with ``schedule`` (its span resolved for the pack) when given."""
        from .clipping import clip_label

        schedule = schedule or self.schedule
        return {"optimizer": self.optimizer, **canonical_hyper(self.optimizer, self.hypers),
                "schedule": schedule.name,
                **{f"schedule.{k}": v for k, v in schedule.settings().items()},
                "clip": clip_label(self.clip_mode, self.clip_c), "seed": self.seed}

    def row(self, schedule=None, hyper_columns=()) -> dict:
        """The trial's settings columns of the runs table (``schema.py``): optimizer, lr, seed, schedule,
        schedule_settings (of ``schedule``, resolved for the pack, when given), clipping and the
        ``hyper_columns`` (NaN for those the rule does not take)."""
        schedule = schedule or self.schedule
        hypers = self.hypers
        return {"optimizer": self.optimizer, "lr": hypers["lr"], "seed": self.seed, "schedule": schedule.name,
                "schedule_settings": schedule.label(), "clipping": self.clipping,
                **{h: hypers.get(h, float("nan")) for h in hyper_columns}}

    @property
    def clipping(self) -> str:
        from .clipping import clip_label

        return clip_label(self.clip_mode, self.clip_c)


def parse_schedule(spec, lr: float, prefix: str):
    """A Schedule from None (constant), a name, a settings dict or a Schedule whose lr is ``lr``."""
    from .schedules import Schedule

    if spec is None:
        return Schedule("constant", lr, prefix=prefix)
    if isinstance(spec, Schedule):
        if spec.lr != lr:
            raise ConfigError(f"{prefix}.lr", f"the schedule's lr ({spec.lr}) differs from the optimizer's ({lr}); "
                                              "give the schedule by name or settings instead")
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(prefix, f"must be a schedule name or settings table, got {spec!r}")
    settings = dict(spec)
    if "lr" in settings:
        raise ConfigError(f"{prefix}.lr", "the schedule's base lr is the optimizer's lr; set lr there")
    return Schedule(settings.pop("name", "constant"), lr, prefix=prefix, **settings)


# -- what a pack's trials share ----------------------------------------------------------------------

@dataclass(frozen=True)
class PackSettings:
    """The validated settings a pack's trials share besides model and data: epochs, dtype, early stopping
    (patience 0 = off) and the divergence bound. ``loop`` turns them into the kernels' ``Loop`` record."""

    epochs: int
    dtype: str
    patience: int
    min_delta: float
    diverge_factor: float

    @classmethod
    def parse(cls, epochs, dtype, early_stopping, diverge_factor) -> "PackSettings":
        import numpy as np

        dtype = check_choice("dtype", np.dtype(dtype).name if isinstance(dtype, (type, np.dtype)) else dtype, DTYPES)
        epochs = check_number("epochs", epochs, low=1, integer=True)
        diverge_factor = check_number("diverge_factor", diverge_factor, low=1.0, low_open=True)
        patience, min_delta = parse_early_stopping(early_stopping)
        return cls(int(epochs), dtype, int(patience), float(min_delta), float(diverge_factor))

    def id_fields(self, model_spec, dataset_key: str, batch: int) -> dict:
        """The pack-level part of an ``oe.train`` trial's id (the form trial_ids have always hashed)."""
        return {"model": model_spec, "dataset": dataset_key, "batch_size": batch, "epochs": self.epochs,
                "dtype": self.dtype, "early_stopping": [self.patience, self.min_delta],
                "diverge_factor": self.diverge_factor}

    def loop(self, batch: int, workspace_size: int, eval_chunk: int, recording: "Recording | None" = None,
             trajectory: bool = False):
        """The kernels' ``pack_kernel.Loop`` record for this mini-batch size and workspace (and what the pack
        records beside its curves: ``recording``, and the parameter path when ``trajectory``)."""
        from .pack_kernel import Loop

        rec = recording or Recording()
        return Loop(int(batch), self.epochs, int(workspace_size), int(eval_chunk), self.diverge_factor,
                    self.patience, self.min_delta, int(rec.log_every), int(rec.eval_every), int(bool(trajectory)))


# -- what a pack records beside its curves -------------------------------------------------------------

TARGET_KEYS = ("val_metric", "val_loss")


@dataclass(frozen=True)
class Recording:
    """The optional records of a pack (all off by default): the step table every ``log_every`` steps,
    validation every ``eval_every`` steps, a target for ``steps_to_target`` (``(key, value)`` with key
    ``val_metric`` (reached when >= value) or ``val_loss`` (when <= value)), and the parameter path of
    2-parameter models (``trajectory``: None = automatic, True, False).

    trial_ids: ``target`` and ``eval_every`` change the runs table (``steps_to_target``), so when set they
    enter a trial's id (``id_fields``); at their defaults they are left out, so every existing
    configuration keeps its id. ``log_every`` and ``trajectory`` only add tables (the trial's numbers are
    bit-identical with them on or off) and never enter the id."""

    log_every: int = 0
    eval_every: int = 0
    target: tuple | None = None
    trajectory: bool | None = None

    @classmethod
    def parse(cls, log_every=None, eval_every=None, target=None, trajectory=None, prefix: str = "") -> "Recording":
        """Validate the settings (``prefix`` = ``"train."`` in a spec); ConfigError naming the field."""
        if isinstance(log_every, Recording):
            return log_every
        log_every = 0 if log_every in (None, 0, False) else check_number(f"{prefix}log_every", log_every, low=1,
                                                                          integer=True)
        eval_every = 0 if eval_every in (None, 0, False) else check_number(f"{prefix}eval_every", eval_every,
                                                                            low=1, integer=True)
        if target is not None:
            if not isinstance(target, dict) or len(target) != 1:
                raise ConfigError(f"{prefix}target", "must be one of {val_metric = x} (reached when the validation "
                                                     "metric is >= x) or {val_loss = x} (when the validation loss "
                                                     f"is <= x), got {target!r}")
            (key, value), = target.items()
            check_choice(f"{prefix}target", key, TARGET_KEYS)
            value = check_number(f"{prefix}target.{key}", value)
            target = (key, float(value))
        if trajectory is not None and not isinstance(trajectory, bool):
            raise ConfigError(f"{prefix}trajectory", f"must be true or false (default: automatic for 2-parameter "
                                                     f"models), got {trajectory!r}")
        return cls(int(log_every), int(eval_every), target, trajectory)

    @property
    def target_dict(self) -> dict | None:
        return None if self.target is None else {self.target[0]: self.target[1]}

    def as_dict(self) -> dict:
        """The settings that are not at their defaults, as ``train_pack``'s keywords (``parse`` reads it back)."""
        out = {k: v for k, v in (("log_every", self.log_every), ("eval_every", self.eval_every)) if v}
        if self.target is not None:
            out["target"] = self.target_dict
        if self.trajectory is not None:
            out["trajectory"] = self.trajectory
        return out

    def id_fields(self) -> dict:
        """What enters a trial's id (see the class): nothing at the defaults."""
        out = {}
        if self.eval_every:
            out["eval_every"] = self.eval_every
        if self.target is not None:
            out["target"] = self.target_dict
        return out
