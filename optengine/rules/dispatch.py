"""The compiled update of every rule, generated from the records (no hand-written branch per rule).

Each rule becomes one or two *entries*: one per number of state buffers it can use (Adam has
two: without and with AMSGrad's running maximum), so a trial reads and writes exactly the
buffers it uses. ``ENTRY[rule, n_buffers]`` is the entry's index (-1: none).

``source(target)`` writes the Python source of ``rule_step`` (CPU: ``theta``, ``g`` flat, state
``n_buffers x P``; CUDA: row ``k`` of K x P arrays, elements ``j0:j1:stride``): an ``if entry ==
i`` chain whose branch i gathers the rule's hyperparameters, calls its ``coefficients`` once,
casts them to the parameters' dtype and runs its ``element`` over the parameters. The CPU
kernel that calls it (``optimizers.update``, a cached ``@kernel``) is compiled with it inlined
(this file's changes drop that cache too: ``jit.py`` fingerprints files that mention @kernel).
"""

from __future__ import annotations

import linecache

import numpy as np

from . import HYPER, MAX_BUFFERS, MAX_SCALARS, RECORDS

ENTRIES = []  # (rule index, number of buffers)
for _i, _r in enumerate(RECORDS):
    for _nb in sorted({_r.max_buffers, _r.max_buffers - (1 if _r.optional_buffer else 0)}):
        ENTRIES.append((_i, _nb))
ENTRIES = tuple(ENTRIES)
ENTRY = np.full((len(RECORDS), MAX_BUFFERS + 1), -1, dtype=np.int64)
for _e, (_i, _nb) in enumerate(ENTRIES):
    ENTRY[_i, _nb] = _e
# per rule: buffers always used, the hyper index of the flag that adds one more (-1: none)
BASE_BUFFERS = np.array([r.max_buffers - (1 if r.optional_buffer else 0) for r in RECORDS], dtype=np.int64)
FLAG_INDEX = np.array([HYPER.index(r.optional_buffer) if r.optional_buffer else -1 for r in RECORDS], dtype=np.int64)
SCALAR_INIT = np.zeros((len(RECORDS), MAX_SCALARS))
for _i, _r in enumerate(RECORDS):
    for _j, (_name, _init, _meaning) in enumerate(_r.scalars):
        SCALAR_INIT[_i, _j] = _init


def n_coefficients(rule) -> int:
    """How many scalars ``rule.coefficients`` returns (found by calling it in plain Python)."""
    h = tuple(1e-3 if x.default is None else (x.default or 0.5) for x in rule.hyper)
    prev = np.ones(MAX_SCALARS)
    return len(rule.coefficients(h, 1e-3, 1, prev, prev.copy()))


def source(target: str) -> tuple[str, dict]:
    """(source text of ``rule_step``, the names it needs) for target "cpu" or "cuda"."""
    names = {}
    if target == "cpu":
        lines = ["def rule_step(entry, theta, g, state, prev, new, hyper, lr, t):",
                 "    dt = theta.dtype.type", "    z = dt(0.0)", "    n = theta.size"]
        at, loop = "[i]", "    for i in range(n):"
        buf = "state[{b}, i]"
    else:
        lines = ["def rule_step(entry, theta, g, state, scal, k, j0, j1, stride, hyper, lr, t):",
                 "    dt = theta.dtype.type", "    z = dt(0.0)",
                 "    prev = scal[k, (t - 1) % 2]", "    new = scal[k, t % 2]"]
        at, loop = "[k, j]", "    for j in range(j0, j1, stride):"
        buf = "state[k, {b}, j]"
    for e, (i, nb) in enumerate(ENTRIES):
        rule = RECORDS[i]
        names[f"C{i}"] = rule.coefficients
        names[f"E{i}"] = rule.element
        h = ", ".join(f"hyper[{HYPER.index(x.name)}]" for x in rule.hyper) + ("," if len(rule.hyper) == 1 else "")
        nco = n_coefficients(rule)
        co = ", ".join(f"dt(c[{j}])" for j in range(nco)) + ("," if nco == 1 else "")
        bufs = [buf.format(b=b) if b < nb else "z" for b in range(3)]
        lines += [f"    {'if' if e == 0 else 'elif'} entry == {e}:  # {rule.name}, {nb} buffer(s)",
                  f"        c = C{i}(({h}), lr, t, prev, new)",
                  f"        co = ({co})",
                  "    " + loop,
                  f"            th, b0, b1, b2 = E{i}(co, theta{at}, g{at}, {', '.join(bufs)})",
                  f"            theta{at} = th"]
        lines += [f"            {buf.format(b=b)} = b{b}" for b in range(nb)]
    return "\n".join(lines) + "\n", names


def build(target: str, compile_fn, wrap):
    """``rule_step`` for ``target`` compiled with ``compile_fn`` (e.g. numba.njit(...) or
    cuda.jit(device=True)); ``wrap`` compiles each record function for the target."""
    text, names = source(target)
    filename = f"<optengine rules: {target} rule_step>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # readable tracebacks
    namespace = {k: wrap(v) for k, v in names.items()}
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - source generated above from the records
    return compile_fn(namespace["rule_step"])
