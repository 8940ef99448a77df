"""Dataset generators refuse, naming the size setting, data that would not fit in memory, before allocating."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import optengine.data.mnist1d as m1d
import optengine.memory as memory
from optengine.data import dataset
from optengine.errors import ConfigError

GiB = 1 << 30


@pytest.fixture
def one_gib(monkeypatch):
    """1 GiB available, and any generator that starts drawing data fails the test (instead of allocating)."""
    monkeypatch.setattr(memory, "available_bytes", lambda: GiB)

    def no_data(*a, **k):
        raise AssertionError("started generating before the memory check")

    monkeypatch.setattr(np.random, "default_rng", no_data)
    monkeypatch.setattr(m1d, "_generate", no_data)
    monkeypatch.setattr(m1d, "_MEMORY", {})


@pytest.mark.parametrize("name, kw, field, words", [
    ("synthetic_classification", {"n_samples": 100_000_000, "n_features": 50}, "dataset.n_samples",
     ["synthetic_classification (100000000 x 50 float64", "needs 114.0 GiB", "only 1.0 GiB"]),
    ("synthetic_regression", {"n_samples": 10_000_000, "n_features": 10}, "dataset.n_samples",
     ["synthetic_regression (10000000 x 10 float64", "GiB"]),
    ("synthetic_text", {"n_docs": 1_000_000, "doc_length": 100}, "dataset.n_docs",
     ["1000000 documents x 100 tokens", "GiB"]),
    ("sines", {"n_steps": 10_000_000}, "dataset.n_steps", ["sines (10000000 steps", "GiB"]),
    ("ar2", {"n_steps": 10_000_000, "window": 8}, "dataset.n_steps", ["ar2 (10000000 steps", "8 + 1 float64"]),
    ("mackey_glass", {"n_steps": 10_000_000}, "dataset.n_steps", ["mackey_glass"]),
    ("mnist1d", {"num_samples": 1_000_000}, "dataset.num_samples", ["MNIST-1D with 1000000 samples"]),
])
def test_generators_refuse_what_does_not_fit(one_gib, name, kw, field, words):
    with pytest.raises(ConfigError) as e:
        dataset(name, **kw)
    assert e.value.field == field
    for w in words:
        assert w in str(e.value), (w, str(e.value))


@pytest.mark.parametrize("name, kw", [
    ("synthetic_classification", {"n_samples": 1_000_000, "n_features": 50}),  # ~1.2 GiB with its copies
    ("sines", {"n_steps": 1_000_000, "window": 128}),  # ~1.2 GiB of windows
])
def test_estimates_count_what_is_allocated(one_gib, name, kw):
    with pytest.raises(ConfigError):
        dataset(name, **kw)


def test_default_sizes_pass_the_check(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 << 20)  # 64 MiB are plenty for the defaults
    for name in ("synthetic_classification", "synthetic_regression", "synthetic_text", "sines", "ar2"):
        dataset(name)


def test_real_address_space_limit():
    """Under a real RLIMIT_AS the 40 GB request is refused with the ConfigError, not a MemoryError."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
            "import optengine as oe\n"
            "try:\n    oe.dataset('synthetic_classification', n_samples=100_000_000, n_features=50)\n"
            "except oe.ConfigError as e:\n    print('FIELD', e.field)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "FIELD dataset.n_samples" in out.stdout, out.stdout + out.stderr
