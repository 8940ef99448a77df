"""What a joblib worker runs: one pack -> its runs and curves tables.

A pack that raises is rerun one trial at a time, so only the trials that raise become
``status="failed"`` (with their error text). While a pack runs, a marker file named after
it sits in ``marker_dir`` (when the driver can see the worker's disk): after a worker dies,
the packs whose markers remain are the ones that were running.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import CURVE_COLUMNS
from ..settings import TrialSettings
from ..schema import ADDED_RUN_COLUMNS
from ..train import HYPER_COLUMNS, RUN_COLUMNS, resolve_dataset, train_pack_tables
from . import environment
from .worker_pool import exit_with_parent

# tests only: "kill:<lr>" ends the worker, "raise:<lr>" raises in the trial, "exit_at_epoch:<e>" ends the
# worker right after the checkpoints of the chunk that ends at epoch e are saved
FAULT_ENV = "OPTENGINE_TEST_FAULT"
_DATA_CACHE: dict = {}


def run_pack(payload: dict) -> dict:
    """Train one pack; return ``{"pack_id", "runs", "curves", "tables"}`` (failed trials included as rows;
    ``tables``: the step and trajectory tables, {} when the pack records neither)."""
    if payload.get("watch_parent"):
        exit_with_parent()
    marker = _mark(payload)
    try:
        threads = payload["threads"] or _auto_threads()
        trials = payload["trials"]
        try:
            runs, curves, tables = _train(payload, trials, threads)
        except Exception:
            if len(trials) == 1:
                runs, curves, tables = _failed(payload, trials[0]), _no_curves(), {}
            else:
                parts = []
                for t in trials:
                    try:
                        parts.append(_train(payload, [t], threads))
                    except Exception:
                        parts.append((_failed(payload, t), _no_curves(), {}))
                runs = pd.concat([r for r, _, _ in parts], ignore_index=True)
                curves = pd.concat([c for _, c, _ in parts], ignore_index=True)
                tables = {name: pd.concat(frames, ignore_index=True) for name in ("steps", "trajectories")
                          if (frames := [t[name] for _, _, t in parts if name in t])}
                tables["partial"] = [tid for _, _, t in parts for tid in t.get("partial", [])]
        runs = runs.assign(model_spec=json.dumps(payload["model"], sort_keys=True),
                           dataset_spec=json.dumps(payload["dataset"], sort_keys=True),
                           device=payload["device"])
        partial = tables.pop("partial", [])
        return {"pack_id": payload["pack_id"], "runs": runs, "curves": curves, "partial": partial,
                "tables": {name: df for name, df in tables.items() if len(df)}}
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def run_pack_isolated(payload: dict) -> dict:
    """``run_pack`` in a child process of this (dask) worker, reused from task to task.

    If the child dies (segfault, out of memory, killed), the task still returns, as
    ``{"pack_id", "crashed": reason}``, so the driver knows which pack it was; the dask worker
    itself survives. (joblib's dask backend never reports a task whose workers died: it hangs.)
    """
    from concurrent.futures.process import BrokenProcessPool

    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    import multiprocessing

    payload = {**payload, "threads": payload["threads"] or _auto_threads()}
    # dask workers are daemonic processes, which multiprocessing forbids to start children; the
    # child here is loky's, which exits by itself when its parent goes, so lift the flag meanwhile.
    config = multiprocessing.current_process()._config
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        future = get_reusable_executor(max_workers=1, timeout=600).submit(run_pack, payload)
    finally:
        config["daemon"] = daemon
    try:
        return future.result()
    except (TerminatedWorkerError, BrokenProcessPool) as exc:
        return {"pack_id": payload["pack_id"], "crashed": f"{type(exc).__name__}: {exc}"[:500]}


def _train(payload, trials, threads):
    _inject_faults(payload.get("fault"), trials)
    kwargs = {}
    if payload["device"] != "cpu":
        kwargs["device"] = payload["device"]
    folder = payload.get("checkpoint_dir")
    if not folder:
        runs, curves, _, tables = train_pack_tables(
            payload["model"], _dataset(payload["dataset"]), trials, batch_size=payload["batch_size"],
            epochs=payload["epochs"], dtype=payload["dtype"], early_stopping=payload["early_stopping"],
            diverge_factor=payload["diverge_factor"], threads=threads, sweep=payload["sweep"],
            **payload.get("recording", {}), **kwargs)
        return runs, curves, tables
    return _train_in_chunks(payload, trials, threads, folder, kwargs)


def _train_in_chunks(payload, trials, threads, folder, kwargs):
    """Train with exact checkpoints: from each trial's saved checkpoint (if any) up to ``stop_epoch`` (the
    end by default), in chunks of ``checkpoint_every`` epochs, saving every trial's checkpoint after each
    chunk. Chunking never changes a number (optengine/checkpoints.py). Trials not finished at the stop are
    listed in ``tables["partial"]`` (the driver saves their runs rows only when they finish or are pruned);
    with ``prune``, those are returned with status "pruned"."""
    from .. import checkpoints

    epochs = payload["epochs"]
    stop = payload.get("stop_epoch") or epochs
    every = payload.get("checkpoint_every") or 0
    ids = [_tid(t) for t in trials]
    resume = [checkpoints.load(folder, tid) for tid in ids]
    if any(s is not None and int(s["epochs"]) != epochs for s in resume):  # another trial's length: start over
        resume = [s if s is None or int(s["epochs"]) == epochs else None for s in resume]
    start = min(checkpoints.epoch_of(s) if s is not None else 0 for s in resume)
    ends = [e for e in range(every, stop, every) if e > start] if every else []
    ends.append(stop)
    ds = _dataset(payload["dataset"])
    for end in ends:
        runs, curves, _, tables = train_pack_tables(
            payload["model"], ds, trials, batch_size=payload["batch_size"], epochs=epochs, dtype=payload["dtype"],
            early_stopping=payload["early_stopping"], diverge_factor=payload["diverge_factor"], threads=threads,
            sweep=payload["sweep"], stop_epoch=end, resume=resume if any(s is not None for s in resume) else None,
            **payload.get("recording", {}), **kwargs)
        resume = tables.pop("checkpoints")
        for s in resume:
            checkpoints.save(folder, s)
        fault = payload.get("fault") or ""
        if fault.startswith("exit_at_epoch:") and end == int(fault.split(":")[1]):
            os._exit(77)  # tests only: die like kill -9 right after a chunk's checkpoints are saved
    partial = [tid for tid, s in zip(ids, resume) if not checkpoints.finished(s)]
    if payload.get("prune") and partial:
        runs = runs.assign(status=runs["status"].where(~runs["trial_id"].isin(partial), "pruned"))
        partial = []
    tables["partial"] = partial
    return runs, curves, tables


def _tid(trial) -> str:
    return trial.trial_id if isinstance(trial, TrialSettings) else trial["trial_id"]


def _dataset(spec):
    """The dataset of a pack, kept for the next packs of this worker (most sweeps have one)."""
    if spec is None or spec.get("name") == "surface_noise":
        return spec
    key = json.dumps(spec, sort_keys=True)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 4:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = resolve_dataset(spec)
    return _DATA_CACHE[key]


def _auto_threads() -> int:
    """Trainer threads for a task on a dask worker: the worker's cores shared by its concurrent tasks."""
    cores = environment.cores()
    try:
        from distributed import get_worker

        slots = get_worker().state.nthreads
    except Exception:
        slots = 1
    return max(1, cores // max(1, slots))


def _mark(payload) -> Path | None:
    folder = payload.get("marker_dir")
    if not folder or not os.path.isdir(folder):
        return None
    path = Path(folder) / f"{payload['pack_id']}.{os.getpid()}"
    try:
        path.write_text("")
    except OSError:
        return None
    return path


def _inject_faults(spec, trials) -> None:
    """Tests only: the driver's ``OPTENGINE_TEST_FAULT`` travels in the payload (workers may predate it)."""
    if not spec or spec.startswith("exit_at_epoch:"):
        return
    action, _, value = spec.partition(":")
    if any(abs(_lr(t) - float(value)) < 1e-15 for t in trials):
        if action == "kill":
            os._exit(77)
        if action == "raise":
            raise RuntimeError(f"injected failure for lr={value} ({FAULT_ENV})")


def _lr(trial) -> float:
    return trial.lr if isinstance(trial, TrialSettings) else trial.get("lr", 0)


def _failed(payload, trial) -> pd.DataFrame:
    """The runs row of a trial that raised: its settings, status "failed", the error, no metrics (NaN,
    the test columns included), no time."""
    error = traceback.format_exc(limit=-3).strip()[-2000:]
    try:  # a sweep's trials come validated (TrialSettings); a dict is parsed as the trainer would
        t = trial if isinstance(trial, TrialSettings) else TrialSettings.parse(trial, None, payload["dtype"])
    except Exception:  # a trial the trainer refused: its settings as given
        t = None
    if t is not None:
        settings, tid = t.row(hyper_columns=HYPER_COLUMNS), t.trial_id
    else:
        spec = trial.get("schedule")
        name = spec if isinstance(spec, str) else (spec or {}).get("name", "constant") if isinstance(spec, dict) \
            else "constant"
        settings = {"optimizer": trial["optimizer"], "seed": trial.get("seed", 0), "schedule": str(name),
                    "schedule_settings": json.dumps(spec), "clipping": json.dumps(trial.get("clip")),
                    **{k: v for k, v in trial.items() if k in HYPER_COLUMNS or k == "lr"}}
        tid = trial["trial_id"]
    batch = payload["batch_size"]
    row = {c: np.nan for c in RUN_COLUMNS}
    row.update({
        "trial_id": tid, "sweep": payload["sweep"], "model": payload["model"].get("name", ""),
        "dataset": (payload["dataset"] or {"name": "surface_noise"}).get("name", ""),
        "batch_size": batch if isinstance(batch, int) else -1, "epochs": payload["epochs"],
        **settings, "dtype": payload["dtype"], "status": "failed", "error": error,
        "best_epoch": -1, "steps": 0, "diverged_at_step": -1, "early_stopped": False, "wall_s": 0.0,
        "compile_s": 0.0, **ADDED_RUN_COLUMNS,
    })
    return pd.DataFrame([row], columns=RUN_COLUMNS)


def _no_curves() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("epoch", "step") else
                                      ("object" if c == "trial_id" else "float64")) for c in CURVE_COLUMNS})
