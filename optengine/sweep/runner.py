"""Running a sweep: validate, check the data, then stream packs through joblib into Parquet parts.

``run_sweep(spec, out=None, jobs=None, backend="loky", ...)`` is ``optengine run``. Order:

1. the spec is validated and expanded (nothing is written when it is invalid);
2. the results folder is checked: a folder holding a different sweep is refused (``fresh=True``
   replaces its results), a folder that optengine did not write is refused;
3. ``preflight`` (shared with ``optengine plan``): every dataset is loaded, every model resolved
   against it, the device checked and every pack's memory estimated (errors name the spec field);
4. under an exclusive lock on the folder, the spec and an environment record are saved, the
   trials already in the folder are skipped (resume), and the rest run pack by pack. Each
   finished pack is written at once (``results.write_pack``), so Ctrl-C or ``kill -9`` loses
   at most the packs in flight. Damaged parts are listed all at once; ``repair=True`` moves them
   aside (``repair.py``) so that their trials run again. A write that fails (disk full, read-only)
   stops the sweep with a ResultsError naming the file.

``fresh=True`` deletes only the files optengine wrote (``ownership.py``) and refuses, before
deleting anything, when the folder holds anything else. A folder written with the old
train/validation splits (sweep.json without ``"splits"``) is not resumed when its trials use data.

Backends: ``loky`` (processes, the default), ``sequential`` (this process) and ``dask``
(joblib's dask backend on a ``distributed`` cluster: ``scheduler="tcp://host:port"``, or a
local cluster of ``jobs`` processes). Numba threads per worker are set so that processes x
threads never exceed the cores (on dask: the worker's cores / its task slots).

A worker that dies (segfault, out of memory, killed) takes the packs it was running with it;
those packs are retried once, each alone in a fresh worker. A pack that kills its worker
again is split: each of its trials runs alone once more, and a trial that still kills its
worker is marked ``failed``. The sweep goes on. On dask each task trains its pack in a child
process of the dask worker (reused from task to task), so a death is reported as that pack's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, check_choice
from ..results import (PART_RE, SPLITS, DamagedResults, ResultsError, atomic_write_bytes, next_part_number,
                       os_errors, read_results, read_sweep_info, remove_leftovers, write_pack)
from . import environment, manifest, ownership, worker_pool
from .expand import expand, search_record
from .packs import default_pack_size, make_packs
from .preflight import check_run_options, preflight
from .progress import Progress
from .spec import Spec, is_halving, is_model_search, load_spec
from .trial import canonical
from .worker import _failed, _no_curves, run_pack, run_pack_isolated
from .repair import move_aside

BACKENDS = ("loky", "sequential", "dask")
RESULTS_ROOT = "results"


class Interrupted(Exception):
    """Ctrl-C during a sweep; the finished packs are saved."""

    def __init__(self, folder: Path, saved: int, total: int):
        self.folder, self.saved, self.total = folder, saved, total
        super().__init__(f"interrupted: {saved} of {total} trials are saved in {folder}; "
                         "run the same command again to run the rest")


def run_sweep(spec, out=None, *, jobs: int | None = None, backend: str = "loky", scheduler: str | None = None,
              fresh: bool = False, pack_size: int | None = None, progress: bool = False,
              retry_failed: bool = False, device: str | None = None, messages: bool | None = None,
              repair: bool = False, overrides=()) -> pd.DataFrame:
    """Run (or resume) a sweep; return the runs table of its results folder.

    ``spec``: a .toml path, TOML text or a dict. ``out``: the results folder (default
    ``results/<name>``). ``jobs``: worker processes (default: one per core, at most one per
    pack). ``retry_failed``: rerun trials saved as failed. ``progress``: a progress bar on stderr;
    ``messages`` (default: as ``progress``): notes on stderr (resuming, retrying after a worker died).
    ``repair``: move damaged part files aside into ``<out>/damaged/<time>/`` and rerun their trials
    (without it, a damaged folder is refused with every damaged file listed). ``overrides``:
    ``["train.epochs=5", "optimizer.lr=[1e-3,1e-2]"]``, as on the command line.
    """
    spec = load_spec(spec, overrides=overrides)
    backend = check_choice("backend", backend, BACKENDS)
    if scheduler is not None and backend != "dask":
        raise ConfigError("scheduler", f"is only used with backend \"dask\" (backend is {backend!r})")
    jobs, pack_size = check_run_options(spec, jobs, pack_size, device)
    if is_model_search(spec):  # configurations chosen as results arrive: rounds of packs (model_search.py)
        from .model_search import run_search

        return run_search(spec, out, jobs=jobs, backend=backend, scheduler=scheduler, fresh=fresh,
                          pack_size=pack_size, progress=progress, retry_failed=retry_failed, messages=messages,
                          repair=repair)
    if is_halving(spec):  # trials stopped at rungs and continued from checkpoints (halving.py)
        from .halving import run_halving

        return run_halving(spec, out, jobs=jobs, backend=backend, scheduler=scheduler, fresh=fresh,
                           pack_size=pack_size, progress=progress, retry_failed=retry_failed, messages=messages,
                           repair=repair)
    trials = expand(spec)
    folder = Path(out) if out is not None else Path(RESULTS_ROOT) / spec.name
    _check_folder(folder, spec, fresh)
    preflight(spec, trials, pack_size)

    with os_errors(folder, "create"):
        folder.mkdir(parents=True, exist_ok=True)
    with ownership.locked(folder):
        if fresh:
            ownership.clear(folder, spec.raw)
        _save_spec(folder, spec, trials)
        remove_leftovers(folder)
        existing, moved = _existing(folder, repair)
        done_ids = set()
        if existing is not None and len(existing):
            keep = existing if not retry_failed else existing[existing["status"] != "failed"]
            done_ids = set(keep["trial_id"])
        todo = [t for t in trials if t.trial_id not in done_ids]
        n_jobs, threads = _workers(backend, jobs, len(todo))
        _save_environment(folder, backend, n_jobs, threads, spec.train["device"], scheduler)
        prog = Progress(len(todo), enabled=progress, messages=progress if messages is None else messages)
        if moved:
            prog.message(f"moved {len(moved)} damaged part file(s) aside into {moved[0].parent.parent}; "
                         "their trials run again")
        if done_ids:
            prog.message(f"resuming {folder}: {len(trials) - len(todo)} of {len(trials)} trials already done")
        if todo:
            packs = make_packs(todo, pack_size or default_pack_size(len(todo), n_jobs), n_jobs)
            config_ids = {t.trial_id: t.config_id for t in todo}
            lr_bases = {t.trial_id: t.lr_base for t in todo} if spec.scaling else None
            _execute(packs, folder, spec.name, backend, n_jobs, threads, scheduler, prog, config_ids,
                     saved_before=len(trials) - len(todo), total=len(trials), lr_bases=lr_bases,
                     checkpoint_every=spec.train.get("checkpoint_every", 0))
    return read_results(folder)[0]


# -- folder checks ---------------------------------------------------------------------------------

def _check_folder(folder: Path, spec: Spec, fresh: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigError("out", f"{folder} exists and is not a folder")
    if not folder.is_dir() or not [p for p in folder.iterdir() if p.name not in (".lock", ".inflight")]:
        return  # new, empty, or left by a run killed before it saved the spec
    try:
        info = read_sweep_info(folder)
    except ResultsError:
        if not fresh:
            raise
        info = None  # a damaged sweep.json: --fresh replaces it when the manifest says it is ours
    if info is None or fresh:
        found = ownership.scan(folder, spec.raw)
        has_results = any(p.parent == folder / "runs" and PART_RE.match(p.name) for p in found.files)
        if info is None and not found.foreign and not has_results:
            return  # a run killed before it saved sweep.json: nothing to keep
        listing = ownership.describe(found.foreign)
        if fresh and found.foreign:
            raise ConfigError("out", f"--fresh would delete the results in {folder}, but it also holds files "
                                     f"optengine did not write (or cannot verify as its own): {listing}; nothing "
                                     "was deleted. Move them elsewhere, or choose another folder with --out")
        if fresh:
            return
        if not [f for f in found.files if f.name not in (".lock", manifest.NAME)]:
            raise ConfigError("out", f"{folder} is not empty and holds no optengine results (no sweep.json); "
                                     "choose another folder with --out")
        if found.foreign:
            raise ConfigError("out", f"{folder} holds an incomplete optengine results folder (no sweep.json) and "
                                     f"files optengine did not write: {listing}; choose another folder with --out")
        raise ConfigError("out", f"{folder} holds an incomplete optengine results folder (no sweep.json); "
                                 "run with --fresh to start it over, or choose another folder with --out")
    old = info.get("spec")
    if canonical(old) != spec.canonical():
        changed = _differences(old if isinstance(old, dict) else {}, spec.raw)
        raise ConfigError("out", f"{folder} holds the results of a different spec (differs in: "
                                 f"{', '.join(changed) or 'its content'}); run with --fresh to replace them, "
                                 "or choose another folder with --out")
    uses_data = any(d is not None and d.get("name") != "surface_noise" for d in spec.datasets)
    if uses_data and info.get("splits") != SPLITS:
        raise ConfigError("out", f"{folder} was written by an earlier optengine with train/validation splits only "
                                 f"(its sweep.json has no \"splits\": \"{SPLITS}\"); trials run now use "
                                 "train/validation/test splits, so their numbers would not be comparable with the "
                                 "saved ones and one folder would mix two splits. Run with --out NEW_FOLDER to keep "
                                 "these results (loading and `optengine report` of it keep working), or with "
                                 "--fresh to replace them")


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}.{key}" if prefix else key
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, path)
        elif json.dumps(va, sort_keys=True, default=str) != json.dumps(vb, sort_keys=True, default=str):
            out.append(path)
    return out


def _existing(folder: Path, repair: bool):
    """(the saved runs table or None, paths of damaged parts moved aside when ``repair``)."""
    if not (folder / "runs").is_dir():
        return None, []
    try:
        return read_results(folder)[0], []
    except DamagedResults as exc:
        if not repair:
            raise DamagedResults(folder, exc.damaged, "Run the same command with --repair to move them (and "
                                                      "their partner parts) aside into "
                                                      f"{folder / 'damaged'}/ and rerun their trials") from None
        moved = move_aside(folder, exc.damaged)
    return read_results(folder)[0], moved


def _save_spec(folder: Path, spec: Spec, trials) -> None:
    if (folder / "sweep.json").is_file():
        return
    manifest.record(folder, [folder / "spec.toml", folder / "sweep.json"])
    if spec.text:
        atomic_write_bytes(folder / "spec.toml", spec.text.encode())
    info = {"format": 2, "splits": SPLITS, "name": spec.name, "trials": len(trials), "spec": spec.raw,
            "trial_ids": [t.trial_id for t in trials], "search": search_record(spec, trials)}
    atomic_write_bytes(folder / "sweep.json", json.dumps(info, indent=1, sort_keys=True, default=str).encode())


def _save_environment(folder: Path, backend, jobs, threads, device, scheduler) -> None:
    path = folder / "environment.json"
    records = []
    manifest.record(folder, [path])
    if path.is_file():
        try:
            with os_errors(path, "read"):
                records = json.loads(path.read_text())
        except ValueError:
            records = []
        if not isinstance(records, list):
            records = [records]
    records.append(environment.record(backend, jobs, threads, device, scheduler))
    atomic_write_bytes(path, json.dumps(records, indent=1).encode())


# -- execution -----------------------------------------------------------------------------------------

def _workers(backend: str, jobs: int | None, n_trials: int) -> tuple[int, int | None]:
    cores = environment.cores()
    if backend == "sequential":
        return 1, cores
    if backend == "dask":
        return jobs or cores, None  # threads decided on each worker
    n = max(1, min(jobs or cores, n_trials))
    return n, max(1, cores // n)


def _crash_types(backend: str) -> tuple:
    """Exceptions that mean a worker died (dask's only with the dask backend: importing
    distributed takes ~0.4 s)."""
    from concurrent.futures.process import BrokenProcessPool

    from joblib.externals.loky.process_executor import TerminatedWorkerError

    types = [BrokenProcessPool, TerminatedWorkerError]
    try:
        from joblib.externals.loky.process_executor import BrokenProcessPool as LokyBroken

        types.append(LokyBroken)
    except ImportError:
        pass
    if backend == "dask":
        try:
            from distributed.scheduler import KilledWorker

            types.append(KilledWorker)
        except ImportError:
            pass
    return tuple(types)


def _execute(packs, folder: Path, sweep: str, backend: str, jobs: int, threads, scheduler, prog: Progress,
             config_ids: dict, saved_before: int, total: int, lr_bases: dict | None = None,
             checkpoint_every: int = 0, checkpoints: bool = False) -> None:
    """Run ``packs`` into ``folder``. With ``checkpoint_every`` (epochs) or ``checkpoints`` (halving
    searches), the workers train from and save exact checkpoints under ``<folder>/checkpoints/`` and a
    pack's ``stop_epoch`` / ``prune`` are honoured; a trial's checkpoint is removed once its runs row is
    saved."""
    markers = folder / ".inflight"
    shutil.rmtree(markers, ignore_errors=True)
    with os_errors(markers, "create"):
        markers.mkdir()
    # Only this process writes the folder (under its lock), so part numbers are counted, not re-listed.
    counts = {"done": 0, "diverged": 0, "failed": 0, "config_ids": config_ids, "part": next_part_number(folder),
              "lr_bases": lr_bases}
    if checkpoint_every or checkpoints or any(p.stop_epoch is not None for p in packs):
        counts["checkpoints"] = {"checkpoint_dir": str(folder), "checkpoint_every": int(checkpoint_every or 0)}
    queue = list(packs)
    crash_types = _crash_types(backend)
    client = None
    try:
        if backend == "dask":
            client = _dask_client(scheduler, jobs)
        while queue:
            # Packs that were running when a worker died run alone, so a second death is theirs.
            suspects = [p for p in queue if p.attempts > 0]
            batch = [suspects[0]] if suspects else queue
            finished, crashed, crash = _round(batch, folder, sweep, backend, jobs, threads, markers, prog, counts,
                                              crash_types)
            queue = [p for p in queue if p.pack_id not in finished]
            hit = [p for p in batch if p.pack_id in crashed]  # known: their dask task said so
            if crash is not None:  # a loky worker died: the packs whose markers remain were running
                running = {m.name.split(".")[0] for m in markers.iterdir()}
                unfinished = [p for p in batch if p.pack_id not in finished and p not in hit]
                hit += [p for p in unfinished if p.pack_id in running] or ([] if hit else unfinished)
            with os_errors(markers, "clear the pack markers in"):
                for m in markers.iterdir():
                    m.unlink(missing_ok=True)
            if not hit:
                continue
            reason = crashed.get(hit[0].pack_id) or repr(crash)
            prog.message(f"a worker died ({reason[:80]}); retrying {len(hit)} pack(s) alone")
            for p in hit:
                p.attempts += 1
                if p.attempts < 2:
                    continue
                queue.remove(p)
                if len(p.trials) > 1:  # find the trial at fault: each runs alone once more
                    singles = make_packs(p.trials, 1)
                    for single in singles:
                        single.attempts = 1
                        single.stop_epoch, single.prune = p.stop_epoch, p.prune
                    queue += singles
                else:
                    _write_failed(p, folder, sweep, f"the worker running this trial died twice: "
                                                    f"{crashed.get(p.pack_id) or repr(crash)}", prog, counts)
    except KeyboardInterrupt:
        raise Interrupted(folder, saved_before + counts["done"], total) from None
    finally:
        shutil.rmtree(markers, ignore_errors=True)
        if client is not None:
            _close_dask(client)


def _round(batch, folder, sweep, backend, jobs, threads, markers, prog, counts, crash_types):
    """Run ``batch``; return (finished pack ids, {pack id: reason} of packs whose worker died, exception)."""
    from joblib import Parallel, delayed, parallel_config

    finished, crashed = set(), {}
    payloads = [{**p.payload(sweep, threads, str(markers)), "watch_parent": backend != "sequential",
                 **counts.get("checkpoints", {})} for p in batch]
    n_jobs = 1 if backend == "sequential" else (-1 if backend == "dask" else max(1, min(jobs, len(batch))))
    if backend == "loky" and len(batch) == 1:
        n_jobs = 2  # still a separate process: a crash must not take the driver with it
    if backend == "loky":
        n_jobs = worker_pool.adopt(n_jobs)  # the command line's early workers, if there are enough
    task = run_pack_isolated if backend == "dask" else run_pack
    results = None
    try:
        with parallel_config(backend=backend):
            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(task)(pl) for pl in payloads)
            for res in results:
                if "crashed" in res:
                    crashed[res["pack_id"]] = res["crashed"]
                    continue
                _save(res, folder, prog, counts)
                finished.add(res["pack_id"])
    except crash_types as exc:
        return finished, crashed, exc
    finally:
        _close_quietly(results)
    return finished, crashed, None


def _close_quietly(results) -> None:
    """Stop joblib's generator here and now (not whenever it is garbage-collected), without its warning
    that "tasks ... have been cancelled": after Ctrl-C or a failed write the user gets our message only."""
    if results is None:
        return
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*tasks (have been successfully executed|which were still)")
        with contextlib.suppress(Exception):
            results.close()


def _save(res: dict, folder: Path, prog: Progress, counts: dict) -> None:
    runs, curves = res["runs"], res["curves"]
    partial = res.get("partial") or []
    if partial:  # trials stopped at their pack's stop_epoch: their checkpoints hold them, not the runs table
        runs = runs[~runs["trial_id"].isin(partial)].reset_index(drop=True)
        curves = curves[~curves["trial_id"].isin(partial)].reset_index(drop=True)
        res = {**res, "tables": {name: df[~df["trial_id"].isin(partial)] for name, df in
                                 (res.get("tables") or {}).items()}}
        if not len(runs):
            return
    runs = runs.assign(config_id=runs["trial_id"].map(counts["config_ids"]))
    if counts.get("lr_bases"):  # [scaling]: the unscaled lr (an optional column, schema.py)
        runs = runs.assign(lr_base=runs["trial_id"].map(counts["lr_bases"]).astype("float64"))
    write_pack(folder, counts["part"], runs, curves, res.get("tables"))
    counts["part"] += 1
    if "checkpoints" in counts:  # saved for good: their checkpoints are no longer needed
        from .. import checkpoints

        for tid in runs["trial_id"]:
            checkpoints.path_of(folder, tid).unlink(missing_ok=True)
    counts["done"] += len(runs)
    counts["diverged"] += int((runs["status"] == "diverged").sum())
    counts["failed"] += int((runs["status"] == "failed").sum())
    prog.update(counts["done"], counts["diverged"], counts["failed"])


def _write_failed(pack, folder, sweep, reason, prog, counts) -> None:
    payload = pack.payload(sweep, None, None)
    rows = []
    for t in payload["trials"]:
        try:
            raise RuntimeError(reason)
        except RuntimeError:
            rows.append(_failed(payload, t))
    runs = pd.concat(rows, ignore_index=True).assign(
        model_spec=json.dumps(payload["model"], sort_keys=True),
        dataset_spec=json.dumps(payload["dataset"], sort_keys=True), device=payload["device"])
    _save({"pack_id": pack.pack_id, "runs": runs, "curves": _no_curves()}, folder, prog, counts)


def _dask_client(scheduler: str | None, jobs: int):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("backend", "dask needs the distributed package: pip install \"optengine[dask]\"") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ConfigError("scheduler", f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    return Client(cluster)


def _close_dask(client) -> None:
    cluster = getattr(client, "cluster", None)
    with contextlib.suppress(Exception):
        client.close()
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close()

