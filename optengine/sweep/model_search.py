"""Model-based search through Optuna: ``[search] kind = "tpe" | "gp" | "cmaes" | "optuna_random"``.

Optuna is an optional extra (``pip install optengine[optuna]``); the spec is refused before any
work when it (or a sampler's own package: torch for ``gp``, cmaes for ``cmaes``) is missing.

The search runs in rounds. Round ``k`` asks Optuna for ``batch`` configurations, turns each into
validated trials (one per seed; the same ``trial_id`` rules as random search, ``expand.py``),
trains them through the runner's machinery (packs, joblib workers, a Parquet part per pack:
``runner._execute``), then tells the results back, until ``trials`` configurations were asked.

- **Search space**: the space of random search. Each setting with a ``[search]`` distribution is
  a parameter with that distribution (``uniform`` and ``log_uniform``: FloatDistribution, with
  ``log=True``; integer settings and ``int_uniform``: IntDistribution; ``choice``: a
  CategoricalDistribution); each other list with more than one value (optimizer and schedule
  names, batch sizes, clipping, models) is categorical. The precedence is random search's (a
  rule's own distribution, its own list, the shared distribution, the shared list), and the
  parameters are asked define-by-run, so a rule's hyperparameters exist only in trials of that
  rule. Parameter names are the TOML paths: ``optimizer.lr`` (shared), ``optimizer.adamw.weight_decay``
  (a rule's own), ``schedule.name``, ``train.batch_size``, ``clip.norm``.
- **Objective**: ``objective`` (``final_val_loss`` by default, ``best_val_loss``, ``final_val_metric``),
  the mean over the spec's seeds. Losses are minimised; the metric (accuracy, R^2) is maximised,
  except on test surfaces (distance to the minimiser); ``direction`` overrides.
- **What is told**: a configuration whose seeds are all ``ok`` is COMPLETE with the mean; one with a
  ``diverged`` seed is PRUNED (TPE ranks pruned trials below every complete one: a bad region;
  GP and CMA-ES leave pruned trials out); one with a ``failed`` seed (an exception: not a property
  of the configuration's quality), or whose settings clash (e.g. ``lr_min`` above the sampled
  ``lr``), is FAIL, which every sampler leaves out. Failed trials count toward ``trials``.
- **Reproducible**: the sampler is made anew for each round, seeded from ``(search.seed, round)``,
  and asks a fresh in-memory study holding exactly the results of the earlier rounds (added with
  ``optuna.trial.create_trial`` / ``study.add_trials`` in round order). So the asks of round ``k``
  depend only on the spec and the saved results, never on the number of workers or on whether
  the search was interrupted.
- **Resumable without a database**: ``search.json`` in the results folder records each round's
  asks (parameters, and the sampler's trial attributes, where CMA-ES keeps its state) before the
  round trains; the values come from the saved runs table. On resume the rounds on record are
  replayed (their unsaved trials trained), then the search continues. ``kill -9`` mid-round loses
  at most that round's unsaved packs. Without ``search.json`` (deleted) the asks are recomputed,
  which gives the same configurations with the same Optuna version.
- **Pruners** (``pruner = "median" | "percentile" | "successive_halving" | "hyperband" | "threshold" |
  "none"``, or a table ``{name = "median", n_warmup_steps = 2}`` of the Optuna class's settings;
  ``report_every = k``, default 1): a round's trials train in chunks of ``k`` epochs from and into exact
  checkpoints (``optengine/checkpoints.py``: chunks never change a number, as in ``halving.py``). After each
  chunk every configuration still training reports its objective at that epoch (the mean over its seeds;
  ``best_val_loss``: the lowest so far; NaN once a seed diverged) with ``trial.report(value, epoch)``, in the
  order of the asks, and those for which ``trial.should_prune()`` says so stop: their trials are saved
  with ``status = "pruned"`` and their curves up to that epoch, and the configuration is told as PRUNED
  with its intermediate values (its value: the last one, as ``study.tell`` does). The others continue
  from their checkpoints. The reports happen in a study made for the round (named "optengine", so that
  Hyperband's brackets do not depend on a random study name) holding the earlier rounds' trials, with
  their intermediate values and the pruner's trial attributes, and this round's asks as running trials;
  every value comes from the saved curves and checkpoints, so a resumed round reports and prunes exactly
  as the uninterrupted one did, whatever the workers. ``successive_halving`` and ``hyperband`` take
  ``min_resource = report_every`` and ``hyperband`` ``max_resource = train.epochs`` unless given. Without a
  pruner (or with ``"none"``) nothing of this happens and the search is the one described above.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from pathlib import Path

import numpy as np

from .. import checkpoints
from ..errors import ConfigError
from ..optimizers import RULE_HYPER
from ..results import ResultsError, atomic_write_bytes, read_results, remove_leftovers
from ..schedules import COMMON_PARAMS, KIND_PARAMS
from . import manifest, ownership
from .packs import default_pack_size, make_packs
from .preflight import preflight
from .problems import Problems
from .progress import Progress
from .spec import MODEL_KINDS, Spec
from .trial import Trial, canonical

STATE_FILE = "search.json"
SURFACES = ("rosenbrock", "ravine", "beale", "noisy_quadratic")
_after_round = None  # tests: called with the round index after each round is saved and told
_after_report = None  # tests (pruners): called with (round, epoch) after a round's reports and prunes at epoch
STUDY_NAME = "optengine"  # the round studies' name (Hyperband's brackets are a hash of it and trial numbers)


# -- the space ---------------------------------------------------------------------------------------

def direction(spec: Spec) -> str:
    """"maximize" or "minimize" for the spec's objective (``search.direction`` when given)."""
    s = spec.search
    if s.get("direction"):
        return s["direction"]
    if "loss" in s["objective"]:
        return "minimize"
    surfaces = all(m["name"] in SURFACES for m in spec.models)
    return "minimize" if surfaces else "maximize"


