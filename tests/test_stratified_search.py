"""Stratified random search (notes section 10): ``[search] per_rule = true`` gives every rule the same
number of sampled configurations, deterministically from ``search.seed``, stated in sweep.json and
in ``optengine plan``; trial ids of a configuration never depend on how it was chosen."""

import json
import textwrap
from collections import Counter

import pytest

from optengine.sweep import SpecError, expand, load_spec, plan, run_sweep
from optengine.sweep.expand import budget, search_record
from optengine.sweep.plan import format_plan

BASE = """
name = "strat"
seeds = [0, 1]
[model]
name = "rosenbrock"
[train]
epochs = 2
batch_size = "full"
[optimizer]
name = ["adam", "sgd", "momentum"]
lr = [1e-3]
momentum = 0.9
[search]
kind = "random"
trials = {trials}
seed = {seed}
lr = {{ log_uniform = [1e-4, 1e-1] }}
"""


def text(trials=30, seed=0, per_rule="true", rules=None, extra="") -> str:
    t = textwrap.dedent(BASE).format(trials=trials, seed=seed)
    if rules is not None:
        t = t.replace('name = ["adam", "sgd", "momentum"]', f"name = {json.dumps(rules)}")
        if "momentum" not in rules:
            t = t.replace("momentum = 0.9\n", "")
    if per_rule is not None:
        t += f"per_rule = {per_rule}\n"
    return t + extra


def configs_per_rule(trials) -> Counter:
    return Counter(json.loads(t.settings)["optimizer"] for t in {t.config_id: t for t in trials}.values())


def test_every_rule_gets_the_same_number_of_configurations():
    trials = expand(load_spec(text(trials=30)))
    assert configs_per_rule(trials) == {"adam": 10, "sgd": 10, "momentum": 10}
    assert len(trials) == 30 * 2  # each configuration with every seed
    # without per_rule the rules are drawn at random: unequal (the "Adam 13, SGD 3")
    drawn = configs_per_rule(expand(load_spec(text(trials=30, per_rule=None))))
    assert sum(drawn.values()) == 30 and len(set(drawn.values())) > 1


@pytest.mark.parametrize("trials,expected", [(10, [4, 3, 3]), (11, [4, 4, 3]), (12, [4, 4, 4]), (3, [1, 1, 1])])
def test_the_remainder_goes_to_the_first_rules_in_spec_order(trials, expected):
    spec = load_spec(text(trials=trials))
    assert budget(spec) == dict(zip(["adam", "sgd", "momentum"], expected))
    assert configs_per_rule(expand(spec)) == budget(spec)
    swapped = load_spec(text(trials=trials, rules=["momentum", "sgd", "adam"]))
    assert list(budget(swapped).items()) == list(zip(["momentum", "sgd", "adam"], expected))
    assert configs_per_rule(expand(swapped)) == budget(swapped)


def test_deterministic_from_the_search_seed():
    a = [t.trial_id for t in expand(load_spec(text(seed=7)))]
    assert a == [t.trial_id for t in expand(load_spec(text(seed=7)))]
    assert a != [t.trial_id for t in expand(load_spec(text(seed=8)))]
    assert len(set(a)) == len(a)  # no configuration twice


def test_the_sample_is_the_plain_stream_with_full_rules_skipped():
    """per_rule keeps the unstratified draws in order, skipping those of a rule whose budget is full: so the
    first draws of a spec are the same with and without it."""
    strat = [t.trial_id for t in expand(load_spec(text(trials=12)))]
    stream = [t.trial_id for t in expand(load_spec(text(trials=200, per_rule=None)))]
    assert set(strat) <= set(stream)
    assert strat == [tid for tid in stream if tid in set(strat)]  # the same order


def test_trial_ids_of_a_configuration_do_not_depend_on_how_it_was_chosen():
    trials = expand(load_spec(text(trials=6)))
    for t in trials[:4]:
        cfg = json.loads(t.settings)
        grid = textwrap.dedent(f"""
        name = "strat"
        seeds = [{cfg['seed']}]
        [model]
        name = "rosenbrock"
        [train]
        epochs = 2
        batch_size = "full"
        [optimizer]
        name = "{cfg['optimizer']}"
        lr = {cfg['lr']!r}
        """) + ("momentum = 0.9\n" if cfg["optimizer"] == "momentum" else "")
        (g,) = expand(load_spec(grid))
        assert (g.trial_id, g.config_id) == (t.trial_id, t.config_id)


