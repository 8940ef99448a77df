"""Command line: ``optengine train ...`` (one pack of trials) and ``optengine list``.

Errors go to stderr with exit code 2 and no traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import sys


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="optengine", description="Numba-JIT optimizer experiments.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one pack: every optimizer x lr x seed given, in one compiled call",
                       description="Train every combination of --optimizer x --lr x --seed as one pack and "
                                   "print the runs table (and each trial's curve with --curves).")
    t.add_argument("--model", default="mlp", help="model name (see `optengine list`), default mlp")
    t.add_argument("--sizes", type=_ints, default=None, help="MLP layer widths, e.g. 40,100,100,10")
    t.add_argument("--activation", default=None, help="MLP hidden activation: relu or tanh")
    t.add_argument("--dataset", default="mnist1d", help="dataset name (see `optengine list`), default mnist1d")
    t.add_argument("--optimizer", default="adam", help="comma-separated rules, e.g. sgd,momentum,adam")
    t.add_argument("--lr", type=_floats, default=[1e-3], help="comma-separated learning rates")
    t.add_argument("--seed", type=_ints, default=[0], help="comma-separated seeds")
    t.add_argument("--batch-size", default="64", help="an integer, or 'full' for batch gradient descent")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--schedule", default=None, help="constant, step, exponential or cosine")
    t.add_argument("--warmup-steps", type=int, default=None)
    t.add_argument("--clip-norm", type=float, default=None)
    t.add_argument("--clip-value", type=float, default=None)
    t.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    t.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    t.add_argument("--curves", action="store_true", help="also print every trial's per-epoch curve")
    t.add_argument("--out", default=None, help="write runs and curves as Parquet files with this prefix")

    sub.add_parser("list", help="rules, schedules, models and datasets with their settings and defaults")
    return p


def _cmd_train(a) -> int:
    import time

    import pandas as pd

    from .train import train_pack

    model = {"name": a.model}
    if a.sizes is not None:
        model["sizes"] = a.sizes
    if a.activation is not None:
        model["activation"] = a.activation
    if a.model == "mlp" and "sizes" not in model:
        model["sizes"] = [40, 100, 100, 10]
    batch = a.batch_size if a.batch_size == "full" else _batch_int(a.batch_size)
    schedule = None
    if a.schedule or a.warmup_steps:
        schedule = {"name": a.schedule or "constant"}
        if a.warmup_steps:
            schedule["warmup_steps"] = a.warmup_steps
    clip = None
    if a.clip_norm is not None or a.clip_value is not None:
        clip = {"norm": a.clip_norm, "value": a.clip_value}
    rules = [r.strip() for r in a.optimizer.split(",") if r.strip()]
    trials = [{"optimizer": r, "lr": lr, "seed": s, "schedule": schedule, "clip": clip}
              for r in rules for lr in a.lr for s in a.seed]
    t0 = time.perf_counter()
    runs, curves = train_pack(model, a.dataset, trials, batch_size=batch, epochs=a.epochs, dtype=a.dtype,
                              threads=a.threads)
    wall = time.perf_counter() - t0
    cols = ["optimizer", "lr", "seed", "status", "final_train_loss", "final_val_loss", "final_val_metric",
            "best_epoch", "steps"]
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(runs[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if a.curves:
            print(curves.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\n{len(trials)} trials, {runs['steps'].sum()} steps in {wall:.2f} s "
          f"(includes compilation on first use; later runs use numba's on-disk cache)")
    if a.out:
        runs.to_parquet(f"{a.out}runs.parquet", index=False)
        curves.to_parquet(f"{a.out}curves.parquet", index=False)
        print(f"wrote {a.out}runs.parquet and {a.out}curves.parquet")
    return 0


def _batch_int(text):
    from .errors import ConfigError

    try:
        return int(text)
    except ValueError:
        raise ConfigError("batch_size", f"must be an integer >= 1 or 'full', got {text!r}") from None


def _cmd_list(a) -> int:
    from . import data, models, optimizers, schedules

    def show(title, table):
        print(title)
        for name, params in table.items():
            settings = ", ".join(f"{k}={v!r}" for k, v in params.items())
            print(f"  {name:26s} {settings}")
        print()

    show("Update rules (optimizer = ...):", {k: {h: ("<required>" if v is None else v) for h, v in p.items()}
                                               for k, p in optimizers.describe().items()})
    show("Schedules (schedule.name = ...):", schedules.describe())
    show("Models (model.name = ...):", models.describe())
    show("Datasets (dataset.name = ...):", {k: v[2] for k, v in data.DATASETS.items()})
    print("Clipping: clip = {norm = c} (global norm) or {value = c}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"train": _cmd_train, "list": _cmd_list}[args.command](args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except (ValueError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"optengine: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
