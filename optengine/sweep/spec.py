"""Sweep specs: TOML -> a validated ``Spec`` (every problem reported at once, with its TOML path).

Format (DESIGN.md)::

    name = "quickstart"              # results go to results/<name>/
    seeds = [0, 1]                   # crossed with every configuration
    [model]      name = "mlp", hidden = [100, 100]     # or [[model]] tables: one per model
    [dataset]    name = "mnist1d"                      # or [[dataset]] tables
    [train]      epochs = 10, batch_size = [32, 64], dtype = "float32", early_stopping = {patience = 5}
    [optimizer]  name = ["sgd", "adam"], lr = [1e-3, 1e-2], momentum = 0.9
    [optimizer.adamw]  weight_decay = [0.0, 0.01]      # per-rule settings and axes
    [schedule]   name = ["constant", "cosine"], warmup_steps = 50
    [schedule.step]    step_size = 100                 # per-schedule settings and axes
    [clip]       norm = ["none", 1.0]                  # and/or value = [...]
    [search]     kind = "random", trials = 50, seed = 0, lr = { log_uniform = [1e-4, 1e-1] }
                 # or kind = "tpe" | "gp" | "cmaes" | "optuna_random", batch = 8, objective = "final_val_loss"
                 per_rule = true                       # the same number of configurations per rule
    [scaling]    lr = "linear", base_batch = 32, warmup = "linear"   # linked axes (sweep/linked.py)

Every list in ``[train]``, ``[optimizer]``, ``[schedule]``, ``[clip]`` and ``seeds`` is a grid
axis. A setting a rule (or schedule) does not take is not an axis for it. ``[model]`` and
``[dataset]`` settings are passed as written (a list is a value: ``sizes``, per-layer
``kernel_size``); to sweep models or datasets, give several ``[[model]]`` / ``[[dataset]]`` tables.
"""

from __future__ import annotations

import inspect
import numbers
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..data import DATASETS, REQUIRED
from ..errors import ConfigError, check_choice, check_number, closest
from ..models import MODELS, model as make_model
from ..optimizers import HYPER, RULE_HYPER, RULES, check_hyper_value
from ..schedules import COMMON_PARAMS, KIND_PARAMS, KINDS, check_setting
from ..settings import DTYPES, Recording, parse_early_stopping as _early_stopping
from .linked import parse_scaling
from .problems import Problems, SpecError
from .trial import canonical

TOP_KEYS = ("name", "description", "seeds", "model", "dataset", "train", "optimizer", "schedule", "clip", "search",
            "scaling")
TRAIN_KEYS = ("epochs", "batch_size", "dtype", "early_stopping", "diverge_factor", "device", "log_every",
              "eval_every", "target", "trajectory", "checkpoint_every")
TRAIN_DEFAULTS = {"epochs": 10, "batch_size": 64, "dtype": "float32", "early_stopping": None,
                  "diverge_factor": 1e4, "device": "cpu"}
RECORDING_KEYS = ("log_every", "eval_every", "target", "trajectory")  # -> train["recording"] (settings.Recording)
DEVICES = ("cpu", "cuda")
SURFACE_NOISE = {"n_samples": 1000, "seed": 0}
MAX_EPOCHS = 1_000_000
MAX_BATCH = 2**31 - 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Spec:
    """A validated sweep spec: normalised axes plus the text it came from."""

    name: str
    description: str
    seeds: list
    models: list            # model settings dicts (axis)
    datasets: list          # dataset settings dicts (axis); None for surface models' noise draws
    train: dict             # epochs, batch_size, dtype: lists (axes); early_stopping, diverge_factor, device
    rules: list             # optimizer names (axis)
    rule_axes: dict         # rule -> {hyper: [values]} (only what the rule takes)
    rule_own: dict          # rule -> keys set in its own [optimizer.<rule>] table
    kinds: list             # schedule kinds (axis)
    kind_axes: dict         # kind -> {setting: [values]}
    kind_own: dict          # kind -> keys set in its own [schedule.<kind>] table
    clips: list             # [None | {"norm": c} | {"value": c}] (axis)
    search: dict | None     # {"kind": "random", "trials", "seed", "dists": {path: (dist, args)}}
    raw: dict = field(repr=False, default_factory=dict)
    text: str = field(repr=False, default="")
    source: str = "spec"
    scaling: dict | None = None   # [scaling]: {"lr", "base_batch", "warmup"} (sweep/linked.py)

    def canonical(self) -> str:
        """The spec's content as canonical JSON: equal for equal specs whatever their layout or comments."""
        return canonical(self.raw)


# -- entry points -------------------------------------------------------------------------------

