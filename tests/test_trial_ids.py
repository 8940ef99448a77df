"""trial_ids never change: results folders written before a change resume after it. The ids below were
computed with optengine at 7ad5a1c (results format 2, before issue 14) and are hard-coded on purpose."""

from pathlib import Path

import pytest

from optengine.sweep import expand, load_spec

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"

PINNED = {  # spec -> {index in expand order: (trial_id, config_id)}
    "sweeps/quickstart.toml": (28, {0: ("cbb5593c220f8465", "cca92ae2df619edc"),
                                    1: ("b157fc572d8764ec", "1508f8fff6be01c9"),
                                    -2: ("4264af5209415a7b", "20dc737ead7a5a02"),
                                    -1: ("accdba16852d1280", "d6aa8fb184d8b1a2")}),
    "tests/fixtures/fixture_v2.toml": (12, {0: ("d4f72fd2b9a14a69", "24603c2a889ed5a8"),
                                            1: ("38e201ad16c92371", "24603c2a889ed5a8"),
                                            -2: ("e937f0cc7694b722", "67d5671dc40c107b"),
                                            -1: ("aa1bb4da9318aeb0", "67d5671dc40c107b")}),
    "sweeps/mnist1d_optimizers.toml": (336, {0: ("c5e01a68ae818a8d", "89568835437573b2"),
                                             1: ("77920483140e73f7", "89568835437573b2"),
                                             -2: ("3db1d1b79317c528", "51f15d0064ebd089"),
                                             -1: ("1dff63702414c2d3", "51f15d0064ebd089")}),
}

RANDOM_SPEC = '''name = "rs"
seeds = [0]
[model]
name = "rosenbrock"
[train]
epochs = 2
batch_size = "full"
[optimizer]
name = ["sgd", "nesterov", "rmsprop", "adagrad"]
lr = [1e-3]
[search]
kind = "random"
trials = 4
seed = 3
lr = { log_uniform = [1e-4, 1e-1] }
'''
RANDOM_IDS = ["a6e00a514a488f01", "4710b4b8d16d0553", "3a1a3ab905ac83bf", "4082f402deff64a6"]


@pytest.mark.parametrize("spec", list(PINNED))
def test_sweep_trial_ids_are_pinned(spec):
    n, pinned = PINNED[spec]
    trials = expand(load_spec(ROOT / spec))
    assert len(trials) == n
    for i, (tid, cid) in pinned.items():
        assert (trials[i].trial_id, trials[i].config_id) == (tid, cid), (spec, i)


def test_random_search_trial_ids_are_pinned():
    assert [t.trial_id for t in expand(load_spec(RANDOM_SPEC))] == RANDOM_IDS


def test_the_fixture_folders_trial_ids_are_the_specs():
    import optengine as oe

    runs, _ = oe.load(FIXTURES / "results_v2")
    assert set(runs["trial_id"]) == {t.trial_id for t in expand(load_spec(FIXTURES / "fixture_v2.toml"))}


def test_train_pack_trial_ids_are_pinned():
    from optengine.train import train_pack

    runs, _ = train_pack("rosenbrock", None, [
        {"optimizer": "adam", "lr": 1e-3},
        {"optimizer": "sgd", "lr": 1e-2, "schedule": "cosine", "clip": {"norm": 1.0}, "seed": 3},
        {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1}], batch_size="full", epochs=2)
    assert list(runs["trial_id"]) == ["c4f8a6d190bdbf6b", "fa046d7a8260c358", "3be8824c499431f5"]


def test_a_hyperparameter_added_later_keeps_the_old_trial_ids(monkeypatch):
    """momentum gained ``dampening`` (marked ``added`` in its record) after fixture_v2 was written: its
    trials keep their pinned ids while dampening is at its default; without the mark they would not."""
    from optengine import settings
    from optengine.settings import canonical_hyper

    n, pinned = PINNED["tests/fixtures/fixture_v2.toml"]
    trials = expand(load_spec(FIXTURES / "fixture_v2.toml"))
    for i, (tid, cid) in pinned.items():
        assert (trials[i].trial_id, trials[i].config_id) == (tid, cid)
    assert canonical_hyper("momentum", {"lr": 0.1, "dampening": 0.0}) == {"lr": 0.1}
    assert canonical_hyper("momentum", {"lr": 0.1, "dampening": 0.5}) == {"lr": 0.1, "dampening": 0.5}
    assert canonical_hyper("adam", {"lr": 0.1, "dampening": 0.0}) == {"lr": 0.1, "dampening": 0.0}
    monkeypatch.setattr(settings, "added_later", lambda rule: {})  # the mark removed: the ids change
    changed = expand(load_spec(FIXTURES / "fixture_v2.toml"))
    assert any(changed[i].trial_id != trials[i].trial_id for i in range(len(trials)))
