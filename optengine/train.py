"""Training: ``oe.train`` for one trial, ``train_pack`` for K trials in one compiled call.

Both validate everything first, once (``settings.TrialSettings`` and ``settings.PackSettings``: a
``ConfigError`` naming the field, before any work; a sweep passes its already validated
``TrialSettings``), turn them into the records ``pack_kernel.train_pack`` reads, run it once, evaluate
the dataset's test split (when it has one) once with each healthy trial's final
parameters, and return the runs table (one row per trial) and the curves table (one row
per trial and completed epoch, plus the partial epoch of a trial that diverged inside
one) as pandas DataFrames. ``wall_s`` is the pack's training time and ``compile_s`` its
compile (or cache-load) time, each divided by the number of trials.
"""

from __future__ import annotations

import hashlib
import math
import time
from functools import partial

import numpy as np
import pandas as pd

from . import memory, pack_kernel, schema
from .blas import one_blas_thread
from .data import Dataset, dataset as make_dataset
from .errors import ConfigError, check_choice, check_keys, check_number
from .models import MODELS, Model, check_dataset, model as make_model, settings_from_dataset
from .models.kernels import DENSE
from .models.base import EVAL_CHUNK
from .models.surfaces import noise_dataset
from .optimizers import HYPER, RULES, hyper_vector, n_buffers
from .settings import PackSettings, Recording, TrialSettings, hash_id

STATUS = {pack_kernel.OK: "ok", pack_kernel.DIVERGED: "diverged", pack_kernel.EARLY_STOPPED: "ok"}
HYPER_COLUMNS = schema.hyper_order([h for h in HYPER if h != "lr"])
RUN_COLUMNS = schema.run_columns(HYPER_COLUMNS)
CURVE_COLUMNS = schema.CURVE_COLUMNS
STEP_COLUMNS = schema.STEP_COLUMNS
TRAJECTORY_COLUMNS = schema.TRAJECTORY_COLUMNS
DEFAULT_DIVERGE_FACTOR = 1e4
# the trajectory is recorded without being asked for when a 2-parameter pack has at most this many points
TRAJECTORY_AUTO_ROWS = 1_000_000


# -- resolving the shared parts of a pack ---------------------------------------------

def resolve_model(spec, ds: Dataset | None) -> Model:
    """A Model from a Model, a name or a settings dict; sizes missing from the spec come from ``ds``."""
    if isinstance(spec, Model):
        model = spec
    else:
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or "name" not in spec:
            raise ConfigError("model", f"must be a model name, a settings table with 'name', or oe.model(...); "
                                       f"got {spec!r}")
        settings = {k: v for k, v in spec.items() if k != "name"}
        name = spec["name"]
        if ds is not None and ds.task in ("classification", "regression"):
            settings = settings_from_dataset(name, settings, ds)
        model = make_model(name, **settings)
    if ds is not None:
        check_dataset(model, ds)
    return model


def resolve_dataset(spec) -> Dataset | None:
    """A Dataset from a Dataset, a name or a settings dict (None: surface models' noise draws)."""
    if spec is None or isinstance(spec, Dataset):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError("dataset", f"must be a dataset name, a settings table with 'name', or oe.dataset(...); "
                                     f"got {spec!r}")
    if spec["name"] == "surface_noise":
        return None
    return make_dataset(spec["name"], **{k: v for k, v in spec.items() if k != "name"})


def surface_data(dataset_spec):
    """Noise draws for a surface model: ``dataset = {"name": "surface_noise", "n_samples", "seed"}``."""
    opts = dict(dataset_spec) if isinstance(dataset_spec, dict) else {}
    opts.pop("name", None)
    check_keys("dataset", opts, ["n_samples", "seed"], "dataset 'surface_noise'")
    n = check_number("dataset.n_samples", opts.get("n_samples", 1000), low=1, integer=True)
    seed = check_number("dataset.seed", opts.get("seed", 0), low=0, integer=True)
    X, Xv = noise_dataset(n, seed)
    return X, Xv, f"surface_noise(n_samples={n},seed={seed})"


def _fingerprint(*arrays) -> str:
    from .data.text import csr_fingerprint_parts, is_sparse

    h = hashlib.sha1()
    for array in arrays:
        for a in (csr_fingerprint_parts(array) if is_sparse(array) else (array,)):
            a = np.ascontiguousarray(a)
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(a.tobytes())
    return h.hexdigest()[:16]


