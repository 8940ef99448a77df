"""Sweep specs: parsing, grid and per-rule axes, random search, and invalid specs (nothing written)."""

import json
import textwrap

import pytest

from optengine.errors import ConfigError
from optengine.sweep import SpecError, expand, load_spec, plan, run_sweep
from optengine.sweep.trial import Trial

BASE = """
name = "t"
seeds = [0]
[model]
name = "softmax_regression"
[dataset]
name = "iris"
[train]
epochs = 2
batch_size = 16
[optimizer]
name = "sgd"
lr = 0.1
"""


def spec_text(extra: str = "", base: str = BASE) -> str:
    return textwrap.dedent(base) + textwrap.dedent(extra)


def trials_of(text: str):
    return expand(load_spec(text))


def test_quickstart_spec_is_the_7_rules_by_4_learning_rates():
    trials = expand(load_spec("sweeps/quickstart.toml"))
    assert len(trials) == 28
    rules = [json.loads(t.settings)["optimizer"] for t in trials]
    assert sorted(set(rules)) == sorted(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    # momentum = 0.9 only reaches the rules that take it
    for t in trials:
        s = json.loads(t.settings)
        assert ("momentum" in s) == (s["optimizer"] in ("momentum", "nesterov"))


def test_mnist1d_optimizers_spec_size():
    assert len(expand(load_spec("sweeps/mnist1d_optimizers.toml"))) == 7 * 8 * 2 * 3


def test_every_list_is_an_axis_and_the_sweep_is_their_product():
    text = """
    name = "t"
    seeds = [0, 1, 2]
    [[model]]
    name = "mlp"
    hidden = [4]
    [[model]]
    name = "mlp"
    hidden = [4]
    activation = "tanh"
    [dataset]
    name = "iris"
    [train]
    epochs = 2
    batch_size = [8, "full"]
    [optimizer]
    name = ["sgd", "momentum"]
    lr = [0.1, 0.01]
    momentum = [0.5, 0.9]
    [clip]
    norm = ["none", 1.0]
    """
    trials = trials_of(text)
    # sgd: 2 lr; momentum: 2 lr x 2 momentum -> 6 rule configs; x 2 activations x 2 batches x 2 clips x 3 seeds
    assert len(trials) == 6 * 2 * 2 * 2 * 3
    assert len({t.trial_id for t in trials}) == len(trials)
    acts = {json.loads(t.model).get("activation", "relu") for t in trials}
    assert acts == {"relu", "tanh"}
    clips = {json.dumps(json.loads(t.settings)["clip"]) for t in trials}
    assert clips == {"null", '{"norm": 1.0}'}


def test_model_settings_are_values_not_axes():
    text = spec_text().replace('name = "softmax_regression"', 'name = "mlp"\nsizes = [4, 5, 3]')
    trials = trials_of(text)
    assert len(trials) == 1 and json.loads(trials[0].model)["sizes"] == [4, 5, 3]


def test_per_rule_tables_are_axes_for_that_rule_only():
    text = """
    name = "t"
    [model]
    name = "softmax_regression"
    [dataset]
    name = "iris"
    [optimizer]
    name = ["adam", "adamw"]
    lr = 0.01
    [optimizer.adamw]
    weight_decay = [0.0, 0.01, 0.1]
    lr = [0.001, 0.01]
    """
    trials = trials_of(text)
    adam = [json.loads(t.settings) for t in trials if json.loads(t.settings)["optimizer"] == "adam"]
    adamw = [json.loads(t.settings) for t in trials if json.loads(t.settings)["optimizer"] == "adamw"]
    assert len(adam) == 1 and adam[0]["lr"] == 0.01 and "weight_decay" not in adam[0]
    assert len(adamw) == 6
    assert {(s["lr"], s["weight_decay"]) for s in adamw} == {(lr, wd) for lr in (0.001, 0.01)
                                                             for wd in (0.0, 0.01, 0.1)}


def test_schedule_settings_reach_only_the_schedules_that_take_them():
    text = BASE + """
    [schedule]
    name = ["constant", "step", "cosine"]
    warmup_steps = [0, 5]
    [schedule.step]
    step_size = [10, 20]
    """
    trials = trials_of(text)
    scheds = [json.loads(t.settings)["schedule"] for t in trials]
    assert sum(s["name"] == "constant" for s in scheds) == 2
    assert sum(s["name"] == "step" for s in scheds) == 4
    assert sum(s["name"] == "cosine" for s in scheds) == 2
    assert all("step_size" not in s for s in scheds if s["name"] != "step")


def test_trial_ids_are_stable_and_depend_only_on_the_configuration():
    a = trials_of(spec_text())
    b = trials_of(spec_text().replace('name = "t"', 'name = "other"  # a comment'))
    assert [t.trial_id for t in a] == [t.trial_id for t in b]
    # defaults spelled out give the same trial
    c = trials_of(spec_text("[optimizer.sgd]\nl2 = 0.0\n"))
    assert [t.trial_id for t in a] == [t.trial_id for t in c]
    d = trials_of(spec_text().replace("lr = 0.1", "lr = 0.2"))
    assert a[0].trial_id != d[0].trial_id
    t = a[0]
    assert isinstance(t, Trial)
    with pytest.raises(Exception):
        t.epochs = 5  # frozen


def test_random_search_is_reproducible_and_samples_inside_the_bounds():
    text = BASE.replace('name = "sgd"', 'name = ["sgd", "adam"]') + """
    [search]
    kind = "random"
    trials = 30
    seed = 7
    lr = { log_uniform = [1e-4, 1e-1] }
    batch_size = { choice = [8, 16, 32] }
    "optimizer.adam.beta1" = { uniform = [0.8, 0.99] }
    """
    text = text.replace("seeds = [0]", "seeds = [0, 1]")
    a, b = trials_of(text), trials_of(text)
    assert [t.trial_id for t in a] == [t.trial_id for t in b]
    assert len(a) == 60  # 30 configurations x 2 seeds
    settings = [json.loads(t.settings) for t in a]
    assert all(1e-4 <= s["lr"] <= 1e-1 for s in settings)
    assert {t.batch_size for t in a} <= {8, 16, 32}
    assert all(0.8 <= s["beta1"] <= 0.99 for s in settings if s["optimizer"] == "adam")
    assert {s["optimizer"] for s in settings} == {"sgd", "adam"}
    other = trials_of(text.replace("seed = 7", "seed = 8"))
    assert [t.trial_id for t in other] != [t.trial_id for t in a]


def test_plan_describes_without_running(tmp_path):
    info = plan("sweeps/quickstart.toml", jobs=2)
    assert info["trials"] == 28 and info["packs"] >= 2 and sum(info["pack_sizes"]) == 28
    assert info["axes"]["optimizer.name"][0] == "sgd"
    assert len(info["first"]) == 5


def test_packs_group_by_shared_settings_and_respect_the_size_bound():
    from optengine.sweep import make_packs

    trials = trials_of(spec_text().replace("batch_size = 16", "batch_size = [8, 16]")
                       .replace("lr = 0.1", "lr = [0.1, 0.2, 0.3, 0.4, 0.5]"))
    packs = make_packs(trials, 3)
    assert sum(len(p.trials) for p in packs) == 10
    for p in packs:
        assert len(p.trials) <= 3
        assert len({t.pack_key for t in p.trials}) == 1


def test_packs_come_in_multiples_of_the_workers_with_even_sizes():
    from optengine.sweep import load_spec, make_packs
    from optengine.sweep.expand import expand
    from optengine.sweep.packs import default_pack_size

    trials = expand(load_spec("sweeps/quickstart.toml"))  # 28 trials, one pack key
    size = default_pack_size(28, 2)
    assert size == 4
    assert [len(p.trials) for p in make_packs(trials, size)] == [4] * 7  # one worker: as cut
    two = make_packs(trials, size, jobs=2)
    assert [len(p.trials) for p in two] == [4, 4, 4, 4, 3, 3, 3, 3]  # two workers finish together
    assert [t.trial_id for p in two for t in p.trials] == [t.trial_id for t in trials]
    assert [len(p.trials) for p in make_packs(trials[:3], 2, jobs=4)] == [1, 1, 1]  # never an empty pack
    assert [len(p.trials) for p in make_packs(trials[:10], 8)] == [5, 5]


# -- invalid specs: every problem reported, with its path; nothing written -----------------------

INVALID = [
    # (description, spec text, expected substrings)
    ("unknown top-level key", "seedz = [1]\n" + BASE, ["seedz", "did you mean 'seeds'"]),
    ("bad name", BASE.replace('name = "t"', 'name = "a b"'), ["name:", "folder-safe"]),
    ("no model", BASE.replace('[model]\nname = "softmax_regression"\n', ""), ["model: required"]),
    ("misspelt model", BASE.replace("softmax_regression", "softmax_regresion"),
     ["model.name", "did you mean 'softmax_regression'"]),
    ("unknown model setting", BASE.replace('name = "softmax_regression"', 'name = "mlp"\nhiden = [4]'),
     ["model.hiden", "did you mean 'hidden'"]),
    ("bad activation", BASE.replace('name = "softmax_regression"', 'name = "mlp"\nhidden = [4]\nactivation = "relux"'),
     ["activation", "relux"]),
    ("misspelt dataset", BASE.replace('name = "iris"', 'name = "irsi"'), ["dataset.name", "did you mean 'iris'"]),
    ("unknown dataset setting", BASE.replace('name = "iris"', 'name = "iris"\nn_sample = 5'), ["dataset.n_sample"]),
    ("missing data file", BASE.replace('name = "iris"', 'name = "file"\npath = "nope.csv"\ntarget = "y"'),
     ["dataset.path", "file not found"]),
    ("epochs zero", BASE.replace("epochs = 2", "epochs = 0"), ["train.epochs", "[1, 1000000]"]),
    ("bad batch size", BASE.replace("batch_size = 16", 'batch_size = "fulll"'), ["train.batch_size", "full"]),
    ("bad dtype", BASE.replace("[train]", '[train]\ndtype = "float16"'), ["train.dtype", "float32, float64"]),
    ("unknown train key", BASE.replace("[train]", "[train]\nepoch = 3"), ["train.epoch", "did you mean 'epochs'"]),
    ("bad device", BASE.replace("[train]", '[train]\ndevice = "tpu"'), ["train.device", "cpu, cuda"]),
    ("early stopping", BASE.replace("[train]", "[train]\nearly_stopping = {patience = 0}"),
     ["train.early_stopping.patience"]),
    ("misspelt rule", BASE.replace('name = "sgd"', 'name = ["sgd", "adamm"]'),
     ["optimizer.name[1]", "did you mean 'adam'"]),
    ("negative lr", BASE.replace("lr = 0.1", "lr = [0.1, -1]"), ["optimizer.lr[1]", "(0, inf)"]),
    ("no lr", BASE.replace("lr = 0.1\n", ""), ["optimizer.lr", "required"]),
    ("misspelt hyperparameter", BASE + "momentom = 0.9\n", ["optimizer.momentom", "did you mean 'momentum'"]),
    ("hyperparameter no rule takes", BASE + "beta1 = 0.9\n", ["optimizer.beta1", "taken by adam, adamw"]),
    ("per-rule table for a rule not swept", BASE + "[optimizer.adam]\nbeta1 = 0.9\n",
     ["optimizer.adam", "not in optimizer.name"]),
    ("per-rule key the rule does not take", BASE + "[optimizer.sgd]\nmomentum = 0.9\n",
     ["optimizer.sgd.momentum", "sgd does not take"]),
    ("momentum out of range", BASE.replace('name = "sgd"', 'name = "momentum"') + "momentum = 1.0\n",
     ["optimizer.momentum", "[0, 1)"]),
    ("repeated axis values", BASE.replace("lr = 0.1", "lr = [0.1, 0.1]"), ["optimizer.lr", "repeated"]),
    ("empty axis", BASE.replace("lr = 0.1", "lr = []"), ["optimizer.lr", "empty list"]),
    ("misspelt schedule", BASE + '[schedule]\nname = "cosin"\n', ["schedule.name", "did you mean 'cosine'"]),
    ("schedule setting", BASE + '[schedule]\nname = "cosine"\nlr_minn = 0.0\n',
     ["schedule.lr_minn", "did you mean 'lr_min'"]),
    ("step without step_size", BASE + '[schedule]\nname = "step"\n', ["schedule.step_size", "needs step_size"]),
    ("lr_min above lr", BASE + '[schedule]\nname = "cosine"\nlr_min = 0.5\n', ["schedule.lr_min", "[0, 0.1]"]),
    ("clip threshold", BASE + "[clip]\nnorm = -1\n", ["clip.norm", "(0, inf)"]),
    ("clip key", BASE + "[clip]\nnrom = 1.0\n", ["clip.nrom", "did you mean 'norm'"]),
    ("search without trials", BASE + '[search]\nkind = "random"\n', ["search.trials", "required"]),
    ("search distribution", BASE + '[search]\nkind = "random"\ntrials = 3\nlr = { log_uniform = [0, 1] }\n',
     ["search.lr.log_uniform", "0 < low"]),
    ("search unknown distribution", BASE + '[search]\ntrials = 3\nlr = { log_unifrom = [0.1, 1] }\n',
     ["search.lr"]),
    ("search unknown path", BASE + '[search]\ntrials = 3\nlearning_rate = { uniform = [0.1, 1] }\n',
     ["search.learning_rate", "nothing to sample"]),
    ("not TOML", "name = [\n", ["toml", "not valid TOML"]),
    ("surface with a dataset", BASE.replace("softmax_regression", "rosenbrock"), ["dataset.name", "test surface"]),
    ("float32 underflow", BASE.replace('name = "sgd"', 'name = "adam"') + "eps = 1e-50\n",
     ["optimizer.eps", "not representable in float32"]),
]


@pytest.mark.parametrize("desc,text,expected", INVALID, ids=[d for d, _, _ in INVALID])
def test_invalid_specs_name_the_field_and_write_nothing(tmp_path, desc, text, expected):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        run_sweep(path, out)
    message = str(info.value)
    for part in expected:
        assert part in message, f"{desc}: {part!r} not in {message!r}"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_all_problems_are_reported_at_once():
    text = BASE.replace("epochs = 2", "epochs = 0").replace("lr = 0.1", "lr = -1") + "momentom = 1\n[clip]\nnorm = 0\n"
    with pytest.raises(SpecError) as info:
        load_spec(text)
    paths = [p for p, _ in info.value.problems]
    assert {"train.epochs", "optimizer.lr", "optimizer.momentom", "clip.norm"} <= set(paths)
    assert str(info.value).startswith(f"{len(paths)} problems in spec")


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.toml")


def test_dataset_problem_found_before_anything_is_written(tmp_path):
    # the model does not fit the data: found when the data are loaded, still before writing
    text = BASE.replace('name = "softmax_regression"', 'name = "softmax_regression"\nn_features = 7')
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="takes 7 input features"):
        run_sweep(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_random_search_prefers_a_rules_own_list_to_a_shared_distribution():
    text = BASE.replace('name = "sgd"', 'name = ["sgd", "adam"]') + """
    [optimizer.adam]
    lr = [0.001]
    [search]
    trials = 20
    lr = { log_uniform = [0.01, 0.1] }
    """
    settings = [json.loads(t.settings) for t in trials_of(text)]
    assert {s["lr"] for s in settings if s["optimizer"] == "adam"} == {0.001}
    assert all(0.01 <= s["lr"] <= 0.1 for s in settings if s["optimizer"] == "sgd")


def test_constant_schedules_differing_only_in_unit_are_one_trial():
    trials = trials_of(BASE + '[schedule]\nname = ["constant", "cosine"]\nunit = ["step", "epoch"]\n')
    scheds = [json.loads(t.settings)["schedule"] for t in trials]
    assert sum(s["name"] == "constant" for s in scheds) == 1 and len(trials) == 3
