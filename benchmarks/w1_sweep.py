"""W1: the MNIST-1D sweep. MLP 40-100-100-10 relu, softmax cross-entropy, the 7 rules x
lr {1e-3, 3e-3, 1e-2, 3e-2}, batch 64, 20 epochs (--quick: 2), one seed, float32: 28 trials.

optengine, three ways:
  (a) in process: ``oe.train_pack`` over the 28 trials, threads=2, after an untimed warm-up
      call ("excluding compilation"); median of repeats;
  (b) in process through the sweep runner: ``oe.run_sweep(benchmarks/w1.toml, jobs=2,
      fresh=True)`` (2 loky workers x 1 trainer thread, Parquet written), after a warm-up sweep;
  (c) including compilation: a fresh process with an empty ``NUMBA_CACHE_DIR`` (C1's cold runs).
Baselines, same run: PyTorch eager (one trial per joblib task, 2 workers x 1 thread) and JAX +
optax (``jit(vmap)`` over the learning rates, one program per rule).
Reference: single-precision matrix multiply (``np.dot``, float32, 1 and 2 BLAS threads).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np

from . import jax_baseline, torch_baseline
from .common import (BENCH_DIR, RULES, STATUS_OK, W1_BATCH, W1_LRS, W1_SIZES, Ctx, Measurement, Target, Timing, fmt,
                     interleaved, md_table, mlp_flops, ratio)

SPEC = BENCH_DIR / "w1.toml"
ACC_FLOOR = 0.03   # the accuracy tolerance is at least this (absolute)
MATMUL_PER_CALL = 3


def trials(seeds=(0,)) -> list:
    """W1's trials: rule-major, then learning rate, then seed."""
    return [{"optimizer": r, "lr": lr, "seed": s} for r in RULES for lr in W1_LRS for s in seeds]


def spec_text(epochs: int, name: str = "w1") -> str:
    """benchmarks/w1.toml with ``epochs`` (and the sweep name) replaced."""
    text = SPEC.read_text()
    text = re.sub(r"(?m)^epochs = \d+", f"epochs = {int(epochs)}", text)
    return re.sub(r'(?m)^name = "w1"', f'name = "{name}"', text)


def problem(ctx: Ctx):
    """(dataset, model, data arrays (X, y, Xv, yv) float32/int64), loaded once per run."""
    if "w1_problem" not in ctx.cache:
        import optengine as oe

        ds = oe.dataset("mnist1d")
        model = oe.model("mlp", sizes=list(W1_SIZES), activation="relu")
        data = (np.ascontiguousarray(ds.X_train, dtype=np.float32), np.asarray(ds.y_train, dtype=np.int64),
                np.ascontiguousarray(ds.X_val, dtype=np.float32), np.asarray(ds.y_val, dtype=np.int64))
        ctx.cache["w1_problem"] = (ds, model, data)
    return ctx.cache["w1_problem"]


def useful_flops(ctx: Ctx, n_trials: int, *, initial_train_eval: bool, epochs: int | None = None) -> float:
    _, _, (X, _, Xv, _) = problem(ctx)
    per = mlp_flops(W1_SIZES, X.shape[0], Xv.shape[0], epochs or ctx.sizes.w1_epochs,
                    initial_train_eval=initial_train_eval)
    return float(per["total"]) * n_trials


# -- optengine ------------------------------------------------------------------------------------------

def pack_setup(ctx: Ctx):
    """(a) A callable that trains the 28 trials with ``oe.train_pack(..., threads=2)``, after an
    untimed warm-up call (which compiles the trainer or loads it from the numba cache). Its
    latest runs table is ``call.runs``. Cached per run (C1 uses it too)."""
    if "w1_pack" in ctx.cache:
        return ctx.cache["w1_pack"]
    import optengine as oe

    ds, model, _ = problem(ctx)
    tr = trials()
    kw = dict(batch_size=W1_BATCH, dtype="float32", threads=2)
    ctx.log("  optengine train_pack: warm-up (compiles, or loads the numba cache) ...")
    oe.train_pack(model, ds, tr[:2], epochs=1, **kw)

    def call():
        call.runs = oe.train_pack(model, ds, tr, epochs=ctx.sizes.w1_epochs, **kw)[0]

    ctx.cache["w1_pack"] = call
    return call


