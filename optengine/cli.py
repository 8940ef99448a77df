"""Command line: ``optengine run | plan | report | diagnose | export | list | train``.

- ``run SPEC``: run (or resume) a sweep into ``results/<name>/``;
- ``plan SPEC``: what a spec would run, without running it;
- ``report DIR``: summary table, rankings, diagnosis, figures, report.md and report.html for a results folder;
- ``diagnose DIR``: every trial labelled (notes section 11) with its evidence and the remedy;
- ``export DIR --csv``: the folder's tables as CSV files in ``DIR/export/``;
- ``list``: rules, schedules, models and datasets with their settings;
- ``train``: one pack from flags, printed (no spec file needed); ``--out FOLDER`` saves it as
  a results folder that ``report`` and ``oe.load`` read.

Errors go to stderr with exit code 2 and no traceback (``--debug`` shows it); they name
the spec field or command-line flag at fault (only flags that exist: settings without a flag
of their own are named as ``--dataset-opt KEY=...`` / ``--model-opt KEY=...``). Running out of
memory and file-system errors are such errors too. A sweep whose every trial failed exits
with 1 and prints the first error. Ctrl-C during ``run`` exits with 130 after saying how many
trials are saved. ``optengine`` alone prints the help; ``--version`` the version.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# One flag per rule hyperparameter (but lr), from the rule records (optengine/rules: no numba import).
from .rules import BY_NAME as _RULES, HYPER as _HYPER, base as _rules_base  # noqa: E402

HYPER_FLAGS = tuple(h for h in _HYPER if h != "lr")
SCHEDULE_FLAGS = ("step_size", "gamma", "decay_rate", "lr_min", "warmup_steps", "warmup_start", "unit")
SURFACES = ("rosenbrock", "ravine", "beale", "noisy_quadratic")


def _list(kind):
    def parse(text: str):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
    return parse


def _flag_value(text: str):
    """A boolean hyperparameter's flag value: true/false (or 1/0)."""
    value = {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="optengine", description="Numba-JIT optimizer experiments.")
    p.add_argument("--version", action="version", version=f"optengine {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="{run,plan,report,diagnose,export,list,train}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    add = sub.add_parser

    def add_parser(*args, **kwargs):
        return add(*args, parents=[common], **kwargs)

    sub.add_parser = add_parser

    t = sub.add_parser("train", help="train one pack: every optimizer x lr x seed given, in one compiled call",
                       description="Train every combination of --optimizer x --lr x --seed as one pack and "
                                   "print the runs table (and each trial's curve with --curves).")
    m = t.add_argument_group("model and data")
    m.add_argument("--model", default="mlp", help="model name (see `optengine list`), default mlp")
    m.add_argument("--hidden", type=_list(int), default=None,
                   help="MLP hidden widths, e.g. 100,100 (default); input and output widths come from the data")
    m.add_argument("--sizes", type=_list(int), default=None, help="all MLP widths, e.g. 40,100,100,10")
    m.add_argument("--activation", default=None, help="MLP hidden activation: relu (default) or tanh")
    m.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="any other model setting, e.g. --model-opt hidden_size=16 or channels=8,8 (repeatable)")
    m.add_argument("--dataset", default=None,
                   help="dataset name (see `optengine list`); default mnist1d, or surface_noise for test surfaces")
    m.add_argument("--path", default=None, help="with --dataset file: your .csv, .parquet or .npz file")
    m.add_argument("--target", default=None, help="with --dataset file: the target column")
    m.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="any other dataset setting, e.g. --dataset-opt standardize=false (repeatable)")

    o = t.add_argument_group("optimizers (each list is a grid axis)")
    o.add_argument("--optimizer", type=_list(str), default=["adam"], help="rules, e.g. sgd,momentum,adam")
    o.add_argument("--lr", type=_list(float), default=[1e-3], help="learning rates, e.g. 1e-3,1e-2")
    o.add_argument("--seed", type=_list(int), default=[0], help="seeds, e.g. 0,1,2")
    for h in HYPER_FLAGS:
        takers = ", ".join(r.name for r in _RULES.values() if any(x.name == h for x in r.hyper))
        flag = h in _rules_base.FLAGS
        o.add_argument(f"--{h.replace('_', '-')}", type=_flag_value if flag else float, default=None,
                       help=f"{h} ({_rules_base.RANGES[h][4]}), for {takers}")

    s = t.add_argument_group("schedule, clipping, loop")
    s.add_argument("--schedule", default=None, help="constant (default), step, exponential or cosine")
    for h in SCHEDULE_FLAGS:
        s.add_argument(f"--{h.replace('_', '-')}", type=str if h == "unit" else float, default=None,
                       help="step or epoch" if h == "unit" else f"schedule {h}")
    s.add_argument("--clip-norm", type=float, default=None, help="clip the global gradient norm to this")
    s.add_argument("--clip-value", type=float, default=None, help="clip every gradient entry to +-this")
    s.add_argument("--batch-size", default="64", help="an integer, or 'full' for batch gradient descent")
    s.add_argument("--epochs", type=int, default=10)
    s.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop a trial after this many epochs without a better validation loss")
    s.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    s.add_argument("--threads", type=int, default=None, help="trainer threads, one trial each at a time (default: all cores)")
    s.add_argument("--device", default="cpu", help="cpu (default) or cuda (dense models; needs optengine[cuda])")
    s.add_argument("--log-every", type=int, default=None, metavar="N",
                   help="record the step table every N steps (mean loss, gradient norm, fraction clipped, lr); "
                        "printed with --curves, saved with --out")
    s.add_argument("--eval-every", type=int, default=None, metavar="M",
                   help="also evaluate validation every M steps (rows of the step table)")

    r = t.add_argument_group("output")
    r.add_argument("--curves", action="store_true", help="also print every trial's per-epoch curve")
    r.add_argument("--out", default=None, metavar="FOLDER",
                   help="save the runs and curves into this results folder (read it with `optengine report "
                        "FOLDER` or oe.load); a new or empty folder, or one this same command wrote before")

    sub.add_parser("list", help="rules, schedules, models and datasets with their settings and defaults",
                   description="Print the update rules, schedules, models and datasets with their settings "
                               "and defaults.")

    run = sub.add_parser("run", help="run (or resume) a sweep spec into results/<name>/",
                         description="Run every trial of a sweep spec (.toml) and stream the results into "
                                     "Parquet part files. Running the same command again resumes: only the "
                                     "trials missing from the folder run.")
    run.add_argument("spec", help="the sweep spec, e.g. sweeps/quickstart.toml")
    _override_args(run)
    run.add_argument("--out", default=None, help="results folder (default results/<name>)")
    run.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    run.add_argument("--backend", default="loky", help="loky (processes, default), sequential or dask")
    run.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="with --backend dask: an existing dask.distributed scheduler (default: a local "
                          "cluster of --jobs processes)")
    run.add_argument("--fresh", action="store_true",
                     help="delete the results already in the folder and start over")
    run.add_argument("--retry-failed", action="store_true", help="also rerun trials saved as failed")
    run.add_argument("--repair", action="store_true",
                     help="move damaged part files (and their partner parts) aside into OUT/damaged/<time>/ "
                          "and rerun their trials")
    run.add_argument("--pack-size", type=int, default=None, help="most trials per compiled call (default: auto)")
    run.add_argument("--device", default=None, help="cpu or cuda: overrides the spec's train.device")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--report", action="store_true", help="print the report (and write figures) when done")

    plan = sub.add_parser("plan", help="show what a sweep spec would run, without running it",
                          description="Validate a sweep spec and print its trials, packs, axes and first trials.")
    plan.add_argument("spec", help="the sweep spec (.toml)")
    _override_args(plan)
    plan.add_argument("--jobs", type=int, default=None, help="worker processes to plan packs for")
    plan.add_argument("--pack-size", type=int, default=None, help="most trials per pack")
    plan.add_argument("--device", default=None, help="cpu or cuda: overrides the spec's train.device")
    plan.add_argument("--show", type=int, default=5, help="how many trials to print (default 5)")
    plan.add_argument("--ids", action="store_true", help="print every trial_id")

    rep = sub.add_parser("report", help="summary table, figures and report.md for a results folder",
                         description="Print the best configuration per optimizer and write PNG figures and "
                                     "report.md into the results folder.")
    rep.add_argument("folder", help="a results folder, e.g. results/quickstart")
    rep.add_argument("--metric", default="final_val_loss",
                     help="ranking metric, a validation column: final_val_loss (default), best_val_loss, "
                          "final_val_metric (the test columns are shown beside the chosen configurations)")
    rep.add_argument("--mode", default=None, help="min or max (default: min for losses, max otherwise)")
    rep.add_argument("--no-figures", action="store_true", help="skip the PNG figures")

    diag = sub.add_parser("diagnose", help="label every trial: diverged, oscillating, too slow, early plateau, "
                                           "overfitting or healthy, with the evidence and the remedy",
                          description="Apply the notes' debugging checklist (section 11) to every trial of a "
                                      "results folder: a label from its curves, the numbers behind it and the "
                                      "remedy. Thresholds: `python -c 'import optengine.diagnose as d; "
                                      "help(d)'` or the README.")
    diag.add_argument("folder", help="a results folder, e.g. results/quickstart")
    diag.add_argument("--all", action="store_true", help="also list the healthy trials")
    diag.add_argument("--label", default=None, help="only trials with this label, e.g. oscillating")

    exp = sub.add_parser("export", help="write the folder's tables as CSV files (DIR/export/*.csv)",
                         description="Write runs.csv, curves.csv and, when the folder has them, steps.csv and "
                                     "trajectories.csv into DIR/export/.")
    exp.add_argument("folder", help="a results folder, e.g. results/quickstart")
    exp.add_argument("--csv", action="store_true", required=True, help="CSV files (the one format for now)")
    return p


