"""C1: start-up. W1 in a fresh process, first with an empty numba cache (cold: every kernel is
compiled) and again with the cache that run left (warm: kernels are loaded from disk).

Two fresh-process paths, each in its own empty ``NUMBA_CACHE_DIR``:

- API: ``python -c "import optengine as oe; ...; oe.train_pack(<W1's 28 trials>, threads=2)"``;
  overhead = its wall time - W1's in-process warm ``train_pack`` time (same run);
- CLI: ``python -m optengine.cli run benchmarks/w1.toml --jobs 2 --fresh`` (the product's
  end-to-end path: 2 loky workers, Parquet written); overhead = its wall time - W1's in-process
  warm ``run_sweep`` time with the same jobs (same run).

The MNIST-1D data cache (``~/.cache/optengine``) is left as it is: C1 is about compilation.
Also: import time of optengine in a fresh process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import W1_BATCH, W1_SIZES, Ctx, Measurement, Target, Timing, child_env, interleaved, ratio

API_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import optengine as oe
t1 = time.perf_counter()
cfg = json.loads(sys.argv[1])
ds = oe.dataset("mnist1d")
model = oe.model("mlp", sizes=cfg["sizes"], activation="relu")
t2 = time.perf_counter()
runs, _ = oe.train_pack(model, ds, cfg["trials"], batch_size=cfg["batch"], epochs=cfg["epochs"],
                        dtype="float32", threads=cfg["threads"])
t3 = time.perf_counter()
print("C1JSON " + json.dumps({"import_s": t1 - t0, "data_s": t2 - t1, "train_s": t3 - t2,
                              "ok": int((runs["status"] == "ok").sum()), "n": len(runs)}))
"""

IMPORT_CHILD = ("import time; t0 = time.perf_counter(); import optengine; "
                "print('C1JSON', time.perf_counter() - t0)")


def _run(cmd, env, timeout=1800) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))}... exited with {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout)[-800:]}")
    return wall, proc


def _json_line(proc):
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("C1JSON "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"no result line in the child's output: {proc.stdout[-500:]}")


def api_run(trials, epochs: int, cache_dir: Path, threads: int = 2) -> dict:
    """One fresh ``python -c`` process training ``trials`` as one pack; wall time + its own split."""
    cfg = {"sizes": list(W1_SIZES), "trials": trials, "batch": W1_BATCH, "epochs": epochs, "threads": threads}
    wall, proc = _run([sys.executable, "-c", API_CHILD, json.dumps(cfg)], child_env(NUMBA_CACHE_DIR=cache_dir))
    out = _json_line(proc)
    if out["ok"] != out["n"]:
        raise RuntimeError(f"fresh-process pack: only {out['ok']} of {out['n']} trials ok")
    return {"wall_s": wall, **out}


def cli_run(spec_path: Path, out_dir: Path, cache_dir: Path, jobs: int = 2) -> dict:
    """One fresh ``optengine run`` (``python -m optengine.cli``); checks the Parquet results it wrote."""
    cmd = [sys.executable, "-m", "optengine.cli", "run", str(spec_path), "--out", str(out_dir), "--jobs", str(jobs),
           "--fresh", "--no-progress"]
    wall, _ = _run(cmd, child_env(NUMBA_CACHE_DIR=cache_dir))
    import optengine as oe

    runs, _ = oe.load(out_dir)
    if len(runs) == 0 or (runs["status"] != "ok").any():
        raise RuntimeError(f"CLI sweep in {out_dir}: {len(runs)} rows, statuses {runs['status'].value_counts().to_dict()}")
    return {"wall_s": wall, "rows": len(runs)}


def import_time(repeats: int) -> Timing:
    """Seconds to ``import optengine`` in a fresh process (measured inside it), median of repeats."""
    times = []
    for _ in range(max(1, repeats)):
        _, proc = _run([sys.executable, "-c", IMPORT_CHILD], child_env())
        times.append(float(_json_line(proc)))
    return Timing(times)


def _paired(fresh: Timing, ref: Timing) -> Timing:
    """Overheads of interleaved (fresh, in-process) pairs: fresh_i - ref_i."""
    return Timing([f - r for f, r in zip(fresh.times, ref.times)])