def _encode(value):
    """A categorical choice as Optuna takes it (None, bool, int, float, str); tables as JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else canonical(value)


def _distribution(entry):
    """A spec distribution ``(kind, args)`` or ``("list", values)`` -> (Optuna distribution, decode)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind, args = entry
    if kind in ("list", "choice"):
        encoded = [_encode(v) for v in args]
        back = dict(zip(map(repr, encoded), args))
        return CategoricalDistribution(encoded), lambda v: back[repr(v)]
    lo, hi, integer = args
    if kind == "int_uniform" or integer:
        low, high = math.ceil(lo), math.floor(hi)
        if low > high:
            raise ConfigError("search", f"no integer between {lo} and {hi}")
        return IntDistribution(low, high, log=kind == "log_uniform"), int
    return FloatDistribution(lo, hi, log=kind == "log_uniform"), float


def _walk(spec: Spec, choose):
    """One configuration ``(pack, rule, hyper, kind, sched, clip)``, each choice made by
    ``choose(name, entry)`` (``entry``: a spec distribution or ``("list", values)``); random search's
    precedence (``expand._random_configs``), define-by-run: only the chosen rule's hyperparameters."""
    dists = spec.search["dists"]

    def pick(name, values, dist_paths=()):
        for path in dist_paths:
            if path in dists:
                return choose(path, dists[path])
        if len(values) == 1:
            return values[0]
        return choose(name, ("list", values))

    pack = {"model": pick("model", spec.models), "dataset": pick("dataset", spec.datasets),
            "epochs": pick("train.epochs", spec.train["epochs"], ["train.epochs"]),
            "batch_size": pick("train.batch_size", spec.train["batch_size"], ["train.batch_size"]),
            "dtype": pick("train.dtype", spec.train["dtype"])}
    rule = pick("optimizer.name", spec.rules, ["optimizer.name"])
    hyper = _owned(pick, "optimizer", rule, RULE_HYPER[rule], spec.rule_axes[rule], spec.rule_own.get(rule, ()),
                   dists)
    kind = pick("schedule.name", spec.kinds)
    sched = _owned(pick, "schedule", kind, {**KIND_PARAMS[kind], **COMMON_PARAMS}, spec.kind_axes[kind],
                   spec.kind_own.get(kind, ()), dists)
    if "clip.norm" in dists or "clip.value" in dists:
        key = "norm" if "clip.norm" in dists else "value"
        c = choose(f"clip.{key}", dists[f"clip.{key}"])
        clip = None if c == "none" else {key: c}
    else:
        clip = pick("clip", spec.clips)
    return pack, rule, hyper, kind, sched, clip