def _batch(batch_size, n: int) -> int:
    if batch_size == "full":
        return n
    if isinstance(batch_size, str):
        raise ConfigError("batch_size", f"must be an integer >= 1 or \"full\", got {batch_size!r}")
    return min(check_number("batch_size", batch_size, low=1, integer=True), n)


# -- the pack -------------------------------------------------------------------------------------

def train_pack(model, dataset, trials, *, batch_size=64, epochs=10, dtype="float32", early_stopping=None,
               diverge_factor=DEFAULT_DIVERGE_FACTOR, threads=None, sweep="", return_params=False, single=None,
               device="cpu", log_every=None, eval_every=None, target=None, trajectory=None, return_steps=False,
               return_trajectory=False, stop_epoch=None, resume=None, return_checkpoints=False):
    """Train K trials that share model, dataset, batch size, epochs and dtype in one compiled call.

    ``trials``: a list of dicts (or of validated ``settings.TrialSettings``, used as they are), each
    ``{"optimizer": "adam", "lr": 1e-3, <hyperparameters>,
    "schedule": None | name | {"name": ..., settings}, "clip": None | {"norm": c} | {"value": c},
    "seed": 0}``. Returns ``(runs, curves)`` DataFrames (``+ (params K x P,)`` with
    ``return_params``). ``single`` is for ``oe.train``: errors then name its arguments.
    ``device="cuda"`` trains the pack on a GPU (``optengine/cuda``, dense models) with the same tables.

    Optional records (off by default; they never change the runs and curves): ``log_every=N`` the step
    table (``STEP_COLUMNS``: every N steps the lr, the means over those N steps of the mini-batch loss and
    of the pre-clip gradient norm, the fraction of them clipped), ``eval_every=M`` validation every M
    steps (rows of the step table) besides each epoch end, ``target={"val_metric": x}`` or
    ``{"val_loss": x}`` the runs column ``steps_to_target``, ``trajectory`` (None: automatic for
    2-parameter models such as the surfaces, when the pack is small) the table ``TRAJECTORY_COLUMNS``.
    ``return_steps`` / ``return_trajectory`` append those tables to the returned tuple (after params).

    Exact checkpoints (CPU and CUDA, one format): ``stop_epoch=e`` stops the ``epochs``-epoch trials after
    epoch ``e``; ``resume=[checkpoint or None per trial]`` continues them; ``return_checkpoints`` appends the
    list of per-trial checkpoints (``optengine/checkpoints.py``) last.
    """
    runs, curves, params, tables = train_pack_tables(
        model, dataset, trials, batch_size=batch_size, epochs=epochs, dtype=dtype, early_stopping=early_stopping,
        diverge_factor=diverge_factor, threads=threads, sweep=sweep, single=single, device=device,
        log_every=log_every, eval_every=eval_every, target=target, trajectory=trajectory, stop_epoch=stop_epoch,
        resume=resume, checkpoints=return_checkpoints)
    result = (runs, curves) + ((params,) if return_params else ()) + ((tables["steps"],) if return_steps else ()) \
        + ((tables["trajectories"],) if return_trajectory else ()) \
        + ((tables["checkpoints"],) if "checkpoints" in tables else ())
    return result


