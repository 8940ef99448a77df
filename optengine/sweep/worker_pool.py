"""The loky worker processes of ``optengine run``: started early, reused, stopped at the end.

A worker spends ~0.5 s importing numba, pandas and the engine before it can train.

- ``start(jobs)``: the command line starts its workers first, so they import the engine
  while the driver does the same and checks the spec (at most ``MAX_EARLY`` workers: each
  holds ~160 MB once loaded).
- ``adopt(n_jobs)``: before each loky round the runner asks how many workers to use. If at
  least ``n_jobs`` started early, it waits for their warm-up and uses all of them (extra ones
  idle), so that joblib reuses their executor instead of starting another; otherwise it
  stops them and the round starts its own.
- ``stop()``: once the sweep is saved (or failed, or was interrupted), the command line stops
  the workers without waiting for them to idle out (loky's exit handler waits ~0.3 s).
- ``exit_with_parent(pid)``: in a worker, exit as soon as the driver is gone (``kill -9``).

This module imports nothing heavy itself.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from importlib import import_module

MAX_EARLY = 8

_pending = None  # joblib's generator over the warm-up tasks, until adopt() drains it
_early = 0       # how many workers start() started (0: none)
_watching = []   # the worker's parent-watch thread, once started


def start(n_jobs: int) -> None:
    """Start ``n_jobs`` loky workers, each importing the engine (none if ``n_jobs`` < 2, which
    joblib would run in this process, or > ``MAX_EARLY``)."""
    global _pending, _early
    if not 2 <= n_jobs <= MAX_EARLY:
        return
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky"):
        _pending = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_load_engine)(os.getpid()) for _ in range(n_jobs))
    _early = n_jobs


def adopt(n_jobs: int) -> int:
    """Workers for a loky round that needs ``n_jobs``: the early ones if there are enough."""
    global _early
    if _early and n_jobs <= _early:
        _drain()
        return _early
    if _early:
        _discard()
        _early = 0
    return n_jobs


def stop() -> None:
    """Drop warm-up tasks nobody waited for and end the loky workers now."""
    global _early
    _discard()
    _early = 0
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def exit_with_parent(parent: int | None = None) -> None:
    """In a worker process: exit as soon as the process ``parent`` (default: the current parent)
    is gone, instead of idling, or finishing a pack nobody will save. Started once per process."""
    if _watching:
        return
    parent = os.getppid() if parent is None else parent

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    _watching.append(threading.Thread(target=watch, name="optengine-parent-watch", daemon=True))
    _watching[0].start()


def _drain() -> None:
    """Let the warm-up tasks finish. One that failed (its worker died) is only a lost head
    start: the sweep's own tasks report real errors."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        try:
            for _ in pending:
                pass
        except Exception:
            pass


def _discard() -> None:
    """Close the warm-up tasks' generator without joblib's warning about cancelled tasks."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pending.close()


def _load_engine(driver: int) -> None:
    exit_with_parent(driver)
    try:
        import_module("optengine.sweep.worker")
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the driver reports it
        pass
