"""Learning-rate schedules (seed section 7) against the formulas of ``tests/reference.py``."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as R  # noqa: E402

import optengine.schedules as S  # noqa: E402
from optengine.errors import ConfigError  # noqa: E402

RTOL = 1e-12


def close(a, b, scale):
    return abs(a - b) <= RTOL * abs(b) + 1e-15 * scale


def check_schedule(name, ts, lr, **params):
    sched = S.schedule(name, lr=lr, **params)
    for t in ts:
        got = sched(t)
        want = R.schedule_lr(name, t, lr, **params)
        assert isinstance(got, float)
        assert close(got, want, lr), f"{name} {params} t={t}: got {got!r}, want {want!r}"
    return sched


def test_constant():
    sched = check_schedule("constant", range(0, 500, 7), 0.3)
    assert sched(0) == 0.3 and sched(10**6) == 0.3


@pytest.mark.parametrize("step_size,gamma", [(10, 0.1), (7, 0.5), (1, 0.9), (30, 0.999)])
def test_step(step_size, gamma):
    lr = 0.2
    ts = list(range(0, 8 * step_size + 3))
    sched = check_schedule("step", ts, lr, step_size=step_size, gamma=gamma)
    # boundaries: constant inside a block, drops by gamma exactly at t = k*s
    for k in range(1, 6):
        t = k * step_size
        assert close(sched(t), lr * gamma**k, lr)
        assert close(sched(t - 1), lr * gamma ** (k - 1), lr)
        assert close(sched(t) / sched(t - 1), gamma, 1.0)
    assert sched(0) == lr


def test_step_default_gamma_is_0_1():
    sched = S.schedule("step", lr=1.0, step_size=5)
    assert close(sched(4), 1.0, 1.0) and close(sched(5), 0.1, 1.0) and close(sched(10), 0.01, 1.0)


@pytest.mark.parametrize("decay_rate", [1e-3, 0.05, 1.0])
def test_exponential(decay_rate):
    lr = 0.1
    ts = list(range(0, 300, 3)) + [0.5, 2.25, 17.75]
    sched = check_schedule("exponential", ts, lr, decay_rate=decay_rate)
    assert sched(0) == lr
    assert close(sched(10), lr * math.exp(-10 * decay_rate), lr)
    # exp(-lambda*(t+1)) / exp(-lambda*t) = exp(-lambda): a constant ratio per step
    v = sched.values(50)
    np.testing.assert_allclose(v[1:] / v[:-1], math.exp(-decay_rate), rtol=1e-12)


@pytest.mark.parametrize("lr_min", [0.0, 0.01])
@pytest.mark.parametrize("total", [1, 10, 100])
def test_cosine(lr_min, total):
    lr = 0.1
    ts = list(range(0, 3 * total + 5)) + [total - 0.5, total + 0.5]
    sched = check_schedule("cosine", ts, lr, lr_min=lr_min, total_steps=total)
    assert sched(0) == lr                              # starts at eta_max
    assert close(sched(total), lr_min, lr)             # reaches eta_min at T
    for t in (total + 1, total + 7, 10 * total + 3):   # held at eta_min after T
        assert sched(t) == lr_min
    if total % 2 == 0:
        assert close(sched(total // 2), 0.5 * (lr + lr_min), lr)  # midpoint
    v = sched.values(total + 1)
    assert np.all(np.diff(v) <= 0)                     # non-increasing


def test_cosine_default_lr_min_is_zero():
    sched = S.schedule("cosine", lr=0.5, total_steps=20)
    assert close(sched(20), 0.0, 0.5) and sched(21) == 0.0


WARMUP_CASES = [
    ("constant", {}),
    ("step", {"step_size": 5, "gamma": 0.5}),
    ("exponential", {"decay_rate": 0.1}),
    ("cosine", {"lr_min": 0.001, "total_steps": 30}),
]


@pytest.mark.parametrize("warmup_start", [0.0, 0.02])
@pytest.mark.parametrize("warmup_steps", [1, 4, 25])
@pytest.mark.parametrize("name,params", WARMUP_CASES, ids=[c[0] for c in WARMUP_CASES])
def test_warmup(name, params, warmup_steps, warmup_start):
    lr = 0.1
    tw = warmup_steps
    ts = sorted(set(list(range(0, tw + 80)) + [0, tw - 1, tw, tw + 1]))
    sched = check_schedule(name, ts, lr, warmup_steps=tw, warmup_start=warmup_start, **params)
    base = S.schedule(name, lr=lr, **params)
    # boundaries: starts at warmup_start, linear, reaches the schedule's start at T_w
    assert close(sched(0), warmup_start, lr)
    assert close(sched(tw - 1), warmup_start + (tw - 1) / tw * (lr - warmup_start), lr)
    assert close(sched(tw), lr, lr)
    assert close(sched(tw + 1), base(1), lr)
    # linear during warmup: equal increments
    if tw > 1:
        inc = np.diff([sched(t) for t in range(tw + 1)])
        np.testing.assert_allclose(inc, (lr - warmup_start) / tw, rtol=1e-12)
    # after warmup: the schedule shifted by T_w
    for u in range(0, 60):
        assert close(sched(tw + u), base(u), lr)


def test_warmup_with_step_boundary_after_shift():
    """The step schedule's first drop comes s steps after the warmup ends, at t = T_w + s."""
    sched = S.schedule("step", lr=1.0, step_size=10, gamma=0.5, warmup_steps=5)
    assert close(sched(14), 1.0, 1.0)
    assert close(sched(15), 0.5, 1.0)
    assert close(sched(25), 0.25, 1.0)