def train_pack_tables(model, dataset, trials, *, batch_size=64, epochs=10, dtype="float32", early_stopping=None,
                      diverge_factor=DEFAULT_DIVERGE_FACTOR, threads=None, sweep="", single=None, device="cpu",
                      log_every=None, eval_every=None, target=None, trajectory=None, stop_epoch=None,
                      resume=None, checkpoints=False):
    """``train_pack``'s work: ``(runs, curves, params, {"steps": ..., "trajectories": ...})`` (what the
    sweep worker writes).

    Exact checkpoints (CPU and CUDA; ``optengine/checkpoints.py``): ``stop_epoch=e`` trains the ``epochs``-epoch
    trials up to epoch ``e`` only (the schedule keeps its length: the same trials, stopped); ``resume``, a
    list with per trial a checkpoint (dict) or None, continues those trials where their checkpoint left
    them; ``checkpoints=True`` (implied by ``stop_epoch``) adds ``tables["checkpoints"]``: per trial its
    state at the stop. Split or straight, the runs and curves come out bit-identical."""
    if stop_epoch is not None or resume is not None or checkpoints:
        checkpoints = True
    device = check_device(device, model)
    if not isinstance(trials, (list, tuple)) or not trials:
        raise ConfigError("trials", "must be a non-empty list of trial settings")
    pack = PackSettings.parse(epochs, dtype, early_stopping, diverge_factor)
    rec = Recording.parse(log_every, eval_every, target, trajectory)
    dtype, epochs, diverge_factor = pack.dtype, pack.epochs, pack.diverge_factor
    stop_epoch = epochs if stop_epoch is None else check_number("stop_epoch", stop_epoch, low=0, high=epochs,
                                                                integer=True)
    if resume is not None and (not isinstance(resume, (list, tuple)) or len(resume) != len(trials)):
        raise ConfigError("resume", f"must be a list with one checkpoint (or None) per trial ({len(trials)})")
    if device == "cuda":
        on = [name for name, v in (("log_every", rec.log_every), ("eval_every", rec.eval_every),
                                   ("trajectory", rec.trajectory)) if v]
        if on:
            raise ConfigError("device", f"the CUDA trainer does not record {' and '.join(on)} yet; leave "
                                        f"{on[0]} out or train with device=\"cpu\"")
    if threads is not None:
        threads = check_number("threads", threads, low=1, integer=True)
    settings = [TrialSettings.parse(t, f"trials[{i}]" if single is None else None, dtype)
                for i, t in enumerate(trials)]  # before any data is loaded (a TrialSettings is used as it is)
    ds = resolve_dataset(dataset)
    mdl = resolve_model(model, ds)
    if mdl.task == "surface":
        if ds is not None:
            raise ConfigError("dataset", f"{mdl.name} is a test surface: leave dataset out, or give "
                                         "{name = \"surface_noise\", n_samples, seed}")
        X, Xv, ds_label = surface_data(dataset)
        X, y_class, y_reg = mdl.prepare(X, None, dtype, "dataset")
        Xv, y_val_class, y_val_reg = mdl.prepare(Xv, None, dtype, "dataset")
        ds_key = ds_label
    else:
        if ds is None:
            raise ConfigError("dataset", f"{mdl.name} needs a dataset, e.g. dataset=\"mnist1d\"")
        X, y_class, y_reg = mdl.prepare(ds.X_train, ds.y_train, dtype, "dataset.X_train")
        Xv, y_val_class, y_val_reg = mdl.prepare(ds.X_val, ds.y_val, dtype, "dataset.X_val")
        ds_label = ds.name
        splits = (ds.X_train, ds.y_train, ds.X_val, ds.y_val)
        if getattr(ds, "X_test", None) is not None:
            splits += (ds.X_test, ds.y_test)
        ds_key = f"{ds.name}:{_fingerprint(*splits)}"
    if device == "cuda" and mdl.family != DENSE:
        raise ConfigError("device", f"{mdl.name} cannot train on cuda: {CUDA_SUPPORTED} can; use device=\"cpu\"")
    if rec.trajectory and mdl.n_params != 2:
        raise ConfigError("trajectory", f"records the path of 2-parameter models (the surfaces rosenbrock, ravine, "
                                        f"beale, noisy_quadratic); {mdl.name} has {mdl.n_params} parameters")
    test = _test_split(mdl, ds, dtype)
    n = X.shape[0]
    batch = _batch(batch_size, n)
    n_batches = math.ceil(n / batch)
    K = len(settings)
    total_steps = epochs * n_batches
    path = device == "cpu" and mdl.n_params == 2 and (
        rec.trajectory if rec.trajectory is not None else K * (total_steps + 1) <= TRAJECTORY_AUTO_ROWS)
    ws_size = max(mdl.workspace_size(batch), mdl.workspace_size(min(EVAL_CHUNK, max(n, Xv.shape[0]))))
    if test is not None:
        ws_size = max(ws_size, mdl.workspace_size(min(EVAL_CHUNK, test[0].shape[0])))

    # Arrays the kernel reads.
    np_dtype = np.dtype(dtype)
    live = K if device == "cuda" else min(K, threads or _default_threads())
    memory.require("trials", f"the pack's arrays ({K} trials x {mdl.n_params} parameters, {dtype})",
                   pack_bytes(K, mdl.n_params, ws_size, epochs, np_dtype.itemsize, live,
                              max(n_buffers(s.optimizer, s.hypers) for s in settings))
                   + record_bytes(K, total_steps, rec, path))
    schedules = [s.schedule.with_total((epochs if s.schedule.unit == "epoch" else epochs * n_batches)
                                       - s.schedule.warmup_steps) for s in settings]
    params = np.stack([mdl.init(s.seed, np.float64) for s in settings]).astype(np_dtype)
    trials_rec = trials_record(settings, schedules, params)
    model_rec = pack_kernel.Model(mdl.ai, mdl.af)
    data = pack_kernel.Data(X, y_class, y_reg, Xv, y_val_class, y_val_reg)
    loop = pack.loop(batch, ws_size, EVAL_CHUNK, rec, path)
    out = outputs_record(K, epochs, total_steps, rec, path)

    shared = {**pack.id_fields(mdl.spec(), ds_key, batch), **rec.id_fields()}
    ids = [s.trial_id or trial_id({**shared, **s.config(sc)}) for s, sc in zip(settings, schedules)]
    ck = None
    if checkpoints:
        from . import checkpoints as ckpts

        rows = [n_buffers(s.optimizer, s.hypers) for s in settings]
        ck = ckpts.record(K, n, max(rows), mdl.n_params, np_dtype, stop_epoch)
        for k, saved in enumerate(resume or []):
            if saved is not None:
                ckpts.restore(saved, k, ids[k], ck, out, params, epochs)

    t0 = time.perf_counter()
    if device == "cuda":
        from .cuda.pack_kernel import train_pack as cuda_trainer

        trainer = partial(cuda_trainer, ck=ck)
    else:
        trainer = partial(pack_kernel.train_pack, threads=threads, ck=ck)
    with one_blas_thread():
        compile_s = trainer(mdl.family, model_rec, data, loop, trials_rec, out)
        test_out = np.full((2, K), np.nan)
        healthy = np.flatnonzero(out.results[:, pack_kernel.R_STATUS] != pack_kernel.DIVERGED)
        if test is not None and healthy.size:
            compile_s += pack_kernel.evaluate_pack(mdl.family, model_rec, pack_kernel.Split(*test), ws_size,
                                                   EVAL_CHUNK, params, healthy, test_out[0], test_out[1])
    total = time.perf_counter() - t0

    timing = ((total - compile_s) / K, compile_s / K)
    runs = _runs_table(settings, schedules, ids, out, test_out, sweep, mdl, ds_label, batch, epochs, dtype,
                       diverge_factor, timing)
    curves = _curves_table(ids, out)
    steps = _steps_table(ids, out, rec)
    runs["steps_to_target"] = steps_to_target(runs["trial_id"], curves, steps, rec.target)
    tables = {"steps": steps, "trajectories": _trajectories_table(ids, out)}
    if ck is not None:
        tables["checkpoints"] = [ckpts.collect(k, ids[k], ck, out, params, epochs, rows[k]) for k in range(K)]
    return runs, curves, params, tables


