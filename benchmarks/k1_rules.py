"""K1: one step of each update rule on N float32 parameters (16M; --quick 1M), single thread.

- optengine: ``optengine.optimizers.update(rule_id, theta, g, state, scalars, hyper_vec, lr, t)``
  (the engine's kernel, called directly; compiled by an untimed first call), for the notes'
  seven rules (targets) and, engine alone, every other rule of ``optengine/rules``;
- reference: a STREAM-style triad ``a[i] = b[i] + s*c[i]`` as a single-thread numba kernel,
  measured in the same rounds as the rules (one pooled median);
- NumPy: each rule in place from the formulas (``out=`` and one scratch buffer);
- PyTorch: ``torch.optim.<Rule>(..., foreach=True)`` and ``fused=True`` where torch supports it on
  CPU, ``torch.set_num_threads(1)``.

Achieved bandwidth = bytes the rule must read and write (``common.RULE_BYTES``) / median time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import torch_baseline
from .common import ENGINE_RULES, RULE_BYTES, RULES, TRIAD_BYTES, Ctx, Measurement, Target, Timing, interleaved, ratio

LR = 1e-3


@njit(cache=False, error_model="numpy")
def triad(a, b, c, s):
    """STREAM triad, one thread: a = b + s*c (reads 2 arrays, writes 1)."""
    for i in range(a.size):
        a[i] = b[i] + s * c[i]


@njit(cache=False, error_model="numpy")
def axpy_inplace(a, c, s):
    """In-place a = a + s*c, one thread: the same 12 B/element, but the store goes to memory just
    read (no write-allocate), like the update rules. Shown for reference; targets use the triad."""
    for i in range(a.size):
        a[i] = a[i] + s * c[i]


def engine_hyper(rule: str) -> np.ndarray:
    """The engine's hyperparameter vector of ``rule`` with its defaults (momentum 0.9, ...)."""
    from optengine.optimizers import hyper_vector, validate_hyper

    return hyper_vector(validate_hyper(rule, {"lr": LR}))


def numpy_step(rule: str, theta, g, s1, s2, tmp, hyper: dict, lr: float, t: int) -> None:
    """One in-place step of ``rule`` in NumPy, from the formulas of optengine/optimizers.py.

    ``tmp`` is a scratch array like ``theta``; all arithmetic stays in float32.
    """
    f = theta.dtype.type
    eta = f(lr)
    if rule == "sgd":
        np.multiply(g, eta, out=tmp)
        theta -= tmp
    elif rule in ("momentum", "nesterov"):
        m = f(hyper["momentum"])
        s1 *= m
        s1 += g
        if rule == "momentum":
            np.multiply(s1, eta, out=tmp)
        else:  # theta -= lr * (g + m*v)
            np.multiply(s1, m, out=tmp)
            tmp += g
            tmp *= eta
        theta -= tmp
    elif rule in ("adagrad", "rmsprop"):
        np.multiply(g, g, out=tmp)
        if rule == "rmsprop":
            d = f(hyper["decay"])
            s1 *= d
            tmp *= f(1.0 - hyper["decay"])
        s1 += tmp
        np.sqrt(s1, out=tmp)
        tmp += f(hyper["eps"])
        np.divide(g, tmp, out=tmp)
        tmp *= eta
        theta -= tmp
    elif rule in ("adam", "adamw"):
        b1, b2 = hyper["beta1"], hyper["beta2"]
        bc1, bc2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        s1 *= f(b1)
        np.multiply(g, f(1.0 - b1), out=tmp)
        s1 += tmp
        s2 *= f(b2)
        np.multiply(g, g, out=tmp)
        tmp *= f(1.0 - b2)
        s2 += tmp
        np.divide(s2, f(bc2), out=tmp)       # vhat
        np.sqrt(tmp, out=tmp)
        tmp += f(hyper["eps"])
        np.divide(s1, tmp, out=tmp)          # m / (sqrt(vhat) + eps)
        tmp *= f(lr / bc1)                   # lr * mhat / (...)
        if rule == "adamw":
            theta *= f(1.0 - lr * hyper["weight_decay"])
        theta -= tmp
    else:
        raise ValueError(rule)


