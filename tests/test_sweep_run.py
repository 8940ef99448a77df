"""Running sweeps: results on disk, resume after kill -9, determinism across jobs and backends,
failed trials, dying workers, torn and foreign files, the CLI end to end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.results import ResultsError, read_results
from optengine.sweep import run_sweep
from optengine.sweep.worker import FAULT_ENV

TINY = """
name = "tiny"
seeds = [0, 1]
[model]
name = "mlp"
hidden = [6]
[dataset]
name = "iris"
[train]
epochs = 3
batch_size = [16, "full"]
[optimizer]
name = ["sgd", "momentum", "adam"]
lr = [0.03, 0.1]
[clip]
norm = ["none", 1.0]
"""
N_TINY = 2 * 2 * 3 * 2 * 2  # seeds x batch x rules x lr x clip
TIMING = ["wall_s", "compile_s"]  # times, not results


def write_spec(tmp_path, text=TINY, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def metrics(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.drop(columns=TIMING).sort_values("trial_id").reset_index(drop=True)


def sorted_curves(curves: pd.DataFrame) -> pd.DataFrame:
    return curves.sort_values(["trial_id", "epoch"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep run once, in this process (sequential backend)."""
    tmp = tmp_path_factory.mktemp("ref")
    out = tmp / "out"
    runs = run_sweep(write_spec(tmp), out, backend="sequential")
    return out, runs


def cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "optengine.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


# -- results --------------------------------------------------------------------------------------

def test_results_folder_layout_and_tables(reference):
    out, runs = reference
    assert (out / "sweep.json").is_file() and (out / "spec.toml").read_text() == TINY
    env = json.loads((out / "environment.json").read_text())
    assert env[-1]["backend"] == "sequential" and env[-1]["cores"] >= 1 and "numba" in env[-1]["versions"]
    assert len(runs) == N_TINY and runs["trial_id"].is_unique
    assert set(runs["status"].astype(str)) == {"ok"}
    assert runs["batch_size"].dtype == np.int64 and runs["lr"].dtype == np.float64
    assert runs["early_stopped"].dtype == bool
    assert set(runs["batch_size"]) == {16, 96}  # "full" is the training split (96 of 150 iris rows)
    runs2, curves = oe.load(out)
    pd.testing.assert_frame_equal(runs, runs2)
    assert len(curves) == N_TINY * 3
    assert curves.groupby("trial_id").size().eq(3).all()
    assert (curves["epoch"].dtype, curves["val_loss"].dtype) == (np.int64, np.float64)
    # the runs table follows the spec's grid order
    info = json.loads((out / "sweep.json").read_text())
    assert list(runs["trial_id"]) == info["trial_ids"]


def test_each_trial_matches_oe_train(reference):
    _, runs = reference
    row = runs[(runs.optimizer == "adam") & (runs.lr == 0.1) & (runs.batch_size == 16) & (runs.seed == 1)
               & (runs["clipping"] == "norm=1.0")].iloc[0]
    summary, _ = oe.train(model={"name": "mlp", "hidden": [6]}, dataset="iris", optimizer="adam", lr=0.1,
                          batch_size=16, epochs=3, seed=1, clip={"norm": 1.0})
    assert summary["final_val_loss"] == row["final_val_loss"]
    assert summary["final_train_loss"] == row["final_train_loss"]


def test_rerun_is_a_no_op_and_other_specs_are_refused(reference, tmp_path):
    out, runs = reference
    before = sorted(p.name for p in (out / "runs").iterdir())
    again = run_sweep(write_spec(tmp_path), out, backend="sequential")
    assert sorted(p.name for p in (out / "runs").iterdir()) == before
    pd.testing.assert_frame_equal(again, runs)
    other = write_spec(tmp_path, TINY.replace("epochs = 3", "epochs = 4"), "other.toml")
    with pytest.raises(ConfigError, match=r"different spec \(differs in: train.epochs\).*--fresh"):
        run_sweep(other, out, backend="sequential")
    assert sorted(p.name for p in (out / "runs").iterdir()) == before


