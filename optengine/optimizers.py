"""Update rules (notes sections 2-5 and more) as in-place Numba kernels, derived from ``optengine/rules``.

Each rule is one record in ``optengine/rules/<name>.py``: its hyperparameters with defaults,
ranges and meanings, its state, its formula (the module's docstring) and its element-wise
update, written once and compiled for the CPU here and for CUDA in ``cuda/optimizers.py``.
Everything below (``RULES``, ``HYPER``, ``RULE_HYPER``, ``N_BUFFERS``, the ranges, ``update``)
is derived from those records. ``optengine list`` and the README's table list the rules.

g is the mean mini-batch gradient after clipping; ``l2`` (coupled, every rule) adds
``l2 * theta`` to it inside the rule, as PyTorch's ``weight_decay`` does.

Nesterov keeps the *look-ahead* point theta~ = theta - lr*m*v as its parameters
(PyTorch's form); ``tests/test_optimizers.py`` shows it equals the notes' update.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import rules as _rules
from .errors import ConfigError, check_choice, check_flat_array, check_keys, check_number
from .settings import added_later, canonical_hyper  # noqa: F401  (canonical_hyper: part of this module's API)
from .jit import kernel
from .rules import dispatch as _dispatch

RECORDS = _rules.RECORDS
RULES = _rules.NAMES
RULE_ID = {name: i for i, name in enumerate(RULES)}  # the kernels' rule ids

# Layout of a trial's hyperparameter vector (float64) as the kernels read it; append-only.
HYPER = _rules.HYPER
HYPER_INDEX = {name: i for i, name in enumerate(HYPER)}

# Hyperparameters each rule takes, with defaults (None: required), in the record's order.
RULE_HYPER = {r.name: r.defaults() for r in RECORDS}
# Hyperparameters added to a rule after results were first written: left out of a trial's
# canonical form when at their default, so such a trial keeps its trial_id.
ADDED_HYPER = {r.name: added_later(r.name) for r in RECORDS}  # kept out of trial ids at their defaults
# State buffers (same shape as the parameters) each rule keeps at most; per trial: ``n_buffers``.
N_BUFFERS = {r.name: r.max_buffers for r in RECORDS}
MAX_BUFFERS = _rules.MAX_BUFFERS
MAX_SCALARS = _rules.MAX_SCALARS
FLAGS = _rules.base.FLAGS

_RANGES = {k: v[:4] for k, v in _rules.RANGES.items()}  # field -> (low, high, low_open, high_open)
RANGE_TEXT = {k: v[4] for k, v in _rules.RANGES.items()}
MEANINGS = {r.name: {h.name: h.meaning for h in r.hyper} for r in RECORDS}
COST = np.array([r.cost for r in RECORDS], dtype=np.int64)  # relative update cost per rule id


def validate_hyper(name: str, hyper: dict, prefix: str = "optimizer") -> dict:
    """Check a rule name and its hyperparameters; return the full set with defaults.

    Raises ConfigError naming the field (``optimizer.lr`` ...) and the allowed range.
    """
    check_choice(f"{prefix}.name", name, RULES)
    allowed = RULE_HYPER[name]
    check_keys(prefix, hyper, allowed, name)
    out = {key: check_hyper_value(key, value, f"{prefix}.{key}") for key, value in hyper.items() if value is not None}
    for key, default in allowed.items():
        if key not in out:
            if default is None:
                raise ConfigError(f"{prefix}.{key}", f"{name} needs {key!r}, a number in {RANGE_TEXT[key]}")
            out[key] = default
    return {key: out[key] for key in allowed}


def check_hyper_value(key: str, value, field: str) -> float:
    """One hyperparameter checked against its range (``RANGE_TEXT``); returned as float
    (a flag such as ``amsgrad``: true/false or 1/0, returned as 1.0/0.0)."""
    if key in FLAGS:
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, float)) and value in (0, 1)):
            return float(bool(value))
        raise ConfigError(field, f"must be true or false, got {value!r}")
    lo, hi, lo_open, hi_open = _RANGES[key]
    return check_number(field, value, low=lo, high=hi, low_open=lo_open, high_open=hi_open)


def check_representable(hyper: dict, dtype, prefix: str = "optimizer") -> None:
    """Reject settings that would round to 0 or overflow in the training dtype (e.g. eps=1e-50 in float32)."""
    info = np.finfo(dtype)
    for key, value in hyper.items():
        if value and not (float(info.tiny) <= abs(value) <= float(info.max)):
            raise ConfigError(f"{prefix}.{key}" if prefix else key, f"{value!r} is not representable in {np.dtype(dtype).name} "
                                                 f"(allowed magnitudes: {info.tiny:.3g} to {info.max:.3g}); "
                                                 "use float64 or another value")


def hyper_vector(hyper: dict) -> np.ndarray:
    """Pack a validated hyperparameter dict into the kernels' float64 layout (``HYPER``; absent: 0)."""
    vec = np.zeros(len(HYPER))
    for i, key in enumerate(HYPER):
        vec[i] = hyper.get(key, 0.0)
    return vec


def n_buffers(name: str, hyper: dict) -> int:
    """State buffers a trial of rule ``name`` with these (validated) hyperparameters uses."""
    return RECORDS[RULE_ID[name]].n_buffers(hyper)


def pack_buffers(rules, hypers) -> int:
    """The most state buffers any trial of a pack uses (rule ids ``rules``, hyper vectors ``hypers``)."""
    rules = np.asarray(rules, dtype=np.int64)
    hypers = np.asarray(hypers, dtype=np.float64).reshape(len(rules), -1)
    flag = _dispatch.FLAG_INDEX[rules]
    extra = (flag >= 0) & (hypers[np.arange(len(rules)), np.maximum(flag, 0)] != 0.0)
    return int(np.max(_dispatch.BASE_BUFFERS[rules] + extra, initial=0))


