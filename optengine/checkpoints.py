"""Exact checkpoints of trials: a trial's whole state, saved and continued bit for bit.

A checkpoint (a dict of numpy arrays, saved as ``<results>/checkpoints/<trial_id>.npz``) holds what the
pack trainer needs to go on as if it had never stopped: the parameters, the rule's buffers and scalars,
the step count (the schedule's position: the schedule keeps the trial's total length, so a 20-epoch trial
stopped at epoch 10 resumes with the cosine T of 20 epochs), the shuffling stream's state and the batch
order, the completed epochs, the best validation loss and its epoch (early stopping), the step log's open
window, and the trial's rows of the outputs so far (curves, results, the starting loss that bounds
divergence, the step table and trajectory rows). ``train.train_pack_tables(stop_epoch=, resume=,
checkpoints=True)`` returns and takes them; 10 epochs, a checkpoint, then 10 more give the same runs and
curves tables as 20 epochs straight (tests/test_checkpoints.py).

Files are written whole or not at all (``results.atomic_write_bytes``) and named in the folder's manifest
before they are written. A checkpoint records the trial's id, its total epochs and its shapes; one that
does not fit the trial is refused (``ConfigError("resume", ...)``), one that cannot be read is ignored by the
sweep runner (the trial starts over: the numbers are the same, only time is lost).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import pack_kernel
from .errors import ConfigError

FORMAT = 1
FOLDER = "checkpoints"
_OUT_FIELDS = pack_kernel.Outputs._fields


def record(K: int, n: int, rows: int, P: int, dtype, stop_epoch: int) -> pack_kernel.Ckpt:
    """The trainer's checkpoint record for K trials (n training rows, at most ``rows`` buffers of P)."""
    return pack_kernel.Ckpt(
        int(stop_epoch), 1, np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64),
        np.full(K, np.inf), np.full(K, -1, dtype=np.int64), np.zeros(K, dtype=np.uint64),
        np.zeros((K, n), dtype=np.int64), np.zeros((K, rows, P), dtype=dtype),
        np.zeros((K, 2, pack_kernel_max_scalars())), np.zeros((K, 3)))


def pack_kernel_max_scalars() -> int:
    from .optimizers import MAX_SCALARS

    return int(MAX_SCALARS)


def restore(saved: dict, k: int, trial_id: str, ck, out, params, epochs: int) -> None:
    """Fill trial ``k``'s rows of the records from checkpoint ``saved`` (refused when it does not fit)."""
    def fail(why):
        raise ConfigError("resume", f"the checkpoint of trial {saved.get('trial_id', '?')} does not fit trial "
                                    f"{trial_id}: {why}")

    if int(saved.get("format", -1)) != FORMAT:
        fail(f"format {saved.get('format')} (this optengine reads format {FORMAT})")
    if str(saved["trial_id"]) != trial_id:
        fail("another trial")
    if int(saved["epochs"]) != epochs:
        fail(f"it belongs to a {int(saved['epochs'])}-epoch trial, this one has {epochs} epochs")
    theta = saved["params"]
    if theta.shape != params[k].shape or theta.dtype != params.dtype:
        fail(f"parameters {theta.shape} {theta.dtype}, expected {params[k].shape} {params.dtype}")
    if saved["order"].shape != ck.order[k].shape:
        fail("another training split")
    for name in _OUT_FIELDS:
        if saved[f"out_{name}"].shape != getattr(out, name)[k].shape:
            fail(f"its {name} record has another shape")
    rows = saved["state"].shape[0]
    if rows > ck.state.shape[1]:
        fail("more optimizer buffers than its rule uses")
    params[k] = theta
    for name in _OUT_FIELDS:
        getattr(out, name)[k] = saved[f"out_{name}"]
    ck.load[k] = 1
    ck.epoch[k] = int(saved["epoch"])
    ck.step[k] = int(saved["step"])
    ck.best[k] = float(saved["best"])
    ck.best_epoch[k] = int(saved["best_epoch"])
    ck.rng[k] = np.uint64(saved["rng"])
    ck.order[k] = saved["order"]
    ck.state[k, :rows] = saved["state"]
    ck.scalars[k] = saved["scalars"]
    ck.window[k] = saved["window"]


def collect(k: int, trial_id: str, ck, out, params, epochs: int, rows: int) -> dict:
    """Trial ``k``'s checkpoint after a call (copies)."""
    status = int(out.results[k, pack_kernel.R_STATUS])
    done = int(out.results[k, pack_kernel.R_EPOCHS])
    saved = {"format": np.int64(FORMAT), "trial_id": np.str_(trial_id), "epochs": np.int64(epochs),
             "epoch": np.int64(ck.epoch[k] if status == pack_kernel.OK else done),
             "finished": np.bool_(status != pack_kernel.OK or done >= epochs),
             "step": np.int64(ck.step[k]), "best": np.float64(ck.best[k]), "best_epoch": np.int64(ck.best_epoch[k]),
             "rng": np.uint64(ck.rng[k]), "order": ck.order[k].copy(), "state": ck.state[k, :rows].copy(),
             "scalars": ck.scalars[k].copy(), "window": ck.window[k].copy(), "params": params[k].copy()}
    for name in _OUT_FIELDS:
        saved[f"out_{name}"] = getattr(out, name)[k].copy()
    return saved


def epoch_of(saved: dict) -> int:
    """The epochs a checkpoint's trial has completed."""
    return int(saved["epoch"])


def finished(saved: dict) -> bool:
    """True when the trial ended (all its epochs, diverged, or stopped early)."""
    return bool(saved["finished"])


def path_of(folder, trial_id: str) -> Path:
    return Path(folder) / FOLDER / f"{trial_id}.npz"


def save(folder, saved: dict) -> Path:
    """Write ``saved`` atomically as ``<folder>/checkpoints/<trial_id>.npz`` (named in the manifest first)."""
    from .results import atomic_write_bytes, os_errors
    from .sweep import manifest

    path = path_of(folder, str(saved["trial_id"]))
    with os_errors(path.parent, "create"):
        path.parent.mkdir(parents=True, exist_ok=True)
    manifest.record(folder, [path])
    buf = io.BytesIO()
    np.savez(buf, **saved)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load(folder, trial_id: str) -> dict | None:
    """The saved checkpoint of ``trial_id`` under ``folder``, or None (none, or unreadable)."""
    path = path_of(folder, trial_id)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            saved = {name: z[name] for name in z.files}
    except Exception:  # torn or foreign: the trial starts over (same numbers, more time)
        return None
    if str(saved.get("trial_id")) != trial_id or int(saved.get("format", -1)) != FORMAT:
        return None
    return {k: (v[()] if v.ndim == 0 else v) for k, v in saved.items()}
