"""Start a sweep's loky worker processes before the driver has loaded the engine.

A worker spends ~0.5 s importing numba, pandas and the engine before it can train. The
command line calls ``start(jobs)`` first thing, so the workers import while the driver does
the same and reads the spec; the runner calls ``wait()`` before handing out the first packs,
which then go to these workers (joblib reuses a loky executor started with the same
``n_jobs``). This module imports nothing heavy itself.
"""

from __future__ import annotations

import warnings
from importlib import import_module

_pending = None  # joblib's generator over the warm-up tasks, until wait() drains it


def start(n_jobs: int) -> None:
    """Start ``n_jobs`` loky workers, each importing the engine."""
    global _pending
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky"):
        _pending = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_load_engine)() for _ in range(n_jobs))


def wait() -> None:
    """Let the warm-up tasks finish (a no-op when none were started). A warm-up that fails
    (its workers were stopped, or one died) is only a lost head start: the sweep's own tasks
    report real errors."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        try:
            for _ in pending:
                pass
        except Exception:
            pass


def discard() -> None:
    """Drop warm-up tasks that no sweep waited for (the sweep failed before it started),
    without joblib's warning about cancelled tasks."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pending.close()


def _load_engine() -> None:
    import_module("optengine.sweep.worker")