def trials_record(settings, schedules, params) -> pack_kernel.Trials:
    """The kernels' per-trial record (one row per trial) from validated settings, their schedules
    resolved for the pack, and the initial parameters: the one place a per-trial field is filled."""
    return pack_kernel.Trials(
        rules=np.array([RULES.index(s.optimizer) for s in settings], dtype=np.int64),
        hypers=np.stack([hyper_vector(s.hypers) for s in settings]),
        schedules=np.stack([sc.vector() for sc in schedules]),
        clip_modes=np.array([s.clip_mode for s in settings], dtype=np.int64),
        clip_cs=np.array([s.clip_c for s in settings], dtype=np.float64),
        seeds=np.array([s.seed for s in settings], dtype=np.int64),
        params=params)


def outputs_record(K: int, epochs: int, total_steps: int = 0, rec=None, path: bool = False) -> pack_kernel.Outputs:
    """The kernels' outputs for K trials, NaN (zero steps) until written; the optional records sized for
    ``total_steps`` steps per trial (0 rows when off)."""
    n_log, n_eval, n_path = _record_rows(total_steps, rec, path)
    return pack_kernel.Outputs(
        *(np.full((K, epochs), np.nan) for _ in range(5)), steps_at=np.zeros((K, epochs), dtype=np.int64),
        results=np.zeros((K, pack_kernel.N_RESULTS), dtype=np.int64), infos=np.full((K, pack_kernel.N_INFO), np.nan),
        step_log=np.full((K, n_log, pack_kernel.N_LOG), np.nan), step_val=np.full((K, n_eval, 2), np.nan),
        trajectory=np.full((K, n_path, 3), np.nan))


