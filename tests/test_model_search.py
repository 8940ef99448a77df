"""Model-based search through Optuna ([search] kind = "tpe", ...): rounds of packs, determinism from
the seed, resume (interrupted mid-search, mid-round, without search.json), errors before any work,
plan, and that TPE does better than its first random round."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("optuna")

from optengine.errors import ConfigError  # noqa: E402
from optengine.sweep import Interrupted, load_spec, run_sweep  # noqa: E402
from optengine.sweep import model_search, runner  # noqa: E402
from optengine.sweep.plan import format_plan, plan  # noqa: E402
from optengine.sweep.problems import SpecError  # noqa: E402

SPEC = """
name = "tpe_iris"
seeds = [0, 1]
[model]
name = "mlp"
hidden = [6]
[dataset]
name = "iris"
[train]
epochs = 3
batch_size = 16
[optimizer]
name = ["sgd", "adam"]
[search]
kind = "tpe"
trials = 9
batch = 4
seed = 3
objective = "final_val_metric"
lr = { log_uniform = [1e-3, 1.0] }
"optimizer.adam.beta1" = { uniform = [0.5, 0.99] }
"""
TIMING = ["wall_s", "compile_s"]


def write(tmp_path, text=SPEC, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def metrics(runs):
    return runs.drop(columns=TIMING).reset_index(drop=True)


def rounds(out):
    return json.loads((out / "search.json").read_text())["rounds"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tpe")
    out = tmp / "out"
    runs = run_sweep(write(tmp), out, backend="sequential")
    return out, runs


def test_rounds_of_asked_configurations_are_trained_and_told(reference):
    out, runs = reference
    rec = rounds(out)
    assert [len(r["asked"]) for r in rec] == [4, 4, 1]  # 9 configurations in rounds of 4
    assert len(runs) == 9 * 2 and runs["trial_id"].is_unique  # every configuration with both seeds
    ids = [t for r in rec for a in r["asked"] for t in a["trial_ids"]]
    assert list(runs["trial_id"]) == ids  # the folder's order is the order of the asks
    for r in rec:
        for a, told in zip(r["asked"], r["told"]):
            rows = runs[runs["trial_id"].isin(a["trial_ids"])]
            assert set(rows["optimizer"]) == {a["params"]["optimizer.name"]}
            assert np.allclose(rows["lr"], a["params"]["optimizer.lr"])
            assert told == {"state": "COMPLETE", "value": pytest.approx(rows["final_val_metric"].mean())}
            if a["params"]["optimizer.name"] == "sgd":
                assert "optimizer.adam.beta1" not in a["params"]  # define-by-run: only the rule's own
    spec = load_spec(write(out.parent, name="again.toml"))
    assert model_search.direction(spec) == "maximize"


def test_the_same_seed_gives_the_same_search(reference, tmp_path):
    out, ref = reference
    runs = run_sweep(write(tmp_path), tmp_path / "o", backend="sequential", pack_size=1)
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert [r["asked"] for r in rounds(tmp_path / "o")] == [r["asked"] for r in rounds(out)]
    other = run_sweep(write(tmp_path, SPEC.replace("seed = 3", "seed = 4"), "b.toml"), tmp_path / "b",
                      backend="sequential")
    assert set(other["trial_id"]).isdisjoint(ref["trial_id"])


def test_resume_after_an_interrupted_round_equals_an_uninterrupted_search(reference, tmp_path, monkeypatch):
    _, ref = reference
    out = tmp_path / "o"
    calls = {"n": 0}
    save = runner._save

    def save_then_stop(*args, **kw):  # Ctrl-C after the 10th pack of one trial: in round 1
        save(*args, **kw)
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_save", save_then_stop)
    with pytest.raises(Interrupted):
        run_sweep(write(tmp_path), out, backend="sequential", pack_size=1)
    assert len(rounds(out)) == 2 and "told" not in rounds(out)[1]
    monkeypatch.setattr(runner, "_save", save)
    runs = run_sweep(write(tmp_path), out, backend="sequential")
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))


def test_resume_after_whole_rounds_and_without_the_search_record(reference, tmp_path, monkeypatch):
    _, ref = reference
    out = tmp_path / "o"

    def stop(k):
        if k == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(model_search, "_after_round", stop)
    with pytest.raises(Interrupted):
        run_sweep(write(tmp_path), out, backend="sequential")
    monkeypatch.setattr(model_search, "_after_round", None)
    assert len(rounds(out)) == 1
    (out / "search.json").unlink()  # the asks are recomputed from the saved results
    runs = run_sweep(write(tmp_path), out, backend="sequential")
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert run_sweep(write(tmp_path), out, backend="sequential")["trial_id"].tolist() == ref["trial_id"].tolist()


def test_resume_after_kill_9_mid_round_equals_an_uninterrupted_search(reference, tmp_path):
    out_ref, ref = reference
    out = tmp_path / "o"
    args = [sys.executable, "-m", "optengine.cli", "run", write(tmp_path), "--out", out, "--backend", "sequential",
            "--pack-size", "1", "--no-progress"]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # round 0 is 8 packs of one trial: kill in round 1
        if len(list((out / "runs").glob("part-*.parquet"))) >= 10 or proc.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = len(list((out / "runs").glob("part-*.parquet")))
    assert 10 <= saved < 18, "the run should have been killed mid-search"
    done = subprocess.run([sys.executable, "-m", "optengine.cli", "run", str(write(tmp_path)), "--out", str(out),
                           "--backend", "sequential", "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "rounds of the tpe search on record" in done.stderr
    runs = run_sweep(write(tmp_path), out, backend="sequential")  # a no-op: all saved
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert [r["asked"] for r in rounds(out)] == [r["asked"] for r in rounds(out_ref)]


SURFACE = """
name = "tpe_surface"
[model]
name = "rosenbrock"
[train]
epochs = 200
batch_size = "full"
[optimizer]
name = "momentum"
[search]
kind = "tpe"
trials = 40
batch = 10
objective = "final_val_loss"
lr = { log_uniform = [1e-6, 1e-2] }
momentum = { uniform = [0.0, 0.99] }
"""


def test_tpe_does_better_than_its_first_random_round(tmp_path):
    out = tmp_path / "o"
    runs = run_sweep(write(tmp_path, SURFACE), out, backend="sequential")
    assert len(runs) == 40
    rec = rounds(out)
    value = {t: v for t, v in zip(runs["trial_id"], runs["final_val_loss"])}
    status = {t: s for t, s in zip(runs["trial_id"], runs["status"].astype(str))}

    def values(r):
        return [value[a["trial_ids"][0]] if status[a["trial_ids"][0]] == "ok" else np.inf for a in r["asked"]]

    first, later = values(rec[0]), [v for r in rec[2:] for v in values(r)]  # round 1: random until 10 results
    assert min(later) < 0.1 * min(first)
    assert np.median(values(rec[-1])) < np.median(first)
    for r in rec:  # a diverged configuration is told as pruned, without a value
        for a, told in zip(r["asked"], r["told"]):
            assert told["state"] == ("COMPLETE" if status[a["trial_ids"][0]] == "ok" else "PRUNED")
    assert any(s == "diverged" for s in status.values())  # lr up to 1e-2 on Rosenbrock: some do


@pytest.mark.parametrize("kind, needs", [("optuna_random", "optuna"), ("gp", "torch"), ("cmaes", "cmaes")])
def test_other_samplers_resume_exactly(tmp_path, monkeypatch, kind, needs):
    """CMA-ES keeps its state in the trials' system attributes: search.json records them."""
    pytest.importorskip(needs)
    text = (SURFACE.replace('kind = "tpe"', f'kind = "{kind}"').replace("trials = 40", "trials = 12")
            .replace("batch = 10", "batch = 4").replace("epochs = 200", "epochs = 20"))
    ref = run_sweep(write(tmp_path, text), tmp_path / "ref", backend="sequential")

    def stop(k):
        if k == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(model_search, "_after_round", stop)
    with pytest.raises(Interrupted):
        run_sweep(write(tmp_path, text), tmp_path / "o", backend="sequential")
    monkeypatch.setattr(model_search, "_after_round", None)
    runs = run_sweep(write(tmp_path, text), tmp_path / "o", backend="sequential")
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert len(runs) == 12 and runs["trial_id"].is_unique