def runner_setup(ctx: Ctx):
    """(b) A callable that runs w1.toml through ``oe.run_sweep(..., jobs=2, fresh=True)`` in this
    process (loky workers, Parquet written), after an untimed 1-epoch sweep that starts the
    workers. Its latest runs table is ``call.runs``. Cached per run (C1 uses it too)."""
    if "w1_runner" in ctx.cache:
        return ctx.cache["w1_runner"]
    import optengine as oe

    tmp = tempfile.TemporaryDirectory(prefix="optengine-w1-")
    folder = Path(tmp.name)
    ctx.log("  optengine run_sweep: warm-up sweep (starts the workers) ...")
    oe.run_sweep(spec_text(1, "w1_warmup"), folder / "warmup", jobs=2, fresh=True)
    spec = spec_text(ctx.sizes.w1_epochs)

    def call():
        runs = oe.run_sweep(spec, folder / "w1", jobs=2, fresh=True)
        if len(runs) != 28 or (runs["status"] != "ok").any():
            raise RuntimeError(f"run_sweep: {len(runs)} rows, statuses {runs['status'].value_counts().to_dict()}")
        call.runs = runs

    call.tmp = tmp  # removed with the callable
    ctx.cache["w1_runner"] = call
    return call


def seed_spread(ctx: Ctx, runs0) -> tuple[float, dict]:
    """Best validation accuracy per rule for seeds 0..k-1 in the engine; returns (the largest
    max-min spread over the rules, {rule: [best per seed]})."""
    import optengine as oe

    k = ctx.sizes.accuracy_seeds
    ds, model, _ = problem(ctx)
    best = {r: [float(runs0[runs0.optimizer == r].final_val_metric.max())] for r in RULES}
    if k > 1:
        runs, _ = oe.train_pack(model, ds, trials(tuple(range(1, k))), batch_size=W1_BATCH,
                                epochs=ctx.sizes.w1_epochs, dtype="float32", threads=2)
        for r in RULES:
            sub = runs[runs.optimizer == r]
            best[r] += [float(sub[sub.seed == s].final_val_metric.max()) for s in range(1, k)]
    spread = max(max(v) - min(v) for v in best.values())
    return spread, best


# -- reference: matrix multiply ----------------------------------------------------------------------------

def matmul_calls(ctx: Ctx) -> dict:
    """Callables {"matmul1", "matmul2"}: ``MATMUL_PER_CALL`` float32 ``np.dot`` products of
    n x n matrices with 1 / 2 BLAS threads (timed inside W1's interleaved rounds)."""
    from threadpoolctl import threadpool_limits

    n = ctx.sizes.matmul_n
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)

    def make(threads):
        def call():
            with threadpool_limits(limits=threads, user_api="blas"):
                for _ in range(MATMUL_PER_CALL):
                    np.dot(a, b, out=c)
        return call

    calls = {"matmul1": make(1), "matmul2": make(2)}
    for fn in calls.values():
        fn()  # warm-up (thread pools, page faults)
    return calls


def matmul_record(ctx: Ctx, timings: dict) -> dict:
    """GFLOP/s {1: .., 2: ..} from the rounds' timings; adds the "M" rows; cached for the run."""
    n = ctx.sizes.matmul_n
    out = {}
    for threads in (1, 2):
        t = timings[f"matmul{threads}"]
        per = Timing([x / MATMUL_PER_CALL for x in t.times])
        out[threads] = 2.0 * n ** 3 / per.median / 1e9
        ctx.add(Measurement.timed("M", f"sgemm {n}x{n}", f"numpy np.dot, {threads} BLAS thread(s)", "GFLOP/s", per,
                                  out[threads], "GFLOP/s", baseline="1 BLAS thread", ratio=ratio(out[threads], out[1]),
                                  ratio_meaning="GFLOP/s / 1-thread GFLOP/s",
                                  note=f"float32, 2n^3 flops per product; {MATMUL_PER_CALL} products per W1 round "
                                       "(times shown per product)"))
    ctx.log(f"  matmul {n}: {out[1]:.1f} GFLOP/s (1 thread), {out[2]:.1f} GFLOP/s (2 threads)")
    ctx.cache["matmul"] = out
    return out


