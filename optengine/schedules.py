"""Learning-rate schedules of the notes (section 7), callable from Numba.

t counts steps (or epochs with ``unit="epoch"``) from 0:

- constant:     eta_t = lr
- step:         eta_t = lr * gamma ** floor(t / step_size)                 (7.1)
- exponential:  eta_t = lr * exp(-decay_rate * t)                           (7.2)
- cosine:       eta_t = lr_min + 0.5 (lr - lr_min)(1 + cos(pi t / T)),
                T = total_steps, held at lr_min for t >= T                  (7.3)
- warmup (any): eta_t = warmup_start + (t / T_w)(eta_0 - warmup_start) for
                t < T_w, then the schedule runs on t - T_w                  (7.4)
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError, check_choice, check_keys, check_number, closest
from .jit import kernel

CONSTANT, STEP, EXPONENTIAL, COSINE = range(4)
KINDS = ("constant", "step", "exponential", "cosine")
UNITS = ("step", "epoch")

# Layout of a schedule vector (float64) as the kernels read it.
SCHED = ("kind", "lr", "gamma", "step_size", "decay_rate", "lr_min", "total_steps",
         "warmup_steps", "warmup_start", "unit")
S_KIND, S_LR, S_GAMMA, S_STEP, S_RATE, S_LRMIN, S_TOTAL, S_WARMUP, S_WSTART, S_UNIT = range(len(SCHED))

# Settings of each kind (beside lr, warmup_steps, warmup_start, unit) with defaults.
KIND_PARAMS = {
    "constant": {},
    "step": {"step_size": None, "gamma": 0.1},
    "exponential": {"decay_rate": None},
    "cosine": {"lr_min": 0.0, "total_steps": None},
}
COMMON_PARAMS = {"warmup_steps": 0, "warmup_start": 0.0, "unit": "step"}
SETTING_TEXT = {
    "step_size": "an integer >= 1", "gamma": "a number in (0, 1)", "decay_rate": "a number in (0, inf)",
    "lr_min": "a number in [0, lr]", "total_steps": "an integer >= 1", "warmup_steps": "an integer >= 0",
    "warmup_start": "a number in [0, lr]", "unit": "step or epoch",
}


def check_setting(key: str, value, field: str, lr: float | None = None):
    """One schedule setting checked against its range (``SETTING_TEXT``); ``lr`` bounds lr_min and warmup_start."""
    if key == "unit":
        return check_choice(field, value, UNITS)
    if key in ("step_size", "total_steps"):
        return check_number(field, value, low=1, integer=True)
    if key == "warmup_steps":
        return check_number(field, value, low=0, integer=True)
    if key == "gamma":
        return check_number(field, value, low=0.0, high=1.0, low_open=True, high_open=True)
    if key == "decay_rate":
        return check_number(field, value, low=0.0, low_open=True)
    if key in ("lr_min", "warmup_start"):
        return check_number(field, value, low=0.0, high=lr)
    raise ConfigError(field, f"unknown schedule setting {key!r}{closest(key, SETTING_TEXT)}; "
                             f"allowed: {', '.join(SETTING_TEXT)}")


@kernel
def schedule_lr(sp, t):
    """Learning rate at step (or epoch) ``t`` >= 0 of the schedule vector ``sp``."""
    base = sp[S_LR]
    warm = sp[S_WARMUP]
    if t < warm:
        start = sp[S_WSTART]
        return start + (t / warm) * (base - start)
    u = t - warm
    kind = int(sp[S_KIND])
    if kind == STEP:
        return base * sp[S_GAMMA] ** math.floor(u / sp[S_STEP])
    if kind == EXPONENTIAL:
        return base * math.exp(-sp[S_RATE] * u)
    if kind == COSINE:
        total = sp[S_TOTAL]
        lr_min = sp[S_LRMIN]
        if u >= total:
            return lr_min
        return lr_min + 0.5 * (base - lr_min) * (1.0 + math.cos(math.pi * u / total))
    return base


@kernel
def schedule_values(sp, n):
    """``schedule_lr`` at t = 0 .. n-1."""
    out = np.empty(n)
    for t in range(n):
        out[t] = schedule_lr(sp, float(t))
    return out


class Schedule:
    """A validated schedule: ``sched(t) -> float``, ``sched.values(n) -> ndarray``."""

    def __init__(self, name: str = "constant", lr: float | None = None, prefix: str = "schedule", **params):
        check_choice(f"{prefix}.name", name, KINDS)
        allowed = {**KIND_PARAMS[name], **COMMON_PARAMS}
        check_keys(prefix, params, ["lr", *allowed], f"the {name} schedule")
        if lr is None:
            raise ConfigError(f"{prefix}.lr", "needs the base learning rate, a number in (0, inf)")
        self.name = name
        self.prefix = prefix
        self.lr = check_number(f"{prefix}.lr", lr, low=0.0, low_open=True)
        p = {**allowed, **{k: v for k, v in params.items() if v is not None}}
        self.unit = check_setting("unit", p["unit"], f"{prefix}.unit")
        self.warmup_steps = check_setting("warmup_steps", p["warmup_steps"], f"{prefix}.warmup_steps")
        self.warmup_start = check_setting("warmup_start", p["warmup_start"], f"{prefix}.warmup_start", self.lr)
        self.params = {}
        for key in KIND_PARAMS[name]:
            if p[key] is None:
                if key != "total_steps":
                    raise ConfigError(f"{prefix}.{key}", f"the {name} schedule needs {key}, {SETTING_TEXT[key]}")
                self.params[key] = None
            else:
                self.params[key] = check_setting(key, p[key], f"{prefix}.{key}", self.lr)

    # -- construction helpers -------------------------------------------------
    def with_total(self, total_after_warmup: int) -> "Schedule":
        """This schedule with cosine's missing ``total_steps`` set (no-op otherwise)."""
        if self.name != "cosine" or self.params["total_steps"] is not None:
            return self
        return Schedule(self.name, self.lr, prefix=self.prefix, **self.settings(),
                        total_steps=max(1, int(total_after_warmup)))

    def settings(self) -> dict:
        """All settings except lr, as keyword arguments (None-valued ones dropped)."""
        out = {k: v for k, v in self.params.items() if v is not None}
        out.update(warmup_steps=self.warmup_steps, warmup_start=self.warmup_start, unit=self.unit)
        return out

    def vector(self) -> np.ndarray:
        """The float64 vector ``schedule_lr`` reads."""
        if self.name == "cosine" and self.params["total_steps"] is None:
            raise ConfigError(f"{self.prefix}.total_steps",
                              "the cosine schedule needs total_steps (an integer >= 1) outside a training run")
        v = np.zeros(len(SCHED))
        v[S_KIND] = KINDS.index(self.name)
        v[S_LR] = self.lr
        v[S_GAMMA] = self.params.get("gamma", 1.0)
        v[S_STEP] = self.params.get("step_size", 1)
        v[S_RATE] = self.params.get("decay_rate", 0.0)
        v[S_LRMIN] = self.params.get("lr_min", 0.0)
        v[S_TOTAL] = self.params.get("total_steps") or 1
        v[S_WARMUP] = self.warmup_steps
        v[S_WSTART] = self.warmup_start
        v[S_UNIT] = UNITS.index(self.unit)
        return v

    # -- evaluation -------------------------------------------------------------
    def __call__(self, t) -> float:
        t = check_number("t", t, low=0.0)
        return float(schedule_lr(self.vector(), t))

    def values(self, n: int) -> np.ndarray:
        """The first ``n`` learning rates (t = 0 .. n-1)."""
        n = check_number("n", n, low=0, integer=True)
        return schedule_values(self.vector(), n)

    def label(self) -> str:
        """Compact text for result tables, e.g. ``cosine(lr_min=0.0,warmup_steps=50)``."""
        parts = [f"{k}={v}" for k, v in self.params.items() if v is not None]
        if self.warmup_steps:
            parts += [f"warmup_steps={self.warmup_steps}"]
            if self.warmup_start:
                parts += [f"warmup_start={self.warmup_start}"]
        if self.unit != "step":
            parts += [f"unit={self.unit}"]
        return f"{self.name}({','.join(parts)})" if parts else self.name

    def __repr__(self):
        return f"schedule({self.name!r}, lr={self.lr!r}, {', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"


def schedule(name: str = "constant", lr: float | None = None, **params) -> Schedule:
    """``oe.schedule("cosine", lr=0.1, lr_min=0.0, total_steps=1000, warmup_steps=100)``."""
    return Schedule(name, lr, **params)


def describe() -> dict:
    """Schedules with their settings and defaults (for ``optengine list``)."""
    return {name: {**params, **COMMON_PARAMS} for name, params in KIND_PARAMS.items()}
