"""Multi-fidelity search inside packs: successive halving, Hyperband, ASHA, and median stopping.

``[search] kind = "halving" | "hyperband" | "asha"`` with ``min_epochs``, ``max_epochs`` (= ``train.epochs``,
the trials' full length) and ``eta`` (the reduction factor, default 3), over the grid of the spec (no
``trials``) or ``trials`` random samples (``[search]`` distributions, as random search). ``[search]
median_stopping = {after_epochs = k}`` (grid or random search) is the one-rung variant.

- **Rungs**: ``min_epochs``, ``min_epochs * eta``, ``min_epochs * eta^2`` ... below ``max_epochs``, then
  ``max_epochs``. Every trial is the ``max_epochs`` trial (its schedule has the full length, its
  ``trial_id`` is the one a grid of ``max_epochs`` gives it): a rung trains it up to the rung's epochs,
  as packs through the runner (``runner._execute``, a pack's ``stop_epoch``), from and into exact
  checkpoints (``optengine/checkpoints.py``), so a trial promoted from rung i continues bit for bit.
- **Choosing**: configurations (the seeds of one share a ``config_id``) are ranked by the validation
  ``objective`` (``final_val_loss`` by default: the validation loss at the rung's epoch; ``best_val_loss``:
  the lowest up to it; ``final_val_metric``) averaged over the seeds; losses minimised, the metric
  maximised (``direction`` overrides); a diverged seed ranks the configuration last; ties go to the
  first in the spec's order. The best ``max(1, floor(n / eta))`` continue; the trials of the others are
  saved with ``status = "pruned"`` and their curves up to the rung (their runs row: the numbers at the
  rung). A trial that ended before the rung (diverged, stopped early) is saved as it ended.
- **halving**: one bracket over all configurations. **hyperband**: brackets ``s = s_max .. 0`` (``s_max``
  = the rungs - 1), bracket ``s`` starting ``ceil((s_max + 1) / (s + 1) * eta^s)`` configurations at rung
  ``s_max - s``; the configurations are dealt to the brackets in the spec's order (each one in one
  bracket; a space smaller than the brackets' total leaves the last brackets short).
- **asha**: ASHA's promotion rule, in rounds (a pack trains its trials together, so it is synchronous
  per round): each round, for each rung from the top, the best ``floor(n_i / eta)`` of the ``n_i``
  configurations completed at rung i that were not promoted yet are promoted, and ``batch`` (default
  ``eta^(rungs-1)``) new configurations start at the first rung; it ends when a round has nothing to
  train. Configurations left unpromoted are pruned at the end, at the rung they reached.
- **median stopping**: every trial trains to ``after_epochs``; a configuration whose objective there is
  worse than the median of the others' is pruned, the rest train to the end.
- **Deterministic**: each step depends on the spec and the saved numbers only, never on the workers.
- **Resumable after kill -9**: the rung state is derived from the saved runs and checkpoints (a trial at
  or past a rung is not trained again; values at a rung come from its checkpoint or saved curve), and
  ``halving.json`` (written atomically after each rung, for the report) records the rungs: epochs,
  configurations in, kept and pruned, and the trained epochs against a full grid's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import checkpoints
from ..results import atomic_write_bytes, os_errors, read_results, remove_leftovers
from . import manifest, ownership
from .packs import default_pack_size, make_packs
from .preflight import preflight
from .progress import Progress
from .spec import HALVING_KINDS, Spec

STATE_FILE = "halving.json"
_after_rung = None  # tests: called with (bracket, rung) after each rung is decided and saved


def rungs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """The rungs' epochs: min_epochs * eta^i below max_epochs, then max_epochs."""
    out, r = [], min_epochs
    while r < max_epochs:
        out.append(r)
        r *= eta
    return out + [max_epochs]


def direction(spec: Spec) -> str:
    s = spec.search
    if s.get("direction"):
        return s["direction"]
    return "minimize" if "loss" in s["objective"] else "maximize"