# -- errors and plan ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, text", [
    (('objective = "final_val_metric"', 'objective = "final_test_metric"'), "search.objective", "test split"),
    (('objective = "final_val_metric"', 'objective = "val_acc"'), "search.objective", "final_val_metric"),
    (("batch = 4", "batch = 0"), "search.batch", "[1, 1000000]"),
    (("batch = 4", 'batch = "four"'), "search.batch", ""),
    (('kind = "tpe"', 'kind = "tpee"'), "search.kind", "did you mean 'tpe'"),
    (('kind = "tpe"', 'direction = "up"\nkind = "tpe"'), "search.direction", "maximize"),
    (('kind = "tpe"\ntrials = 9\nbatch = 4', 'kind = "random"\ntrials = 9\nbatch = 4'), "search.batch",
     "only model-based search"),
])
def test_bad_search_settings_name_their_field_and_write_nothing(tmp_path, change, field, text):
    spec = write(tmp_path, SPEC.replace(*change))
    with pytest.raises(SpecError) as exc:
        run_sweep(spec, tmp_path / "o", backend="sequential")
    assert field in [p for p, _ in exc.value.problems], exc.value
    assert text in str(exc.value)
    assert not (tmp_path / "o").exists()


def test_missing_optuna_is_a_config_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ConfigError) as exc:
        run_sweep(write(tmp_path), tmp_path / "o", backend="sequential")
    assert exc.value.field == "search.kind" and "pip install optengine[optuna]" in str(exc.value)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="needs optuna"):
        plan(write(tmp_path))


