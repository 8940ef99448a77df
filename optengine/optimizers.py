"""Update rules of the notes (sections 2-5) as in-place Numba kernels.

g below is the mean mini-batch gradient after clipping; ``l2`` (coupled, any rule)
adds ``l2 * theta`` to it inside the rule, as PyTorch's ``weight_decay`` does.

=========  ====================================================================
sgd        theta -= lr * g                                        (notes 2.3)
momentum   v = m*v + g;  theta -= lr * v                          (notes 4.1)
nesterov   v = m*v + g;  theta -= lr * (g + m*v)   look-ahead form (notes 4.2)
adagrad    s += g^2;  theta -= lr * g / (sqrt(s) + eps)           (notes 5.1)
rmsprop    s = d*s + (1-d)*g^2;  theta -= lr * g / (sqrt(s) + eps) (notes 5.2)
adam       m, v moments; mhat = m/(1-b1^t), vhat = v/(1-b2^t);
           theta -= lr * mhat / (sqrt(vhat) + eps), t from 1      (notes 5.3)
adamw      adam - lr * weight_decay * theta_t (decoupled)         (notes 5.4)
=========  ====================================================================

Nesterov keeps the *look-ahead* point theta~ = theta - lr*m*v as its parameters
(PyTorch's form); ``tests/test_optimizers.py`` shows it equals the notes' update.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, check_choice, check_flat_array, check_keys, check_number
from .jit import kernel

# Rule ids used by the kernels.
SGD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADAM, ADAMW = range(7)
RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")

# Layout of a trial's hyperparameter vector (float64) as the kernels read it.
HYPER = ("lr", "momentum", "beta1", "beta2", "eps", "decay", "weight_decay", "l2")
H_LR, H_MOMENTUM, H_BETA1, H_BETA2, H_EPS, H_DECAY, H_WD, H_L2 = range(len(HYPER))

# Hyperparameters each rule takes, with defaults (None: required).
RULE_HYPER = {
    "sgd": {"lr": None, "l2": 0.0},
    "momentum": {"lr": None, "momentum": 0.9, "l2": 0.0},
    "nesterov": {"lr": None, "momentum": 0.9, "l2": 0.0},
    "adagrad": {"lr": None, "eps": 1e-10, "l2": 0.0},
    "rmsprop": {"lr": None, "decay": 0.9, "eps": 1e-8, "l2": 0.0},
    "adam": {"lr": None, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "l2": 0.0},
    "adamw": {"lr": None, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "l2": 0.0},
}
# Number of state buffers (same shape as the parameters) each rule keeps.
N_BUFFERS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2, "adamw": 2}

_RANGES = {  # field -> (low, high, low_open, high_open)
    "lr": (0.0, None, True, False),
    "momentum": (0.0, 1.0, False, True),
    "beta1": (0.0, 1.0, False, True),
    "beta2": (0.0, 1.0, False, True),
    "decay": (0.0, 1.0, False, True),
    "eps": (0.0, None, True, False),
    "weight_decay": (0.0, None, False, False),
    "l2": (0.0, None, False, False),
}
RANGE_TEXT = {
    "lr": "(0, inf)", "momentum": "[0, 1)", "beta1": "[0, 1)", "beta2": "[0, 1)",
    "decay": "[0, 1)", "eps": "(0, inf)", "weight_decay": "[0, inf)", "l2": "[0, inf)",
}


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
    return out


def check_hyper_value(key: str, value, field: str) -> float:
    """One hyperparameter checked against its range (``RANGE_TEXT``); returned as float."""
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
    """Pack a validated hyperparameter dict into the kernels' float64 layout."""
    vec = np.zeros(len(HYPER))
    for i, key in enumerate(HYPER):
        vec[i] = hyper.get(key, 0.0)
    return vec