def _owned(pick, section, owner, keys, axes, own, dists) -> dict:
    out = {}
    for key in keys:
        mine, shared = f"{section}.{owner}.{key}", f"{section}.{key}"
        values = axes.get(key)
        if values or mine in dists or shared in dists:
            is_own = key in own
            out[key] = pick(mine if is_own else shared, values or [None], [mine] if is_own else [mine, shared])
    return out


def space(spec: Spec) -> dict:
    """Every parameter the search can ask: ``{name: Optuna distribution}`` (over all rules and schedules)."""
    found = {}

    for rule in spec.rules:
        for kind in spec.kinds:
            def choose(name, entry, rule=rule, kind=kind):
                dist, decode = _distribution(entry)
                found[name] = dist
                forced = {"optimizer.name": rule, "schedule.name": kind}
                if name in forced:
                    return forced[name]
                return decode(dist.choices[0] if hasattr(dist, "choices") else dist.low)

            _walk(spec, choose)
    return found


def describe_space(spec: Spec) -> list[str]:
    """One line per parameter, for ``optengine plan``."""
    lines = []
    for name, d in space(spec).items():
        if hasattr(d, "choices"):
            lines.append(f"{name}: one of {list(d.choices)}")
        else:
            kind = "integer" if type(d).__name__ == "IntDistribution" else "float"
            lines.append(f"{name}: {kind} in [{d.low}, {d.high}]" + (" (log scale)" if d.log else ""))
    return lines


# -- configurations -> trials --------------------------------------------------------------------------

def _build(spec: Spec, params: dict):
    """The trials (one per seed) of the configuration with Optuna ``params``, and its distributions;
    or ([], distributions, the error text) when its settings clash."""
    from .expand import _settings

    dists = {}

    def choose(name, entry):
        dist, decode = _distribution(entry)
        dists[name] = dist
        if name not in params:
            raise ResultsError(STATE_FILE, f"a recorded configuration has no value for {name!r}; the search space "
                                           "changed since it was written")
        return decode(params[name])

    pack, rule, hyper, kind, sched, clip = _walk(spec, choose)
    p = Problems()
    validated = _settings(rule, hyper, kind, sched, clip, pack["dtype"], p)
    if validated is None:
        return [], dists, "; ".join(f"{f}: {m}" for f, m in p.items)
    parsed, settings = validated
    trials = [Trial.make(pack["model"], pack["dataset"], pack["batch_size"], pack["epochs"], pack["dtype"],
                         spec.train["early_stopping"], spec.train["diverge_factor"], spec.train["device"],
                         {**settings, "seed": seed}, parsed=parsed.replace(seed=seed))
              for seed in spec.seeds]
    return trials, dists, None


def corner_trials(spec: Spec) -> list:
    """Trials that span what the memory check needs (every model, dataset and dtype, the largest batch
    sizes the space can ask), for ``preflight`` before the first round."""
    s = spec.search["dists"].get("train.batch_size")
    if s is None:
        batches = spec.train["batch_size"]
    elif s[0] == "choice":
        batches = s[1]
    else:
        batches = [math.floor(s[1][1])]
    out = []
    for model in spec.models:
        for dataset in spec.datasets:
            for dtype in spec.train["dtype"]:
                for batch in batches:
                    out.append(Trial.make(model, dataset, batch, spec.train["epochs"][0], dtype,
                                          spec.train["early_stopping"], spec.train["diverge_factor"],
                                          spec.train["device"], {"optimizer": spec.rules[0], "seed": 0}))
    return out


# -- Optuna -----------------------------------------------------------------------------------------------

def round_seed(seed: int, k: int) -> int:
    """The sampler's seed for round ``k``: from (search.seed, k) only."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


def sampler(kind: str, seed: int):
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if kind == "optuna_random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError("search.kind", f"not a model-based search: {kind!r}; allowed: {', '.join(MODEL_KINDS)}")


@contextlib.contextmanager
def _quiet():
    """Optuna's log lines (trial added; "sampled independently" for a rule's own hyperparameters, which
    is how conditional spaces work) and its experimental-feature warnings (multivariate/group TPE) off."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def ask_round(spec: Spec, history: list, k: int, n: int) -> list[dict]:
    """Ask ``n`` configurations of round ``k`` from a fresh study holding ``history`` (FrozenTrials):
    ``[{"params": ..., "system_attrs": ...}]`` (Optuna's encoded values, JSON-ready)."""
    import optuna

    with _quiet():
        study = optuna.create_study(direction=direction(spec), sampler=sampler(spec.search["kind"],
                                                                                 round_seed(spec.search["seed"], k)))
        study.add_trials(history)
        asked = []
        for _ in range(n):
            trial = study.ask()
            _walk(spec, lambda name, entry, t=trial: _suggest(t, name, entry))
            asked.append(trial.number)
        by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
        return [{"params": dict(by_number[i].params), "system_attrs": _jsonable(by_number[i].system_attrs)}
                for i in asked]


