"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest
from numba.core.dispatcher import Dispatcher


@pytest.fixture
def compiler_entries(monkeypatch):
    """The names of the kernels whose calls from Python went to numba's compiler (no compiled match)."""
    entered = []
    original = Dispatcher._compile_for_args

    def spy(self, *args, **kws):
        entered.append(self.py_func.__name__)
        return original(self, *args, **kws)

    monkeypatch.setattr(Dispatcher, "_compile_for_args", spy)
    return entered