def test_fresh_replaces_only_what_optengine_wrote(tmp_path):
    text = TINY.replace('seeds = [0, 1]', 'seeds = [0]').replace('batch_size = [16, "full"]', "batch_size = 16")
    out = tmp_path / "out"
    run_sweep(write_spec(tmp_path, text), out, backend="sequential")
    other = write_spec(tmp_path, text.replace("epochs = 3", "epochs = 2"), "other.toml")
    runs = run_sweep(other, out, backend="sequential", fresh=True)
    assert (runs["epochs"] == 2).all() and len(runs) == 12
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="notes.txt"):
        run_sweep(write_spec(tmp_path, text), out, backend="sequential", fresh=True)
    assert (out / "notes.txt").read_text() == "mine" and len(oe.load(out)[0]) == 12


def test_a_folder_optengine_did_not_write_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data.csv").write_text("x\n1\n")
    with pytest.raises(ConfigError, match="holds no optengine results"):
        run_sweep(write_spec(tmp_path), tmp_path / "out", backend="sequential")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data.csv"]


def test_a_second_run_into_a_locked_folder_is_refused(reference, tmp_path):
    import fcntl

    out, _ = reference
    fd = os.open(out / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="another optengine run is writing"):
            run_sweep(write_spec(tmp_path), out, backend="sequential")
    finally:
        os.close(fd)


def test_torn_and_foreign_files_are_named(reference, tmp_path):
    import shutil

    src, _ = reference
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    first = sorted((out / "runs").glob("part-*.parquet"))[0]
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultsError, match=f"{first.name}.*torn"):
        read_results(out)
    first.write_bytes(data)
    pd.DataFrame({"a": [1]}).to_parquet(out / "runs" / "part-999999.parquet")
    with pytest.raises(ResultsError, match="part-999999.parquet.*not an optengine runs part"):
        read_results(out)
    (out / "runs" / "part-999999.parquet").unlink()
    (out / "runs" / "extra.csv").write_text("x")
    with pytest.raises(ResultsError, match="extra.csv.*foreign file"):
        read_results(out)
    (out / "runs" / "extra.csv").unlink()
    # a temporary file of an interrupted write and an orphan curves part are not results
    (out / "runs" / ".part-000050.parquet.tmp-123").write_bytes(b"half")
    shutil.copy(sorted((out / "curves").glob("part-*.parquet"))[0], out / "curves" / "part-000050.parquet")
    runs, curves = read_results(out)
    assert len(runs) == N_TINY and len(curves) == N_TINY * 3
    # a runs part whose curves part was deleted is an error, not silently missing curves
    lost = sorted((out / "curves").glob("part-*.parquet"))[0]
    lost.unlink()
    with pytest.raises(ResultsError, match=f"runs/{lost.name} \\(its curves part curves/{lost.name} is missing\\)"):
        read_results(out)


# -- determinism across jobs and backends -----------------------------------------------------------

def test_same_numbers_with_two_processes_and_with_dask(reference, tmp_path):
    from distributed import LocalCluster

    _, ref = reference
    spec = write_spec(tmp_path)
    loky = run_sweep(spec, tmp_path / "loky", jobs=2, backend="loky", pack_size=5)
    pd.testing.assert_frame_equal(metrics(loky), metrics(ref))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        dask = run_sweep(spec, tmp_path / "dask", backend="dask", scheduler=cluster.scheduler_address,
                         pack_size=7)
    pd.testing.assert_frame_equal(metrics(dask), metrics(ref))
    env = json.loads((tmp_path / "dask" / "environment.json").read_text())[-1]
    assert env["backend"] == "dask" and env["scheduler"].startswith("tcp://127.0.0.1:")
    for folder in ("loky", "dask"):
        curves = oe.load(tmp_path / folder)[1]
        pd.testing.assert_frame_equal(sorted_curves(curves), sorted_curves(oe.load(reference[0])[1]))


