"""Linked axes (notes section 9): ``[scaling]`` makes the lr, and the warmup, follow the batch size.

The values per batch size for both rules, no product grid, trial ids (a scaled trial has the id of the
same configuration written by hand; specs without [scaling] keep theirs), errors naming the field
(refused by ``plan`` and ``run`` alike, nothing written), the runs column ``lr_base`` and the plan's table.
"""

import json
import math
import textwrap
import tomllib
from pathlib import Path

import pytest

from optengine.sweep import SpecError, expand, load_spec, plan, run_sweep
from optengine.sweep.plan import format_plan

ROOT = Path(__file__).resolve().parent.parent

BASE = """
name = "linked"
seeds = [0]
[model]
name = "softmax_regression"
[dataset]
name = "iris"
[train]
epochs = 1
batch_size = [16, 32, 64, 128]
[optimizer]
name = "sgd"
lr = [0.1, 0.2]
[schedule]
name = "constant"
warmup_steps = 100
"""


def spec(scaling: str, base: str = BASE) -> str:
    return textwrap.dedent(base) + "[scaling]\n" + textwrap.dedent(scaling)


def by_batch(trials) -> dict:
    """batch size -> sorted [(lr, lr_base, warmup_steps)]."""
    out = {}
    for t in trials:
        s = t.parsed
        out.setdefault(t.batch_size, []).append((s.lr, t.lr_base, s.schedule.warmup_steps))
    return {b: sorted(v) for b, v in out.items()}


def test_linear_rule_scales_lr_by_b_over_base_and_warmup_by_base_over_b():
    trials = expand(load_spec(spec('lr = "linear"\nbase_batch = 32\n')))
    got = by_batch(trials)
    assert sorted(got) == [16, 32, 64, 128]
    for b in (16, 32, 64, 128):
        k = b / 32
        assert got[b] == [(pytest.approx(0.1 * k), 0.1, round(100 / k)), (pytest.approx(0.2 * k), 0.2, round(100 / k))]
    assert [w for _, _, w in got[16]] == [200, 200] and [w for _, _, w in got[128]] == [25, 25]
    # one warmup *epoch count* at every batch size: warmup steps x batch size is constant
    assert {b * got[b][0][2] for b in got} == {3200}


def test_sqrt_rule_scales_lr_by_sqrt_and_warmup_the_same_way_by_default():
    got = by_batch(expand(load_spec(spec('lr = "sqrt"\nbase_batch = 32\n'))))
    for b in (16, 32, 64, 128):
        k = math.sqrt(b / 32)
        assert [lr for lr, _, _ in got[b]] == [pytest.approx(0.1 * k, rel=1e-11), pytest.approx(0.2 * k, rel=1e-11)]
        assert {w for _, _, w in got[b]} == {int(math.floor(100 / k + 0.5))}
    assert {w for _, _, w in got[16]} == {141} and {w for _, _, w in got[128]} == {50}


def test_warmup_rule_is_its_own_setting():
    none = by_batch(expand(load_spec(spec('lr = "linear"\nbase_batch = 32\nwarmup = "none"\n'))))
    assert {w for rows in none.values() for _, _, w in rows} == {100}
    mixed = by_batch(expand(load_spec(spec('lr = "linear"\nbase_batch = 32\nwarmup = "sqrt"\n'))))
    assert [lr for lr, _, _ in mixed[128]] == [pytest.approx(0.4), pytest.approx(0.8)]
    assert {w for _, _, w in mixed[128]} == {50}


def test_warmup_in_epochs_is_kept_by_the_linear_rule_and_grows_by_sqrt():
    base = BASE.replace("warmup_steps = 100", 'warmup_steps = 4\nunit = "epoch"')
    lin = by_batch(expand(load_spec(spec('lr = "linear"\nbase_batch = 32\n', base))))
    assert {b: {w for _, _, w in rows} for b, rows in lin.items()} == {16: {4}, 32: {4}, 64: {4}, 128: {4}}
    sq = by_batch(expand(load_spec(spec('lr = "sqrt"\nbase_batch = 32\n', base))))
    assert {b: {w for _, _, w in rows} for b, rows in sq.items()} == {16: {3}, 32: {4}, 64: {6}, 128: {8}}


def test_the_schedule_keeps_its_shape_lr_min_and_warmup_start_scale_with_lr():
    base = BASE.replace('name = "constant"\nwarmup_steps = 100',
                        'name = "cosine"\nlr_min = 0.01\nwarmup_steps = 100\nwarmup_start = 0.02')
    trials = expand(load_spec(spec('lr = "linear"\nbase_batch = 32\n', base)))
    for t in trials:
        s = t.parsed.schedule.settings()
        k = t.batch_size / 32
        assert t.parsed.lr == pytest.approx(t.lr_base * k)
        assert s["lr_min"] == pytest.approx(0.01 * k) and s["warmup_start"] == pytest.approx(0.02 * k)


