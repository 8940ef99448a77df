"""Optuna pruners in model-based search ([search] pruner, report_every): trials train in chunks of
report_every epochs from exact checkpoints, report their objective after each chunk, and those pruned
stop with status "pruned"; chunks change no number, the search is deterministic and resumes exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytest.importorskip("optuna")

from optengine.sweep import Interrupted, load_spec, run_sweep  # noqa: E402
from optengine.sweep import model_search  # noqa: E402
from optengine.sweep.plan import format_plan, plan  # noqa: E402
from optengine.sweep.problems import SpecError  # noqa: E402

SPEC = """
name = "pruned_iris"
seeds = [0, 1]
[model]
name = "mlp"
hidden = [6]
[dataset]
name = "iris"
[train]
epochs = 6
batch_size = 16
[optimizer]
name = ["sgd", "adam"]
[search]
kind = "tpe"
trials = 8
batch = 4
seed = 3
lr = { log_uniform = [1e-4, 1.0] }
"""
PRUNER = 'pruner = {name = "median", n_startup_trials = 2}\nreport_every = 2\n'
TIMING = ["wall_s", "compile_s"]


def write(tmp_path, extra=PRUNER, name="spec.toml"):
    path = tmp_path / name
    path.write_text(SPEC + extra)
    return path


def metrics(runs):
    return runs.drop(columns=TIMING).sort_values("trial_id").reset_index(drop=True)


def told(out):
    return [r["told"] for r in json.loads((out / "search.json").read_text())["rounds"]]


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pruned")
    runs = run_sweep(write(tmp), tmp / "out", backend="sequential")
    return tmp / "out", runs


@pytest.fixture(scope="module")
def unpruned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unpruned")
    runs = run_sweep(write(tmp, 'pruner = "none"\n'), tmp / "out", backend="sequential")
    return tmp / "out", runs


def _curves(out):
    from optengine.results import read_results

    return read_results(out)[1]


def test_the_median_pruner_prunes_and_pruned_trials_are_saved_as_such(pruned):
    out, runs = pruned
    rec = json.loads((out / "search.json").read_text())["rounds"]
    assert len(runs) == 8 * 2 and runs["trial_id"].is_unique
    n_pruned = 0
    curves = _curves(out)
    for r in rec:
        for a, t in zip(r["asked"], r["told"]):
            rows = runs[runs["trial_id"].isin(a["trial_ids"])]
            epochs = [e for e, _ in t["intermediate"]]
            if t["pruned_at"] is not None:
                n_pruned += 1
                assert t["state"] == "PRUNED" and set(rows["status"]) == {"pruned"}
                assert epochs == list(range(2, t["pruned_at"] + 1, 2)) and t["pruned_at"] < 6
                for tid in a["trial_ids"]:  # curves up to the pruning epoch
                    assert curves[curves["trial_id"] == tid]["epoch"].tolist() == list(range(1, t["pruned_at"] + 1))
                assert t["value"] == pytest.approx(t["intermediate"][-1][1])
            else:
                assert t["state"] == "COMPLETE" and set(rows["status"]) == {"ok"} and epochs == [2, 4, 6]
                # the report at the last epoch is the told value: the mean over the seeds
                assert t["intermediate"][-1][1] == pytest.approx(rows["final_val_loss"].mean())
    assert n_pruned >= 1
    assert rec[0]["told"][0]["pruned_at"] is None  # the median needs completed trials: none in round 0


def test_chunks_change_no_number_pruned_curves_are_the_unpruned_ones_cut(pruned, unpruned):
    (out, runs), (ref_out, ref) = pruned, unpruned
    # round 0 is asked from an empty history, round 1 from round 0's completed trials: the same asks
    rounds, ref_rounds = (json.loads((o / "search.json").read_text())["rounds"] for o in (out, ref_out))
    for k in (0, 1):
        assert [a["trial_ids"] for a in rounds[k]["asked"]] == [a["trial_ids"] for a in ref_rounds[k]["asked"]]
    ids = [t for k in (0, 1) for a in rounds[k]["asked"] for t in a["trial_ids"]]
    pruned_ids = set(runs[runs["status"] == "pruned"]["trial_id"]) & set(ids)
    assert pruned_ids  # the comparison below covers pruned trials
    curves, ref_curves = _curves(out), _curves(ref_out)
    for tid in ids:
        mine = curves[curves["trial_id"] == tid].sort_values("epoch").reset_index(drop=True)
        full = ref_curves[ref_curves["trial_id"] == tid].sort_values("epoch").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, full.iloc[:len(mine)].reset_index(drop=True))  # bit for bit
        if tid not in pruned_ids:
            assert len(mine) == len(full)
    cols = [c for c in ref.columns if c not in TIMING]
    a = runs[runs["trial_id"].isin(set(ids) - pruned_ids)][cols].sort_values("trial_id").reset_index(drop=True)
    b = ref[ref["trial_id"].isin(set(ids) - pruned_ids)][cols].sort_values("trial_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_resume_mid_round_equals_an_uninterrupted_search(pruned, tmp_path, monkeypatch):
    out, ref = pruned
    mine = tmp_path / "o"

    def stop(k, epoch):
        if (k, epoch) == (1, 2):  # round 1, right after its first reports and prunes
            raise KeyboardInterrupt

    monkeypatch.setattr(model_search, "_after_report", stop)
    with pytest.raises(Interrupted):
        run_sweep(write(tmp_path), mine, backend="sequential", pack_size=1)
    monkeypatch.setattr(model_search, "_after_report", None)
    rec = json.loads((mine / "search.json").read_text())["rounds"]
    assert len(rec) == 2 and "told" not in rec[1]  # stopped inside round 1
    runs = run_sweep(write(tmp_path), mine, backend="sequential", pack_size=1)
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert told(mine) == told(out)
    assert not list((mine / "checkpoints").glob("*.npz"))  # every trial saved, no checkpoint left


def test_resume_after_whole_rounds_replays_pruned_trials(pruned, tmp_path, monkeypatch):
    out, ref = pruned

    def stop(k):
        if k == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(model_search, "_after_round", stop)
    with pytest.raises(Interrupted):
        run_sweep(write(tmp_path), tmp_path / "o", backend="sequential")
    monkeypatch.setattr(model_search, "_after_round", None)
    runs = run_sweep(write(tmp_path), tmp_path / "o", backend="sequential")
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert told(tmp_path / "o") == told(out)


def test_without_a_pruner_nothing_changes(unpruned, tmp_path):
    out, ref = unpruned
    plain = tmp_path / "plain.toml"
    plain.write_text(SPEC)
    runs = run_sweep(plain, tmp_path / "o", backend="sequential")
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))  # same trial ids and numbers as pruner = "none"
    assert all(set(t) == {"state", "value"} for r in told(tmp_path / "o") for t in r)


@pytest.mark.parametrize("extra, field", [
    ('pruner = "medianx"\n', "search.pruner"),
    ('pruner = {name = "median", n_warmup = 2}\n', "search.pruner.n_warmup"),
    ('pruner = "percentile"\n', "search.pruner.percentile"),
    ('pruner = {name = "median", n_startup_trials = -1}\n', "search.pruner"),
    ('pruner = "median"\nreport_every = 0\n', "search.report_every"),
    ('pruner = "median"\nreport_every = 6\n', "search.report_every"),
    ('report_every = 2\n', "search.report_every"),
])
def test_bad_pruner_settings_name_their_field(tmp_path, extra, field):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, extra))
    assert field in [p for p, _ in err.value.problems], err.value.problems


@pytest.mark.parametrize("kind", ['kind = "halving"\nmin_epochs = 2', 'kind = "random"', 'kind = "grid"'])
def test_a_pruner_needs_a_model_based_search(tmp_path, kind):
    text = SPEC.replace('kind = "tpe"', kind).replace("batch = 4\n", "")
    if "grid" in kind:
        text = text.replace("trials = 8\n", "").replace("seed = 3\n", "").replace(
            'lr = { log_uniform = [1e-4, 1.0] }\n', "").replace("[optimizer]\n", "[optimizer]\nlr = [0.1]\n")
    (tmp_path / "s.toml").write_text(text + 'pruner = "median"\n')
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "s.toml")
    assert "search.pruner" in [p for p, _ in err.value.problems], err.value.problems


def test_plan_mentions_the_pruner(tmp_path):
    text = format_plan(plan(write(tmp_path), jobs=1))
    assert "pruner: Optuna's median pruner (n_startup_trials = 2)" in text and "chunks of 2 epoch" in text


def test_the_same_search_with_two_workers(pruned, tmp_path):
    out, ref = pruned
    runs = run_sweep(write(tmp_path), tmp_path / "o", backend="loky", jobs=2)
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert told(tmp_path / "o") == told(out)


def test_resume_after_kill_9_mid_chunk_equals_an_uninterrupted_search(pruned, tmp_path):
    out_ref, ref = pruned
    out = tmp_path / "o"
    args = [sys.executable, "-m", "optengine.cli", "run", write(tmp_path), "--out", out, "--backend", "sequential",
            "--pack-size", "1", "--no-progress"]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # round 0 saves 8 parts (packs of one trial); kill inside round 1's chunks
        parts = len(list((out / "runs").glob("part-*.parquet"))) if (out / "runs").is_dir() else 0
        ckpts = len(list((out / "checkpoints").glob("*.npz"))) if (out / "checkpoints").is_dir() else 0
        if (parts >= 8 and ckpts >= 3) or proc.poll() is not None:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list((out / "runs").glob("part-*.parquet"))) < 16, "the run should have been killed mid-search"
    done = subprocess.run([sys.executable, "-m", "optengine.cli", "run", str(write(tmp_path)), "--out", str(out),
                           "--backend", "sequential", "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    runs = run_sweep(write(tmp_path), out, backend="sequential")  # a no-op: all saved
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert told(out) == told(out_ref)