@kernel
def update(rule, theta, g, s1, s2, hyper, lr, t):
    """One in-place step ``t`` (counted from 1) of ``rule`` with learning rate ``lr``.

    ``s1``/``s2`` are the rule's state buffers (velocity, accumulators, moments).
    Scalars are cast to the parameters' dtype, so float32 stays float32.
    """
    dt = theta.dtype.type
    n = theta.size
    eta = dt(lr)
    l2 = dt(hyper[H_L2])
    if rule == SGD:
        for i in range(n):
            gi = g[i] + l2 * theta[i]
            theta[i] -= eta * gi
    elif rule == MOMENTUM:
        m = dt(hyper[H_MOMENTUM])
        for i in range(n):
            gi = g[i] + l2 * theta[i]
            v = m * s1[i] + gi
            s1[i] = v
            theta[i] -= eta * v
    elif rule == NESTEROV:
        m = dt(hyper[H_MOMENTUM])
        for i in range(n):
            gi = g[i] + l2 * theta[i]
            v = m * s1[i] + gi
            s1[i] = v
            theta[i] -= eta * (gi + m * v)
    elif rule == ADAGRAD:
        eps = dt(hyper[H_EPS])
        for i in range(n):
            gi = g[i] + l2 * theta[i]
            s = s1[i] + gi * gi
            s1[i] = s
            theta[i] -= eta * gi / (np.sqrt(s) + eps)
    elif rule == RMSPROP:
        d = dt(hyper[H_DECAY])
        one_d = dt(1.0 - hyper[H_DECAY])
        eps = dt(hyper[H_EPS])
        for i in range(n):
            gi = g[i] + l2 * theta[i]
            s = d * s1[i] + one_d * (gi * gi)
            s1[i] = s
            theta[i] -= eta * gi / (np.sqrt(s) + eps)
    else:  # ADAM, ADAMW
        b1 = hyper[H_BETA1]
        b2 = hyper[H_BETA2]
        beta1 = dt(b1)
        beta2 = dt(b2)
        one_b1 = dt(1.0 - b1)
        one_b2 = dt(1.0 - b2)
        bc1 = dt(1.0 - b1 ** t)
        bc2 = dt(1.0 - b2 ** t)
        eps = dt(hyper[H_EPS])
        wd = dt(hyper[H_WD]) if rule == ADAMW else dt(0.0)
        for i in range(n):
            th = theta[i]
            gi = g[i] + l2 * th
            m = beta1 * s1[i] + one_b1 * gi
            v = beta2 * s2[i] + one_b2 * (gi * gi)
            s1[i] = m
            s2[i] = v
            mhat = m / bc1
            vhat = v / bc2
            theta[i] = th - eta * (mhat / (np.sqrt(vhat) + eps) + wd * th)


class OptState:
    """A rule's state: its buffers and the number of steps taken so far."""

    def __init__(self, rule: str, buffers, t=0):
        self.rule = rule
        self.buffers = buffers
        self.t = t

    def __repr__(self):
        return f"OptState(rule={self.rule!r}, t={self.t}, buffers={len(self.buffers)})"


class Optimizer:
    """A validated update rule: ``init(params) -> state``; ``step(params, grads, state, lr=None)``."""

    def __init__(self, name: str, **hyper):
        self.hyper = validate_hyper(name, hyper)
        self.name = name
        self.rule = RULES.index(name)
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
        return OptState(self.name, [np.zeros_like(params) for _ in range(N_BUFFERS[self.name])])

    def step(self, params: np.ndarray, grads: np.ndarray, state: OptState, lr: float | None = None) -> None:
        """Apply one update to ``params`` in place; ``lr`` (>= 0) overrides the rule's learning rate."""
        check_flat_array("params", params)
        check_flat_array("grads", grads)
        if grads.shape != params.shape or grads.dtype != params.dtype:
            raise ConfigError("grads", f"must match params (shape {params.shape}, dtype {params.dtype}); "
                                       f"got shape {grads.shape}, dtype {grads.dtype}")
        if not isinstance(state, OptState) or state.rule != self.name:
            raise ConfigError("state", f"was not made by this {self.name} optimizer; call init(params) first")
        for b in state.buffers:
            if b.shape != params.shape or b.dtype != params.dtype:
                raise ConfigError("state", "was made for other params; call init(params) again")
        check_representable(self.hyper, params.dtype)
        eta = self.lr if lr is None else check_number("lr", lr, low=0.0)  # 0 is warmup's first step
        check_representable({"lr": eta}, params.dtype, prefix="")
        state.t += 1
        bufs = state.buffers + [params] * (2 - len(state.buffers))  # unused slots: any array of the dtype
        update(self.rule, params, grads, bufs[0], bufs[1], self._vec, eta, state.t)


def optimizer(name: str, **hyper) -> Optimizer:
    """``oe.optimizer("adam", lr=1e-3, beta1=0.9, ...)``: a validated update rule."""
    return Optimizer(name, **hyper)


def describe() -> dict:
    """Rules with their hyperparameters and defaults (for ``optengine list``)."""
    return {name: dict(h) for name, h in RULE_HYPER.items()}

