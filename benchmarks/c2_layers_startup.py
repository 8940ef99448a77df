"""C2: start-up of the layer engine: every layer architecture shares one compiled driver.

In fresh processes (``python -c``), float32, one ``oe.train`` each (1 epoch, threads=1):

- cold: an empty ``NUMBA_CACHE_DIR``; the first ``oe.train`` of a sequential architecture (ARCH_A)
  compiles the driver: its ``compile_s``, and the process's wall time;
- warm: another fresh process with that cache: the same call loads the driver from disk;
- no recompile: in each of those processes, right after, a second architecture (ARCH_B: other widths
  and another layer list) trains with no new compilation: its ``compile_s`` (target <= 0.1 s).

Seconds, not ratios. The datasets' caches are left in place (C2 is about compilation).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from .c1_startup import _run
from .common import Ctx, Measurement, Target, Timing, child_env

DATASET = "mnist1d"
# MNIST-1D rows as one channel of 40 values; B differs from A in widths and in its layer list.
INPUT_SHAPE = [1, 40]
ARCH_A = [{"type": "conv1d", "channels": 8, "kernel": 5, "stride": 2, "padding": 1}, {"type": "relu"},
          {"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dense"}]
ARCH_B = [{"type": "conv1d", "channels": 16, "kernel": 3, "stride": 1, "padding": 1}, {"type": "tanh"},
          {"type": "conv1d", "channels": 12, "kernel": 3, "stride": 2, "padding": 1}, {"type": "relu"},
          {"type": "flatten"}, {"type": "dense", "units": 48}, {"type": "relu"}, {"type": "dense", "units": 24},
          {"type": "tanh"}, {"type": "dense"}]
NO_RECOMPILE_LIMIT = 0.1

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import optengine as oe
t1 = time.perf_counter()
cfg = json.loads(sys.argv[1])
ds = oe.dataset(cfg["dataset"])
out = {"import_s": t1 - t0, "data_s": time.perf_counter() - t1, "archs": []}
for layers in cfg["archs"]:
    t = time.perf_counter()
    model = {"name": "sequential", "layers": layers, "input_shape": cfg["input_shape"]}
    s, _ = oe.train(model, ds, optimizer="adam", lr=1e-3, batch_size=100, epochs=1, dtype="float32", threads=1)
    out["archs"].append({"call_s": time.perf_counter() - t, "compile_s": float(s["compile_s"]),
                         "wall_s": float(s["wall_s"]), "status": s["status"]})
print("C2JSON " + json.dumps(out))
"""


def fresh(cache_dir: Path, archs=(ARCH_A, ARCH_B)) -> dict:
    """One fresh process training ``archs`` in turn with ``NUMBA_CACHE_DIR=cache_dir``."""
    cfg = {"dataset": DATASET, "input_shape": INPUT_SHAPE, "archs": list(archs)}
    wall, proc = _run([sys.executable, "-c", CHILD, json.dumps(cfg)], child_env(NUMBA_CACHE_DIR=cache_dir))
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("C2JSON "):
            out = json.loads(line.split(" ", 1)[1])
            out["wall_s"] = wall
            bad = [a["status"] for a in out["archs"] if a["status"] != "ok"]
            if bad:
                raise RuntimeError(f"C2 child: trials not ok: {bad}")
            return out
    raise RuntimeError(f"no result line in the child's output: {proc.stdout[-500:]}")


def run(ctx: Ctx) -> None:
    R = ctx.repeats
    ctx.log(f"C2: layer engine start-up in fresh processes (cold once, warm x{R})")
    with tempfile.TemporaryDirectory(prefix="optengine-c2-") as tmp:
        cache = Path(tmp) / "numba-cache"
        cache.mkdir()
        cold = fresh(cache)
        ctx.log(f"  cold: process {cold['wall_s']:.1f} s, A compile {cold['archs'][0]['compile_s']:.1f} s, "
                f"B compile {cold['archs'][1]['compile_s']:.3f} s")
        warm = [fresh(cache) for _ in range(R)]
        ctx.log(f"  warm: process {warm[0]['wall_s']:.1f} s, A compile (cache load) "
                f"{warm[0]['archs'][0]['compile_s']:.2f} s, B {warm[0]['archs'][1]['compile_s']:.3f} s")

    def timing(runs, pick):
        return Timing([pick(r) for r in runs])

    def add(variant, impl, metric, t: Timing, note=""):
        ctx.add(Measurement.timed("C2", variant, impl, metric, t, t.median, "s", note=note))

    add("cold (empty numba cache)", "optengine, fresh process", "process wall time",
        timing([cold], lambda r: r["wall_s"]),
        note=f"import + data {cold['import_s'] + cold['data_s']:.2f} s, then A, then B")
    add("cold (empty numba cache)", "optengine oe.train, architecture A", "compile_s",
        timing([cold], lambda r: r["archs"][0]["compile_s"]), note="compiles the driver")
    add("cold (empty numba cache)", "optengine oe.train, architecture A", "call wall time",
        timing([cold], lambda r: r["archs"][0]["call_s"]), note="1 epoch, threads=1")
    add("cold (empty numba cache)", "optengine oe.train, architecture B", "compile_s",
        timing([cold], lambda r: r["archs"][1]["compile_s"]), note="no recompile expected")
    add("warm (that cache)", "optengine, fresh process", "process wall time", timing(warm, lambda r: r["wall_s"]),
        note=f"import + data {warm[0]['import_s'] + warm[0]['data_s']:.2f} s (first)")
    add("warm (that cache)", "optengine oe.train, architecture A", "compile_s",
        timing(warm, lambda r: r["archs"][0]["compile_s"]), note="loads the driver from the cache")
    add("warm (that cache)", "optengine oe.train, architecture A", "call wall time",
        timing(warm, lambda r: r["archs"][0]["call_s"]))
    b_warm = timing(warm, lambda r: r["archs"][1]["compile_s"])
    add("warm (that cache)", "optengine oe.train, architecture B", "compile_s", b_warm, note="no recompile expected")
    b_all = max(cold["archs"][1]["compile_s"], b_warm.max)
    ctx.target(Target("C2", "second architecture in the same process: compile_s (no recompile)", b_all, "<=",
                      NO_RECOMPILE_LIMIT, unit="s", note=f"largest of the cold and {R} warm processes; "
                      f"A's cold compile {cold['archs'][0]['compile_s']:.1f} s"))
    ctx.section("C2", "\n".join([
        "Fresh `python -c` processes, float32, `oe.train(..., epochs=1, threads=1, batch_size=100)` on MNIST-1D as "
        "one channel of 40 values: architecture A, then in the same process architecture B (other widths, another "
        "layer list). Cold: an empty `NUMBA_CACHE_DIR` (A compiles the driver); warm: fresh processes with the "
        f"cache the cold one left ({R} of them, medians). `compile_s` is the engine's own figure (the trainer's "
        "compile or cache-load time). Seconds, not ratios.",
        "",
        f"- A: `{json.dumps(ARCH_A)}`",
        f"- B: `{json.dumps(ARCH_B)}`"]))