def load_spec(spec, name: str | None = None, overrides=()) -> Spec:
    """A ``Spec`` from a TOML path, TOML text (``str`` containing a newline) or a dict. Raises SpecError.

    ``overrides``: ``["train.epochs=5", "optimizer.lr=[1e-3,1e-2]"]`` (``sweep/overrides.py``), applied
    before validation; the spec's text is then the overridden spec, with a header naming them."""
    if overrides:
        return _overridden(spec, name, list(overrides))
    text = ""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, dict):
        raw, source = spec, "spec"
    elif isinstance(spec, (str, Path)) and "\n" not in str(spec):
        path = Path(spec)
        source = str(path)
        if not path.is_file():
            raise SpecError([("spec", f"file not found: {path}" + ("" if path.suffix == ".toml" else
                                                                     " (a sweep spec is a .toml file)"))], source)
        text = path.read_text()
        raw = _parse_toml(text, source)
        if name is None and "name" not in raw:
            name = path.stem
    elif isinstance(spec, str):
        text, source = spec, "spec"
        raw = _parse_toml(text, source)
    else:
        raise SpecError([("spec", f"must be a path to a .toml file, TOML text or a dict, got {type(spec).__name__}")])
    return validate(raw, text=text, source=source, default_name=name)


def _overridden(spec, name, overrides) -> Spec:
    from . import overrides as ov

    if isinstance(spec, Spec):
        raw, source = spec.raw, "spec"
    else:
        base = load_spec(spec, name)  # the file itself must be valid (errors name its fields)
        raw, source = base.raw, (str(spec) if isinstance(spec, (str, Path)) and "\n" not in str(spec) else "spec")
        if "name" not in raw:
            raw = {"name": base.name, **raw}
    new = ov.apply(raw, overrides)
    text = ov.dumps(new, header=f"{source} with overrides: {' '.join(overrides)}")
    return validate(new, text=text, source=f"{source} (with overrides)", default_name=name)


def _parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([("toml", f"not valid TOML: {exc}")], source) from None