_FLAGS = {"": "--optimizer", "optimizer": "--optimizer", "optimizer.name": "--optimizer", "trials": "--optimizer",
          "schedule": "--schedule", "schedule.name": "--schedule", "clip": "--clip-norm",
          "clip.norm": "--clip-norm", "clip.value": "--clip-value", "model": "--model", "model.name": "--model",
          "model.hidden": "--hidden", "model.sizes": "--sizes", "model.activation": "--activation",
          "dataset": "--dataset", "dataset.name": "--dataset", "dataset.path": "--path",
          "dataset.target": "--target", "early_stopping": "--early-stopping",
          "early_stopping.patience": "--early-stopping", "early_stopping.min_delta": "--early-stopping"}


def _flag(field: str, args=None) -> str:
    """The ``optengine train`` flag behind a settings field (``trials[3].schedule.step_size`` -> ``--step-size``,
    ``model.hidden_size`` -> ``--model-opt hidden_size=...``); the field itself when no flag sets it."""
    field = re.sub(r"^trials\[\d+\]\.?", "", field)
    base = re.sub(r"\[\d+\]$", "", field)
    if base == "model.sizes" and getattr(args, "sizes", None) is None:
        base = "model.hidden"  # the sizes were made from --hidden (or its default)
    if base in _FLAGS:
        return _FLAGS[base]
    head, _, key = base.partition(".")
    if head == "schedule":
        return f"--{key.replace('_', '-')}" if key in SCHEDULE_FLAGS else "--schedule"
    if head in ("X", "y") or head == "dataset" and re.fullmatch(r"[Xy]_(train|val|test)", key):
        return "--path" if getattr(args, "path", None) else "--dataset"  # the data's content
    if head in ("model", "dataset") and key:
        return f"--{head}-opt {key.split('.')[0]}=..."
    flag = "--" + base.split(".")[-1].replace("_", "-")
    return flag if flag in _train_flags() else field