def _suggest(trial, name, entry):
    dist, decode = _distribution(entry)
    if hasattr(dist, "choices"):
        return decode(trial.suggest_categorical(name, dist.choices))
    if type(dist).__name__ == "IntDistribution":
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def _jsonable(attrs: dict) -> dict:
    out = {}
    for key, value in attrs.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


def tell(spec: Spec, record: dict, dists: dict, runs_by_id: dict):
    """The FrozenTrial of one asked configuration, from its saved runs: (trial, state name, value)."""
    import optuna
    from optuna.trial import TrialState

    ids = record["trial_ids"]
    value, state = None, TrialState.FAIL
    if not record.get("error"):
        rows = [runs_by_id.get(t) for t in ids]
        if any(r is None for r in rows):
            raise ResultsError(STATE_FILE, "a configuration of a finished round has unsaved trials")
        status = [str(r["status"]) for r in rows]
        if "diverged" in status:
            state = TrialState.PRUNED
        elif "failed" not in status:
            v = float(np.mean([float(r[spec.search["objective"]]) for r in rows]))
            if math.isfinite(v):
                value, state = v, TrialState.COMPLETE
    frozen = optuna.trial.create_trial(state=state, value=value, params=record["params"], distributions=dists,
                                       system_attrs=record.get("system_attrs") or {})
    return frozen, state.name, value


# -- pruners ------------------------------------------------------------------------------------------------

def pruner_of(spec: Spec) -> dict | None:
    """The spec's pruner (``{"name": ..., settings}``), or None (none given, or ``"none"``)."""
    pr = spec.search.get("pruner")
    return pr if pr and pr["name"] != "none" else None


def max_epochs(spec: Spec) -> int:
    d = spec.search["dists"].get("train.epochs")
    if d is None:
        return max(spec.train["epochs"])
    return int(max(d[1]) if d[0] == "choice" else math.floor(d[1][1]))