def validate(raw: dict, text: str = "", source: str = "spec", default_name: str | None = None) -> Spec:
    """Check every part of a parsed spec; raise SpecError listing all problems, or return the Spec."""
    p = Problems()
    if not isinstance(raw, dict):
        raise SpecError([("spec", "must be a table of settings")], source)
    for key in raw:
        if key not in TOP_KEYS:
            p.add(key, f"unknown section or setting{closest(key, TOP_KEYS)}; allowed: {', '.join(TOP_KEYS)}")

    name = raw.get("name", default_name)
    if name is None:
        p.add("name", "required: the sweep's name (its results go to results/<name>/)")
    elif not isinstance(name, str) or not NAME_RE.match(name):
        p.add("name", f"must be a folder-safe name (letters, digits, '.', '_', '-'), got {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        p.add("description", f"must be text, got {description!r}")

    seeds = _seeds(raw.get("seeds", [0]), p)
    models = _tables(raw.get("model"), "model", p, required=True)
    datasets = _tables(raw.get("dataset"), "dataset", p, required=False)
    model_list = [m for i, t in enumerate(models) for m in _expand_settings(t, _model_path(models, i), "model", p)]
    dataset_list = [d for i, t in enumerate(datasets) for d in _expand_settings(t, _model_path(datasets, i, "dataset"),
                                                                                 "dataset", p)]
    for section, items in (("model", model_list), ("dataset", dataset_list)):
        if len({canonical(x) for x in items}) != len(items):
            p.add(section, f"two [[{section}]] tables are the same; each trial would run twice")
    if not dataset_list:
        dataset_list = [None]
    _check_model_data(model_list, dataset_list, p)
    train = _train(raw.get("train", {}), p)
    rules, rule_axes, rule_own = _optimizer(raw.get("optimizer"), p)
    kinds, kind_axes, kind_own = _schedule(raw.get("schedule", {}), p)
    clips = _clip(raw.get("clip", {}), p)
    search = _search(raw.get("search"), rules, rule_axes, kinds, p)
    scaling = parse_scaling(raw.get("scaling"), train["batch_size"], search, kind_axes, p)
    if search is None:
        for rule in rules:
            if not rule_axes.get(rule, {}).get("lr"):
                where = "optimizer.lr" if len(rules) == 1 else f"optimizer.lr (or optimizer.{rule}.lr)"
                p.add(where, f"required for {rule}: a learning rate or a list of them, numbers in (0, inf)")
    else:
        _check_halving(search, train, p)
        if search.get("pruner") and search["pruner"]["name"] != "none" and "train.epochs" not in search["dists"] \
                and search["report_every"] >= max(train["epochs"]):
            p.add("search.report_every", f"must be below train.epochs ({max(train['epochs'])}): the pruner decides "
                                         "after every report_every epochs")
    if search is not None and (search["kind"] == "random" or search["kind"] in MODEL_KINDS or search.get("trials")):
        for rule in rules:
            if not rule_axes.get(rule, {}).get("lr") and not _has_dist(search, rule, "lr"):
                p.add("optimizer.lr", f"required for {rule}: give a list or a [search] distribution for lr")
    p.raise_if_any(source)
    normalised = dict(raw)
    normalised["name"] = name
    return Spec(name=name, description=description, seeds=seeds, models=model_list, datasets=dataset_list,
                train=train, rules=rules, rule_axes=rule_axes, rule_own=rule_own, kinds=kinds, kind_axes=kind_axes,
                kind_own=kind_own, clips=clips,
                search=search, raw=normalised, text=text, source=source, scaling=scaling)


# -- helpers ---------------------------------------------------------------------------------------

def _as_list(value):
    return list(value) if isinstance(value, list) else [value]


def _path(prefix: str, key: str, index: int | None = None, n: int = 1) -> str:
    base = f"{prefix}.{key}" if prefix else key
    return f"{base}[{index}]" if index is not None and n > 1 else base


def _axis(value, path: str, check, p: Problems) -> list:
    """Values of one axis (a scalar is a one-value axis), each checked; problems name ``path[i]``."""
    values = _as_list(value)
    if not values:
        p.add(path, "an empty list gives no trials; give at least one value")
        return []
    out = []
    for i, v in enumerate(values):
        with p.at():
            out.append(check(v, _path("", path, i, len(values))))
    if len(set(map(repr, out))) != len(out):
        p.add(path, f"has repeated values {values!r}; each trial would run twice")
    return out


def _seeds(value, p: Problems) -> list:
    return _axis(value, "seeds", lambda v, f: check_number(f, v, low=0, high=2**63 - 1, integer=True), p)


def _tables(value, section: str, p: Problems, required: bool) -> list:
    if value is None:
        if required:
            p.add(section, f"required: a [{section}] table with name = ...")
        return []
    tables = value if isinstance(value, list) else [value]
    if not tables or not all(isinstance(t, dict) for t in tables):
        p.add(section, f"must be a [{section}] table or [[{section}]] tables, got {value!r}")
        return []
    return tables


def _model_path(tables, i, section="model"):
    return f"{section}[{i}]" if len(tables) > 1 else section


def _expand_settings(table: dict, path: str, section: str, p: Problems) -> list:
    """A model or dataset table, checked -> ``[settings]`` (values as written: a list is a value)."""
    name = table.get("name")
    registry = MODELS if section == "model" else {**DATASETS, "surface_noise": None}
    if name is None:
        p.add(f"{path}.name", f"required; allowed: {', '.join(registry)}")
        for key in table:
            if closest(key, ["name"]):
                p.add(f"{path}.{key}", f"unknown setting{closest(key, ['name'])}")
        return []
    try:
        check_choice(f"{path}.name", name, list(registry))
    except ConfigError as exc:
        p.add_error(exc)
        return []
    if section == "model":
        defaults = {k: (REQUIRED if v.default is inspect.Parameter.empty else v.default)
                    for k, v in inspect.signature(MODELS[name]).parameters.items()}
    elif name == "surface_noise":
        defaults = SURFACE_NOISE
    else:
        defaults = DATASETS[name][2]
    settings = {k: v for k, v in table.items() if k != "name"}
    ok = True
    for key in settings:
        if key not in defaults:
            p.add(f"{path}.{key}", f"{section} {name!r} does not take {key!r}{closest(key, defaults)}; "
                                   f"allowed: {', '.join(defaults) or 'no settings'}")
            ok = False
    if section == "dataset":
        for key, default in defaults.items():
            if default is REQUIRED and key not in settings:
                p.add(f"{path}.{key}", f"required for dataset {name!r}")
                ok = False
        if name == "file" and isinstance(settings.get("path"), str) and not Path(settings["path"]).is_file():
            p.add(f"{path}.path", f"file not found: {settings['path']} (relative paths are from the folder "
                                  "you run optengine in)")
            ok = False
    if not ok:
        return []
    return [{"name": name, **settings}]



def _check_model_data(models: list, datasets: list, p: Problems) -> None:
    """Build each model whose settings do not depend on the data, to catch bad values now."""
    for m in models:
        settings = {k: v for k, v in m.items() if k != "name"}
        try:
            make_model(m["name"], **settings)
        except ConfigError as exc:
            key = exc.field.split(".")[-1]
            if key in settings or exc.field == "model":
                p.add_error(ConfigError(exc.field if exc.field.startswith("model") else f"model.{exc.field}",
                                        str(exc).split(": ", 1)[-1]))
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. sizes = [4, 1e308]
            p.add_error(model_error(m, exc))
        surface = m["name"] in ("rosenbrock", "ravine", "beale", "noisy_quadratic")
        for d in datasets:
            if surface and d is not None and d["name"] != "surface_noise":
                p.add("dataset.name", f"{m['name']} is a test surface: leave [dataset] out or use "
                                      "name = \"surface_noise\"")
            if not surface and (d is None or d["name"] == "surface_noise"):
                p.add("dataset", f"model {m['name']!r} needs a [dataset] table, e.g. name = \"mnist1d\"")


def model_error(model: dict, exc: Exception) -> ConfigError:
    """A ConfigError for a model builder that raised a plain Python error on some setting's value."""
    settings = {k: v for k, v in model.items() if k != "name"}
    bad = [k for k, v in settings.items() if _out_of_range(v)]
    if bad:
        return ConfigError(f"model.{bad[0]}", f"invalid value {settings[bad[0]]!r} (not finite, or beyond 2**31)")
    return ConfigError("model", f"invalid settings for {model.get('name')}: {type(exc).__name__}: {exc}")


def _out_of_range(v) -> bool:
    """A number (or a list holding one) that no model size can be: not finite, or beyond 2**31."""
    if isinstance(v, list):
        return any(_out_of_range(x) for x in v)
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and not (abs(v) < 2**31)


def _batch_value(v, f):
    if v == "full":
        return "full"
    if isinstance(v, str):
        raise ConfigError(f, f"must be an integer >= 1 or \"full\", got {v!r}")
    return check_number(f, v, low=1, high=MAX_BATCH, integer=True)


def _train(table, p: Problems) -> dict:
    if not isinstance(table, dict):
        p.add("train", f"must be a table, got {table!r}")
        return dict(TRAIN_DEFAULTS)
    check = {
        "epochs": lambda v, f: check_number(f, v, low=1, high=MAX_EPOCHS, integer=True),
        "batch_size": _batch_value,
        "dtype": lambda v, f: check_choice(f, v, DTYPES),
    }
    out = {}
    for key in table:
        if key not in TRAIN_KEYS:
            p.add(f"train.{key}", f"unknown setting{closest(key, TRAIN_KEYS)}; allowed: {', '.join(TRAIN_KEYS)}")
    for key, fn in check.items():
        out[key] = _axis(table.get(key, TRAIN_DEFAULTS[key]), f"train.{key}", fn, p)
    es = table.get("early_stopping")
    with p.at():
        try:
            _early_stopping(es)
        except ConfigError as exc:
            raise ConfigError(f"train.{exc.field}", str(exc).split(": ", 1)[-1]) from None
    out["early_stopping"] = es
    out["diverge_factor"] = TRAIN_DEFAULTS["diverge_factor"]
    with p.at():
        out["diverge_factor"] = check_number("train.diverge_factor", table.get("diverge_factor", 1e4),
                                             low=1.0, low_open=True)
    out["device"] = "cpu"
    with p.at():
        out["device"] = check_choice("train.device", table.get("device", "cpu"), DEVICES)
    out["recording"] = Recording()
    with p.at():
        out["recording"] = Recording.parse(*(table.get(k) for k in RECORDING_KEYS), prefix="train.")
    # exact checkpoints every N epochs (optengine/checkpoints.py): how a run is cut, never what it computes,
    # so not part of any trial id; 0 = off
    out["checkpoint_every"] = 0
    with p.at():
        out["checkpoint_every"] = check_number("train.checkpoint_every", table.get("checkpoint_every", 0), low=0,
                                               high=MAX_EPOCHS, integer=True)
    return out


def _optimizer(table, p: Problems):
    if table is None:
        p.add("optimizer", "required: an [optimizer] table with name = ... and lr = ...")
        return [], {}, {}
    if not isinstance(table, dict):
        p.add("optimizer", f"must be a table, got {table!r}")
        return [], {}, {}
    if "name" not in table:
        p.add("optimizer.name", f"required: one rule or a list; allowed: {', '.join(RULES)}")
        for key in table:
            if key not in HYPER and key not in RULES:
                p.add(f"optimizer.{key}", f"unknown setting{closest(key, ['name', *HYPER, *RULES])}")
        return [], {}, {}
    rules = _axis(table["name"], "optimizer.name", lambda v, f: check_choice(f, v, RULES), p)
    allowed = {r: list(RULE_HYPER[r]) for r in RULES}
    own = {}
    axes = _owner_axes("optimizer", table, rules, allowed, check_hyper_value, "rule", p, own)
    return rules, axes, own


def _owner_axes(section: str, table: dict, chosen: list, allowed: dict, check, noun: str, p: Problems,
                own_keys: dict) -> dict:
    """Settings of ``[optimizer]`` / ``[schedule]``: shared keys, and per-owner tables ``[section.<owner>]``.

    ``allowed[owner]`` lists the keys each rule (or schedule) takes. A shared key reaches only the
    owners that take it; an owner's own table overrides it. Returns ``{owner: {key: [values]}}``;
    ``own_keys[owner]`` gets the keys set in the owner's own table.
    """
    every = sorted({k for keys in allowed.values() for k in keys})
    common, own = {}, {}
    for key, value in table.items():
        if key == "name":
            continue
        if key in allowed and isinstance(value, dict):
            own[key] = value
        elif key in every:
            common[key] = value
        elif section == "schedule" and key == "lr":
            p.add("schedule.lr", "the schedule's base lr is the optimizer's lr; set it in [optimizer]")
        else:
            p.add(f"{section}.{key}", f"unknown setting{closest(key, ['name', *every, *allowed])}; allowed: name, "
                                      f"{', '.join(every)}, or a per-{noun} table [{section}.<name>]")
    for key in common:
        if chosen and not any(key in allowed[o] for o in chosen):
            p.add(f"{section}.{key}", f"no {noun} of this sweep takes it ({', '.join(map(str, chosen))}); "
                                      f"it is taken by {', '.join(o for o in allowed if key in allowed[o])}")
    for owner, sub in own.items():
        if owner not in chosen:
            p.add(f"{section}.{owner}", f"{owner} is not in {section}.name ({', '.join(map(str, chosen))})")
        for key in sub:
            if key not in allowed[owner]:
                p.add(f"{section}.{owner}.{key}", f"{owner} does not take {key!r}{closest(key, allowed[owner])}; "
                                                  f"allowed: {', '.join(allowed[owner])}")
    checked = {}
    for key, value in common.items():
        checked[("", key)] = _axis(value, f"{section}.{key}", lambda v, f, k=key: check(k, v, f), p)
    for owner, sub in own.items():
        for key, value in sub.items():
            if key in allowed[owner]:
                checked[(owner, key)] = _axis(value, f"{section}.{owner}.{key}",
                                              lambda v, f, k=key: check(k, v, f), p)
    axes = {}
    for owner in chosen:
        values = {key: checked.get((owner, key), checked.get(("", key))) for key in allowed[owner]}
        axes[owner] = {k: v for k, v in values.items() if v}
    own_keys.update({owner: {k for (o, k) in checked if o == owner} for owner in chosen})
    return axes


def _schedule(table, p: Problems):
    if not isinstance(table, dict):
        p.add("schedule", f"must be a table, got {table!r}")
        return ["constant"], {"constant": {}}, {}
    kinds = _axis(table.get("name", "constant"), "schedule.name", lambda v, f: check_choice(f, v, KINDS), p)
    allowed = {k: [*KIND_PARAMS[k], *COMMON_PARAMS] for k in KINDS}
    own = {}
    axes = _owner_axes("schedule", table, kinds, allowed, check_setting, "schedule", p, own)
    for kind in kinds:
        for key, default in KIND_PARAMS[kind].items():
            if default is None and key not in axes[kind] and key != "total_steps":
                p.add(f"schedule.{key}" if len(kinds) == 1 else f"schedule.{kind}.{key}",
                      f"the {kind} schedule needs {key}")
    return kinds, axes, own


def _clip_value(v, f):
    if v == "none":
        return "none"
    return check_number(f, v, low=0.0, low_open=True)


def _clip(table, p: Problems) -> list:
    if table is None or table == {}:
        return [None]
    if not isinstance(table, dict):
        p.add("clip", f"must be a table like {{norm = 1.0}} or {{value = 0.5}}, got {table!r}")
        return [None]
    out = []
    for key in table:
        if key not in ("norm", "value"):
            p.add(f"clip.{key}", f"unknown setting{closest(key, ['norm', 'value'])}; allowed: norm, value "
                                 "(a threshold > 0, \"none\", or a list of them)")
    for key in ("norm", "value"):
        if key in table:
            for v in _axis(table[key], f"clip.{key}", _clip_value, p):
                entry = None if v == "none" else {key: v}
                if entry not in out:
                    out.append(entry)
    return out or [None]


# -- [search] ------------------------------------------------------------------------------------------

DISTS = ("uniform", "log_uniform", "int_uniform", "choice")
SEARCH_KEYS = ("kind", "trials", "seed", "per_rule")
PER_RULE_DEFAULT = False  # see _per_rule: True would change the samples of random-search specs written before
# model-based search through Optuna (sweep/model_search.py): kind -> the modules it needs
MODEL_KINDS = {"tpe": ("optuna",), "gp": ("optuna", "torch"), "cmaes": ("optuna", "cmaes"),
               "optuna_random": ("optuna",)}
MODEL_KEYS = ("batch", "objective", "direction", "pruner", "report_every")
# Optuna's pruners for model-based search (model_search.make_pruner): name -> class in optuna.pruners
PRUNERS = {"median": "MedianPruner", "percentile": "PercentilePruner", "successive_halving": "SuccessiveHalvingPruner",
           "hyperband": "HyperbandPruner", "threshold": "ThresholdPruner", "none": "NopPruner"}
OBJECTIVES = ("final_val_loss", "best_val_loss", "final_val_metric")  # validation columns (analysis.RANK_METRICS)
DIRECTIONS = ("maximize", "minimize")
DEFAULT_BATCH = 8
# multi-fidelity searches over grid or random configurations (sweep/halving.py)
HALVING_KINDS = ("halving", "hyperband", "asha")
HALVING_KEYS = ("min_epochs", "max_epochs", "eta", "objective", "direction", "batch")
SEARCH_KINDS = ("grid", "random", *MODEL_KINDS, *HALVING_KINDS)
ALIASES = {**{h: f"optimizer.{h}" for h in HYPER}, "batch_size": "train.batch_size", "epochs": "train.epochs",
           "name": "optimizer.name"}


def _search(table, rules, rule_axes, kinds, p: Problems):
    if table is None:
        return None
    if not isinstance(table, dict):
        p.add("search", f"must be a table, got {table!r}")
        return None
    kind = table.get("kind", "random")
    with p.at():
        check_choice("search.kind", kind, SEARCH_KINDS)
    if kind == "grid":
        extra = [k for k in table if k not in ("kind", "median_stopping", "objective", "direction")]
        if extra:
            p.add(f"search.{extra[0]}", "only random search takes trials, seed, per_rule and distributions")
        if "median_stopping" not in table:
            return None
        out = {"kind": "grid", "trials": 0, "seed": 0, "dists": {}, "per_rule": False}
        _objective(table, out, p)
        _median_stopping(table["median_stopping"], out, p)
        return out
    if kind not in MODEL_KINDS:
        for key in ("pruner", "report_every"):
            if key in table:
                p.add(f"search.{key}", f"only model-based search ({', '.join(MODEL_KINDS)}) takes a pruner; "
                                       "halving, hyperband and asha prune by their rungs, grid and random search "
                                       "by median_stopping")
        table = {k: v for k, v in table.items() if k not in ("pruner", "report_every")}
    if kind in HALVING_KINDS:
        return _halving(table, kind, rules, rule_axes, kinds, p)
    if kind not in SEARCH_KINDS:
        kind = "random"  # reported above; the rest is still checked
    out = {"kind": kind, "trials": 0, "seed": 0, "dists": {}}
    what = "random search" if kind == "random" else f"{kind} search"
    if "trials" not in table:
        p.add("search.trials", f"required for {what}: how many configurations to sample, an integer >= 1")
    else:
        with p.at():
            out["trials"] = check_number("search.trials", table["trials"], low=1, high=1_000_000, integer=True)
    with p.at():
        out["seed"] = check_number("search.seed", table.get("seed", 0), low=0, high=2**63 - 1, integer=True)
    if kind in MODEL_KINDS:
        _model_search(table, kind, out, p)
    else:
        for key in MODEL_KEYS:
            if key in table:
                p.add(f"search.{key}", f"only model-based search ({', '.join(MODEL_KINDS)}) takes {key}")
    flat = {}
    _flatten({k: v for k, v in table.items() if k not in (*SEARCH_KEYS, *MODEL_KEYS, "median_stopping")}, "", flat,
             p)
    for path, dist in flat.items():
        canon = ALIASES.get(path, path)
        with p.at():
            out["dists"][canon] = _dist(canon, dist, f"search.{path}", rules, kinds)
    if "clip.norm" in out["dists"] and "clip.value" in out["dists"]:
        p.add("search.clip", "sample clip.norm or clip.value, not both")
    out["per_rule"] = _per_rule(table, rules, out, p)
    if "median_stopping" in table:
        if kind in MODEL_KINDS:
            p.add("search.median_stopping", f"is an option of grid and random search, not of {kind}")
        else:
            _median_stopping(table["median_stopping"], out, p)
    return out


def _halving(table, kind, rules, rule_axes, kinds, p: Problems) -> dict:
    """``[search] kind = "halving" | "hyperband" | "asha"``: min_epochs, max_epochs (= train.epochs), eta,
    objective, direction, batch (asha), over the grid (no ``trials``) or ``trials`` random samples."""
    out = {"kind": kind, "trials": 0, "seed": 0, "dists": {}, "per_rule": False}
    for key in table:
        if key not in ("kind", "trials", "seed", *HALVING_KEYS, "median_stopping") and not isinstance(table[key], dict):
            p.add(f"search.{key}", f"unknown setting{closest(key, (*SEARCH_KEYS, *HALVING_KEYS))}")
    if "median_stopping" in table:
        p.add("search.median_stopping", f"is an option of grid and random search; {kind} prunes by its rungs")
    if "trials" in table:
        with p.at():
            out["trials"] = check_number("search.trials", table["trials"], low=1, high=1_000_000, integer=True)
    with p.at():
        out["seed"] = check_number("search.seed", table.get("seed", 0), low=0, high=2**63 - 1, integer=True)
    out["min_epochs"], out["max_epochs"], out["eta"], out["batch"] = 1, None, 3, None
    if "min_epochs" not in table:
        p.add("search.min_epochs", f"required for {kind} search: the epochs of the first rung, an integer >= 1")
    else:
        with p.at():
            out["min_epochs"] = check_number("search.min_epochs", table["min_epochs"], low=1, high=MAX_EPOCHS,
                                             integer=True)
    if "max_epochs" in table:
        with p.at():
            out["max_epochs"] = check_number("search.max_epochs", table["max_epochs"], low=1, high=MAX_EPOCHS,
                                             integer=True)
    with p.at():
        out["eta"] = check_number("search.eta", table.get("eta", 3), low=2, high=1000, integer=True)
    if "batch" in table:
        if kind != "asha":
            p.add("search.batch", "only asha takes batch (configurations started per round)")
        else:
            with p.at():
                out["batch"] = check_number("search.batch", table["batch"], low=1, high=1_000_000, integer=True)
    _objective(table, out, p)
    flat = {}
    _flatten({k: v for k, v in table.items() if k not in (*SEARCH_KEYS, *HALVING_KEYS)}, "", flat, p)
    if flat and not out["trials"]:
        p.add("search.trials", f"required with [search] distributions: how many configurations to sample")
    for path, dist in flat.items():
        canon = ALIASES.get(path, path)
        with p.at():
            out["dists"][canon] = _dist(canon, dist, f"search.{path}", rules, kinds)
    return out


def _objective(table, out, p) -> None:
    """``objective`` (a validation column; a test column is refused) and ``direction`` (None: inferred)."""
    objective = table.get("objective", "final_val_loss")
    out["objective"] = "final_val_loss"
    if isinstance(objective, str) and "test" in objective:
        p.add("search.objective", f"{objective!r} is measured on the test split, which must not choose "
                                  f"configurations; choose on validation: {', '.join(OBJECTIVES)}")
    else:
        with p.at():
            out["objective"] = check_choice("search.objective", objective, OBJECTIVES)
    out["direction"] = None
    if "direction" in table:
        with p.at():
            out["direction"] = check_choice("search.direction", table["direction"], DIRECTIONS)


def _median_stopping(value, out, p) -> None:
    """``median_stopping = {after_epochs = k}``: at epoch k, a configuration worse than the median of the
    others is pruned."""
    out["median_stopping"] = None
    if not isinstance(value, dict) or set(value) != {"after_epochs"}:
        p.add("search.median_stopping", f"must be {{after_epochs = k}} (an integer >= 1), got {value!r}")
        return
    with p.at():
        out["median_stopping"] = {"after_epochs": check_number("search.median_stopping.after_epochs",
                                                               value["after_epochs"], low=1, high=MAX_EPOCHS,
                                                               integer=True)}


def _model_search(table, kind, out, p) -> None:
    """``batch``, ``objective`` and ``direction`` of a model-based search, and its packages (before any work)."""
    missing = [m for m in MODEL_KINDS[kind] if module_missing(m)]
    if missing:
        extra = "optengine[optuna]" if missing == ["optuna"] else " ".join(
            "optengine[optuna]" if m == "optuna" else m for m in missing)
        p.add("search.kind", f"{kind!r} needs {' and '.join(missing)}: pip install {extra}")
    out["batch"] = DEFAULT_BATCH
    with p.at():
        out["batch"] = check_number("search.batch", table.get("batch", DEFAULT_BATCH), low=1, high=1_000_000,
                                    integer=True)
    _objective(table, out, p)  # direction None: losses minimised, accuracy and R^2 maximised
    _pruner(table, out, p, optuna_missing="optuna" in missing)


def _pruner(table, out, p, optuna_missing) -> None:
    """``pruner = "median"`` or ``{name = "median", n_warmup_steps = 2}`` (Optuna's pruner and its settings)
    and ``report_every`` (epochs between reports); ``out["pruner"]``: ``{"name": ..., settings}`` or None."""
    out["pruner"], out["report_every"] = None, 1
    if "report_every" in table:
        with p.at():
            out["report_every"] = check_number("search.report_every", table["report_every"], low=1, high=MAX_EPOCHS,
                                               integer=True)
    if "pruner" not in table:
        if "report_every" in table:
            p.add("search.report_every", f"only with a pruner: search.pruner = one of {', '.join(PRUNERS)}")
        return
    value = table["pruner"]
    field = "search.pruner"
    if isinstance(value, dict):
        value, settings, field = value.get("name"), {k: v for k, v in value.items() if k != "name"}, \
            "search.pruner.name"
        if value is None:
            p.add(field, f"required in a pruner table: one of {', '.join(PRUNERS)}")
            return
    elif isinstance(value, str):
        settings = {}
    else:
        p.add(field, f"must be a pruner's name or a table {{name = ..., settings}}, got {value!r}")
        return
    with p.at():
        name = check_choice(field, value, PRUNERS)
        pruner = {"name": name, **settings}
        if not optuna_missing:
            from .model_search import make_pruner

            make_pruner(pruner, out["report_every"], None)  # Optuna checks the settings (errors name them)
        out["pruner"] = pruner


def module_missing(name: str) -> bool:
    """True when ``import name`` would fail (without importing it; a module set to None in
    ``sys.modules``, as tests do, is missing)."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name] is None
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def _check_halving(search, train, p) -> None:
    """A multi-fidelity search (or median stopping) needs one train.epochs: the trials' full length."""
    multi = search["kind"] in HALVING_KINDS or search.get("median_stopping")
    if not multi:
        return
    epochs = train["epochs"]
    if len(epochs) != 1:
        p.add("train.epochs", f"{search['kind']} search stops and continues trials of one length: give one value")
        return
    if search["kind"] in HALVING_KINDS:
        if search["max_epochs"] is None:
            search["max_epochs"] = epochs[0]
        elif search["max_epochs"] != epochs[0]:
            p.add("search.max_epochs", f"must equal train.epochs ({epochs[0]}): the trials' full length, "
                                       "(leave it out to take train.epochs)")
        if search["min_epochs"] > search["max_epochs"]:
            p.add("search.min_epochs", f"must be at most max_epochs ({search['max_epochs']})")
    elif search["median_stopping"] and search["median_stopping"]["after_epochs"] >= epochs[0]:
        p.add("search.median_stopping.after_epochs", f"must be below train.epochs ({epochs[0]})")


def is_halving(spec) -> bool:
    """A spec that stops trials at rungs (halving, hyperband, asha) or by median stopping (sweep/halving.py)."""
    return bool(spec.search) and (spec.search["kind"] in HALVING_KINDS or bool(spec.search.get("median_stopping")))


def is_model_search(spec) -> bool:
    """A spec whose configurations an Optuna sampler chooses as results arrive (``sweep/model_search.py``)."""
    return bool(spec.search) and spec.search["kind"] in MODEL_KINDS


def _per_rule(table: dict, rules: list, out: dict, p: Problems) -> bool:
    """``search.per_rule``: every rule gets the same number of sampled configurations (``expand.budget``).
    Default ``PER_RULE_DEFAULT`` (False: a spec written before per_rule existed keeps its samples)."""
    if out["kind"] != "random":
        if "per_rule" in table:
            p.add("search.per_rule", f"only random search takes per_rule ({out['kind']} search chooses each "
                                     "configuration from the results so far)")
        return False
    value = table.get("per_rule", PER_RULE_DEFAULT and len(rules) > 1 and "optimizer.name" not in out["dists"])
    if not isinstance(value, bool):
        p.add("search.per_rule", f"must be true or false, got {value!r}")
        return False
    if value and "optimizer.name" in out["dists"]:
        p.add("search.per_rule", "true gives each rule of optimizer.name its share of the trials, so the rule "
                                 "cannot also be sampled from search.name / search.optimizer.name; remove one")
        return False
    if value and isinstance(out["trials"], int) and 0 < out["trials"] < len(rules):
        p.add("search.trials", f"{out['trials']} is fewer than the {len(rules)} rules, and per_rule = true gives "
                               f"each rule an equal share; give at least {len(rules)} (a multiple of {len(rules)} "
                               "for equal shares)")
    return value


def _flatten(table, prefix, out, p):
    """Distributions by dotted path; a table whose values are not all tables is a distribution."""
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and not all(isinstance(v, dict) for v in value.values()):
            out[path] = value
        elif isinstance(value, dict) and value:
            _flatten(value, path, out, p)
        elif isinstance(value, dict):
            p.add(f"search.{path}", f"an empty table; give one distribution of {', '.join(DISTS)}")
        else:
            hint = closest(path, [*SEARCH_KEYS, *ALIASES, "clip.norm", "clip.value"])
            p.add(f"search.{path}", f"must be a distribution like {{log_uniform = [1e-4, 1e-1]}}{hint}; kinds: "
                                    f"{', '.join(DISTS)}")


def _target_check(canon: str, field: str, rules, kinds):
    """The value check for a search path (one the sweep has), or raise naming the allowed paths."""
    parts = canon.split(".")
    where = field.rsplit(".", 1)[0]
    if parts[0] == "optimizer" and len(parts) in (2, 3):
        if canon == "optimizer.name":
            return lambda v, f: check_choice(f, v, rules)
        key = parts[-1]
        owners = rules
        if len(parts) == 3:
            check_choice(where, parts[1], rules)
            owners = [parts[1]]
        if key in HYPER:
            if not any(key in RULE_HYPER[r] for r in owners):
                raise ConfigError(field, f"no optimizer of this sweep takes {key!r} ({', '.join(owners)})")
            return lambda v, f: check_hyper_value(key, v, f)
    if parts[0] == "schedule" and len(parts) in (2, 3):
        key = parts[-1]
        owners = kinds
        if len(parts) == 3:
            check_choice(where, parts[1], kinds)
            owners = [parts[1]]
        if key in {**COMMON_PARAMS, **{k: 0 for a in KIND_PARAMS.values() for k in a}}:
            if not any(key in {**KIND_PARAMS[k], **COMMON_PARAMS} for k in owners):
                raise ConfigError(field, f"no schedule of this sweep takes {key!r} ({', '.join(owners)})")
            return lambda v, f: check_setting(key, v, f)
    if canon == "train.batch_size":
        return _batch_value
    if canon == "train.epochs":
        return lambda v, f: check_number(f, v, low=1, high=MAX_EPOCHS, integer=True)
    if canon in ("clip.norm", "clip.value"):
        return _clip_value
    allowed = ["lr", "<hyperparameter>", "optimizer.<rule>.<hyperparameter>", "schedule.<setting>",
               "schedule.<name>.<setting>", "batch_size", "epochs", "clip.norm", "clip.value", "optimizer.name"]
    raise ConfigError(field, f"nothing to sample at {canon!r}{closest(canon, [*ALIASES, 'clip.norm', 'clip.value'])}; "
                             f"allowed: {', '.join(allowed)}")


def _dist(canon: str, dist: dict, field: str, rules, kinds):
    check = _target_check(canon, field, rules, kinds)
    keys = [k for k in dist if k in DISTS]
    bad = [k for k in dist if k not in DISTS]
    if bad:
        raise ConfigError(f"{field}.{bad[0]}", f"unknown distribution{closest(bad[0], DISTS)}; allowed: {', '.join(DISTS)}")
    if len(keys) != 1:
        raise ConfigError(field, f"give exactly one distribution of {', '.join(DISTS)}")
    kind = keys[0]
    args = dist[kind]
    f = f"{field}.{kind}"
    if not isinstance(args, list) or not args:
        raise ConfigError(f, f"must be a non-empty list, got {args!r}")
    if kind == "choice":
        return kind, [check(v, f"{f}[{i}]") for i, v in enumerate(args)]
    if len(args) != 2 or not all(isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args):
        raise ConfigError(f, f"must be [low, high], two numbers; got {args!r}")
    lo, hi = (check_number(f"{f}[{i}]", a, low=-2**53, high=2**53, integer=kind == "int_uniform")
              for i, a in enumerate(args))
    if not lo < hi:
        raise ConfigError(f, f"needs low < high, got {args!r}")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(f, f"log_uniform needs 0 < low, got {args!r}")
    check(lo, f"{f}[0]")
    check(hi, f"{f}[1]")
    integer = canon.split(".")[-1] in ("batch_size", "epochs", "warmup_steps", "step_size", "total_steps")
    if integer and kind == "uniform":
        raise ConfigError(f, f"{canon.split('.')[-1]} is an integer: use int_uniform or log_uniform (rounded)")
    return kind, [lo, hi, integer]


def _has_dist(search, rule, key) -> bool:
    return f"optimizer.{rule}.{key}" in search["dists"] or f"optimizer.{key}" in search["dists"]