def _record_rows(total_steps: int, rec, path: bool) -> tuple[int, int, int]:
    log_every = rec.log_every if rec is not None else 0
    eval_every = rec.eval_every if rec is not None else 0
    return (total_steps // log_every if log_every else 0, total_steps // eval_every if eval_every else 0,
            total_steps + 1 if path else 0)


def record_bytes(K: int, total_steps: int, rec, path: bool) -> int:
    """Memory of the optional records (step log, step validation, trajectory) of K trials."""
    n_log, n_eval, n_path = _record_rows(total_steps, rec, path)
    return 8 * K * (pack_kernel.N_LOG * n_log + 2 * n_eval + 3 * n_path)


def _test_split(mdl, ds, dtype):
    """(X, y_class, y_reg) of the dataset's test split in the kernels' form, or None without one."""
    if ds is None or getattr(ds, "X_test", None) is None:
        return None
    return mdl.prepare(ds.X_test, ds.y_test, dtype, "dataset.X_test")


def _default_threads() -> int:
    import numba

    return numba.get_num_threads()


def pack_bytes(K: int, n_params: int, ws_size: int, epochs: int, itemsize: int, live: int, buffers: int) -> int:
    """Memory a pack allocates beside its data: every trial's parameters, the per-epoch outputs, and for
    each trial in training at once (``live``) its copy of the parameters, gradient, ``buffers`` optimizer
    buffers (the most any of its rules keeps) and workspace."""
    per_trial_out = 8 * (6 * epochs + pack_kernel.N_RESULTS + pack_kernel.N_INFO + 2)
    return int(K * n_params * itemsize + K * per_trial_out + live * ((2 + buffers) * n_params + ws_size) * itemsize)


CUDA_SUPPORTED = "linear_regression, softmax_regression and mlp (the dense family)"


def check_device(device, model) -> str:
    """Check ``device`` before any data is loaded: "cpu", or "cuda" with a usable GPU and a dense model."""
    device = check_choice("device", device, ("cpu", "cuda"))
    if device == "cuda":
        from .cuda import require_device

        require_device()
        name = model.name if isinstance(model, Model) else model if isinstance(model, str) else \
            model.get("name") if isinstance(model, dict) else None
        if name in MODELS and name not in ("linear_regression", "softmax_regression", "mlp"):
            raise ConfigError("device", f"{name} cannot train on cuda: {CUDA_SUPPORTED} can; use device=\"cpu\"")
    return device


trial_id = hash_id  # stable id of a trial: SHA-1 of its canonical JSON form (sorted keys), 16 hex digits


def divergence_reason(reason: int, info, step: int, epochs_done: int, diverge_factor: float) -> str:
    """Why a trial diverged, in words, from its reason code (``pack_kernel.DIV_*``) and ``info``."""
    loss, norm, start = (float(v) for v in info)
    if reason == pack_kernel.DIV_EXPLODED:
        taken = "" if abs(start) >= 1 else " (taken as 1)"
        return f"loss {loss:.2g} > {diverge_factor:.2g} x starting loss {start:.2g}{taken} at step {step}"
    if reason == pack_kernel.DIV_LOSS:
        return f"non-finite loss ({loss}) at step {step}"
    if reason == pack_kernel.DIV_NORM:
        return f"non-finite gradient norm ({norm}) at step {step}"
    if reason == pack_kernel.DIV_VAL:
        return f"non-finite validation loss ({loss}) after epoch {epochs_done} (step {step})"
    return "diverged (no reason recorded)"


