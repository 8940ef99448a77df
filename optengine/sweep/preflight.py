"""The checks a sweep must pass before any work: ``optengine run`` and ``optengine plan`` both call
``preflight(spec, trials)``, so a spec that ``plan`` accepts is one that ``run`` starts.

1. every dataset is loaded and every model resolved against the data's shapes (errors name the
   spec field; a dataset too large to load says how much memory there is);
2. the device is usable (``cuda`` needs a GPU and a dense model);
3. every pack the sweep will run fits in memory: the dataset's arrays and their training copy, the
   pack's parameters (with their float64 initial values), and per trial trained at a time the
   gradient, two optimizer buffers, the model's workspace and the batch order. A pack that does not
   fit is refused with what it needs and what is available.
"""

from __future__ import annotations

import json
import re

import numpy as np

from .. import memory
from ..errors import ConfigError, check_choice, check_number
from ..models.base import EVAL_CHUNK
from ..rules import MAX_BUFFERS
from ..train import check_device, resolve_dataset, resolve_model, surface_data
from .environment import cores
from .packs import MAX_PACK
from .problems import Problems
from .spec import Spec, model_error

OPTIMIZER_BUFFERS = MAX_BUFFERS  # the most any rule keeps (from the records: Adam with AMSGrad keeps 3)


def preflight(spec: Spec, trials, pack_size: int | None = None) -> int:
    """Raise SpecError (a ConfigError naming spec fields) unless every trial of ``spec`` can start;
    return the estimated bytes of the largest pack.

    ``pack_size``: the most trials per pack the run will use (default: ``MAX_PACK``, the most it
    picks by itself); the memory check assumes the largest pack of each kind."""
    p = Problems()
    resolved = {}
    for t in trials:
        key = (t.model, t.dataset)
        if key in resolved:
            continue
        resolved[key] = None
        model, data = json.loads(t.model), json.loads(t.dataset)
        with p.at():
            resolved[key] = _resolve(spec, model, data)
    p.raise_if_any(spec.source)

    counts: dict[tuple, int] = {}
    for t in trials:
        counts[t.pack_key] = counts.get(t.pack_key, 0) + 1
    largest = 0
    for key, n in counts.items():
        model, data, batch_size, _, dtype = key[:5]
        mdl, n_rows, label, data_bytes = resolved[(model, data)]
        with p.at():
            need = check_pack_memory(mdl, n_rows, label, data_bytes, batch_size, dtype,
                                     min(n, pack_size or MAX_PACK))
            largest = max(largest, need)
    p.raise_if_any(spec.source)
    return largest


def check_run_options(spec: Spec, jobs=None, pack_size=None, device=None):
    """Validated ``(jobs, pack_size)``; ``device`` ("cpu" or "cuda") replaces the spec's train.device."""
    if jobs is not None:
        jobs = check_number("jobs", jobs, low=1, high=4096, integer=True)
    if pack_size is not None:
        pack_size = check_number("pack_size", pack_size, low=1, high=100_000, integer=True)
    if device is not None:
        device = check_choice("device", device, ("cpu", "cuda"))
        if device != spec.train["device"]:
            spec.train["device"] = device
            spec.raw = {**spec.raw, "train": {**spec.raw.get("train", {}), "device": device}}
    return jobs, pack_size