# -- the benchmark ------------------------------------------------------------------------------------------

def _best(rows) -> dict:
    """{rule: best final validation accuracy over the learning rates} from (rule, lr, acc) rows."""
    best = {}
    for rule, _, acc in rows:
        if acc == acc:  # not NaN
            best[rule] = max(best.get(rule, -1.0), float(acc))
    return best


def run(ctx: Ctx) -> None:
    epochs = ctx.sizes.w1_epochs
    R = ctx.repeats
    ctx.log(f"W1: 28 trials, {epochs} epochs, {R} repeats")
    ds, model, data = problem(ctx)
    n_trials = 28
    flops_engine = useful_flops(ctx, n_trials, initial_train_eval=True)
    flops_base = useful_flops(ctx, n_trials, initial_train_eval=False)
    calls = dict(matmul_calls(ctx))

    # Set-up, untimed: baselines first (the torch figure includes starting the worker processes).
    torch_ok, torch_info = torch_baseline.available() if ctx.baselines else (False, "not run (--no-baselines)")
    torch_start = None
    if torch_ok:
        inits = {0: model.init(0)}
        torch_start = torch_baseline.warm_pool(data, list(W1_SIZES), W1_BATCH)
        ctx.log(f"  torch: 2 loky workers started, torch imported: {torch_start:.1f} s")

        def torch_call():
            torch_call.rows = torch_baseline.w1_sweep(trials(), data, list(W1_SIZES), epochs, W1_BATCH, inits)[1]

        calls["torch"] = torch_call
    calls["pack"] = pack_setup(ctx)
    calls["runner"] = runner_setup(ctx)
    jax_ok, jax_info = jax_baseline.available() if ctx.baselines else (False, "not run (--no-baselines)")
    if jax_ok:
        progs = jax_baseline.W1Programs(RULES, W1_LRS, data, list(W1_SIZES), epochs, W1_BATCH, model.init(0),
                                        log=ctx.log)
        t0 = time.perf_counter()
        progs.run()
        jax_first = time.perf_counter() - t0

        def jax_call():
            jax_call.accs = progs.run()

        calls["jax"] = jax_call

    # Timed: rounds of (matmul, torch, optengine pack, optengine runner, jax), so that the machine's
    # slow spells hit every implementation alike.
    ctx.log(f"  timing {', '.join(calls)} in {R} interleaved rounds ...")
    tm = interleaved(calls, R)
    for k, t in tm.items():
        ctx.log(f"    {k}: {t.median:.2f} s (median of {t.repeats}; min {t.min:.2f} s)")
    mm = matmul_record(ctx, tm)
    t_ref = tm["pack"].median
    ref_name = "optengine train_pack (in process)"
    pack_runs = calls["pack"].runs
    accs = {"optengine": _best(zip(pack_runs.optimizer, pack_runs.lr, pack_runs.final_val_metric))}

    def add_time(variant, impl, timing, seconds, flops, note=""):
        ctx.add(Measurement("W1", variant, impl, "sweep wall time", value=seconds, unit="s", baseline=ref_name,
                            ratio=ratio(seconds, t_ref), ratio_meaning="time / optengine in-process time",
                            repeats=timing.repeats if timing else 1, median_s=seconds,
                            min_s=timing.min if timing else seconds, max_s=timing.max if timing else seconds,
                            note=note))
        if flops:
            gf = flops / seconds / 1e9
            ctx.add(Measurement("W1", variant, impl, "trials/s", value=n_trials / seconds, unit="trials/s",
                                baseline=ref_name, ratio=ratio(t_ref, seconds),
                                ratio_meaning="trials/s / optengine in-process trials/s",
                                repeats=timing.repeats if timing else 1, median_s=seconds))
            ctx.add(Measurement("W1", variant, impl, "useful GFLOP/s", value=gf, unit="GFLOP/s",
                                baseline="np.dot sgemm, 2 BLAS threads", ratio=ratio(gf, mm[2]),
                                ratio_meaning="GFLOP/s / 2-thread matmul GFLOP/s",
                                repeats=timing.repeats if timing else 1, median_s=seconds,
                                note=f"{flops / 1e9:.1f} GFLOP counted"))

    add_time("excluding compilation", "optengine train_pack", tm["pack"], t_ref, flops_engine,
             note="one pack, threads=2, warm")
    add_time("excluding compilation", "optengine run_sweep", tm["runner"], tm["runner"].median, flops_engine,
             note="runner, jobs=2 (loky, 1 trainer thread each), Parquet written, warm workers")
    t_torch = t_jax = None
    if torch_ok:
        t_torch = tm["torch"].median
        add_time("excluding compilation", "torch eager", tm["torch"], t_torch, flops_base,
                 note="joblib loky 2 workers x 1 thread, one trial per task; warm workers")
        add_time("including compilation", "torch eager", None, t_torch + torch_start, None,
                 note=f"+ starting 2 workers and importing torch ({torch_start:.1f} s)")
        accs["torch"] = _best((r["optimizer"], r["lr"], r["final_val_metric"]) for r in calls["torch"].rows)
    else:
        ctx.add(Measurement.missing("W1", "excluding compilation", "torch eager", "sweep wall time",
                                    torch_info.split(" (")[0], note=torch_info))
    if jax_ok:
        t_jax = tm["jax"].median
        compile_s = sum(progs.compile_s.values())
        add_time("excluding compilation", "jax jit(vmap) + optax", tm["jax"], t_jax, flops_base,
                 note="7 programs (one per rule), vmap over 4 learning rates; after an untimed first run")
        add_time("including compilation", "jax jit(vmap) + optax", None, compile_s + jax_first, None,
                 note=f"lower+compile {compile_s:.1f} s + first run {jax_first:.2f} s")
        ctx.add(Measurement("W1", "compilation", "jax jit(vmap) + optax", "compile time", value=compile_s, unit="s",
                            repeats=1, note=", ".join(f"{r} {s:.1f}" for r, s in progs.compile_s.items())))
        accs["jax"] = _best((rule, lr, float(a[i, -1])) for rule, a in calls["jax"].accs.items()
                            for i, lr in enumerate(W1_LRS))
    else:
        ctx.add(Measurement.missing("W1", "excluding compilation", "jax jit(vmap) + optax", "sweep wall time",
                                    jax_info.split(" (")[0], note=jax_info))

    # Accuracy tolerance: the engine's seed-to-seed spread of the best accuracy per rule.
    spread, per_seed = seed_spread(ctx, pack_runs)
    tol = max(ACC_FLOOR, spread)
    ctx.log(f"  seed-to-seed spread of the best accuracy per rule ({ctx.sizes.accuracy_seeds} seeds): {spread:.3f}")

    # (c) including compilation: fresh processes with an empty numba cache (shared with C1).
    from . import c1_startup

    fresh = c1_startup.fresh_runs(ctx)
    add_time("including compilation", "optengine, fresh process (API)", None, fresh["api_cold"]["timing"].median, None,
             note="python -c ... oe.train_pack, empty NUMBA_CACHE_DIR (interpreter start, imports, compile, run)")
    if "cli_cold" in fresh:
        add_time("including compilation", "optengine, fresh process (CLI)", None, fresh["cli_cold"]["timing"].median,
                 None,
                 note="optengine run w1.toml --jobs 2, empty NUMBA_CACHE_DIR")
    warm = fresh["cli_warm"]
    add_time("warm cache, fresh process", "optengine, fresh process (CLI)", warm["timing"], warm["timing"].median,
             None, note="optengine run w1.toml --jobs 2, warm NUMBA_CACHE_DIR")

    # Targets.
    gf_engine = flops_engine / t_ref / 1e9
    ctx.target(Target("W1", "torch eager time / optengine time (excl. compilation)", ratio(t_torch, t_ref), ">=", 8.0,
                      note=f"{fmt(t_torch)} s vs {t_ref:.3g} s" if t_torch else f"torch: {torch_info}"))
    ctx.target(Target("W1", "jax vmap time / optengine time (excl. compilation)", ratio(t_jax, t_ref), ">=", 2.5,
                      note=f"{fmt(t_jax)} s vs {t_ref:.3g} s" if t_jax else f"jax: {jax_info}"))
    ctx.target(Target("W1", "optengine useful GFLOP/s / 2-thread matmul GFLOP/s", ratio(gf_engine, mm[2]), ">=", 0.65,
                      note=f"{gf_engine:.3g} vs {mm[2]:.3g} GFLOP/s"))

    # Accuracy agreement.
    rows = []
    diffs = {}
    for rule in RULES:
        e = accs["optengine"].get(rule, np.nan)
        row = [rule, e]
        for impl in ("torch", "jax"):
            v = accs.get(impl, {}).get(rule, np.nan)
            row.append(v)
            if impl in accs:
                diffs.setdefault(impl, []).append(abs(v - e))
        row.append(max(per_seed[rule]) - min(per_seed[rule]))
        rows.append(row)
    for impl, name in (("torch", "PyTorch"), ("jax", "JAX")):
        d = max(diffs[impl]) if impl in diffs else np.nan
        for rule, e, *_ in rows:
            v = accs.get(impl, {}).get(rule, np.nan)
            ctx.add(Measurement("W1", f"best val accuracy {rule}", impl, "accuracy", value=v, unit="",
                                baseline="optengine", ratio=ratio(v, e), ratio_meaning="accuracy / optengine's",
                                status=STATUS_OK if impl in accs else "not measured", note=f"optengine {e:.3f}"))
        ctx.target(Target("W1", f"accuracy: max over rules of |best - optengine's best|, {name}", d, "<=", tol,
                          unit="", note=f"tolerance = max({ACC_FLOOR}, seed spread {spread:.3f})"))
    for rule, e, *_ in rows:
        ctx.add(Measurement("W1", f"best val accuracy {rule}", "optengine", "accuracy", value=e, unit="",
                            note="seeds 0..%d: %s" % (len(per_seed[rule]) - 1,
                                                      ", ".join(f"{x:.3f}" for x in per_seed[rule]))))

    per = mlp_flops(W1_SIZES, data[0].shape[0], data[2].shape[0], epochs)
    ctx.section("W1", "\n".join([
        f"28 trials, {epochs} epochs, batch {W1_BATCH}, float32; every implementation starts from the engine's "
        "initial weights (`model.init(0)`, PyTorch's nn.Linear scheme) and trains on the same standardised "
        "MNIST-1D arrays, evaluating the validation set after every epoch. Set-up is untimed (starting torch's "
        "workers, compiling JAX, warming the engine); then the implementations are timed in "
        f"{R} interleaved rounds and the medians reported. `ratio` for times = time / optengine's in-process "
        f"time ({t_ref:.3g} s), so a baseline's ratio is optengine's speed-up over it.",
        "",
        f"Useful FLOPs per trial (`common.mlp_flops`): with S = sum din*dout = {per['S']:,} and S' = the same "
        f"without the first layer = {per['S_input_grads']:,}, every training sample costs 2S (forward) + 2S "
        f"(weight gradients) + 2S' (input gradients) = {per['train_sample']:,}, x {data[0].shape[0]} samples x "
        f"{epochs} epochs; + 2S per validation sample per epoch; + 2S per training sample once at the start "
        f"(the engine's divergence reference; the baselines skip it, so their count omits it) = "
        f"{per['total'] / 1e9:.3f} GFLOP per trial for optengine. Bias, activation, softmax and update-rule work "
        f"is not counted. The GFLOP/s target compares the engine (2 cores) with the 2-thread matmul figure "
        f"({mm[2]:.3g} GFLOP/s).",
        "",
        "Best final validation accuracy over the 4 learning rates, per rule (the agreement check). Tolerance = "
        f"max({ACC_FLOOR}, the engine's largest seed-to-seed spread of this figure over "
        f"{ctx.sizes.accuracy_seeds} seeds) = {tol:.3f}: the baselines shuffle with their own random streams, "
        "so they differ from the engine as another seed would.",
        "",
        md_table(["rule", "optengine", "PyTorch", "JAX + optax", "optengine seed spread"], rows),
    ]))
