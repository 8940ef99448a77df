"""Regression cases from fuzzing sweep specs: every invalid spec must raise ``ConfigError`` (a
``SpecError``) naming a TOML path, never another exception type, and never write anything.

Found by mutating the shipped specs and a few hand-written ones (random search, per-rule and
per-schedule tables, [[model]] tables, clipping, surface models); each case here is a minimal
reproducer. Only ``load_spec`` + ``expand`` run in the parametrized test (no data, no training).
"""

import textwrap

import pytest

from optengine.errors import ConfigError
from optengine.sweep import SpecError, expand, load_spec, plan, run_sweep

BASE = """
name = "t"
seeds = [0]
[model]
name = "softmax_regression"
[dataset]
name = "iris"
[optimizer]
name = "sgd"
lr = 0.1
"""

SURFACE = """
name = "t"
[model]
name = "rosenbrock"
noise = 0.1
[optimizer]
name = "sgd"
lr = 0.001
"""


def spec(extra: str, base: str = BASE) -> str:
    return textwrap.dedent(base) + textwrap.dedent(extra)


# (id, spec text, TOML path the error must name, text the message must contain or None)
INVALID = [
    # -- non-finite numbers where an integer is expected (check_number: int(nan)/int(inf) raise first)
    ("epochs-nan", spec("[train]\nepochs = nan\n"), "train.epochs", None),
    ("epochs-inf", spec("[train]\nepochs = inf\n"), "train.epochs", None),
    ("batch-size-inf", spec("[train]\nbatch_size = inf\n"), "train.batch_size", None),
    ("batch-size-nan-in-list", spec("[train]\nbatch_size = [16, nan]\n"), "train.batch_size[1]", None),
    ("seeds-inf", spec("", base=BASE.replace("seeds = [0]", "seeds = [0, inf]")), "seeds[1]", None),
    ("seeds-nan", spec("", base=BASE.replace("seeds = [0]", "seeds = nan")), "seeds", None),
    ("patience-nan", spec("[train]\nearly_stopping = {patience = nan}\n"), "train.early_stopping.patience", None),
    ("patience-inf", spec("[train]\nearly_stopping = inf\n"), "train.early_stopping.patience", None),
    ("search-trials-inf", spec("[search]\ntrials = inf\n"), "search.trials", None),
    ("search-seed-nan", spec("[search]\ntrials = 2\nseed = nan\n"), "search.seed", None),
    ("step-size-inf", spec("[schedule]\nname = \"step\"\nstep_size = inf\n"), "schedule.step_size", None),
    ("warmup-nan", spec("[schedule]\nname = \"cosine\"\nwarmup_steps = nan\n"), "schedule.warmup_steps", None),
    ("cosine-total-inf", spec("[schedule]\nname = \"cosine\"\n[schedule.cosine]\ntotal_steps = inf\n"),
     "schedule.cosine.total_steps", None),
    ("n-features-nan", spec("", base=BASE.replace('name = "softmax_regression"',
                                                  'name = "softmax_regression"\nn_features = nan')),
     "model.n_features", None),
    # -- huge numbers in model settings (OverflowError from the model builder)
    ("mlp-sizes-huge-float", spec("", base=BASE.replace('name = "softmax_regression"',
                                                        'name = "mlp"\nsizes = [4, 1e308, 3]')),
     "model.sizes", None),
    ("mlp-sizes-huge-int", spec("", base=BASE.replace('name = "softmax_regression"',
                                                      'name = "mlp"\nsizes = [4, 99999999999999999999, 3]')),
     "model.sizes", None),
    # -- [search]: int_uniform with infinite bounds (int(inf) in _dist)
    ("search-int-uniform-inf", spec("[search]\ntrials = 3\nlr = {int_uniform = [1, inf]}\n"), "search.lr", None),
    ("search-int-uniform-minus-inf", spec("[search]\ntrials = 3\nepochs = {int_uniform = [-inf, 3]}\n"),
     "search.epochs", None),
    # -- [search]: int_uniform bounds beyond int64 (numpy ValueError at sampling time)
    ("search-int-uniform-huge", spec("[search]\ntrials = 3\nbatch_size = {int_uniform = [1, 1e30]}\n"),
     "search.batch_size", None),
    # -- [search]: sampling a rule that is not in optimizer.name (KeyError in _random_configs)
    ("search-choice-rule-not-in-sweep", spec("[search]\ntrials = 3\nname = {choice = [\"adam\"]}\n"),
     "search.name", None),
    ("search-choice-rules-dotted", spec("[search]\ntrials = 3\n\"optimizer.name\" = {choice = [\"sgd\", \"adam\"]}\n"),
     "search.optimizer.name", None),
    ("search-choice-rules-table", spec("[search]\ntrials = 3\n[search.optimizer]\nname = {choice = [\"sgd\", \"momentum\"]}\n"),
     "search.optimizer.name", None),
    # -- misspelled keys: the misspelled key must be named, with the closest valid name
    ("model-name-misspelled", spec("", base=BASE.replace('[model]\nname = "softmax_regression"',
                                                         '[model]\nnmae = "softmax_regression"')),
     "model.nmae", "did you mean 'name'"),
    ("dataset-name-misspelled", spec("", base=BASE.replace('[dataset]\nname = "iris"', '[dataset]\nnaem = "iris"')),
     "dataset.naem", "did you mean 'name'"),
    ("optimizer-name-misspelled", spec("", base=BASE.replace('[optimizer]\nname = "sgd"', '[optimizer]\nnmae = "sgd"')),
     "optimizer.nmae", "did you mean 'name'"),
    ("schedule-name-misspelled", spec("[schedule]\nnmae = \"cosine\"\n"), "schedule.nmae", "did you mean 'name'"),
    ("search-trials-misspelled", spec("[search]\ntrails = 3\nlr = {log_uniform = [1e-3, 1e-1]}\n"),
     "search.trails", "did you mean 'trials'"),
    ("search-seed-misspelled", spec("[search]\ntrials = 3\nsede = 1\n"), "search.sede", "did you mean 'seed'"),
    ("search-dist-misspelled", spec("[search]\ntrials = 3\nlr = {log_unifrom = [1e-3, 1e-1]}\n"),
     "search.lr.log_unifrom", "did you mean 'log_uniform'"),
    ("search-clip-value-misspelled", spec("[search]\ntrials = 3\n\"clip.valeu\" = {choice = [0.5]}\n"),
     "search.clip.valeu", "did you mean 'clip.value'"),
    # -- a few that already pass: wrong shapes and types everywhere
    ("optimizer-array-of-tables", spec("", base=BASE.replace("[optimizer]", "[[optimizer]]")), "optimizer", None),
    ("schedule-array-of-tables", spec("[[schedule]]\nname = \"cosine\"\n"), "schedule", None),
    ("clip-array-of-tables", spec("[[clip]]\nnorm = 1.0\n"), "clip", None),
    ("search-array-of-tables", spec("[[search]]\ntrials = 2\n"), "search", None),
    ("model-is-string", spec("", base=BASE.replace('[model]\nname = "softmax_regression"\n', "")
                             .replace('name = "t"', 'name = "t"\nmodel = "mlp"')), "model", None),
    ("lr-nested-list", spec("", base=BASE.replace("lr = 0.1", "lr = [[0.1]]")), "optimizer.lr", None),
    ("lr-table", spec("", base=BASE.replace("lr = 0.1", "lr = {a = 1}")), "optimizer.lr", None),
    ("lr-bool", spec("", base=BASE.replace("lr = 0.1", "lr = true")), "optimizer.lr", None),
    ("lr-empty-list", spec("", base=BASE.replace("lr = 0.1", "lr = []")), "optimizer.lr", None),
    ("lr-repeated", spec("", base=BASE.replace("lr = 0.1", "lr = [0.1, 0.1]")), "optimizer.lr", None),
    ("lr-negative", spec("", base=BASE.replace("lr = 0.1", "lr = -0.1")), "optimizer.lr", None),
    ("lr-inf", spec("", base=BASE.replace("lr = 0.1", "lr = inf")), "optimizer.lr", None),
    ("rule-unicode", spec("", base=BASE.replace('name = "sgd"', 'name = "säd"')), "optimizer.name", None),
    ("rule-misspelled", spec("", base=BASE.replace('name = "sgd"', 'name = "adma"')), "optimizer.name",
     "did you mean 'adam'"),
    ("name-not-folder-safe", spec("", base=BASE.replace('name = "t"', 'name = "../x"')), "name", None),
    ("batch-size-table", spec("[train]\nbatch_size = {a = 1}\n"), "train.batch_size", None),
    ("dtype-list-of-lists", spec("[train]\ndtype = [[\"float32\"]]\n"), "train.dtype", None),
    ("early-stopping-unknown-key", spec("[train]\nearly_stopping = {patiense = 3}\n"),
     "train.early_stopping.patiense", "did you mean 'patience'"),
    ("schedule-name-table", spec("[schedule]\nname = {a = 1}\n"), "schedule.name", None),
    ("per-rule-table-not-in-sweep", spec("[optimizer.adam]\nbeta1 = 0.5\n"), "optimizer.adam", None),
    ("per-schedule-table-not-in-sweep", spec("[schedule.cosine]\nlr_min = 0.0\n"), "schedule.cosine", None),
    ("lr-min-above-lr", spec("[schedule]\nname = \"cosine\"\nlr_min = 0.5\n"), "schedule.lr_min", None),
    ("clip-empty-list", spec("[clip]\nnorm = []\n"), "clip.norm", None),
    ("clip-table", spec("[clip]\nnorm = {x = 1}\n"), "clip.norm", None),
    ("search-uniform-for-integer", spec("[search]\ntrials = 2\nepochs = {uniform = [1, 3]}\n"), "search.epochs.uniform",
     None),
    ("search-two-dists", spec("[search]\ntrials = 2\nlr = {uniform = [0.1, 0.2], choice = [0.1]}\n"), "search.lr",
     None),
    ("search-log-uniform-zero", spec("[search]\ntrials = 2\nlr = {log_uniform = [0, 0.1]}\n"), "search.lr.log_uniform", None),
    ("surface-with-dataset", spec("[dataset]\nname = \"iris\"\n", base=SURFACE), "dataset.name", None),
    ("surface-start-not-pair", spec("", base=SURFACE.replace("noise = 0.1", "start = [1]")), "model.start", None),
]


