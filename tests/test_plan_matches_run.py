"""``optengine plan`` runs exactly the checks ``optengine run`` runs before training (sweep/preflight.py):
the same specs are refused, with the same field named, and nothing is written."""

import random
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from optengine.cli import main
from optengine.errors import ConfigError
from optengine.sweep import plan, run_sweep

ROOT = Path(__file__).resolve().parent.parent

MLP = """
name = "t_mlp"
[model]
name = "mlp"
hidden = [8]
activation = "relu"
[dataset]
name = "mnist1d"
[train]
epochs = 1
batch_size = 64
[optimizer]
name = ["sgd", "adam"]
lr = 0.01
"""
CNN = """
name = "t_cnn"
[model]
name = "cnn1d"
channels = [4, 4]
[dataset]
name = "mnist1d"
[train]
epochs = 1
[optimizer]
name = "adam"
lr = 0.01
"""
TEXT = """
name = "t_text"
[model]
name = "sparse_logreg"
[dataset]
name = "synthetic_text"
n_docs = 200
vocab_size = 300
rare_per_class = 10
[train]
epochs = 1
[optimizer]
name = "adagrad"
lr = 0.1
"""
SERIES = """
name = "t_series"
[model]
name = "gru"
hidden_size = 4
[dataset]
name = "mackey_glass"
n_steps = 300
window = 8
horizon = 2
[train]
epochs = 1
[optimizer]
name = "rmsprop"
lr = 0.01
"""


def _cuda_usable():
    try:
        from optengine.cuda import require_device

        require_device()
        return True
    except ConfigError:
        return False


# (id, base spec, text replaced, replacement, field the error must name)
MUTATIONS = [
    ("activation-relux", MLP, 'activation = "relu"', 'activation = "relux"', "model.activation"),
    ("dataset-seed-text", MLP, 'name = "mnist1d"', 'name = "mnist1d"\nseed = "x"', "dataset.seed"),
    ("hidden-0", MLP, "hidden = [8]", "hidden = [0]", "model.hidden"),
    ("hidden-negative", MLP, "hidden = [8]", "hidden = [-3]", "model.hidden"),
    ("hidden-fraction", MLP, "hidden = [8]", "hidden = [1.5]", "model.hidden"),
    ("num-samples-0", MLP, 'name = "mnist1d"', 'name = "mnist1d"\nnum_samples = 0', "dataset.num_samples"),
    ("vocab-size-0", TEXT, "vocab_size = 300", "vocab_size = 0", "dataset.vocab_size"),
    ("window-0", SERIES, "window = 8", "window = 0", "dataset.window"),
    ("horizon-negative", SERIES, "horizon = 2", "horizon = -1", "dataset.horizon"),
    ("channels-empty", CNN, "channels = [4, 4]", "channels = []", "model.channels"),
    ("hidden-size-0", SERIES, "hidden_size = 4", "hidden_size = 0", "model.hidden_size"),
    ("hidden-too-large-for-memory", MLP, "hidden = [8]", "hidden = [100000, 100000]", "model"),
    ("cuda-without-gpu", MLP, "[train]", '[train]\ndevice = "cuda"', "train.device"),
]
PARAMS = [pytest.param(*m[1:], id=m[0], marks=[pytest.mark.skipif(m[0].startswith("cuda") and _cuda_usable(),
                                                                  reason="a GPU is usable here")])
          for m in MUTATIONS]


def _fields(err: str) -> list[str]:
    """The fields a CLI error names (``optengine: error: FIELD: ...`` or the problem list's ``  FIELD: ...``)."""
    lines = err.strip().splitlines()
    if len(lines) > 1 and "problem" in lines[0]:
        return [m.group(1) for line in lines[1:] if (m := re.match(r"^  (\S+): ", line))]
    m = re.match(r"^optengine: error: (\S+): ", lines[0])
    return [m.group(1)] if m else []


@pytest.mark.parametrize("base,old,new,field", PARAMS)
def test_plan_and_run_refuse_the_same_spec_naming_the_same_field(tmp_path, capsys, base, old, new, field):
    assert old in base
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(base).replace(old, new, 1))
    out = tmp_path / "res"
    rc_plan = main(["plan", str(spec)])
    err_plan = capsys.readouterr().err
    rc_run = main(["run", str(spec), "--out", str(out), "--backend", "sequential", "--no-progress"])
    err_run = capsys.readouterr().err
    assert rc_plan == 2 and rc_run == 2, (err_plan, err_run)
    assert "Traceback" not in err_plan + err_run
    assert _fields(err_plan) == _fields(err_run), (err_plan, err_run)
    assert any(f == field or f.startswith(field + "[") for f in _fields(err_run)), err_run
    assert not out.exists()


@pytest.mark.parametrize("base", [MLP, CNN, TEXT, SERIES], ids=["mlp", "cnn", "text", "series"])
def test_the_small_specs_themselves_are_accepted_by_plan(base):
    from optengine.sweep.plan import format_plan

    info = plan(textwrap.dedent(base))
    assert info["trials"] >= 1 and 0 < info["memory"] < info["available"]
    assert "memory: the largest pack needs about " in format_plan(info)


# -- property: random mutations of the shipped specs get one verdict from plan and from run ---------

SHIPPED = sorted((ROOT / "sweeps").glob("*.toml"))
VALUES = [0, -1, 1.5, 2, "x", "relux", [], [0], [-3], [1.5], True, 10**12, 1e300, {"a": 1}]


class ReachedTraining(Exception):
    pass


def _mutate(rng: random.Random, raw: dict) -> tuple[dict, str]:
    """A copy of ``raw`` with one setting of model, dataset or train replaced, added or deleted."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    table = rng.choice([t for t in ("model", "dataset", "train") if isinstance(out.get(t), dict)])
    keys = [k for k in out[table] if not isinstance(out[table][k], dict) and (k != "name" or rng.random() < 0.1)]
    kind = rng.random()
    if kind < 0.1 and keys:
        key = rng.choice(keys)
        del out[table][key]
        return out, f"del {table}.{key}"
    key = rng.choice(keys) if kind < 0.85 and keys else rng.choice(["seed", "n_samples", "hidden", "window"])
    value = rng.choice(VALUES)
    out[table][key] = value
    return out, f"{table}.{key} = {value!r}"


def _verdict(call) -> str:
    try:
        call()
    except ReachedTraining:
        return "accept"
    except ConfigError as exc:
        problems = getattr(exc, "problems", None) or [(exc.field, "")]
        return "refuse " + ",".join(sorted({p for p, _ in problems}))
    return "accept"


def test_random_mutations_of_the_shipped_specs_get_the_same_verdict(tmp_path, monkeypatch):
    import optengine.sweep.runner as runner

    def stop(*args, **kwargs):
        raise ReachedTraining

    monkeypatch.setattr(runner, "_execute", stop)  # run's checks all pass: it would train now
    rng = random.Random(15)
    raws = {p.name: tomllib.loads(p.read_text()) for p in SHIPPED}
    seen = {"accept": 0, "refuse": 0}
    for i in range(40):
        name = rng.choice(sorted(raws))
        spec, what = _mutate(rng, raws[name])
        via_plan = _verdict(lambda: plan(spec))
        via_run = _verdict(lambda: run_sweep(spec, out=tmp_path / f"r{i}", backend="sequential"))
        assert via_plan == via_run, f"{name}: {what}: plan {via_plan}, run {via_run}"
        seen[via_plan.split()[0]] += 1
    assert seen["accept"] and seen["refuse"], seen  # the sample holds both verdicts