def test_missing_sampler_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match="'gp' needs torch"):
        load_spec(SPEC.replace('kind = "tpe"', 'kind = "gp"'))
    monkeypatch.setitem(sys.modules, "cmaes", None)
    with pytest.raises(ConfigError, match="'cmaes' needs cmaes: pip install cmaes"):
        load_spec(SPEC.replace('kind = "tpe"', 'kind = "cmaes"'))


def test_plan_says_rounds_space_and_that_configurations_come_later(tmp_path):
    info = plan(write(tmp_path), jobs=2)
    text = format_plan(info)
    assert "tpe search (Optuna), 9 configurations x 2 seed(s) = 18 trials, in 3 round(s) of 4" in text
    assert "(the last 1)" in text and "for 2 worker(s)" in text
    assert "chosen as results arrive" in text and "final_val_metric, mean over the seeds, maximized" in text
    assert "optimizer.lr: float in [0.001, 1.0] (log scale)" in text
    assert "optimizer.adam.beta1: float in [0.5, 0.99]" in text and "optimizer.name: one of ['sgd', 'adam']" in text
    assert info["trial_ids"] == [] and not (tmp_path / "results").exists()


def test_lists_and_choices_are_categorical_and_a_loss_is_minimised():
    spec = load_spec(SPEC.replace('objective = "final_val_metric"', "")
                     .replace("batch_size = 16", 'batch_size = [16, "full"]')
                     + '"clip.norm" = { choice = ["none", 1.0] }\n"schedule.warmup_steps" = { int_uniform = [0, 20] }\n')
    s = model_search.space(spec)
    assert list(s["train.batch_size"].choices) == [16, "full"]
    assert list(s["clip.norm"].choices) == ["none", 1.0]
    assert (s["schedule.warmup_steps"].low, s["schedule.warmup_steps"].high) == (0, 20)
    assert model_search.direction(spec) == "minimize"
    with pytest.raises(ConfigError, match="chooses its configurations as results arrive"):
        from optengine.sweep import expand

        expand(spec)