def _runs_table(settings, schedules, ids, out, test_out, sweep, mdl, ds_label, batch, epochs, dtype,
                diverge_factor, timing):
    rows = []
    for k, s in enumerate(settings):
        sched = schedules[k]
        status, diverged_at, steps, done, reason = (int(v) for v in out.results[k])
        vl = out.val_loss[k, :done]
        last = done - 1
        finite = np.isfinite(vl)
        best = int(np.argmin(np.where(finite, vl, np.inf))) if finite.any() else -1
        row = {
            "trial_id": ids[k], "sweep": sweep, "model": mdl.name, "dataset": ds_label,
            "batch_size": batch, "epochs": epochs, **s.row(sched, HYPER_COLUMNS),
            "dtype": dtype, "status": STATUS[status],
            "error": divergence_reason(reason, out.infos[k], steps, done, diverge_factor)
            if status == pack_kernel.DIVERGED else "",
            "final_train_loss": out.train_loss[k, last] if done else np.nan,
            "final_val_loss": out.val_loss[k, last] if done else np.nan,
            "final_val_metric": out.val_metric[k, last] if done else np.nan,
            "best_val_loss": vl[best] if best >= 0 else np.nan,
            "best_epoch": best + 1 if best >= 0 else -1,
            "final_test_loss": test_out[0, k], "final_test_metric": test_out[1, k],
            "steps": steps, "diverged_at_step": diverged_at,
            "early_stopped": status == pack_kernel.EARLY_STOPPED, "wall_s": timing[0], "compile_s": timing[1],
        }
        rows.append(row)
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return runs.astype({"best_epoch": "int64", "steps": "int64", "diverged_at_step": "int64",
                        "batch_size": "int64", "epochs": "int64", "seed": "int64"})


def _curves_table(ids, out):
    parts = []
    for k, tid in enumerate(ids):
        done = int(out.results[k, pack_kernel.R_EPOCHS])
        if out.results[k, pack_kernel.R_REASON] in (pack_kernel.DIV_EXPLODED, pack_kernel.DIV_LOSS, pack_kernel.DIV_NORM):
            done += 1  # the epoch it diverged in, up to the offending mini-batch (no validation numbers)
        if done == 0:
            continue
        parts.append(pd.DataFrame({
            "trial_id": tid, "epoch": np.arange(1, done + 1, dtype=np.int64), "step": out.steps_at[k, :done],
            "lr": out.lr[k, :done], "train_loss": out.train_loss[k, :done],
            "val_loss": out.val_loss[k, :done], "val_metric": out.val_metric[k, :done],
            "grad_norm": out.grad_norm[k, :done]}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("epoch", "step") else
                                          ("object" if c == "trial_id" else "float64")) for c in CURVE_COLUMNS})
    return pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=schema.column_type(c).to_pandas_dtype() if c != "trial_id" else object)
                         for c in columns})