def test_pack_size_one_gives_the_same_numbers(reference, tmp_path):
    _, ref = reference
    runs = run_sweep(write_spec(tmp_path), tmp_path / "o", backend="sequential", pack_size=1)
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    assert len(list((tmp_path / "o" / "runs").glob("part-*.parquet"))) == N_TINY


# -- failures ------------------------------------------------------------------------------------------

def test_a_trial_that_raises_is_failed_and_the_sweep_goes_on(reference, tmp_path, monkeypatch):
    _, ref = reference
    spec = write_spec(tmp_path)
    monkeypatch.setenv(FAULT_ENV, "raise:0.03")
    runs = run_sweep(spec, tmp_path / "o", backend="sequential")
    failed = runs[runs["status"] == "failed"]
    assert len(failed) == N_TINY // 2 and (failed["lr"] == 0.03).all()
    assert failed["error"].str.contains("injected failure").all()
    assert failed["final_val_loss"].isna().all()
    ok = runs[runs["status"] == "ok"]
    pd.testing.assert_frame_equal(metrics(ok), metrics(ref[ref["lr"] == 0.1]))
    # resuming does not rerun failed trials unless asked; --retry-failed replaces them
    monkeypatch.delenv(FAULT_ENV)
    again = run_sweep(spec, tmp_path / "o", backend="sequential")
    assert (again["status"] == "failed").sum() == N_TINY // 2
    retried = run_sweep(spec, tmp_path / "o", backend="sequential", retry_failed=True)
    pd.testing.assert_frame_equal(metrics(retried), metrics(ref))
    curves = oe.load(tmp_path / "o")[1]
    assert len(curves) == N_TINY * 3 and not curves.duplicated(["trial_id", "epoch"]).any()


def test_a_dying_worker_is_retried_once_then_its_pack_is_failed(reference, tmp_path, monkeypatch):
    _, ref = reference
    text = (TINY.replace('batch_size = [16, "full"]', "batch_size = 16").replace("seeds = [0, 1]", "seeds = [0]")
            .replace('name = ["sgd", "momentum", "adam"]', 'name = ["sgd", "adam"]'))
    monkeypatch.setenv(FAULT_ENV, "kill:0.03")
    runs = run_sweep(write_spec(tmp_path, text), tmp_path / "o", jobs=2, pack_size=4)  # packs mix good and bad
    bad = runs[runs["lr"] == 0.03]
    assert (bad["status"] == "failed").all() and len(bad) == 4
    assert bad["error"].str.contains("died twice").all()
    good = runs[runs["lr"] == 0.1]
    assert (good["status"] == "ok").all() and len(good) == 4
    expect = ref[(ref["lr"] == 0.1) & (ref["batch_size"] == 16) & (ref["seed"] == 0) & (ref["optimizer"] != "momentum")]
    pd.testing.assert_frame_equal(metrics(good), metrics(expect))


# -- kill -9 and resume ---------------------------------------------------------------------------------

