"""Gradient clipping (seed section 8) against ``tests/reference.py``.

DESIGN: clip by value clamps each entry to [-c, c]; clip by norm uses the global L2 norm,
g *= min(1, c / (norm + 1e-6)). Both work in place and return the pre-clip norm.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference as R  # noqa: E402

import optengine.clipping as C  # noqa: E402
from optengine.errors import ConfigError  # noqa: E402

DTYPES = [np.float64, np.float32]


def grad(n=1000, scale=1.0, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(n)).astype(dtype)


# -- by value --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [0.1, 0.5, 1.0, 100.0])
def test_clip_by_value(dtype, c):
    g = grad(dtype=dtype)
    want, want_norm = R.clip_by_value(g, c)
    pre = g.copy()
    out = g
    norm = C.clip_by_value(g, c)
    assert g is out and g.dtype == dtype                 # in place, dtype kept
    assert isinstance(norm, float)
    np.testing.assert_array_equal(g, want)
    assert np.all(np.abs(g) <= dtype(c))
    inside = np.abs(pre) <= dtype(c)
    np.testing.assert_array_equal(g[inside], pre[inside])   # entries within [-c, c] untouched
    np.testing.assert_array_equal(np.sign(g), np.sign(pre))
    assert norm == pytest.approx(want_norm, rel=1e-12)      # pre-clip norm
    assert norm == pytest.approx(np.linalg.norm(pre.astype(np.float64)), rel=1e-12)


def test_clip_by_value_exact_entries():
    g = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    norm = C.clip_by_value(g, 1.0)
    np.testing.assert_array_equal(g, [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0])
    assert norm == pytest.approx(np.sqrt(9 + 1 + 0.25 + 0.25 + 1 + 9), rel=1e-15)


# -- by norm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [0.01, 1.0, 10.0])
def test_clip_by_norm_above(dtype, c):
    g = grad(scale=3.0, dtype=dtype)                     # norm ~ 95 > c
    pre = g.copy()
    pre_norm = np.linalg.norm(pre.astype(np.float64))
    assert pre_norm > c
    want, want_norm = R.clip_by_norm(g, c)
    norm = C.clip_by_norm(g, c)
    assert g.dtype == dtype
    assert isinstance(norm, float)
    assert norm == pytest.approx(pre_norm, rel=1e-12)    # returns the pre-clip norm
    assert norm == pytest.approx(want_norm, rel=1e-12)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(g, want, rtol=rtol, atol=0)
    # the result norm is c (up to the 1e-6 guard in the denominator)
    new_norm = np.linalg.norm(g.astype(np.float64))
    assert new_norm == pytest.approx(c * pre_norm / (pre_norm + 1e-6), rel=rtol)
    assert new_norm == pytest.approx(c, rel=1e-6 + rtol)
    # direction preserved: g is a positive multiple of the pre-clip gradient
    cos = np.dot(g.astype(np.float64), pre.astype(np.float64)) / (new_norm * pre_norm)
    assert cos == pytest.approx(1.0, abs=1e-12 if dtype == np.float64 else 1e-6)
    ratio = g.astype(np.float64)[pre != 0] / pre.astype(np.float64)[pre != 0]
    np.testing.assert_allclose(ratio, c / (pre_norm + 1e-6), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_norm_below_untouched(dtype):
    g = grad(scale=0.01, dtype=dtype)                    # norm ~ 0.32
    pre = g.copy()
    pre_norm = np.linalg.norm(pre.astype(np.float64))
    for c in (1.0, 2 * pre_norm, pre_norm + 1e-5):
        norm = C.clip_by_norm(g, c)
        np.testing.assert_array_equal(g, pre)            # bit for bit
        assert norm == pytest.approx(pre_norm, rel=1e-12)
        assert g.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("excess", [1e-4, 1e-2])
def test_clip_by_norm_just_above(dtype, excess):
    """A norm only slightly above c is still clipped to c (min(1, .) has no slack)."""
    g = grad(dtype=dtype)
    pre = g.copy()
    pre_norm = np.linalg.norm(pre.astype(np.float64))
    c = pre_norm / (1.0 + excess)
    want, _ = R.clip_by_norm(pre, c)
    C.clip_by_norm(g, c)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(g, want, rtol=rtol, atol=0)
    assert np.linalg.norm(g.astype(np.float64)) == pytest.approx(c, rel=1e-6)
    assert not np.array_equal(g, pre)


def test_clip_by_norm_exact():
    g = np.array([3.0, 4.0])                             # norm 5
    norm = C.clip_by_norm(g, 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(g, np.array([3.0, 4.0]) / (5.0 + 1e-6), rtol=1e-15)


def test_clip_by_norm_zero_gradient():
    g = np.zeros(10)
    assert C.clip_by_norm(g, 1.0) == 0.0
    np.testing.assert_array_equal(g, 0.0)


def test_global_norm_of_float32_is_accumulated_accurately():
    # many equal float32 entries: a float32 running sum would be off by ~1e-3 relative;
    # a float64 one agrees with NumPy's float64 pairwise sum to ~1e-12
    g = np.full(1_000_000, 0.1, dtype=np.float32)
    norm = C.clip_by_norm(g.copy(), 1e9)
    assert norm == pytest.approx(R.global_norm(g), rel=1e-9)


# -- non-finite --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fn", ["value", "norm"])
def test_non_finite_gradient_gives_non_finite_norm(dtype, bad, fn):
    g = grad(n=20, dtype=dtype)
    g[7] = bad
    clip = C.clip_by_value if fn == "value" else C.clip_by_norm
    norm = clip(g, 1.0)
    assert not np.isfinite(norm)


# -- bad input -------------------------------------------------------------------------------------

BAD = [
    ("value", np.zeros(3), 0.0, "clip.value"),
    ("value", np.zeros(3), -1.0, "clip.value"),
    ("value", np.zeros(3), float("nan"), "clip.value"),
    ("value", np.zeros(3), "1", "clip.value"),
    ("norm", np.zeros(3), 0.0, "clip.norm"),
    ("norm", np.zeros(3), -0.5, "clip.norm"),
    ("norm", np.zeros(3), float("inf"), "clip.norm"),
    ("norm", np.zeros((3, 2)), 1.0, "g"),
    ("norm", np.zeros(3, dtype=np.int64), 1.0, "g"),
    ("value", np.zeros((2, 2)), 1.0, "g"),
    ("value", [1.0, 2.0], 1.0, "g"),
    ("norm", np.zeros(6)[::2], 1.0, "g"),
]


@pytest.mark.parametrize("fn,g,c,field", BAD, ids=[f"{b[0]}-{b[3]}-{i}" for i, b in enumerate(BAD)])
def test_bad_clip_input(fn, g, c, field):
    clip = C.clip_by_value if fn == "value" else C.clip_by_norm
    with pytest.raises(ValueError) as exc:
        clip(g, c)
    assert isinstance(exc.value, ConfigError)
    assert str(exc.value).startswith(field + ":"), str(exc.value)


def test_parse_clip_bad_input():
    with pytest.raises(ValueError, match=r"^clip\.norm:"):
        C.parse_clip({"norm": 0})
    with pytest.raises(ValueError, match=r"^clip\.max:"):
        C.parse_clip({"max": 1.0})
    with pytest.raises(ValueError, match=r"^clip:"):
        C.parse_clip({"norm": 1.0, "value": 0.5})