def _steps_table(ids, out, rec: Recording) -> pd.DataFrame:
    """The step table (``STEP_COLUMNS``): a row every ``log_every`` steps and every ``eval_every`` steps
    (one row when both fall on a step), up to the steps each trial applied; NaN where not recorded."""
    if not (rec.log_every or rec.eval_every):
        return _empty(STEP_COLUMNS)
    parts = []
    for k, tid in enumerate(ids):
        done = int(out.results[k, pack_kernel.R_STEPS])
        log_steps = np.arange(1, done // rec.log_every + 1, dtype=np.int64) * rec.log_every if rec.log_every else \
            np.zeros(0, dtype=np.int64)
        eval_steps = np.arange(1, done // rec.eval_every + 1, dtype=np.int64) * rec.eval_every if rec.eval_every \
            else np.zeros(0, dtype=np.int64)
        steps = np.union1d(log_steps, eval_steps)
        if not steps.size:
            continue
        cols = {c: np.full(steps.size, np.nan) for c in STEP_COLUMNS[2:]}
        if log_steps.size:
            at = np.searchsorted(steps, log_steps)
            log = out.step_log[k, :log_steps.size]
            cols["lr"][at] = log[:, pack_kernel.L_LR]
            cols["train_loss"][at] = log[:, pack_kernel.L_LOSS]
            cols["grad_norm"][at] = log[:, pack_kernel.L_NORM]
            cols["clip_fraction"][at] = log[:, pack_kernel.L_CLIPPED]
        if eval_steps.size:
            at = np.searchsorted(steps, eval_steps)
            cols["val_loss"][at] = out.step_val[k, :eval_steps.size, 0]
            cols["val_metric"][at] = out.step_val[k, :eval_steps.size, 1]
        parts.append(pd.DataFrame({"trial_id": tid, "step": steps, **cols}))
    if not parts:
        return _empty(STEP_COLUMNS)
    return pd.concat(parts, ignore_index=True)[STEP_COLUMNS]


def _trajectories_table(ids, out) -> pd.DataFrame:
    """The trajectory table (``TRAJECTORY_COLUMNS``): step 0 = the start, then after every applied step."""
    if out.trajectory.shape[1] == 0:
        return _empty(TRAJECTORY_COLUMNS)
    parts = []
    for k, tid in enumerate(ids):
        done = int(out.results[k, pack_kernel.R_STEPS])
        path = out.trajectory[k, :done + 1]
        parts.append(pd.DataFrame({"trial_id": tid, "step": np.arange(done + 1, dtype=np.int64),
                                   "p0": path[:, 0], "p1": path[:, 1], "loss": path[:, 2]}))
    return pd.concat(parts, ignore_index=True)[TRAJECTORY_COLUMNS]


def steps_to_target(trial_ids, curves: pd.DataFrame, steps: pd.DataFrame, target) -> np.ndarray:
    """Per trial, the first step at which validation reached ``target`` (``(key, x)``: ``val_metric`` >= x or
    ``val_loss`` <= x), scanning every evaluation in step order: the step table's rows with validation
    numbers (``eval_every``) and the epoch ends (curves); -1 when never reached or without a target."""
    out = np.full(len(trial_ids), -1, dtype=np.int64)
    if target is None:
        return out
    key, x = target
    points = pd.concat([t.loc[t[key].notna(), ["trial_id", "step", key]] for t in (curves, steps) if len(t)],
                       ignore_index=True) if len(curves) or len(steps) else None
    if points is None or not len(points):
        return out
    hit = points[points[key] >= x] if key == "val_metric" else points[points[key] <= x]
    first = hit.groupby("trial_id")["step"].min()
    return np.array([int(first.get(t, -1)) for t in trial_ids], dtype=np.int64)


# -- one trial ----------------------------------------------------------------------------------------

def train(model, dataset=None, optimizer: str = "adam", lr: float | None = None, batch_size=64, epochs: int = 10,
          seed: int = 0, schedule=None, clip=None, dtype: str = "float32", early_stopping=None,
          diverge_factor: float = DEFAULT_DIVERGE_FACTOR, threads=None, return_params: bool = False,
          device: str = "cpu", log_every=None, eval_every=None, target=None, trajectory=None,
          return_steps: bool = False, return_trajectory: bool = False, **hyper):
    """Train one trial through the pack trainer; return ``(summary dict, curve DataFrame)``.

    ``oe.train(model="mlp"-settings or oe.model(...), dataset="mnist1d", optimizer="adam", lr=1e-2,
    batch_size=100, epochs=20, seed=0, schedule={"name": "cosine", "warmup_steps": 100},
    clip={"norm": 1.0})``. Extra keywords are the rule's hyperparameters (momentum, beta1, ...).
    With ``return_params=True`` the trained parameter vector is returned third; ``device="cuda"``
    trains on a GPU. ``log_every``, ``eval_every``, ``target``, ``trajectory`` as in ``train_pack``;
    ``return_steps`` / ``return_trajectory`` append the step table / the trajectory table (after the
    parameters).
    """
    trial = {"optimizer": optimizer, "lr": lr, **hyper, "schedule": schedule, "clip": clip, "seed": seed}
    runs, curves, params, tables = train_pack_tables(
        model, dataset, [trial], batch_size=batch_size, epochs=epochs, dtype=dtype, early_stopping=early_stopping,
        diverge_factor=diverge_factor, threads=threads, single=True, device=device, log_every=log_every,
        eval_every=eval_every, target=target, trajectory=trajectory)
    return ((runs.iloc[0].to_dict(), curves) + ((params[0],) if return_params else ())
            + ((tables["steps"],) if return_steps else ()) + ((tables["trajectories"],) if return_trajectory else ()))