def test_resume_after_kill_9_equals_an_uninterrupted_run(reference, tmp_path):
    _, ref = reference
    spec = write_spec(tmp_path)
    out = tmp_path / "o"
    args = [sys.executable, "-m", "optengine.cli", "run", spec, "--out", out, "--backend", "sequential",
            "--pack-size", "1", "--no-progress"]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(list((out / "runs").glob("part-*.parquet"))) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = len(list((out / "runs").glob("part-*.parquet")))
    assert 3 <= saved < N_TINY, "the run should have been killed mid-sweep"
    done = cli("run", spec, "--out", out, "--backend", "sequential", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "already done" in done.stderr
    runs, curves = oe.load(out)
    assert runs["trial_id"].is_unique and len(runs) == N_TINY
    pd.testing.assert_frame_equal(metrics(runs), metrics(ref))
    pd.testing.assert_frame_equal(sorted_curves(curves), sorted_curves(oe.load(reference[0])[1]))


# -- CLI ------------------------------------------------------------------------------------------------------

def test_cli_run_plan_report_end_to_end(tmp_path):
    text = TINY.replace("seeds = [0, 1]", "seeds = [0]").replace('batch_size = [16, "full"]', "batch_size = 16")
    spec = write_spec(tmp_path, text)
    out = tmp_path / "res"
    p = cli("plan", spec)
    assert p.returncode == 0 and "12 trials" in p.stdout and "optimizer.name" in p.stdout
    assert not out.exists()
    r = cli("run", spec, "--out", out, "--jobs", "1")
    assert r.returncode == 0, r.stderr
    assert "12 trials" in r.stdout and "12/12 trials" in r.stderr
    rep = cli("report", out)
    assert rep.returncode == 0, rep.stderr
    assert "best configuration per optimizer" in rep.stdout and "momentum" in rep.stdout
    assert (out / "report.md").is_file()
    assert {p.name for p in (out / "figures").iterdir()} == {"lr_sensitivity.png", "best_curves.png", "train_val.png",
                                                           "grad_norm.png", "lr_schedule.png"}
    md = (out / "report.md").read_text()
    assert "| optimizer |" in md and "figures/lr_sensitivity.png" in md


def test_cli_errors_exit_2_without_traceback(tmp_path):
    bad = write_spec(tmp_path, TINY.replace('name = "iris"', 'name = "irsi"'))
    r = cli("run", bad, "--out", tmp_path / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "dataset.name" in r.stderr and "did you mean 'iris'" in r.stderr
    assert not (tmp_path / "o").exists()
    r = cli("report", tmp_path / "nothing")
    assert r.returncode == 2 and "no such results folder" in r.stderr
    r = cli("run", write_spec(tmp_path), "--backend", "spark")
    assert r.returncode == 2 and "backend" in r.stderr and "loky, sequential, dask" in r.stderr


@pytest.mark.parametrize("command", ["run", "plan", "report", "list", "train"])
def test_every_command_has_help(command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "usage: optengine" in r.stdout


def test_run_sweep_is_exported_and_returns_the_runs_table(reference):
    out, runs = reference
    assert oe.run_sweep is run_sweep
    assert list(runs.columns[:12]) == ["trial_id", "sweep", "model", "dataset", "optimizer", "lr", "batch_size",
                                       "epochs", "seed", "schedule", "schedule_settings", "clipping"]
    assert Path(out).is_dir()


def test_a_run_killed_before_it_saved_the_spec_is_simply_started_again(tmp_path):
    text = TINY.replace("seeds = [0, 1]", "seeds = [0]").replace('batch_size = [16, "full"]', "batch_size = 16")
    out = tmp_path / "o"
    out.mkdir()
    (out / ".lock").write_text("")
    (out / "spec.toml").write_text(text)
    (out / "runs").mkdir()
    (out / "runs" / ".part-000001.parquet.tmp-1").write_bytes(b"torn")
    runs = run_sweep(write_spec(tmp_path, text), out, backend="sequential")
    assert len(runs) == 12 and not list((out / "runs").glob(".part-*"))


def test_a_pack_that_kills_its_dask_worker_is_failed_not_hung(reference, tmp_path, monkeypatch):
    """joblib's dask backend never reports a task whose workers died; each task therefore trains
    its pack in a child process and reports a death as its own result."""
    from distributed import LocalCluster

    _, ref = reference
    text = (TINY.replace('batch_size = [16, "full"]', "batch_size = 16").replace("seeds = [0, 1]", "seeds = [0]")
            .replace('name = ["sgd", "momentum", "adam"]', 'name = ["sgd", "adam"]'))
    monkeypatch.setenv(FAULT_ENV, "kill:0.03")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        runs = run_sweep(write_spec(tmp_path, text), tmp_path / "o", backend="dask",
                         scheduler=cluster.scheduler_address, pack_size=4)
    bad, good = runs[runs["lr"] == 0.03], runs[runs["lr"] == 0.1]
    assert (bad["status"] == "failed").all() and len(bad) == 4 and bad["error"].str.contains("died twice").all()
    expect = ref[(ref["lr"] == 0.1) & (ref["batch_size"] == 16) & (ref["seed"] == 0) & (ref["optimizer"] != "momentum")]
    pd.testing.assert_frame_equal(metrics(good), metrics(expect))