def test_no_product_grid_only_the_listed_base_values_at_each_batch_size():
    trials = expand(load_spec(spec('lr = "linear"\nbase_batch = 32\n').replace("seeds = [0]", "seeds = [0, 1]")))
    assert len(trials) == 4 * 2 * 2  # batch sizes x base lrs x seeds
    pairs = {(t.batch_size, t.parsed.lr) for t in trials}
    assert len(pairs) == 8
    lrs = {lr for _, lr in pairs}
    assert sorted(lrs) == [0.05, 0.1, 0.2, 0.4, 0.8]  # a product grid would be 5 x 4 = 20 pairs
    assert (16, 0.8) not in pairs and (128, 0.05) not in pairs


def test_scaled_lrs_are_rounded_as_written_by_hand():
    text = spec('lr = "linear"\nbase_batch = 32\n').replace("[16, 32, 64, 128]", "[32, 96]")
    lrs = sorted(t.parsed.lr for t in expand(load_spec(text)))
    assert lrs == [0.1, 0.2, 0.3, 0.6]  # 0.1 x 3 is 0.3, not 0.30000000000000004


def test_a_scaled_trial_has_the_id_of_the_same_configuration_written_out():
    scaled = expand(load_spec(spec('lr = "linear"\nbase_batch = 32\n')))
    for b in (16, 32, 64, 128):
        k = b / 32
        plain = BASE.replace("[16, 32, 64, 128]", str(b)).replace("lr = [0.1, 0.2]", f"lr = [{0.1 * k}, {0.2 * k}]")
        plain = plain.replace("warmup_steps = 100", f"warmup_steps = {round(100 / k)}")
        by_hand = expand(load_spec(plain))
        ours = [t for t in scaled if t.batch_size == b]
        assert [t.trial_id for t in ours] == [t.trial_id for t in by_hand]
        assert [t.config_id for t in ours] == [t.config_id for t in by_hand]
    # without [scaling] nothing changes: the same spec gives the same ids as before [scaling] existed
    unscaled = expand(load_spec(BASE))
    assert all(t.lr_base is None for t in unscaled)
    assert len({t.trial_id for t in unscaled}) == 8


def test_random_search_samples_base_values_then_scales_them():
    text = textwrap.dedent(BASE) + textwrap.dedent("""
    [search]
    kind = "random"
    trials = 30
    seed = 4
    lr = { log_uniform = [1e-3, 1e-1] }
    batch_size = { choice = [16, 64, 256] }
    [scaling]
    lr = "sqrt"
    base_batch = 16
    warmup = "none"
    """)
    trials = expand(load_spec(text))
    assert len(trials) == 30 and {t.batch_size for t in trials} == {16, 64, 256}
    for t in trials:
        assert 1e-3 <= t.lr_base <= 1e-1
        assert t.parsed.lr == pytest.approx(t.lr_base * math.sqrt(t.batch_size / 16), rel=1e-11)
        assert t.parsed.schedule.warmup_steps == 100


BAD = [
    ("one batch size", BASE.replace("[16, 32, 64, 128]", "64"), 'lr = "linear"\nbase_batch = 32\n',
     "scaling", "batch_size = [32, 64, 128]"),
    ("full batch", BASE.replace("[16, 32, 64, 128]", '[16, "full"]'), 'lr = "linear"\nbase_batch = 32\n',
     "train.batch_size", "\"full\""),
    ("base 0", BASE, 'lr = "linear"\nbase_batch = 0\n', "scaling.base_batch", "[1, "),
    ("base negative", BASE, 'lr = "linear"\nbase_batch = -32\n', "scaling.base_batch", "[1, "),
    ("base fraction", BASE, 'lr = "linear"\nbase_batch = 1.5\n', "scaling.base_batch", "integer"),
    ("base text", BASE, 'lr = "linear"\nbase_batch = "32"\n', "scaling.base_batch", "integer"),
    ("base missing", BASE, 'lr = "linear"\n', "scaling.base_batch", "required"),
    ("lr rule unknown", BASE, 'lr = "quadratic"\nbase_batch = 32\n', "scaling.lr", "linear, sqrt"),
    ("lr rule misspelt", BASE, 'lr = "linaer"\nbase_batch = 32\n', "scaling.lr", "linear"),
    ("lr rule missing", BASE, 'base_batch = 32\n', "scaling.lr", "linear, sqrt"),
    ("warmup rule unknown", BASE, 'lr = "linear"\nbase_batch = 32\nwarmup = "cubic"\n', "scaling.warmup",
     "linear, sqrt, none"),
    ("warmup without warmup", BASE.replace("warmup_steps = 100", "warmup_steps = 0"),
     'lr = "linear"\nbase_batch = 32\nwarmup = "linear"\n', "scaling.warmup", "warmup_steps > 0"),
    ("unknown key", BASE, 'lr = "linear"\nbase_batch = 32\nbase_bach = 32\n', "scaling.base_bach",
     "base_batch"),
]