def fresh_runs(ctx: Ctx) -> dict:
    """W1 in fresh processes, cold and warm, each paired with the same work in this (warm)
    process right after it, so that both see the same load. Cached: W1 reports the cold runs as
    its 'including compilation' figure; C1 reports all of them.

    Returns {"api_cold", "api_warm", "cli_cold" (not in --quick), "cli_warm"}: each a dict with
    ``timing`` (fresh-process wall times), ``ref`` (in-process times), ``overhead`` (paired
    differences), and for the API path the child's own split of its first run.
    """
    if "c1_fresh" in ctx.cache:
        return ctx.cache["c1_fresh"]
    from . import w1_sweep

    epochs = ctx.sizes.w1_epochs
    R = ctx.repeats
    trials = w1_sweep.trials((0,))
    pack = w1_sweep.pack_setup(ctx)       # warm in-process references
    runner = w1_sweep.runner_setup(ctx)
    res = {}

    def measure(key, fresh_call, ref_call, repeats):
        splits = []

        def fresh():
            splits.append(fresh_call())

        tm = interleaved({"fresh": fresh, "ref": ref_call}, repeats)
        res[key] = {"timing": Timing([x["wall_s"] for x in splits]), "ref": tm["ref"],
                    "overhead": _paired(Timing([x["wall_s"] for x in splits]), tm["ref"]), "first": splits[0]}
        ctx.log(f"  C1 {key}: {res[key]['timing'].median:.1f} s fresh, {tm['ref'].median:.1f} s in process "
                f"(median of {repeats})")

    with tempfile.TemporaryDirectory(prefix="optengine-c1-") as tmp:
        tmp = Path(tmp)
        api_cache = tmp / "numba-cache-api"
        api_cache.mkdir()
        ctx.log("  C1: W1 in fresh processes (python -c; empty, then warm NUMBA_CACHE_DIR) ...")
        measure("api_cold", lambda: api_run(trials, epochs, api_cache), pack, 1)
        measure("api_warm", lambda: api_run(trials, epochs, api_cache), pack, R)
        spec = tmp / "w1.toml"
        spec.write_text(w1_sweep.spec_text(epochs))
        if ctx.sizes.cold_cli:
            cli_cache = tmp / "numba-cache-cli"
            cli_cache.mkdir()
            ctx.log("  C1: W1 in fresh processes (optengine run; empty, then warm NUMBA_CACHE_DIR) ...")
            measure("cli_cold", lambda: cli_run(spec, tmp / "out", cli_cache), runner, 1)
        else:  # --quick: one cold compile per run; the CLI's warm runs reuse the API runs' cache
            cli_cache = api_cache
        measure("cli_warm", lambda: cli_run(spec, tmp / "out", cli_cache), runner, R)
    ctx.cache["c1_fresh"] = res
    return res


def run(ctx: Ctx) -> None:
    ctx.log(f"C1: fresh processes running W1 ({ctx.sizes.w1_epochs} epochs)")
    fresh = fresh_runs(ctx)
    imp = import_time(ctx.repeats)
    ctx.add(Measurement.timed("C1", "import optengine", "optengine", "import time", imp, imp.median, "s",
                              note="fresh process, measured inside it, warm caches"))

    def add(key, label, ref_name, limit, path_note):
        r = fresh.get(key)
        if r is None:
            ctx.add(Measurement.missing("C1", label, "optengine", "fresh-process wall time", "not run",
                                        note="skipped in --quick (one cold compile per run is enough)"))
            ctx.target(Target("C1", f"{label}: overhead", math.nan, "<=", limit, unit="s", note="not run (--quick)"))
            return
        t, ref, over = r["timing"], r["ref"], r["overhead"]
        first = r["first"]
        detail = ""
        if "train_s" in first:
            detail = (f"; inside the first: import {first['import_s']:.2f} s, data {first['data_s']:.2f} s, "
                      f"train_pack {first['train_s']:.2f} s")
        ctx.add(Measurement.timed("C1", label, "optengine", "fresh-process wall time", t, t.median, "s",
                                  baseline=ref_name, ratio=ratio(t.median, ref.median),
                                  ratio_meaning="fresh-process time / in-process warm time",
                                  note=path_note + detail))
        ctx.add(Measurement.timed("C1", label, "optengine", "in-process reference", ref, ref.median, "s",
                                  note=f"{ref_name}, each right after a fresh run"))
        ctx.add(Measurement.timed("C1", label, "optengine", "overhead", over, over.median, "s", baseline=ref_name,
                                  ratio=ratio(over.median, ref.median), ratio_meaning="overhead / in-process time",
                                  note="median of (fresh-process wall time - the in-process run after it)"))
        ctx.target(Target("C1", f"{label}: overhead", over.median, "<=", limit, unit="s",
                          note=f"{t.median:.1f} s fresh - {ref.median:.1f} s in process"))

    api_note = "python -c: import, MNIST-1D, oe.train_pack(28 trials, threads=2)"
    cli_note = "python -m optengine.cli run w1.toml --jobs 2 --fresh (Parquet written)"
    add("api_cold", "API, cold cache", "in-process warm train_pack", 20.0, api_note)
    add("api_warm", "API, warm cache", "in-process warm train_pack", 2.0, api_note)
    add("cli_cold", "CLI, cold cache", "in-process warm run_sweep", 20.0, cli_note)
    add("cli_warm", "CLI, warm cache", "in-process warm run_sweep", 2.0, cli_note)
    ctx.section("C1", "Each path gets an empty `NUMBA_CACHE_DIR` for its cold run, then reuses it for its warm "
                      "runs (--quick: the CLI reuses the API's cache and has no cold run). Overhead = "
                      "fresh-process wall time (interpreter start to exit) minus the same work done in the "
                      "harness's warm process right after it: `oe.train_pack` for the API path, "
                      "`oe.run_sweep(..., jobs=2)` with warm workers for the CLI path; median over the "
                      f"repeats ({ctx.repeats}) of these paired differences. A cold start is measured once.")