def make_pruner(pruner: dict, report_every: int, max_epochs: int | None):
    """Optuna's pruner for ``pruner`` (``{"name": ..., settings}``); its settings are checked by Optuna and a
    setting that is not one of the class's is refused (``ConfigError`` naming ``search.pruner.<key>``)."""
    import inspect

    import optuna

    from .spec import PRUNERS

    name = pruner["name"]
    cls = getattr(optuna.pruners, PRUNERS[name])
    settings = {k: v for k, v in pruner.items() if k != "name"}
    params = {n: q for n, q in inspect.signature(cls).parameters.items() if q.kind in (q.POSITIONAL_OR_KEYWORD,
                                                                                        q.KEYWORD_ONLY)}
    for key, value in settings.items():
        if key not in params:
            known = ", ".join(params) or "none"
            raise ConfigError(f"search.pruner.{key}", f"not a setting of Optuna's {cls.__name__} ({name!r}); its "
                                                      f"settings: {known}")
        if isinstance(value, (dict, list)):
            raise ConfigError(f"search.pruner.{key}", f"must be a number or a string, got {value!r}")
    for key, q in params.items():
        if q.default is q.empty and key not in settings:
            raise ConfigError(f"search.pruner.{key}", f"required by Optuna's {cls.__name__} ({name!r})")
    if name in ("successive_halving", "hyperband"):
        settings.setdefault("min_resource", report_every)
    if name == "hyperband" and max_epochs is not None:
        settings.setdefault("max_resource", max_epochs)
    try:
        with _quiet():
            return cls(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError("search.pruner", f"Optuna's {cls.__name__} refuses {settings}: {exc}") from None


class _PrunedRound:
    """One round of a search with a pruner: chunks of ``report_every`` epochs, reports, prunes (module doc)."""

    def __init__(self, spec, folder, history, k, asked, built, retry, args):
        import optuna
        from optuna.trial import TrialState

        self.spec, self.folder, self.k, self.asked, self.built, self.args = spec, folder, k, asked, built, args
        self.objective = spec.search["objective"]
        self.ignore = set(retry)  # failed trials to train again: their saved rows do not count until then
        with _quiet():
            self.study = optuna.create_study(study_name=STUDY_NAME, direction=direction(spec),
                                             sampler=optuna.samplers.RandomSampler(seed=0),
                                             pruner=make_pruner(spec.search["pruner"], spec.search["report_every"],
                                                                max_epochs(spec)))
            self.study.add_trials(history)
            self.trials = []
            for a, (_, dists, _) in zip(asked, built):
                self.study.add_trial(optuna.trial.create_trial(
                    state=TrialState.RUNNING, params=a["params"], distributions=dists,
                    system_attrs=a.get("system_attrs") or {}))
                frozen = self.study.get_trials(deepcopy=False)[-1]
                self.trials.append(optuna.trial.Trial(self.study, frozen._trial_id))
        self.pruned_at = [None] * len(asked)
        self.refresh()

    def refresh(self):
        runs, curves = read_results(self.folder) if (self.folder / "runs").is_dir() else (None, None)
        self.saved = {} if runs is None else {r["trial_id"]: r for r in runs.to_dict("records")}
        self.curves = {} if curves is None else {t: g.sort_values("epoch") for t, g in curves.groupby("trial_id")}

    def _state(self, tid):
        """(val_loss, val_metric, ended, status) of a trial as it stands (saved row and curve, else its
        checkpoint), or None before it started."""
        if tid in self.saved and tid not in self.ignore:
            c = self.curves.get(tid)
            vl = np.array([], float) if c is None else c["val_loss"].to_numpy(float)
            vm = np.array([], float) if c is None else c["val_metric"].to_numpy(float)
            return vl, vm, True, str(self.saved[tid]["status"]), len(vl)
        saved = checkpoints.load(self.folder, tid)
        if saved is None:
            return None
        done = int(saved["out_results"][3])
        return (np.asarray(saved["out_val_loss"][:done], float), np.asarray(saved["out_val_metric"][:done], float),
                checkpoints.finished(saved), "ok", checkpoints.epoch_of(saved))

    def _at(self, tid, epoch) -> bool:
        st = self._state(tid)
        return st is not None and (st[2] or st[4] >= epoch)

    def _ended_before(self, tid, epoch) -> bool:
        st = self._state(tid)
        return st is not None and st[2] and len(st[0]) < epoch

    def _value(self, trials, epoch) -> float:
        """The configuration's objective at ``epoch``: the mean over its seeds (NaN once one diverged)."""
        vals = []
        for t in trials:
            st = self._state(t.trial_id)
            if st is None or not len(st[0]):
                return math.nan
            vl, vm, _, status, _ = st
            if status in ("diverged", "failed") and len(vl) <= epoch:
                return math.nan
            upto = min(epoch, len(vl))
            if self.objective == "best_val_loss":
                finite = vl[:upto][np.isfinite(vl[:upto])]
                v = float(finite.min()) if len(finite) else math.nan
            elif self.objective == "final_val_metric":
                v = float(vm[upto - 1])
            else:
                v = float(vl[upto - 1])
            if not math.isfinite(v):
                return math.nan
            vals.append(v)
        return float(np.mean(vals))

    def _train(self, targets: dict, prune=False):
        """Train ``{trial: stop epoch}`` (those not there yet; with ``prune``: save them as pruned there)."""
        from . import runner

        todo = {}
        for t, epoch in targets.items():
            if t.trial_id in self.saved and t.trial_id not in self.ignore:
                continue
            if not prune and self._at(t.trial_id, epoch):
                continue
            todo.setdefault(epoch, []).append(t)
        if not todo:
            return
        a = self.args
        packs, every = [], []
        n = sum(len(ts) for ts in todo.values())
        n_jobs, threads = runner._workers(a["backend"], a["jobs"], n)
        for epoch, ts in todo.items():
            for p in make_packs(ts, a["pack_size"] or default_pack_size(len(ts), n_jobs), n_jobs):
                p.stop_epoch, p.prune = epoch, prune
                packs.append(p)
            every += ts
        base = dict(a["counts"])
        for tid in {t.trial_id for ts, _, _ in self.built for t in ts}:
            r = self.saved.get(tid)
            if r is not None and tid not in self.ignore:
                base["done"] += 1
                base["diverged"] += str(r["status"]) == "diverged"
                base["failed"] += str(r["status"]) == "failed"
        runner._execute(packs, self.folder, self.spec.name, a["backend"], n_jobs, threads, a["scheduler"],
                        _Offset(a["prog"], base), {t.trial_id: t.config_id for t in every},
                        saved_before=base["done"], total=a["total"],
                        checkpoint_every=self.spec.train.get("checkpoint_every", 0), checkpoints=True)
        self.ignore -= {t.trial_id for t in every}
        self.refresh()

    def run(self):
        """Train the round with reports and prunes; return each configuration's (FrozenTrial, state, value,
        what to record)."""
        every = self.spec.search["report_every"]
        configs = [(i, trials, trials[0].epochs) for i, (trials, _, err) in enumerate(self.built) if trials and not err]
        top = max([T for _, _, T in configs], default=0)
        for epoch in range(every, top + 1, every):
            alive = [(i, ts, T) for i, ts, T in configs if self.pruned_at[i] is None and T >= epoch]
            self._train({t: epoch for _, ts, _ in alive for t in ts})
            prune = []
            with _quiet():
                for i, ts, T in alive:
                    if all(self._ended_before(t.trial_id, epoch) for t in ts):
                        continue
                    self.trials[i].report(self._value(ts, epoch), epoch)
                    if epoch < T and self.trials[i].should_prune():
                        self.pruned_at[i] = epoch
                        prune.append(ts)
            self._train({t: epoch for ts in prune for t in ts}, prune=True)
            if _after_report is not None:
                _after_report(self.k, epoch)
        self._train({t: T for i, ts, T in configs if self.pruned_at[i] is None for t in ts})
        return [self._tell(i) for i in range(len(self.asked))]

    def _tell(self, i):
        import optuna
        from optuna.trial import TrialState

        trials, dists, error = self.built[i]
        live = self.study.get_trials(deepcopy=False)[self.trials[i].number]
        inter = {int(e): float(v) for e, v in live.intermediate_values.items()}
        value, state = None, TrialState.FAIL
        if not error:
            rows = [self.saved.get(t.trial_id) for t in trials]
            if any(r is None for r in rows):
                raise ResultsError(STATE_FILE, "a configuration of a finished round has unsaved trials")
            status = [str(r["status"]) for r in rows]
            if "failed" in status:
                pass
            elif "diverged" in status or "pruned" in status or self.pruned_at[i] is not None:
                state = TrialState.PRUNED
                if inter:
                    last = inter[max(inter)]
                    value = last if math.isfinite(last) else None
            else:
                v = float(np.mean([float(r[self.objective]) for r in rows]))
                if math.isfinite(v):
                    value, state = v, TrialState.COMPLETE
        frozen = optuna.trial.create_trial(state=state, value=value, params=self.asked[i]["params"],
                                           distributions=dists, system_attrs=dict(live.system_attrs),
                                           intermediate_values=inter)
        extra = {"pruned_at": self.pruned_at[i],
                 "intermediate": [[e, v if math.isfinite(v) else None] for e, v in sorted(inter.items())]}
        return frozen, state.name, value, extra


# -- the search ---------------------------------------------------------------------------------------------

def _read_state(folder: Path, spec: Spec) -> dict:
    path = folder / STATE_FILE
    fresh = {"kind": spec.search["kind"], "seed": spec.search["seed"], "batch": spec.search["batch"],
             "objective": spec.search["objective"], "direction": direction(spec), "rounds": []}
    if not path.is_file():
        return fresh
    try:
        state = json.loads(path.read_text())
    except ValueError:
        raise ResultsError(str(path), "is not valid JSON (run with --fresh to start the search over)") from None
    if not isinstance(state, dict) or not isinstance(state.get("rounds"), list):
        raise ResultsError(str(path), "is not an optengine search record (run with --fresh to start over)")
    return state


def _write_state(folder: Path, state: dict) -> None:
    path = folder / STATE_FILE
    manifest.record(folder, [path])
    atomic_write_bytes(path, json.dumps(state, indent=1, sort_keys=True).encode())


class _Offset:
    """The progress bar seen by one round's ``_execute``: its counts start at zero each round."""

    def __init__(self, prog: Progress, base: dict):
        self.prog, self.base = prog, base

    def update(self, done, diverged=0, failed=0):
        self.prog.update(self.base["done"] + done, self.base["diverged"] + diverged, self.base["failed"] + failed)

    def message(self, text):
        self.prog.message(text)


def run_search(spec: Spec, out=None, *, jobs=None, backend="loky", scheduler=None, fresh=False, pack_size=None,
               progress=False, retry_failed=False, messages=None, repair=False):
    """``run_sweep`` for a model-based ``[search]`` (the same options; see the module's doc)."""
    from . import runner

    folder = Path(out) if out is not None else Path(runner.RESULTS_ROOT) / spec.name
    runner._check_folder(folder, spec, fresh)
    preflight(spec, corner_trials(spec), pack_size)
    s = spec.search
    n_rounds = math.ceil(s["trials"] / s["batch"])
    total = s["trials"] * len(spec.seeds)

    from ..results import os_errors

    with os_errors(folder, "create"):
        folder.mkdir(parents=True, exist_ok=True)
    with ownership.locked(folder):
        if fresh:
            ownership.clear(folder, spec.raw)
        runner._save_spec(folder, spec, [])
        remove_leftovers(folder)
        existing, moved = runner._existing(folder, repair)
        state = _read_state(folder, spec)
        n_jobs, threads = runner._workers(backend, jobs, s["batch"] * len(spec.seeds))
        runner._save_environment(folder, backend, n_jobs, threads, spec.train["device"], scheduler)
        prog = Progress(total, enabled=progress, messages=progress if messages is None else messages)
        if moved:
            prog.message(f"moved {len(moved)} damaged part file(s) aside into {moved[0].parent.parent}; "
                         "their trials run again")
        runs = existing if existing is not None else None
        runs_by_id = _by_id(runs)
        retry = {t for t, r in runs_by_id.items() if str(r["status"]) == "failed"} if retry_failed else set()
        if state["rounds"]:
            prog.message(f"resuming {folder}: {len(state['rounds'])} of {n_rounds} rounds of the "
                         f"{s['kind']} search on record")
        history = []
        counts = {"done": 0, "diverged": 0, "failed": 0}
        pruning = pruner_of(spec) is not None
        try:
            for k in range(n_rounds):
                n = min(s["batch"], s["trials"] - k * s["batch"])
                if k < len(state["rounds"]):
                    asked = state["rounds"][k]["asked"]
                else:
                    asked = ask_round(spec, history, k, n)
                    for a in asked:
                        trials, _, a["error"] = _build(spec, a["params"])
                        a["trial_ids"] = [t.trial_id for t in trials]
                    state["rounds"].append({"round": k, "sampler_seed": round_seed(s["seed"], k), "asked": asked})
                    _write_state(folder, state)
                built = [_build(spec, a["params"]) for a in asked]
                if pruning:
                    mine = {t.trial_id for trials, _, _ in built for t in trials}
                    told_all = _PrunedRound(spec, folder, history, k, asked, built, retry & mine,
                                            {"backend": backend, "jobs": jobs, "pack_size": pack_size,
                                             "scheduler": scheduler, "prog": prog, "counts": counts,
                                             "total": total}).run()
                    retry -= mine
                    runs = read_results(folder)[0]
                    runs_by_id = _by_id(runs)
                todo, seen = [], set()
                for trials, _, _ in ([] if pruning else built):
                    for t in trials:
                        if t.trial_id in seen or (t.trial_id in runs_by_id and t.trial_id not in retry):
                            continue
                        seen.add(t.trial_id)
                        todo.append(t)
                retry -= seen
                if todo:
                    n_jobs, threads = runner._workers(backend, jobs, len(todo))
                    packs = make_packs(todo, pack_size or default_pack_size(len(todo), n_jobs), n_jobs)
                    runner._execute(packs, folder, spec.name, backend, n_jobs, threads, scheduler,
                                    _Offset(prog, counts), {t.trial_id: t.config_id for t in todo},
                                    saved_before=counts["done"], total=total)
                    runs = read_results(folder)[0]
                    runs_by_id = _by_id(runs)
                told = []
                for i, (a, (trials, dists, _)) in enumerate(zip(asked, built)):
                    if pruning:
                        frozen, state_name, value, extra = told_all[i]
                        told.append({"state": state_name, "value": value, **extra})
                    else:
                        frozen, state_name, value = tell(spec, a, dists, runs_by_id)
                        told.append({"state": state_name, "value": value})
                    history.append(frozen)
                    for t in trials:
                        r = runs_by_id[t.trial_id]
                        counts["done"] += 1
                        counts["diverged"] += str(r["status"]) == "diverged"
                        counts["failed"] += str(r["status"]) == "failed"
                prog.update(counts["done"], counts["diverged"], counts["failed"])
                if state["rounds"][k].get("told") != told:
                    state["rounds"][k]["told"] = told
                    _write_state(folder, state)
                if _after_round is not None:
                    _after_round(k)
        except KeyboardInterrupt:
            raise runner.Interrupted(folder, counts["done"], total) from None
    return read_results(folder)[0]


def _by_id(runs) -> dict:
    if runs is None or not len(runs):
        return {}
    return {r["trial_id"]: r for r in runs.to_dict("records")}


# -- plan ------------------------------------------------------------------------------------------------------

def plan_info(spec: Spec, jobs: int, pack_size: int | None) -> dict:
    """What ``optengine plan`` says about a model-based search (after the same checks as ``run``)."""
    from ..memory import available_bytes

    largest = preflight(spec, corner_trials(spec), pack_size)
    s = spec.search
    per_round = s["batch"] * len(spec.seeds)
    return {"name": spec.name, "description": spec.description, "trials": s["trials"] * len(spec.seeds),
            "packs": None, "pack_sizes": [], "jobs": jobs, "search": s, "axes": {}, "first": [], "trial_ids": [],
            "memory": largest, "available": available_bytes(), "rounds": math.ceil(s["trials"] / s["batch"]),
            "per_round": per_round, "pack_size": pack_size or default_pack_size(per_round, jobs),
            "direction": direction(spec), "space": describe_space(spec), "seeds": spec.seeds}


def format_model_plan(info: dict) -> list[str]:
    s = info["search"]
    n_seeds = len(info["seeds"])
    last = s["trials"] - (info["rounds"] - 1) * s["batch"]
    lines = [f"sweep {info['name']}: {s['kind']} search (Optuna), {s['trials']} configurations x {n_seeds} "
             f"seed(s) = {info['trials']} trials, in {info['rounds']} round(s) of {s['batch']} configurations"
             + (f" (the last {last})" if last != s["batch"] else "") + f", for {info['jobs']} worker(s)"]
    if info["description"]:
        lines.append(f"  {info['description']}")
    lines.append(f"memory: the largest pack needs about {_bytes(info['memory'])} per worker "
                 f"({_bytes(info['available'])} available now)")
    lines += [f"each round: Optuna's {s['kind']} sampler (seeded from search.seed = {s['seed']} and the round) "
              "asks the configurations,",
              f"  their {info['per_round']} trials train as packs of at most {info['pack_size']} in parallel, "
              "and the results are told back;",
              "  configurations are chosen as results arrive, so they are not listed here"
              + (" (TPE and GP: at random until 10 results are in)" if s["kind"] in ("tpe", "gp") else ""),
              f"objective: {s['objective']}, mean over the seeds, {info['direction']}d; a diverged seed makes the "
              "configuration pruned, a failed one failed",
              "space:"]
    if s.get("pruner") and s["pruner"]["name"] != "none":
        settings = ", ".join(f"{k} = {v!r}" for k, v in s["pruner"].items() if k != "name")
        lines.insert(-1, f"pruner: Optuna's {s['pruner']['name']} pruner" + (f" ({settings})" if settings else "")
                     + f"; the trials train in chunks of {s['report_every']} epoch(s), each configuration reports "
                       "its objective after each chunk and those pruned stop (status pruned)")
    lines += [f"  {line}" for line in info["space"]] or ["  (nothing to search: one configuration)"]
    lines.append(f"seeds: {info['seeds']}")
    return lines


def _bytes(n):
    from ..memory import format_bytes

    return format_bytes(n)
