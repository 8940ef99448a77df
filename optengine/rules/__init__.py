"""The update rules: one module per rule (``RULE = Rule(...)``, see ``base.py``), found here.

Everything else about the rules is derived from these records: the hyperparameter layout
the kernels read (``HYPER``), validation, the CLI flags, the spec axes, the compiled update
kernels for the CPU and CUDA (``dispatch.py``), the trainer's cost ordering, the benchmarks'
traffic counts and the README's rule table (checked by ``tests/test_rules.py``). Adding a
rule is adding a module (CONTRIBUTING.md). Reading the records imports neither numba nor
NumPy (the CLI builds its flags from them); the hyperparameter layout here feeds the
compiled @kernel update, so ``jit.py`` fingerprints this file too.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import RANGES, Hyper, Rule

_NOT_RULES = {"base", "dispatch"}


def _discover() -> tuple:
    records = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_RULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            raise ImportError(f"optengine/rules/{info.name}.py defines no RULE = Rule(...)")
        records.append(rule)
    records.sort(key=lambda r: r.order)
    names = [r.name for r in records]
    if len(set(names)) != len(names) or [r.order for r in records] != list(range(len(records))):
        raise ImportError(f"rule names must be unique and orders 0..n-1: {[(r.name, r.order) for r in records]}")
    for r in records:
        if r.hyper[0].name != "lr" or r.hyper[0].default is not None:
            raise ImportError(f"rule {r.name}: its first hyperparameter must be lr, required")
        for h in r.hyper:
            if h.name not in RANGES:
                raise ImportError(f"rule {r.name}: hyperparameter {h.name!r} has no range in rules/base.py RANGES")
        if len(r.buffers) > 3:
            raise ImportError(f"rule {r.name}: at most 3 state buffers")
    return tuple(records)


RECORDS = _discover()
BY_NAME = {r.name: r for r in RECORDS}
NAMES = tuple(r.name for r in RECORDS)

# The kernels' hyperparameter vector: the first eight names are those of results format 1
# (kept in place), later names are appended in the order the records first use them, so
# existing positions never move.
_FIRST = ("lr", "momentum", "beta1", "beta2", "eps", "decay", "weight_decay", "l2")
HYPER = _FIRST + tuple(dict.fromkeys(h.name for r in RECORDS for h in r.hyper if h.name not in _FIRST))
MAX_BUFFERS = max(r.max_buffers for r in RECORDS)
MAX_SCALARS = max(1, max(len(r.scalars) for r in RECORDS))

__all__ = ["RECORDS", "BY_NAME", "NAMES", "HYPER", "MAX_BUFFERS", "MAX_SCALARS", "Hyper", "Rule", "RANGES"]
