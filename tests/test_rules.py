"""The rule records (``optengine/rules``) and everything derived from them.

- each record is complete (meanings, ranges, buffers, formula) and its functions are plain Python;
- the derived views (``optimizers.RULES``/``HYPER``/``RULE_HYPER``, the CLI flags, the benchmarks'
  byte counts, the trainer's cost order) follow the records, and the notes' seven rules keep their
  results-format-1 names, order and defaults;
- a trial of an existing rule keeps its canonical form (and trial_id) with the new
  hyperparameters at their defaults;
- the README's rule table lists the records' rules with exactly their settings and defaults;
- every rule (each test row of ``tests/rule_cases.py``) in the CPU pack trainer equals the
  trainer's loop written in Python with ``oe.optimizer``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import optengine as oe
import optengine.optimizers as O
from optengine.rng import _STREAM_SHUFFLE, new_state, shuffle
from optengine.rules import RECORDS
from rule_cases import ROWS

ROOT = Path(__file__).resolve().parents[1]
SEVEN = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
FORMAT_1 = {  # the seven rules' hyperparameters and defaults when results were first written
    "sgd": {"lr": None, "l2": 0.0},
    "momentum": {"lr": None, "momentum": 0.9, "l2": 0.0},
    "nesterov": {"lr": None, "momentum": 0.9, "l2": 0.0},
    "adagrad": {"lr": None, "eps": 1e-10, "l2": 0.0},
    "rmsprop": {"lr": None, "decay": 0.9, "eps": 1e-8, "l2": 0.0},
    "adam": {"lr": None, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "l2": 0.0},
    "adamw": {"lr": None, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "l2": 0.0},
}


# -- the records ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RECORDS, ids=[r.name for r in RECORDS])
def test_record_is_complete(rule):
    assert rule.name in rule.formula and len(rule.formula.splitlines()) >= 3  # the formula, in its docstring
    assert rule.summary and rule.notes
    assert rule.hyper[0].name == "lr" and rule.hyper[0].default is None
    assert len({h.name for h in rule.hyper}) == len(rule.hyper)
    for h in rule.hyper:
        assert h.meaning and h.range_text and h.name in O.HYPER
        if h.default is not None:
            O.check_hyper_value(h.name, h.default, h.name)  # defaults lie in their ranges
    assert all(name and meaning for name, meaning in rule.buffers) and len(rule.buffers) <= 3
    assert rule.optional_buffer is None or rule.optional_buffer in [h.name for h in rule.hyper]
    assert all(isinstance(init, float) and meaning for _, init, meaning in rule.scalars)
    for fn in (rule.coefficients, rule.element):
        assert getattr(fn, "kernel_source", False) and not hasattr(fn, "py_func")  # plain Python, marked


def test_reading_the_records_imports_neither_numba_nor_numpy():
    code = "import sys, optengine.rules, optengine.cli; print('numba' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_every_rule_has_a_test_row_and_a_reference():
    import reference

    assert set(ROWS) == set(O.RULES) == set(reference.RULES)


# -- derived views ---------------------------------------------------------------------------------------

def test_the_seven_rules_keep_their_ids_layout_and_defaults():
    assert O.RULES[:7] == SEVEN
    assert O.HYPER[:8] == ("lr", "momentum", "beta1", "beta2", "eps", "decay", "weight_decay", "l2")
    for name, old in FORMAT_1.items():
        assert {k: v for k, v in O.RULE_HYPER[name].items() if k in old} == old
        assert list(O.RULE_HYPER[name])[:len(old)] == list(old)  # spec axes keep their order
        assert set(O.RULE_HYPER[name]) - set(old) == set(O.ADDED_HYPER[name])  # the rest are marked added


def test_new_hyperparameters_of_old_rules_are_dropped_from_the_canonical_form_at_their_default():
    assert O.ADDED_HYPER["adam"] == {"amsgrad": 0.0} and O.ADDED_HYPER["momentum"] == {"dampening": 0.0}
    for name, old in FORMAT_1.items():
        full = O.validate_hyper(name, {"lr": 0.1})
        assert O.canonical_hyper(name, full) == {k: (0.1 if k == "lr" else v) for k, v in old.items()}
    assert O.canonical_hyper("adam", O.validate_hyper("adam", {"lr": 0.1, "amsgrad": True}))["amsgrad"] == 1.0
    assert "momentum_decay" in O.canonical_hyper("nadam", O.validate_hyper("nadam", {"lr": 0.1}))


def test_flags_are_true_or_false():
    assert O.validate_hyper("adam", {"lr": 0.1, "amsgrad": True})["amsgrad"] == 1.0
    assert O.validate_hyper("adam", {"lr": 0.1, "amsgrad": 0})["amsgrad"] == 0.0
    with pytest.raises(ValueError, match=r"^optimizer\.amsgrad: must be true or false"):
        O.validate_hyper("adam", {"lr": 0.1, "amsgrad": 0.5})


def test_cli_flags_and_benchmark_bytes_come_from_the_records():
    from benchmarks import common
    from optengine import cli

    assert cli.HYPER_FLAGS == tuple(h for h in O.HYPER if h != "lr")
    assert {k: common.RULE_BYTES[k] for k in SEVEN} == {"sgd": 12, "momentum": 20, "nesterov": 20, "adagrad": 20,
                                                       "rmsprop": 20, "adam": 28, "adamw": 28}
    assert set(common.RULE_BYTES) == set(O.RULES)


def test_state_sizes_follow_the_records():
    for rule in RECORDS:
        hyper = O.validate_hyper(rule.name, {"lr": 0.1})
        state, scalars = O.new_state(rule.name, hyper, 5, np.float32)
        assert state.shape == (rule.n_buffers(hyper), 5) and scalars.shape == (2, O.MAX_SCALARS)
        assert O.state_rows(O.RULE_ID[rule.name], O.hyper_vector(hyper)) == state.shape[0]
    ams = O.validate_hyper("adamw", {"lr": 0.1, "amsgrad": True})
    assert O.n_buffers("adamw", ams) == 3 == O.state_rows(O.RULE_ID["adamw"], O.hyper_vector(ams))
    rules = np.array([O.RULE_ID["sgd"], O.RULE_ID["adam"]])
    assert O.pack_buffers(rules, np.stack([O.hyper_vector(O.validate_hyper(n, {"lr": 1.0})) for n in ("sgd", "adam")])) == 2
    # the trainer starts the costliest updates first
    assert O.COST[O.RULE_ID["sgd"]] < O.COST[O.RULE_ID["momentum"]] < O.COST[O.RULE_ID["adam"]]


# -- the README's rule table ---------------------------------------------------------------------------

def _readme_rules():
    text = (ROOT / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| rules |"))
    out = {}
    for name, args in re.findall(r"`(\w+)\(([^)]*)\)`", row):
        out[name] = dict((a.split("=", 1) + [None])[:2] for a in (x.strip() for x in args.split(",")) if a)
    return out


# The rules the README's table must list (all rules when this was written). A rule added later is
# checked as soon as the README lists it, but adding a rule does not require a README edit: a new
# rule is three files (CONTRIBUTING.md).
README_RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "nadam", "radam", "adamax",
                "adadelta", "lion")


def test_readme_rule_table_matches_the_records():
    """The README's "What is available" rules row lists rules of the records, in their order, each with
    exactly its settings, and any default written there is the record's; it lists at least
    ``README_RULES``. ``O.readme_rules_row()`` writes the row."""
    readme = _readme_rules()
    hint = "README rules row should be: " + O.readme_rules_row()
    assert set(README_RULES) <= set(readme), hint
    assert list(readme) == [r for r in O.RULES if r in readme], hint  # known rules, in the records' order
    for name, settings in readme.items():
        assert list(settings) == list(O.RULE_HYPER[name]), (name, hint)
        for key, text in settings.items():
            if text is not None:
                want = O.RULE_HYPER[name][key]
                value = {"true": 1.0, "false": 0.0}.get(text, None)
                assert (float(text) if value is None else value) == want, (name, key, text, hint)


# -- every rule in the pack trainer -------------------------------------------------------------------

def _row_trials():
    out = []
    for name, row in ROWS.items():
        for i, hyper in enumerate(({"lr": row.lr}, {"lr": row.lr, "l2": 0.01}) + tuple(row.variants)):
            out.append({"optimizer": name, **hyper, "lr": min(hyper["lr"], 0.05), "seed": i})
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_rule_in_the_pack_trainer_equals_the_python_loop(dtype):
    """One pack with every test row; each trial equals the section-12 loop written with the public
    pieces (``oe.optimizer`` steps, the trainer's shuffle stream); float64 to 1e-12, float32 1e-5."""
    ds = oe.dataset("iris")
    model = oe.model("softmax_regression", n_features=4, n_classes=3)
    trials = _row_trials()
    epochs, B = 2, 16
    runs, curves, params = oe.train_pack(model, ds, trials, batch_size=B, epochs=epochs, dtype=dtype,
                                         return_params=True)
    assert (runs["status"] == "ok").all()
    X, y = ds.X_train.astype(dtype), ds.y_train
    n = len(y)
    nb = -(-n // B)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for k, trial in enumerate(trials):
        theta = model.init(trial["seed"], np.float64).astype(dtype)
        opt = oe.optimizer(trial["optimizer"], **{h: v for h, v in trial.items() if h not in ("optimizer", "seed")})
        state = opt.init(theta)
        order = np.arange(n)
        rng = new_state(trial["seed"], _STREAM_SHUFFLE)
        for _ in range(epochs):
            shuffle(order, rng)
            for b in range(nb):
                idx = order[b * B:(b + 1) * B]
                _, g = model.loss_and_grad(theta, X[idx], y[idx])
                opt.step(theta, g, state)
        scale = np.abs(theta).max()
        assert np.max(np.abs(params[k] - theta)) <= tol * scale, trial
    assert runs["steps"].tolist() == [epochs * nb] * len(trials)