def _train_flags() -> set:
    return _options("train")


def _options(command: str) -> set:
    """The option strings of a subcommand (``--out``, ``--metric`` ...)."""
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {o for act in sub.choices[command]._actions for o in act.option_strings}


# fields of run_sweep / plan / report errors that are their command's options
_OPTION_FIELDS = ("out", "jobs", "backend", "scheduler", "pack_size", "device", "metric", "mode", "label")


def _key_values(items, flag):
    """``KEY=VALUE`` options: numbers, true/false/none, comma-separated lists, else text."""
    from .errors import ConfigError

    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(flag, f"expected KEY=VALUE, got {item!r}")
        key, value = (x.strip() for x in item.split("=", 1))
        out.append((key, [_value(v.strip()) for v in value.split(",")] if "," in value else _value(value)))
    return out


def _cmd_train(a) -> int:
    import time

    import pandas as pd

    from .errors import ConfigError, check_choice
    from .optimizers import RULE_HYPER, RULES
    from .train import train_pack

    for rule in a.optimizer:
        check_choice("--optimizer", rule, RULES)
    model = {"name": a.model}
    for flag, value in (("--hidden", a.hidden), ("--sizes", a.sizes), ("--activation", a.activation)):
        if value is not None and a.model != "mlp":
            raise ConfigError(flag, f"is an mlp setting; for {a.model} use --model-opt KEY=VALUE "
                                    "(see `optengine list`)")
    if a.sizes is not None and a.hidden is not None:
        raise ConfigError("--sizes", "give --sizes (all widths) or --hidden (hidden widths), not both")
    if a.sizes is not None:
        model["sizes"] = a.sizes
    elif a.model == "mlp":
        model["hidden"] = a.hidden if a.hidden is not None else [100, 100]
    if a.activation is not None:
        model["activation"] = a.activation
    for key, value in _key_values(a.model_opt, "--model-opt"):
        model[key] = value
    dataset = a.dataset or ("surface_noise" if a.model in SURFACES else "mnist1d")
    dataset = {"name": dataset}
    for key, value in (("path", a.path), ("target", a.target)):
        if value is not None:
            dataset[key] = value
    for key, value in _key_values(a.dataset_opt, "--dataset-opt"):
        dataset[key] = value
    batch = a.batch_size if a.batch_size == "full" else _batch_int(a.batch_size)

    schedule = {k: getattr(a, k) for k in SCHEDULE_FLAGS if getattr(a, k) is not None}
    for k in ("step_size", "warmup_steps"):
        if k in schedule and schedule[k] == int(schedule[k]):
            schedule[k] = int(schedule[k])
    if a.schedule or schedule:
        schedule["name"] = a.schedule or "constant"
    else:
        schedule = None
    clip = None
    if a.clip_norm is not None or a.clip_value is not None:
        clip = {"norm": a.clip_norm, "value": a.clip_value}
    hyper = {h: getattr(a, h) for h in HYPER_FLAGS if getattr(a, h) is not None}
    for h in hyper:
        if not any(h in RULE_HYPER[r] for r in a.optimizer):
            takers = [r for r in RULES if h in RULE_HYPER[r]]
            raise ConfigError(_flag(h, a), f"none of the chosen rules takes {h}; it is for {', '.join(takers)}")
    trials = [{"optimizer": r, "lr": lr, "seed": s, "schedule": schedule, "clip": clip,
               **{h: v for h, v in hyper.items() if h in RULE_HYPER[r]}}
              for r in a.optimizer for lr in a.lr for s in a.seed]
    command = {"command": "optengine train", "model": model, "dataset": dataset, "trials": trials,
               "batch_size": batch, "epochs": a.epochs, "dtype": a.dtype, "early_stopping": a.early_stopping,
               "device": a.device}
    recording = {k: v for k, v in (("log_every", a.log_every), ("eval_every", a.eval_every)) if v is not None}
    command.update(recording)  # only when given: folders saved before keep matching their command
    made = None
    if a.out:
        _check_train_folder(Path(a.out), command)  # before any work
        if not Path(a.out).exists():  # made now, so that a folder that cannot be made fails before training
            Path(a.out).mkdir(parents=True)
            made = Path(a.out)
    t0 = time.perf_counter()
    try:
        runs, curves, steps, paths = train_pack(
            model, dataset, trials, batch_size=batch, epochs=a.epochs, dtype=a.dtype, threads=a.threads,
            early_stopping=a.early_stopping, device=a.device, sweep=Path(a.out).name if a.out else "",
            return_steps=True, return_trajectory=True, **recording)
    except BaseException:
        if made is not None and not any(made.iterdir()):
            made.rmdir()
        raise
    wall = time.perf_counter() - t0
    cols = ["optimizer", "lr", "seed", "status", "final_train_loss", "final_val_loss", "final_val_metric",
            "best_epoch", "steps"]
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(runs[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if a.curves:
            print(curves.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            if len(steps):
                print(steps.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    compile_s = float(runs["compile_s"].sum())
    print(f"\n{len(trials)} trials, {runs['steps'].sum()} steps in {wall:.2f} s, of which {compile_s:.2f} s "
          "compiling or loading the kernels (numba caches them on disk for later runs)")
    diverged = runs[runs["status"].astype(str) == "diverged"]
    for _, row in diverged.head(3).iterrows():
        print(f"diverged: {row['optimizer']} lr={row['lr']:g} seed={row['seed']}: {row['error']}")
    if a.out:
        _save_train_folder(Path(a.out), command, runs, curves, a, {"steps": steps, "trajectories": paths})
        print(f"saved {len(runs)} trials in {a.out}; next: optengine report {a.out}")
    return 0


def _check_train_folder(folder: Path, command: dict) -> None:
    """``train --out``: a new or empty folder, or one that this same command wrote (its trials are replaced)."""
    from .errors import ConfigError
    from .results import read_sweep_info
    from .sweep.trial import canonical

    if folder.exists() and not folder.is_dir():
        raise ConfigError("--out", f"{folder} exists and is not a folder")
    if not folder.is_dir() or not [p for p in folder.iterdir() if p.name not in (".lock", ".inflight")]:
        return
    info = read_sweep_info(folder)
    if info is None:
        raise ConfigError("--out", f"{folder} is not empty and holds no optengine results (no sweep.json); "
                                   "choose another folder with --out")
    if canonical(info.get("spec")) != canonical(command):
        what = "another optengine train command" if (info.get("spec") or {}).get("command") else \
            f"the sweep {info.get('name')!r}"
        raise ConfigError("--out", f"{folder} holds the results of {what}; choose another folder with --out")


def _save_train_folder(folder: Path, command: dict, runs, curves, a, tables=None) -> None:
    """Save one pack as a results folder, the way ``optengine run`` saves its packs."""
    import json

    from .results import FORMAT, atomic_write_bytes, next_part_number, remove_leftovers, write_pack
    from .sweep import manifest
    from .sweep.ownership import locked
    from .sweep.runner import _save_environment
    from .train import trial_id

    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder):
        _check_train_folder(folder, command)  # again, under the lock
        info = {"format": FORMAT, "name": folder.name, "trials": len(runs), "spec": command,
                "trial_ids": list(runs["trial_id"])}
        if "final_test_loss" in runs.columns:
            info["splits"] = "train/val/test"
        manifest.record(folder, [folder / "sweep.json"])
        atomic_write_bytes(folder / "sweep.json", json.dumps(info, indent=1, sort_keys=True, default=str).encode())
        remove_leftovers(folder)
        model_spec = json.dumps(command["model"], sort_keys=True)
        dataset_spec = json.dumps(command["dataset"], sort_keys=True)
        config = [c for c in runs.columns if c not in ("trial_id", "seed") and c in _CONFIG_COLUMNS]
        ids = [trial_id({**{c: r[c] for c in config}, "model_spec": model_spec, "dataset_spec": dataset_spec})
               for r in runs.to_dict("records")]
        runs = runs.assign(config_id=ids, model_spec=model_spec, dataset_spec=dataset_spec, device=a.device)
        write_pack(folder, next_part_number(folder), runs, curves, tables)
        _save_environment(folder, "train", 1, a.threads, a.device, None)


_CONFIG_COLUMNS = ("model", "dataset", "optimizer", "lr", "batch_size", "epochs", "schedule", "schedule_settings",
                   "clip", "clipping", *HYPER_FLAGS, "dtype")


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
    from .layers.program import describe as layer_types

    show("Layers (model.name = \"sequential\", layers = [{type = ..., settings}, ...]):", layer_types())
    show("Datasets (dataset.name = ...):", {**{k: v[2] for k, v in data.DATASETS.items()},
                                             "surface_noise": {"n_samples": 1000, "seed": 0}})
    print("  (surface_noise: gradient-noise draws for the test surfaces rosenbrock, ravine, beale, noisy_quadratic)")
    print()
    print("Clipping: clip = {norm = c} (global norm) or {value = c}")
    return 0


def _override_args(p) -> None:
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="change the spec: train.epochs=5 optimizer.lr=[1e-3,1e-2] model.layers[0].channels=8 "
                        "(TOML values; saved in the results' spec.toml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_overrides",
                   help="the same as a KEY=VALUE argument (repeatable)")


def _overrides(a) -> list:
    return list(a.overrides) + list(a.set_overrides)


def _cmd_run(a) -> int:
    import time

    from .sweep import environment, worker_pool

    t0 = time.perf_counter()
    try:
        if a.backend == "loky" and (a.jobs is None or a.jobs >= 1):
            worker_pool.start(a.jobs or environment.cores())  # they load the engine while this process does
        from .report import report
        from .sweep import Interrupted, run_sweep

        try:
            runs = run_sweep(a.spec, a.out, jobs=a.jobs, backend=a.backend, scheduler=a.scheduler, fresh=a.fresh,
                             pack_size=a.pack_size, progress=not a.no_progress, retry_failed=a.retry_failed, repair=a.repair,
                             messages=True, device=a.device, overrides=_overrides(a))
        except Interrupted as exc:
            print(f"\noptengine: {exc}", file=sys.stderr)
            return 130
    finally:
        worker_pool.stop()  # everything is saved: no need to wait for idle workers
    status = runs["status"].astype(str).value_counts()
    folder = a.out or f"results/{runs['sweep'].iloc[0] if len(runs) else ''}"
    print(f"{len(runs)} trials in {folder}: " + ", ".join(f"{status.get(k, 0)} {k}" for k in
                                                          ("ok", "diverged", "failed", "pruned")
                                                          if k != "pruned" or status.get(k, 0))
          + f" ({time.perf_counter() - t0:.1f} s)")
    failed = runs[runs["status"].astype(str) == "failed"] if len(runs) else runs
    if len(runs) and len(failed) == len(runs):
        print(f"optengine: error: every trial failed; the first ({failed['trial_id'].iloc[0]}): "
              f"{_last_line(failed['error'].iloc[0])} (the runs table's error column holds each traceback)",
              file=sys.stderr)
        return 1
    if a.report:
        print(report(folder))
    else:
        print(f"next: optengine report {folder}")
    return 0


def _last_line(text) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no error recorded)"


def _cmd_plan(a) -> int:
    from .sweep.plan import format_plan, plan

    info = plan(a.spec, jobs=a.jobs, pack_size=a.pack_size, show=a.show, device=a.device, overrides=_overrides(a))
    print(format_plan(info))
    if a.ids:
        print("\n".join(info["trial_ids"]))
    return 0


def _cmd_report(a) -> int:
    from .report import report

    print(report(a.folder, metric=a.metric, mode=a.mode, figures=not a.no_figures))
    return 0


def _cmd_diagnose(a) -> int:
    import textwrap

    import pandas as pd

    from .diagnose import CHECKLIST, LABELS, diagnose
    from .errors import check_choice
    from .report import load_side_table
    from .results import load

    if a.label is not None:
        check_choice("label", a.label, (*LABELS, "undetermined", "failed"))
    runs, curves = load(a.folder)
    if runs.empty:
        print(f"{a.folder}: no finished trials yet")
        return 0
    d = diagnose(runs, curves, load_side_table(a.folder, "steps"))
    view = d.merge(runs[["trial_id", "optimizer", "lr", "seed"]], on="trial_id")
    counts = view["label"].value_counts()
    print(f"{len(view)} trials: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    shown = view if a.all else view[view["label"] != "healthy"]
    if a.label is not None:
        shown = view[view["label"] == a.label]
    for label in [*LABELS, "undetermined", "failed"]:
        rows = shown[shown["label"] == label]
        if not len(rows):
            continue
        print(f"\n{label} ({len(rows)}): {CHECKLIST.get(label, rows['remedy'].iloc[0])}")
        for r in rows.itertuples():
            print(f"  {r.trial_id}  {r.optimizer} lr={r.lr:g} seed={r.seed}")
            print(textwrap.fill(r.evidence, 110, initial_indent="    ", subsequent_indent="    "))
            if label != "healthy":
                print(textwrap.fill("remedy: " + r.remedy, 110, initial_indent="    ", subsequent_indent="      "))
    if not len(shown) and not a.all:
        print("every trial is healthy")
    return 0


def _cmd_export(a) -> int:
    from .report import export_csv

    paths = export_csv(a.folder)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from .errors import ConfigError

    commands = {"train": _cmd_train, "list": _cmd_list, "run": _cmd_run, "plan": _cmd_plan,
                "report": _cmd_report, "diagnose": _cmd_diagnose, "export": _cmd_export}
    try:
        return commands[args.command](args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("optengine: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug or not isinstance(exc, (ConfigError, MemoryError, ValueError, OverflowError, OSError)):
            raise
        print(f"optengine: error: {_error_text(exc, args)}", file=sys.stderr)
        return 2


def _error_text(exc: Exception, args) -> str:
    """One clean line (or a spec's problem list) for an error the user can act on."""
    from .errors import ConfigError
    from .memory import available_bytes, format_bytes

    if isinstance(exc, ConfigError):
        if args.command == "train" and not exc.field.startswith("--"):
            if args.model == "mlp" and args.sizes is None:
                from .sweep.preflight import hidden_error

                exc = hidden_error({"hidden": args.hidden or [100, 100]}, exc)
            flag = _flag(exc.field, args)
            return f"{flag}: {exc}" if flag.startswith("--") else str(exc)
        option = "--" + exc.field.replace("_", "-")
        if exc.field in _OPTION_FIELDS and option in _options(args.command) and str(exc).startswith(exc.field + ": "):
            return option + str(exc)[len(exc.field):]  # run_sweep's "out" is the command's --out
        return str(exc)
    if isinstance(exc, MemoryError):
        return (f"this needs more memory than the {format_bytes(available_bytes())} available"
                + (f" ({exc})" if str(exc) else "") + "; use a smaller dataset, model or batch")
    if isinstance(exc, OSError) and exc.filename is not None:
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return f"{where}: {exc.strerror or exc}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