def test_a_rule_with_fewer_configurations_than_its_budget_keeps_what_it_has():
    extra = "[optimizer.sgd]\nlr = [0.01, 0.02]\n"  # sgd's own list wins over the shared distribution
    spec = load_spec(text(trials=15, extra="").replace("[search]", extra + "[search]"))
    trials = expand(spec)
    assert configs_per_rule(trials) == {"adam": 5, "sgd": 2, "momentum": 5}
    rec = search_record(spec, trials)
    assert rec["budget"] == {"adam": 5, "sgd": 5, "momentum": 5}
    assert rec["configurations"] == {"adam": 5, "sgd": 2, "momentum": 5}
    assert "fewer distinct configurations exist for sgd 2 of 5" in format_plan(plan(spec))


def test_plan_states_the_budget_per_rule():
    info = plan(text(trials=10))
    assert info["selection"] == {"kind": "random", "trials": 10, "seed": 0, "per_rule": True,
                                 "budget": {"adam": 4, "sgd": 3, "momentum": 3},
                                 "configurations": {"adam": 4, "sgd": 3, "momentum": 3}}
    assert "budget per rule (per_rule = true): adam 4, sgd 3, momentum 3" in format_plan(info)
    plain = format_plan(plan(text(trials=10, per_rule=None)))
    assert "(rules drawn at random, not stratified): adam " in plain and "set per_rule = true" in plain


def test_sweep_json_records_the_budget(tmp_path):
    runs = run_sweep(text(trials=4, rules=["adam", "sgd"]), tmp_path / "o", backend="sequential")
    info = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert info["search"] == {"kind": "random", "trials": 4, "seed": 0, "per_rule": True,
                              "budget": {"adam": 2, "sgd": 2}, "configurations": {"adam": 2, "sgd": 2}}
    assert runs.groupby("optimizer", observed=True)["config_id"].nunique().to_dict() == {"adam": 2, "sgd": 2}
    assert "lr_base" not in runs.columns
    grid = text(trials=4, rules=["adam", "sgd"]).split("[search]")[0].replace("lr = [1e-3]", "lr = [1e-3, 1e-2]")
    run_sweep(grid, tmp_path / "g", backend="sequential")
    info = json.loads((tmp_path / "g" / "sweep.json").read_text())
    assert info["search"] == {"kind": "grid", "configurations": {"adam": 2, "sgd": 2}}


def test_one_rule_and_no_per_rule_keep_the_old_samples():
    """A spec written before per_rule existed samples as before (tests/test_trial_ids.py pins one)."""
    one = text(trials=5, rules=["adam"], per_rule=None)
    assert [t.trial_id for t in expand(load_spec(one))] == \
        [t.trial_id for t in expand(load_spec(one + "per_rule = false\n"))]
    assert load_spec(text(per_rule=None)).search["per_rule"] is False


BAD = [
    ("not a flag", text(per_rule='"yes"'), "search.per_rule", "true or false"),
    ("fewer trials than rules", text(trials=2), "search.trials", "fewer than the 3 rules"),
    ("the rule is sampled too", text(extra='name = { choice = ["adam", "sgd"] }\n'), "search.per_rule",
     "cannot also be sampled"),
    ("grid search", text(per_rule=None).split("[search]")[0] + '[search]\nkind = "grid"\nper_rule = true\n',
     "search.per_rule", "only random search"),
]


@pytest.mark.parametrize("spec,field,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_errors_name_the_field_in_plan_and_run_alike(tmp_path, spec, field, words):
    with pytest.raises(SpecError) as via_plan:
        plan(spec)
    with pytest.raises(SpecError) as via_run:
        run_sweep(spec, tmp_path / "o", backend="sequential")
    assert via_plan.value.problems == via_run.value.problems
    problems = dict(via_run.value.problems)
    assert field in problems and words in problems[field], problems
    assert not (tmp_path / "o").exists()