def new_state(name: str, hyper: dict, n_params: int, dtype):
    """A trial's zeroed state: (buffers ``n_buffers x n_params`` in ``dtype``, scalars ``2 x MAX_SCALARS``
    float64, row 0 holding the rule's initial scalar state)."""
    rule = RULE_ID[name]
    scalars = np.zeros((2, MAX_SCALARS))
    scalars[0] = _dispatch.SCALAR_INIT[rule]
    return np.zeros((n_buffers(name, hyper), n_params), dtype=dtype), scalars


# -- the compiled update -----------------------------------------------------------------------

# Generated from the records (rules/dispatch.py); compiled into ``update``, whose cache holds it.
_JIT = njit(error_model="numpy", nogil=True)
_rule_step = _dispatch.build("cpu", _JIT, wrap=_JIT)


@kernel
def state_rows(rule, hyper):
    """Buffers a trial of rule id ``rule`` with hyperparameter vector ``hyper`` uses (the CPU
    trainer's allocation; ``n_buffers`` on the host)."""
    flag = _dispatch.FLAG_INDEX[rule]
    return _dispatch.BASE_BUFFERS[rule] + (1 if flag >= 0 and hyper[flag] != 0.0 else 0)


@kernel
def initial_scalars(rule):
    """A trial's scalar state (2 x MAX_SCALARS float64), row 0 set to the rule's initial values."""
    scalars = np.zeros((2, MAX_SCALARS))
    for j in range(MAX_SCALARS):
        scalars[0, j] = _dispatch.SCALAR_INIT[rule, j]
    return scalars


@kernel
def update(rule, theta, g, state, scalars, hyper, lr, t):
    """One in-place step ``t`` (counted from 1) of rule id ``rule`` with learning rate ``lr``.

    ``state`` is the trial's ``n_buffers x P`` buffer array (``state_rows``), ``scalars`` its
    ``2 x MAX_SCALARS`` float64 scalar state (step t reads row (t-1) % 2 and writes row t % 2).
    Coefficients are cast to the parameters' dtype, so float32 stays float32.
    """
    entry = _dispatch.ENTRY[rule, state.shape[0]]
    _rule_step(entry, theta, g, state, scalars[(t - 1) % 2], scalars[t % 2], hyper, lr, t)


class OptState:
    """A rule's state: its buffers (``n_buffers x P``), scalar state and the number of steps taken so far."""

    def __init__(self, rule: str, buffers, t=0, scalars=None):
        self.rule = rule
        self.buffers = buffers
        self.scalars = scalars
        self.t = t

    def __repr__(self):
        return f"OptState(rule={self.rule!r}, t={self.t}, buffers={len(self.buffers)})"


class Optimizer:
    """A validated update rule: ``init(params) -> state``; ``step(params, grads, state, lr=None)``."""

    def __init__(self, name: str, **hyper):
        self.hyper = validate_hyper(name, hyper)
        self.name = name
        self.rule = RULE_ID[name]
        self._vec = hyper_vector(self.hyper)

    @property
    def lr(self) -> float:
        return self.hyper["lr"]

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"optimizer({self.name!r}, {args})"

    def init(self, params: np.ndarray) -> OptState:
        """Zeroed state buffers shaped like ``params`` (flat float32/float64)."""
        check_flat_array("params", params)
        buffers, scalars = new_state(self.name, self.hyper, params.size, params.dtype)
        return OptState(self.name, buffers, scalars=scalars)

    def step(self, params: np.ndarray, grads: np.ndarray, state: OptState, lr: float | None = None) -> None:
        """Apply one update to ``params`` in place; ``lr`` (>= 0) overrides the rule's learning rate."""
        check_flat_array("params", params)
        check_flat_array("grads", grads)
        if grads.shape != params.shape or grads.dtype != params.dtype:
            raise ConfigError("grads", f"must match params (shape {params.shape}, dtype {params.dtype}); "
                                       f"got shape {grads.shape}, dtype {grads.dtype}")
        if not isinstance(state, OptState) or state.rule != self.name:
            raise ConfigError("state", f"was not made by this {self.name} optimizer; call init(params) first")
        b = state.buffers
        if (not isinstance(b, np.ndarray) or b.ndim != 2 or b.shape != (n_buffers(self.name, self.hyper), params.size)
                or b.dtype != params.dtype or not b.flags.c_contiguous):
            raise ConfigError("state", "was made for other params; call init(params) again")
        check_representable(self.hyper, params.dtype)
        eta = self.lr if lr is None else check_number("lr", lr, low=0.0)  # 0 is warmup's first step
        check_representable({"lr": eta}, params.dtype, prefix="")
        state.t += 1
        update(self.rule, params, grads, b, state.scalars, self._vec, eta, state.t)


def optimizer(name: str, **hyper) -> Optimizer:
    """``oe.optimizer("adam", lr=1e-3, beta1=0.9, ...)``: a validated update rule."""
    return Optimizer(name, **hyper)


def describe() -> dict:
    """Rules with their hyperparameters and defaults (for ``optengine list``)."""
    return {name: dict(h) for name, h in RULE_HYPER.items()}


def _default_text(h) -> str:
    if h.default is None:
        return h.name
    if h.name in FLAGS:
        return f"{h.name}={'true' if h.default else 'false'}"
    return f"{h.name}={h.default:g}".replace("e-0", "e-")


def readme_rules_row() -> str:
    """The README's "What is available" rules row, from the records (``tests/test_rules.py`` checks it)."""
    cells = ", ".join(f"`{r.name}({', '.join(_default_text(h) for h in r.hyper)})`" for r in RECORDS)
    return f"| rules | {cells} |"