def _resolve(spec: Spec, model: dict, data: dict | None):
    """(Model, training rows, a name for messages, bytes of the data arrays), or a ConfigError naming the
    field. The data itself is not kept: a sweep over several datasets holds one at a time."""
    try:
        check_device(spec.train["device"], model)
    except ConfigError as exc:
        raise ConfigError("train.device", str(exc).split(": ", 1)[-1]) from None
    rec = spec.train.get("recording")
    on = [k for k in ("log_every", "eval_every", "trajectory") if rec is not None and getattr(rec, k)]
    if spec.train["device"] == "cuda" and on:
        raise ConfigError("train.device", f"the CUDA trainer does not record {' and '.join(on)} yet; leave "
                                          f"train.{on[0]} out or train on cpu")
    if data is None or data.get("name") == "surface_noise":
        X, Xv, _ = surface_data(data)  # checks n_samples and seed
        ds, data_bytes, n_rows = None, X.nbytes + Xv.nbytes, X.shape[0]
    else:
        try:
            ds = resolve_dataset(data)
        except MemoryError as exc:
            raise ConfigError("dataset", f"{data.get('name')!r} needs more memory than the "
                                         f"{memory.format_bytes(memory.available_bytes())} available ({exc})") from None
        data_bytes = sum(_nbytes(getattr(ds, a, None)) for a in
                         ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"))
        n_rows = ds.n_train
    try:
        mdl = resolve_model(model, ds)
    except ConfigError as exc:
        raise hidden_error(model, exc) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise model_error(model, exc) from None
    if rec is not None and rec.trajectory and mdl.n_params != 2:
        raise ConfigError("train.trajectory", f"records the path of 2-parameter models (the surfaces); {mdl.name} "
                                              f"has {mdl.n_params} parameters")
    return mdl, n_rows, f"{mdl.name} on {ds.name}" if ds is not None else mdl.name, data_bytes


def hidden_error(model: dict, exc: ConfigError) -> ConfigError:
    """``exc`` naming ``model.hidden[i]`` where it names ``model.sizes[i + 1]`` of an MLP given by ``hidden``
    (its sizes are the data's width, the hidden widths, the outputs)."""
    if not isinstance(model, dict) or "hidden" not in model or "sizes" in model:
        return exc
    message = str(exc).split(": ", 1)[1] if str(exc).startswith(exc.field + ": ") else str(exc)
    if exc.field == "model.sizes":
        return ConfigError("model.hidden", message)
    m = re.fullmatch(r"model\.sizes\[(\d+)\]", exc.field)
    hidden = model["hidden"]
    if not m or not isinstance(hidden, list) or not 1 <= int(m.group(1)) <= len(hidden):
        return exc
    return ConfigError(f"model.hidden[{int(m.group(1)) - 1}]", message)


def _nbytes(a) -> int:
    if a is None:
        return 0
    if isinstance(a, np.ndarray):
        return a.nbytes
    return sum(getattr(a, part).nbytes for part in ("data", "indices", "indptr") if hasattr(a, part))


def pack_bytes(mdl, n_rows: int, data_bytes: int, batch: int, dtype: str, trials: int,
               threads: int) -> dict[str, int]:
    """Estimated bytes of one pack by part: ``data``, ``parameters``, ``per_trial`` (all trials at a time)."""
    item = np.dtype(dtype).itemsize
    P = mdl.n_params
    ws = max(mdl.workspace_size(batch), mdl.workspace_size(min(EVAL_CHUNK, max(1, n_rows))))
    at_once = max(1, min(trials, threads))
    # the worker loads the data again and copies it to the training dtype
    data = data_bytes + (data_bytes * item // 8 if item != 8 else 0)
    return {"data": int(data),
            "parameters": int(trials * P * (8 + item)),  # float64 initial values, then the dtype copy
            "per_trial": int(at_once * ((1 + OPTIMIZER_BUFFERS) * P * item + ws * item + n_rows * 8))}


def check_pack_memory(mdl, n_rows: int, label: str, data_bytes: int, batch_size, dtype: str, trials: int) -> int:
    """The estimated bytes of a pack of ``trials`` trials; ConfigError (``model`` or ``dataset``, whichever
    needs more) when that will not fit in the memory available now."""
    batch = n_rows if batch_size == "full" else min(int(batch_size), n_rows)
    parts = pack_bytes(mdl, n_rows, data_bytes, batch, dtype, trials, cores())
    total = sum(parts.values())
    if total <= memory.available_bytes():
        return total
    field = max((("model", parts["parameters"] + parts["per_trial"]), ("dataset", parts["data"])),
                key=lambda kv: kv[1])[0]
    what = (f"a pack of {trials} {label} trial{'s' if trials != 1 else ''} ({mdl.n_params:,} parameters each, "
            f"{dtype}; parameters {memory.format_bytes(parts['parameters'])}, gradients, optimizer state and "
            f"workspaces {memory.format_bytes(parts['per_trial'])}, data {memory.format_bytes(parts['data'])})")
    try:
        memory.require(field, what, total)
    except ConfigError as exc:
        hint = ""
        if trials > 1:
            one = pack_bytes(mdl, n_rows, data_bytes, batch, dtype, 1, 1)
            if sum(one.values()) <= memory.available_bytes():
                hint = "; fewer trials per pack fit (--pack-size 1)"
        raise ConfigError(exc.field, str(exc).split(": ", 1)[1] + hint) from None