def _arrays(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    return theta, g


def _stepper(fn):
    """A callable that advances a step counter t (1, 2, ...) on every call."""
    state = {"t": 0}

    def call():
        state["t"] += 1
        fn(state["t"])
    return call


def run(ctx: Ctx) -> None:
    import contextlib

    from optengine.optimizers import RULE_ID, new_state, update, validate_hyper

    n = ctx.sizes.k1_params
    R = ctx.k1_repeats
    ctx.log(f"K1: {n:,} float32 parameters, {R} interleaved rounds per rule")
    theta0, g = _arrays(n)
    a = np.empty_like(theta0)
    c = g.copy()
    torch_ok, torch_info = torch_baseline.available() if ctx.baselines else (False, "not run (--no-baselines)")

    triad_times = []
    engine, numpy_t, torch_t = {}, {}, {}
    with torch_baseline.single_thread() if torch_ok else contextlib.nullcontext():
        triad(a, theta0, c, np.float32(0.5))  # compile
        x = theta0.copy()
        axpy_inplace(x, c, np.float32(0.0))
        axpy_times = []
        for rule in RULES + tuple(r for r in ENGINE_RULES if r not in RULES):
            # Per rule, in rounds: triad, optengine, NumPy, torch foreach, torch fused (each one step);
            # the rules beyond the notes' seven: triad and optengine only.
            seven = rule in RULES
            rid = RULE_ID[rule]
            hv = engine_hyper(rule)
            hyper = validate_hyper(rule, {"lr": LR})
            te, (st, sc) = theta0.copy(), new_state(rule, hyper, n, np.float32)
            calls = {"triad": lambda: triad(a, theta0, c, np.float32(0.5)),
                     "axpy": lambda: axpy_inplace(x, c, np.float32(0.0)),  # s = 0: x stays finite
                     "optengine": _stepper(lambda t: update(rid, te, g, st, sc, hv, LR, t))}
            if seven:
                tn, n1, n2, tmp = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), np.empty_like(theta0)
                calls["numpy"] = _stepper(lambda t: numpy_step(rule, tn, g, n1, n2, tmp, hyper, LR, t))
                calls["numpy"]()
            calls["optengine"]()  # untimed first steps (the first compiles the engine kernel or loads it)
            steppers = torch_baseline.k1_steppers(rule, theta0, g) if torch_ok and seven else {}
            calls.update({f"torch {m}": fn for m, fn in steppers.items() if callable(fn)})
            tm = interleaved(calls, R)
            triad_times += tm["triad"].times
            axpy_times += tm.pop("axpy").times
            engine[rule] = tm["optengine"]
            if seven:
                numpy_t[rule] = tm["numpy"]
            torch_t[rule] = {m: (tm[f"torch {m}"] if callable(fn) else fn) for m, fn in steppers.items()}
            ctx.log(f"  {rule}: " + ", ".join(f"{k} {v.median * 1e3:.2f} ms" for k, v in tm.items() if k != "triad")
                    + "".join(f", torch {m} {v.split(' (')[0]}" for m, v in torch_t[rule].items()
                              if isinstance(v, str)))
            calls = steppers = None  # free the torch tensors before the next rule

    tri = Timing(triad_times)
    triad_gbs = TRIAD_BYTES * n / tri.median / 1e9
    ctx.add(Measurement.timed("K1", "triad", "numba (reference)", "bandwidth", tri, triad_gbs, "GB/s",
                              baseline="triad", ratio=1.0, ratio_meaning="bandwidth / triad bandwidth",
                              note=f"a = b + s*c, {TRIAD_BYTES} B/element, single thread; timed in every "
                                   "rule's rounds"))
    ctx.cache["k1_triad_gbs"] = triad_gbs
    ax = Timing(axpy_times)
    ax_gbs = TRIAD_BYTES * n / ax.median / 1e9
    ctx.add(Measurement.timed("K1", "axpy in place", "numba (reference)", "bandwidth", ax, ax_gbs, "GB/s",
                              baseline="triad", ratio=ratio(ax_gbs, triad_gbs),
                              ratio_meaning="bandwidth / triad bandwidth",
                              note="a = a + s*c, 12 B/element, single thread: in place like the rules (no "
                                   "write-allocate); for reference only, the targets use the triad"))

    def add(rule, impl, timing, note=""):
        gbs = RULE_BYTES[rule] * n / timing.median / 1e9
        return ctx.add(Measurement.timed("K1", rule, impl, "bandwidth", timing, gbs, "GB/s", baseline="triad",
                                         ratio=ratio(gbs, triad_gbs), ratio_meaning="bandwidth / triad bandwidth",
                                         note=note or f"{RULE_BYTES[rule]} B/param"))

    for rule in engine:
        if rule not in RULES:  # the engine's further rules: measured, no target
            add(rule, "optengine", engine[rule])
            continue
        m = add(rule, "optengine", engine[rule])
        ctx.target(Target("K1", f"{rule}: bandwidth / triad", m.ratio, ">=", 0.90,
                          note=f"{m.value:.1f} vs {triad_gbs:.1f} GB/s"))
        add(rule, "numpy", numpy_t[rule])
        for mode in ("foreach", "fused"):
            impl = f"torch {mode}"
            res = torch_t.get(rule, {}).get(mode) if torch_ok else torch_info
            if isinstance(res, Timing):
                add(rule, impl, res, note=f"{RULE_BYTES[rule]} B/param; torch.set_num_threads(1)")
            else:
                status = res.split(" (")[0]
                ctx.add(Measurement.missing("K1", rule, impl, "bandwidth", status, note=res))

    fused = torch_t.get("adam", {}).get("fused") if torch_ok else None
    if isinstance(fused, Timing):
        r = ratio(fused.median, engine["adam"].median)
        ctx.add(Measurement("K1", "adam", "optengine", "speed-up over torch fused Adam", value=r, unit="x",
                            baseline="torch fused Adam", ratio=r, ratio_meaning="torch time / optengine time",
                            repeats=engine["adam"].repeats, median_s=engine["adam"].median,
                            min_s=engine["adam"].min, max_s=engine["adam"].max))
        ctx.target(Target("K1", "adam: torch fused time / optengine time", r, ">=", 1.0,
                          note=f"{engine['adam'].median * 1e3:.3g} vs {fused.median * 1e3:.3g} ms"))
    else:
        why = fused if isinstance(fused, str) else torch_info
        ctx.target(Target("K1", "adam: torch fused time / optengine time", float("nan"), ">=", 1.0,
                          note=f"torch fused Adam: {why}"))
    ctx.section("K1", f"{n:,} float32 parameters; one step per timed call, median of {R} "
                      "(after an untimed first step). Bytes per parameter each rule must move: "
                      + ", ".join(f"{r} {b}" for r, b in RULE_BYTES.items()) + f" (from the rule records); "
                      f"triad {TRIAD_BYTES} B/element "
                      "(its store to a separate array also reads that array, write-allocate, which the 12 B do not count; the "
                      "rules store to memory they have just read, as does the in-place `a = a + s*c` row, a "
                      "stricter reference shown for information). "
                      "Per rule, one step of each implementation and one triad are timed in turn, "
                      f"{R} rounds. All single thread: the engine's `update` kernel, NumPy, and PyTorch with "
                      "`torch.set_num_threads(1)`. `ratio` = bandwidth / triad bandwidth measured in this run.")