@pytest.mark.parametrize("text,path,contains", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_spec_raises_spec_error_naming_the_path(text, path, contains):
    try:
        expand(load_spec(text))
    except SpecError as exc:
        paths = [p for p, _ in exc.problems]
        assert any(q == path or q.startswith(path + ".") or q.startswith(path + "[") for q in paths), \
            f"expected a problem at {path!r} (or below it), got {exc}"
        if contains is not None:
            assert contains in str(exc), str(exc)
        return
    except Exception as exc:  # noqa: BLE001 - the point: nothing but SpecError
        pytest.fail(f"{type(exc).__name__} instead of SpecError: {exc}")
    pytest.fail("no error for an invalid spec")


CASES = {c[0]: c[1] for c in INVALID}


@pytest.mark.parametrize("text", [CASES["epochs-nan"], CASES["search-int-uniform-inf"],
                                  CASES["search-choice-rule-not-in-sweep"]],
                         ids=["epochs-nan", "search-int-uniform-inf", "search-choice-rule-not-in-sweep"])
def test_plan_raises_spec_error_too(text):
    with pytest.raises(SpecError):
        plan(text)


@pytest.mark.parametrize("dataset", [
    'name = "surface_noise"\nn_samples = 0',
    'name = "surface_noise"\nn_samples = "a"',
    'name = "surface_noise"\nseed = -1',
    'name = "surface_noise"\nseed = nan',
], ids=["n_samples-0", "n_samples-str", "seed-negative", "seed-nan"])
def test_invalid_surface_noise_settings_are_refused_before_anything_is_written(tmp_path, dataset):
    """surface_noise settings are checked only inside the worker today: the folder is created and every
    trial is saved as failed instead of a SpecError naming dataset.<key>."""
    text = spec(f"[dataset]\n{dataset}\n[train]\nepochs = 1\nbatch_size = 10\n", base=SURFACE)
    out = tmp_path / "res"
    with pytest.raises(ConfigError) as info:
        run_sweep(text, out=out, backend="sequential")
    assert "dataset." in str(info.value)
    assert not out.exists()


@pytest.mark.parametrize("model", [
    'name = "mlp"\nhidden = [1e308]',
    'name = "mlp"\nhidden = [nan]',
    'name = "softmax_regression"\nn_classes = 1e300',
], ids=["mlp-hidden-huge", "mlp-hidden-nan", "n-classes-huge"])
def test_bad_model_numbers_found_at_preflight_are_config_errors(tmp_path, model):
    """Settings checked only against the data (in run_sweep's preflight): OverflowError / ValueError today."""
    text = spec("[train]\nepochs = 1\n", base=BASE.replace('name = "softmax_regression"', model))
    out = tmp_path / "res"
    with pytest.raises(ConfigError) as info:
        run_sweep(text, out=out, backend="sequential")
    assert "model." in str(info.value)
    assert not out.exists()


def test_invalid_spec_writes_nothing(tmp_path):
    out = tmp_path / "res"
    with pytest.raises(SpecError):
        run_sweep(spec("[train]\nepochs = 0\n"), out=out, backend="sequential")
    assert not out.exists()


def test_a_failed_seed_keeps_its_configuration_out_of_the_ranking(tmp_path, monkeypatch):
    """A configuration with a failed seed has no mean and never ranks best (analysis docstring). The
    failed row must carry the same configuration columns as its ok seeds (batch size as trained,
    schedule label with the resolved total_steps), or summarize() splits the configuration in two."""
    import optengine.sweep.worker as worker
    from optengine import analysis

    train = worker._train

    def fail_seed_1(payload, trials, threads):
        if any(t.seed == 1 and t.lr == 0.1 for t in trials):  # (the validated settings: TrialSettings)
            raise RuntimeError("injected failure")
        return train(payload, trials, threads)

    monkeypatch.setattr(worker, "_train", fail_seed_1)
    text = spec('[train]\nepochs = 2\nbatch_size = "full"\n[schedule]\nname = "cosine"\n',
                base=BASE.replace("seeds = [0]", "seeds = [0, 1]").replace("lr = 0.1", "lr = [0.1, 0.001]"))
    runs = run_sweep(text, out=tmp_path / "res", backend="sequential", pack_size=1)
    assert (runs["status"].astype(str) == "failed").sum() == 1
    s = analysis.summarize(runs)
    assert len(s) == 2, s[["lr", "batch_size", "schedule", "mean", "seeds"]]
    best = analysis.best_per_optimizer(runs)
    assert best["mean"].iloc[0] == s.loc[s["lr"] == 0.001, "mean"].iloc[0]