@pytest.mark.parametrize("base,scaling,field,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_errors_name_the_field_and_allowed_values_in_plan_and_run_alike(tmp_path, base, scaling, field, words):
    text = spec(scaling, base)
    with pytest.raises(SpecError) as via_plan:
        plan(text)
    out = tmp_path / "out"
    with pytest.raises(SpecError) as via_run:
        run_sweep(text, out, backend="sequential")
    assert via_plan.value.problems == via_run.value.problems
    fields = [f for f, _ in via_run.value.problems]
    assert field in fields, via_run.value
    message = dict(via_run.value.problems)[field]
    assert words in message, message
    assert not out.exists()


def test_scaling_must_be_a_table_and_search_batch_sizes_must_be_integers():
    with pytest.raises(SpecError, match=r"scaling: must be a table"):
        load_spec(textwrap.dedent(BASE).replace('name = "linked"', 'name = "linked"\nscaling = "linear"'))
    text = textwrap.dedent(BASE) + ('[search]\nkind = "random"\ntrials = 3\nbatch_size = { choice = [16, "full"] }\n'
                                    '[scaling]\nlr = "linear"\nbase_batch = 16\n')
    with pytest.raises(SpecError) as exc:
        load_spec(text)
    assert "search.batch_size" in [f for f, _ in exc.value.problems]


def test_plan_shows_lr_and_warmup_per_batch_size():
    info = plan(spec('lr = "linear"\nbase_batch = 32\n'))
    rows = {r["batch_size"]: r for r in info["linked"]["rows"]}
    assert rows[64]["lr"] == [0.2, 0.4] and rows[64]["warmup_steps"] == [50] and rows[64]["lr_factor"] == 2
    text = format_plan(info)
    assert 'linked axes: [scaling] lr = "linear", warmup = "linear", base_batch = 32' in text
    line = next(ln for ln in text.splitlines() if ln.split()[:1] == ["16"])
    assert line.split() == ["16", "0.5", "0.05,", "0.1", "200"]
    assert "optimizer.lr at 32" in text


def test_run_writes_lr_base_beside_the_effective_lr_and_old_folders_read_without_it(tmp_path):
    import optengine as oe

    text = spec('lr = "linear"\nbase_batch = 32\n').replace("[16, 32, 64, 128]", "[16, 64]")
    runs = run_sweep(text, tmp_path / "scaled", backend="sequential")
    assert runs["lr_base"].dtype == "float64"
    assert sorted(zip(runs["batch_size"], runs["lr_base"], runs["lr"])) == [
        (16, 0.1, 0.05), (16, 0.2, 0.1), (64, 0.1, 0.2), (64, 0.2, 0.4)]
    assert set(runs["schedule_settings"]) == {"constant(warmup_steps=200)", "constant(warmup_steps=50)"}
    assert runs["config_id"].str.len().eq(16).all()
    again, _ = oe.load(tmp_path / "scaled")
    assert again["lr_base"].tolist() == runs["lr_base"].tolist()
    # resuming the same spec runs nothing and keeps the column
    assert run_sweep(text, tmp_path / "scaled", backend="sequential")["lr_base"].notna().all()
    # a sweep without [scaling] writes no lr_base column, and folders written before read as ever
    plain = run_sweep(BASE.replace("[16, 32, 64, 128]", "16"), tmp_path / "plain", backend="sequential")
    assert "lr_base" not in plain.columns
    old, _ = oe.load(ROOT / "tests" / "fixtures" / "results_v2")
    assert "lr_base" not in old.columns


def test_shipped_batch_size_scaling_spec():
    """sweeps/batch_size_scaling.toml: 7 batch sizes x 5 base lrs x 2 seeds, the lr linear in the batch size."""
    path = ROOT / "sweeps" / "batch_size_scaling.toml"
    raw = tomllib.loads(path.read_text())
    assert raw["name"] == "batch_size_scaling"
    trials = expand(load_spec(path))
    assert len(trials) == 7 * 5 * 2
    got = by_batch(trials)
    assert sorted(got) == [16, 32, 64, 128, 256, 512, 1024]
    for b, rows in got.items():
        assert sorted({lr for lr, _, _ in rows}) == [pytest.approx(x * b / 32) for x in (0.01, 0.02, 0.04, 0.08, 0.16)]
        assert {w for _, _, w in rows} == {max(1, int(math.floor(100 * 32 / b + 0.5)))}
    assert json.loads(trials[0].settings)["optimizer"] == "momentum"


def test_shipped_batch_size_scaling_spec_runs_tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTENGINE_CACHE", str(tmp_path / "cache"))
    raw = tomllib.loads((ROOT / "sweeps" / "batch_size_scaling.toml").read_text())
    raw = {**raw, "seeds": [0], "model": {**raw["model"], "hidden": [8]},
           "train": {**raw["train"], "epochs": 1, "batch_size": [16, 64]},
           "optimizer": {**raw["optimizer"], "lr": [0.01, 0.04]}}
    runs = run_sweep(raw, tmp_path / "out", backend="sequential")
    assert len(runs) == 4 and set(runs["status"].astype(str)) == {"ok"}
    assert sorted(zip(runs["batch_size"], runs["lr"])) == [(16, 0.005), (16, 0.02), (64, 0.02), (64, 0.08)]
    assert sorted(runs["lr_base"]) == [0.01, 0.01, 0.04, 0.04]