def test_cosine_with_warmup_hold():
    sched = S.schedule("cosine", lr=0.1, lr_min=0.01, total_steps=20, warmup_steps=10, warmup_start=0.05)
    assert close(sched(0), 0.05, 0.1)
    assert close(sched(10), 0.1, 0.1)
    assert close(sched(30), 0.01, 0.1)
    assert sched(31) == 0.01 and sched(1000) == 0.01


ALL = [
    ("constant", {}),
    ("step", {"step_size": 4, "gamma": 0.3}),
    ("exponential", {"decay_rate": 0.02}),
    ("cosine", {"lr_min": 0.0, "total_steps": 50}),
    ("cosine", {"lr_min": 0.05, "total_steps": 17, "warmup_steps": 6, "warmup_start": 0.01}),
    ("step", {"step_size": 3, "warmup_steps": 8}),
    ("exponential", {"decay_rate": 0.5, "warmup_steps": 2, "warmup_start": 0.1}),
]


@pytest.mark.parametrize("name,params", ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_values_equals_calls(name, params):
    sched = S.schedule(name, lr=0.2, **params)
    for n in (0, 1, 5, 120):
        v = sched.values(n)
        assert isinstance(v, np.ndarray) and v.shape == (n,) and v.dtype == np.float64
        np.testing.assert_array_equal(v, np.array([sched(t) for t in range(n)], dtype=np.float64))
        want = [R.schedule_lr(name, t, 0.2, **params) for t in range(n)]
        np.testing.assert_allclose(v, want, rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("name,params", ALL[:4], ids=[n for n, _ in ALL[:4]])
def test_unit_epoch_same_formula(name, params):
    """``unit`` says what t counts (steps or epochs); the formula in t is the same."""
    a = S.schedule(name, lr=0.2, unit="step", **params)
    b = S.schedule(name, lr=0.2, unit="epoch", **params)
    np.testing.assert_array_equal(a.values(60), b.values(60))


def test_cosine_without_total_steps_raises_when_evaluated():
    sched = S.schedule("cosine", lr=0.1)              # allowed: a sweep fills T in
    with pytest.raises(ValueError) as exc:
        sched(0)
    assert str(exc.value).startswith("schedule.total_steps:")
    with pytest.raises(ValueError, match=r"^schedule\.total_steps:"):
        sched.values(10)


# -- bad input -------------------------------------------------------------------------------------

BAD = [
    ("cosin", {"lr": 0.1, "total_steps": 10}, "schedule.name"),
    ("linear", {"lr": 0.1}, "schedule.name"),
    ("constant", {}, "schedule.lr"),
    ("constant", {"lr": 0.0}, "schedule.lr"),
    ("constant", {"lr": -0.1}, "schedule.lr"),
    ("step", {"lr": 0.1}, "schedule.step_size"),
    ("step", {"lr": 0.1, "step_size": 2.5}, "schedule.step_size"),
    ("step", {"lr": 0.1, "step_size": 0}, "schedule.step_size"),
    ("step", {"lr": 0.1, "step_size": 10, "gamma": 1.5}, "schedule.gamma"),
    ("step", {"lr": 0.1, "step_size": 10, "gamma": 0.0}, "schedule.gamma"),
    ("step", {"lr": 0.1, "step_size": 10, "gamma": 1.0}, "schedule.gamma"),
    ("exponential", {"lr": 0.1}, "schedule.decay_rate"),
    ("exponential", {"lr": 0.1, "decay_rate": 0}, "schedule.decay_rate"),
    ("exponential", {"lr": 0.1, "decay_rate": -0.1}, "schedule.decay_rate"),
    ("cosine", {"lr": 0.1, "lr_min": 0.2, "total_steps": 10}, "schedule.lr_min"),
    ("cosine", {"lr": 0.1, "lr_min": -0.01, "total_steps": 10}, "schedule.lr_min"),
    ("cosine", {"lr": 0.1, "total_steps": 0}, "schedule.total_steps"),
    ("cosine", {"lr": 0.1, "total_steps": 10.5}, "schedule.total_steps"),
    ("constant", {"lr": 0.1, "warmup_steps": -1}, "schedule.warmup_steps"),
    ("constant", {"lr": 0.1, "warmup_steps": 2.5}, "schedule.warmup_steps"),
    ("constant", {"lr": 0.1, "warmup_steps": 5, "warmup_start": 0.5}, "schedule.warmup_start"),
    ("constant", {"lr": 0.1, "warmup_start": -0.1}, "schedule.warmup_start"),
    ("constant", {"lr": 0.1, "unit": "epochs"}, "schedule.unit"),
    ("constant", {"lr": 0.1, "gamma": 0.5}, "schedule.gamma"),          # not a setting of constant
    ("exponential", {"lr": 0.1, "decay_rate": 0.1, "step_size": 3}, "schedule.step_size"),
]


@pytest.mark.parametrize("name,params,field", BAD, ids=[f"{f}-{n}-{i}" for i, (n, _, f) in enumerate(BAD)])
def test_bad_schedule(name, params, field):
    with pytest.raises(ValueError) as exc:
        S.schedule(name, **params)
    assert isinstance(exc.value, ConfigError)
    assert str(exc.value).startswith(field + ":"), str(exc.value)


def test_unknown_schedule_suggests_closest():
    with pytest.raises(ValueError, match=r"^schedule\.name:") as exc:
        S.schedule("cosin", lr=0.1)
    assert "'cosine'" in str(exc.value)


def test_bad_evaluation_arguments():
    sched = S.schedule("constant", lr=0.1)
    with pytest.raises(ValueError, match=r"^t:"):
        sched(-1)
    with pytest.raises(ValueError, match=r"^n:"):
        sched.values(-1)
    with pytest.raises(ValueError, match=r"^n:"):
        sched.values(2.5)
