"""optengine benchmark harness.

    python benchmarks/run.py [--quick] [--only K1,W1,S1,C1,W2,W3,W4,W5,C2] [--repeats N] [--out DIR]

Runs the selected benchmarks (default: all), prints a summary, and writes ``RESULTS.md``
(Markdown: date, machine, versions, targets with PASS/FAIL, one table per benchmark) and
``results.parquet`` (one row per measurement) into ``--out`` (default: benchmarks/).
Baselines (PyTorch, JAX + optax: ``pip install -e ".[bench]"``) that are not installed are
reported as "not installed". See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` (and this checkout's optengine) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from benchmarks.common import Ctx, Measurement, Sizes  # noqa: E402
from benchmarks.layer_models import LAYER_BENCHES, TITLES as LAYER_TITLES, LayerSizes  # noqa: E402

BENCHMARKS = ("K1", "W1", "S1", "C1", "W2", "W3", "W4", "W5", "C2")
MODULES = {"K1": "benchmarks.k1_rules", "W1": "benchmarks.w1_sweep", "S1": "benchmarks.s1_scaling",
           "C1": "benchmarks.c1_startup",
           # the layer engine (benchmarks/layer_models.py)
           "W2": "benchmarks.w2_cnn", "W3": "benchmarks.w3_gru", "W4": "benchmarks.w4_conv2d",
           "W5": "benchmarks.w5_sparse", "C2": "benchmarks.c2_layers_startup"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="optengine benchmarks: K1 update rules, W1 sweep, S1 scaling, "
                                            "C1 start-up; the layer engine's W2 1-D CNN, W3 GRU, W4 2-D CNN, "
                                            "W5 sparse text, C2 start-up; every figure is a ratio to a baseline "
                                            "of the same run (C2: seconds).")
    p.add_argument("--quick", action="store_true", help="small sizes (1M parameters, 2 epochs, fewer trials)")
    p.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ",".join(BENCHMARKS))
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per figure (default 3, quick 2; K1: 10, quick 5)")
    p.add_argument("--out", default=None, help="folder for RESULTS.md and results.parquet (default benchmarks/)")
    p.add_argument("--no-baselines", action="store_true", help="skip PyTorch and JAX (reported as not run)")
    p.add_argument("--k1-params", type=int, default=None, help="K1 parameter count (default 16M, quick 1M)")
    p.add_argument("--epochs", type=int, default=None, help="W1/C1 epochs (default 20, quick 2)")
    p.add_argument("--s1-epochs", type=int, default=None, help="S1 epochs (default 20 as W1, quick 1)")
    p.add_argument("--layer-epochs", type=int, default=None,
                   help="epochs of every W2-W5 network (default: W2 2, W3 2, W4 5, W5 5; quick 1)")
    args = p.parse_args(argv)
    only = [b.strip().upper() for b in args.only.split(",") if b.strip()]
    bad = [b for b in only if b not in BENCHMARKS]
    if bad or not only:
        p.error(f"--only: unknown benchmark(s) {bad}; choose from {','.join(BENCHMARKS)}")
    args.only = [b for b in BENCHMARKS if b in only]
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.layer_epochs is not None and args.layer_epochs < 1:
        p.error("--layer-epochs must be >= 1")
    return args


def make_ctx(args, log_fn=print) -> Ctx:
    sizes = Sizes.quick() if args.quick else Sizes.full()
    if args.k1_params:
        sizes.k1_params = args.k1_params
    if args.epochs:
        sizes.w1_epochs = args.epochs
    if args.s1_epochs:
        sizes.s1_epochs = args.s1_epochs
    repeats = args.repeats or (2 if args.quick else 3)
    k1_repeats = args.repeats or (5 if args.quick else 10)
    ctx = Ctx(sizes=sizes, repeats=repeats, k1_repeats=k1_repeats, quick=args.quick,
              baselines=not args.no_baselines, log_fn=log_fn)
    layer = LayerSizes.quick() if args.quick else LayerSizes.full()
    if getattr(args, "layer_epochs", None):
        layer.epochs = {k: args.layer_epochs for k in layer.epochs}
    ctx.cache["layer_sizes"] = layer
    return ctx


def render_markdown(ctx: Ctx, meta: dict) -> str:
    """common.render_markdown, plus one section per layer-engine benchmark (W2-W5, C2) before its last line."""
    text = common.render_markdown(ctx, meta)
    extra = []
    for bench in LAYER_BENCHES:
        ms = [x for x in ctx.measurements if x.benchmark == bench and x.metric != "accuracy"]
        sections = ctx.sections.get(bench, [])
        if not ms and not sections:
            continue
        extra += [f"## {LAYER_TITLES[bench]}", ""]
        for part in sections:
            extra += [part, ""]
        if ms:
            extra += [common.measurements_table(ms), ""]
    if not extra:
        return text
    tail = "All rows are also in `results.parquet`"
    head, sep, rest = text.rpartition(tail)
    return head + "\n".join(extra) + "\n" + sep + rest if sep else text + "\n" + "\n".join(extra)


def run_benchmarks(ctx: Ctx, only) -> None:
    """Run each selected benchmark; one that raises is reported as an error row, the rest go on."""
    import importlib

    for bench in only:
        t0 = time.perf_counter()
        try:
            importlib.import_module(MODULES[bench]).run(ctx)
        except Exception as exc:
            traceback.print_exc()
            ctx.add(Measurement.missing(bench, "-", "harness", "error", "error",
                                        note=f"{type(exc).__name__}: {exc}"[:300]))
        ctx.log(f"{bench} done in {time.perf_counter() - t0:.0f} s")


def summary(ctx: Ctx) -> str:
    lines = ["", "Targets:"]
    for t in ctx.targets:
        lines.append(f"  [{t.verdict:4}] {t.benchmark} {t.name}: {common.fmt(t.measured)} {t.unit} "
                     f"(target {t.target_text()}){'  ' + t.note if t.note else ''}")
    errors = [m for m in ctx.measurements if m.status == "error"]
    for m in errors:
        lines.append(f"  ERROR {m.benchmark}: {m.note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    common.ensure_root_on_path()
    started = _dt.datetime.now().astimezone()
    load_start = common.machine_info()["load_avg"]
    t0 = time.perf_counter()
    ctx = make_ctx(args)
    run_benchmarks(ctx, args.only)
    out = Path(args.out) if args.out else common.BENCH_DIR
    meta = common.run_meta(ctx, argv, time.perf_counter() - t0, started, load_start)
    if any(b in LAYER_BENCHES for b in args.only):
        meta["sizes"] += "; " + ctx.cache["layer_sizes"].text()
    out.mkdir(parents=True, exist_ok=True)
    (out / "RESULTS.md").write_text(render_markdown(ctx, meta))
    common.write_parquet(ctx.measurements, out / "results.parquet", common.flat_meta(meta))
    print(summary(ctx))
    print(f"\nwrote {out / 'RESULTS.md'} and {out / 'results.parquet'} ({meta['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