def brackets(spec: Spec, n_configs: int) -> list[tuple[int, int]]:
    """``[(first rung, configurations)]`` of the search's brackets (median stopping: one bracket)."""
    s = spec.search
    if s["kind"] == "hyperband":
        R = rungs(s["min_epochs"], s["max_epochs"], s["eta"])
        s_max = len(R) - 1
        out, left = [], n_configs
        for b in range(s_max, -1, -1):
            n = min(left, math.ceil((s_max + 1) / (b + 1) * s["eta"] ** b))
            left -= n
            if n:
                out.append((s_max - b, n))
        return out
    return [(0, n_configs)]


def schedule_of(spec: Spec) -> list[int]:
    s = spec.search
    if s["kind"] in HALVING_KINDS:
        return rungs(s["min_epochs"], s["max_epochs"], s["eta"])
    return [s["median_stopping"]["after_epochs"], spec.train["epochs"][0]]


# -- the search -----------------------------------------------------------------------------------------

class _Search:
    """One run of the search over ``configs`` ([(config_id, [trials])]) into ``folder``."""

    def __init__(self, spec, folder, configs, runner_args):
        self.spec, self.folder, self.configs = spec, folder, configs
        self.args = runner_args
        self.by_config = dict(configs)
        self.R = schedule_of(spec)
        self.sign = 1.0 if direction(spec) == "minimize" else -1.0
        self.objective = spec.search["objective"]
        self.record = {"kind": spec.search["kind"], "rungs": self.R, "objective": self.objective,
                       "direction": direction(spec), "steps": []}
        self.refresh()

    def refresh(self):
        runs, curves = read_results(self.folder) if (self.folder / "runs").is_dir() else (None, None)
        self.saved = {} if runs is None else {r["trial_id"]: r for r in runs.to_dict("records")}
        self.curves = {} if curves is None else {t: g for t, g in curves.groupby("trial_id")}

    # where a trial stands: its completed epochs and its validation numbers so far
    def _numbers(self, tid):
        if tid in self.saved:
            c = self.curves.get(tid)
            vl = np.array([], float) if c is None else c.sort_values("epoch")["val_loss"].to_numpy(float)
            vm = np.array([], float) if c is None else c.sort_values("epoch")["val_metric"].to_numpy(float)
            status = str(self.saved[tid]["status"])
            return len(vl), vl, vm, True, status == "diverged" or status == "failed"
        saved = checkpoints.load(self.folder, tid)
        if saved is None:
            return 0, None, None, False, False
        done = int(saved["out_results"][3])
        return (checkpoints.epoch_of(saved), saved["out_val_loss"][:done], saved["out_val_metric"][:done],
                checkpoints.finished(saved), int(saved["out_results"][0]) == 1)

    def at(self, tid, epoch) -> bool:
        """True when trial ``tid`` has reached ``epoch`` or ended."""
        done, _, _, finished, _ = self._numbers(tid)
        return finished or done >= epoch

    def value(self, cid, epoch) -> float:
        """The configuration's objective at ``epoch`` (mean over seeds; +inf when worst), minimised."""
        vals = []
        for t in self.by_config[cid]:
            _, vl, vm, _, diverged = self._numbers(t.trial_id)
            if diverged or vl is None or not len(vl):
                return math.inf
            upto = min(epoch, len(vl))
            if self.objective == "best_val_loss":
                v = float(np.nanmin(vl[:upto]))
            elif self.objective == "final_val_metric":
                v = float(vm[upto - 1])
            else:
                v = float(vl[upto - 1])
            if not np.isfinite(v):
                return math.inf
            vals.append(self.sign * v)
        return float(np.mean(vals))

    def ranked(self, cids, epoch) -> list:
        order = {c: i for i, (c, _) in enumerate(self.configs)}
        return sorted(cids, key=lambda c: (self.value(c, epoch), order[c]))

    def train(self, cids, epoch, prune=False):
        """Train the trials of ``cids`` up to ``epoch`` (or, with ``prune``, save the unfinished ones as
        pruned at ``epoch``), skipping those already there."""
        from . import runner

        todo = []
        for c in cids:
            for t in self.by_config[c]:
                if t.trial_id in self.saved:
                    continue
                if not prune and self.at(t.trial_id, epoch):
                    continue
                todo.append(t)
        if not todo:
            return
        a = self.args
        n_jobs, threads = runner._workers(a["backend"], a["jobs"], len(todo))
        packs = make_packs(todo, a["pack_size"] or default_pack_size(len(todo), n_jobs), n_jobs)
        for p in packs:
            p.stop_epoch, p.prune = epoch, prune
        runner._execute(packs, self.folder, self.spec.name, a["backend"], n_jobs, threads, a["scheduler"],
                        a["prog"], {t.trial_id: t.config_id for t in todo}, saved_before=0, total=a["total"],
                        checkpoint_every=self.spec.train.get("checkpoint_every", 0), checkpoints=True)
        self.refresh()

    def step(self, bracket, rung, cids, kept, pruned):
        epoch = self.R[rung]
        self.record["steps"].append({"bracket": bracket, "rung": rung, "epochs": epoch, "configurations": len(cids),
                                     "kept": kept, "pruned": pruned,
                                     "pruned_trials": [t.trial_id for c in pruned for t in self.by_config[c]]})
        self.save()
        if _after_rung is not None:
            _after_rung(bracket, rung)

    def save(self):
        trained = 0
        for c, trials in self.configs:
            for t in trials:
                trained += self._numbers(t.trial_id)[0]
        n_trials = sum(len(t) for _, t in self.configs)
        self.record.update({"trained_epochs": int(trained), "grid_epochs": int(n_trials * self.R[-1]),
                            "fraction_of_grid": trained / max(1, n_trials * self.R[-1])})
        path = self.folder / STATE_FILE
        manifest.record(self.folder, [path])
        atomic_write_bytes(path, json.dumps(self.record, indent=1, sort_keys=True).encode())

    # -- the algorithms
    def halving(self, bracket, first, cids):
        for rung in range(first, len(self.R)):
            epoch = self.R[rung]
            self.train(cids, epoch)
            if rung == len(self.R) - 1:
                self.step(bracket, rung, cids, cids, [])
                return
            order = self.ranked(cids, epoch)
            keep = order[:max(1, len(cids) // self.spec.search["eta"])]
            keep = [c for c in cids if c in set(keep)]
            pruned = [c for c in cids if c not in set(keep)]
            self.train(pruned, epoch, prune=True)
            self.step(bracket, rung, cids, keep, pruned)
            cids = keep

    def median(self, cids):
        epoch, last = self.R
        self.train(cids, epoch)
        values = {c: self.value(c, epoch) for c in cids}
        pruned = []
        for c in cids:
            others = [v for o, v in values.items() if o != c]
            if others and values[c] > float(np.median(others)):
                pruned.append(c)
        keep = [c for c in cids if c not in pruned]
        self.train(pruned, epoch, prune=True)
        self.step(0, 0, cids, keep, pruned)
        self.train(keep, last)
        self.step(0, 1, keep, keep, [])

    def asha(self, cids):
        eta = self.spec.search["eta"]
        m = len(self.R)
        batch = self.spec.search.get("batch") or eta ** (m - 1)
        members = [[] for _ in range(m)]
        promoted = [set() for _ in range(m)]
        started, rnd = 0, 0
        while True:
            todo = {}
            for i in range(m - 2, -1, -1):
                k = len(members[i]) // eta
                for c in self.ranked(members[i], self.R[i])[:k]:
                    if c not in promoted[i]:
                        promoted[i].add(c)
                        todo.setdefault(i + 1, []).append(c)
            new = cids[started:started + batch]
            started += len(new)
            if new:
                todo.setdefault(0, []).extend(new)
            if not todo:
                break
            for i in sorted(todo, reverse=True):
                self.train(todo[i], self.R[i])
                members[i] += todo[i]
            self.record["steps"].append({"round": rnd, "trained": {str(self.R[i]): todo[i] for i in sorted(todo)}})
            self.save()
            if _after_rung is not None:
                _after_rung(0, rnd)
            rnd += 1
        for i in range(m - 1):
            pruned = [c for c in members[i] if c not in promoted[i]]
            self.train(pruned, self.R[i], prune=True)
            self.step(0, i, members[i], sorted(promoted[i], key=members[i].index), pruned)


def run_halving(spec: Spec, out=None, *, jobs=None, backend="loky", scheduler=None, fresh=False, pack_size=None,
                progress=False, retry_failed=False, messages=None, repair=False):
    """``run_sweep`` for a multi-fidelity ``[search]`` (halving, hyperband, asha, median stopping)."""
    from . import runner
    from .expand import expand

    trials = expand(spec)
    folder = Path(out) if out is not None else Path(runner.RESULTS_ROOT) / spec.name
    runner._check_folder(folder, spec, fresh)
    preflight(spec, trials, pack_size)
    configs: dict = {}
    for t in trials:
        configs.setdefault(t.config_id, []).append(t)
    configs = list(configs.items())
    with os_errors(folder, "create"):
        folder.mkdir(parents=True, exist_ok=True)
    with ownership.locked(folder):
        if fresh:
            ownership.clear(folder, spec.raw)
        runner._save_spec(folder, spec, trials)
        remove_leftovers(folder)
        existing, moved = runner._existing(folder, repair)
        n_jobs, threads = runner._workers(backend, jobs, len(trials))
        runner._save_environment(folder, backend, n_jobs, threads, spec.train["device"], scheduler)
        prog = Progress(len(trials), enabled=progress, messages=progress if messages is None else messages)
        if existing is not None and len(existing):
            prog.message(f"resuming {folder}: {len(existing)} of {len(trials)} trials saved; rungs continue from "
                         "the checkpoints")
        args = {"backend": backend, "jobs": jobs, "pack_size": pack_size, "scheduler": scheduler, "prog": prog,
                "total": len(trials)}
        search = _Search(spec, folder, configs, args)
        cids = [c for c, _ in configs]
        try:
            kind = spec.search["kind"]
            if kind == "asha":
                search.asha(cids)
            elif kind in ("halving", "hyperband"):
                start = 0
                for b, (first, n) in enumerate(brackets(spec, len(cids))):
                    search.halving(b, first, cids[start:start + n])
                    start += n
            else:
                search.median(cids)
            search.save()
        except KeyboardInterrupt:
            raise runner.Interrupted(folder, len(search.saved), len(trials)) from None
    return read_results(folder)[0]


def plan_lines(spec: Spec, n_trials: int, n_configs: int) -> list[str]:
    """``optengine plan``'s lines about a multi-fidelity search: rungs and the most epochs it trains."""
    s = spec.search
    R = schedule_of(spec)
    seeds = max(1, n_trials // max(1, n_configs))
    grid = n_trials * R[-1]
    if s["kind"] in ("halving", "hyperband"):
        worst = 0
        for first, n in brackets(spec, n_configs):
            prev = 0
            for rung in range(first, len(R)):
                worst += n * seeds * (R[rung] - prev)
                prev = R[rung]
                n = max(1, n // s["eta"])
        what = f"{s['kind']}: rungs at epochs {R}, eta = {s['eta']}"
        spend = f"at most {worst} trained epochs ({worst / grid:.0%} of the full grid's {grid})"
    elif s["kind"] == "asha":
        what = f"asha: rungs at epochs {R}, eta = {s['eta']}, {s.get('batch') or s['eta'] ** (len(R) - 1)} " \
               "configurations started per round"
        spend = f"the trained epochs depend on the promotions (the full grid trains {grid})"
    else:
        k = s["median_stopping"]["after_epochs"]
        what = f"median stopping after epoch {k}"
        spend = f"between {n_trials * k} and {grid} trained epochs (the full grid trains {grid})"
    return [what, f"compute: {spend}; objective {s['objective']} on validation"]
