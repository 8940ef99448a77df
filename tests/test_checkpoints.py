"""Exact checkpoints: a trial stopped at an epoch and continued from its checkpoint gives bit for bit the
runs and curves (and step) tables of the trial trained straight (optengine/checkpoints.py)."""

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine import checkpoints
from optengine.errors import ConfigError

MLP = {"name": "mlp", "sizes": [4, 8, 3]}
TIMING = ["wall_s", "compile_s"]
TRIALS = [
    {"optimizer": "adam", "lr": 0.01, "seed": 0, "schedule": {"name": "cosine", "warmup_steps": 5}},
    {"optimizer": "momentum", "lr": 0.05, "momentum": 0.9, "seed": 1, "schedule": "cosine", "clip": {"norm": 1.0}},
    {"optimizer": "adagrad", "lr": 0.1, "seed": 2, "schedule": {"name": "step", "step_size": 3}},
    {"optimizer": "nesterov", "lr": 1e6, "momentum": 0.9, "seed": 3},  # diverges
    {"optimizer": "sgd", "lr": 0.2, "seed": 4, "schedule": "cosine", "clip": {"value": 0.1}},
]
EPOCHS = 12
KW = dict(batch_size=16, epochs=EPOCHS, early_stopping={"patience": 2}, log_every=3, eval_every=7,
          target={"val_metric": 0.9})


@pytest.fixture(scope="module")
def iris():
    return oe.dataset("iris")


@pytest.fixture(scope="module")
def straight(iris):
    runs, curves, steps = oe.train_pack(MLP, iris, TRIALS, return_steps=True, **KW)
    assert (runs["status"] == "diverged").any() and runs["early_stopped"].any()  # the cases are covered
    return runs, curves, steps


def _same(a, b, drop=()):
    pd.testing.assert_frame_equal(a.drop(columns=list(drop)).reset_index(drop=True),
                                  b.drop(columns=list(drop)).reset_index(drop=True), check_exact=True)


def _split(iris, stops, per_trial=False):
    saved = None
    for stop in stops:
        res = oe.train_pack(MLP, iris, TRIALS, return_steps=True, stop_epoch=stop, resume=saved, **KW)
        saved = res[-1]
    return res[:3], saved


def test_ten_then_the_rest_equals_straight(iris, straight):
    (runs, curves, steps), saved = _split(iris, [5, EPOCHS])
    _same(runs, straight[0], TIMING)
    _same(curves, straight[1])
    _same(steps, straight[2])
    assert all(checkpoints.finished(s) for s in saved)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stops_at_random_epochs(iris, straight, seed):
    rng = np.random.default_rng(seed)
    stops = sorted(set(rng.integers(0, EPOCHS, size=3).tolist())) + [EPOCHS]
    (runs, curves, steps), _ = _split(iris, stops)
    _same(runs, straight[0], TIMING)
    _same(curves, straight[1])
    _same(steps, straight[2])


def test_checkpoint_files_round_trip(iris, straight, tmp_path):
    res = oe.train_pack(MLP, iris, TRIALS, stop_epoch=4, **KW)
    for s in res[-1]:
        checkpoints.save(tmp_path, s)
    loaded = [checkpoints.load(tmp_path, str(s["trial_id"])) for s in res[-1]]
    assert all(checkpoints.epoch_of(s) <= 4 for s in loaded)
    runs, curves = oe.train_pack(MLP, iris, TRIALS, resume=loaded, **KW)[:2]
    _same(runs, straight[0], TIMING)
    _same(curves, straight[1])


def test_a_stopped_trial_keeps_its_schedule_length(iris):
    kw = dict(batch_size=16, epochs=EPOCHS)
    trial = [{"optimizer": "sgd", "lr": 0.1, "schedule": "cosine"}]
    short = oe.train_pack(MLP, iris, trial, **{**kw, "epochs": 4})[1]
    stopped = oe.train_pack(MLP, iris, trial, stop_epoch=4, **kw)[1]
    full = oe.train_pack(MLP, iris, trial, **kw)[1]
    _same(stopped, full.iloc[:4])
    assert not np.array_equal(short["lr"], stopped["lr"])


def test_a_checkpoint_of_another_trial_is_refused(iris):
    saved = oe.train_pack(MLP, iris, TRIALS[:2], stop_epoch=2, **KW)[-1]
    with pytest.raises(ConfigError, match="resume"):
        oe.train_pack(MLP, iris, TRIALS[:2], resume=saved[::-1], **KW)
    with pytest.raises(ConfigError, match="resume"):
        oe.train_pack(MLP, iris, TRIALS[:2], resume=saved, **{**KW, "epochs": EPOCHS + 1})


def _gpu_usable() -> bool:
    try:
        from optengine.cuda import require_device

        require_device()
        return True
    except Exception:
        return False


@pytest.mark.skipif(_gpu_usable(), reason="a usable GPU: checkpoints train there (tests/cuda)")
def test_cuda_without_a_gpu_is_refused_before_any_work_checkpoints_included():
    with pytest.raises(ConfigError, match="device"):
        oe.train_pack(MLP, "iris", TRIALS[:1], stop_epoch=2, device="cuda")


# -- optengine run with [train] checkpoint_every ------------------------------------------------------------

import os
import signal
import subprocess
import sys
import time

from optengine.sweep import run_sweep
from optengine.sweep.worker import FAULT_ENV

SPEC = """
name = "ck"
seeds = [0, 1]
[model]
name = "mlp"
hidden = [6]
[dataset]
name = "iris"
[train]
epochs = 9
batch_size = 16
early_stopping = {patience = 2}
%s
[optimizer]
name = ["sgd", "momentum", "adam"]
lr = [0.03, 0.3]
[schedule]
name = "cosine"
"""
N = 12


def _metrics(runs):
    return runs.drop(columns=TIMING).sort_values("trial_id").reset_index(drop=True)


def _curves(curves):
    return curves.sort_values(["trial_id", "epoch"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plain")
    (tmp / "s.toml").write_text(SPEC % "")
    run_sweep(tmp / "s.toml", tmp / "out", backend="sequential")
    return oe.load(tmp / "out")


def _cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "optengine.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def test_checkpoint_every_changes_no_number_and_no_id(plain, tmp_path):
    (tmp_path / "s.toml").write_text(SPEC % "checkpoint_every = 2")
    runs = run_sweep(tmp_path / "s.toml", tmp_path / "out", backend="sequential")
    _same(_metrics(runs), _metrics(plain[0]))
    _same(_curves(oe.load(tmp_path / "out")[1]), _curves(plain[1]))
    assert not list((tmp_path / "out" / "checkpoints").glob("*.npz"))  # removed once the runs are saved


def test_a_run_killed_after_a_chunk_resumes_from_its_checkpoints(plain, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC % "checkpoint_every = 3")
    out = tmp_path / "out"
    args = ["run", spec, "--out", out, "--backend", "sequential", "--pack-size", "12", "--no-progress"]
    died = _cli(*args, env={FAULT_ENV: "exit_at_epoch:6"})
    assert died.returncode == 77
    saved = sorted((out / "checkpoints").glob("*.npz"))
    assert len(saved) == N and not list((out / "runs").glob("part-*.parquet"))
    assert {int(checkpoints.load(out, p.stem)["epoch"]) for p in saved} <= {3, 4, 5, 6}  # some stopped early
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    runs, curves = oe.load(out)
    _same(_metrics(runs), _metrics(plain[0]))
    _same(_curves(curves), _curves(plain[1]))


def test_kill_9_mid_run_then_resume_equals_uninterrupted(plain, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC % "checkpoint_every = 1")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "optengine.cli", "run", spec, "--out", out, "--backend", "sequential",
            "--pack-size", "2", "--no-progress"]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if list((out / "checkpoints").glob("*.npz")) or proc.poll() is not None:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _cli("run", spec, "--out", out, "--backend", "sequential", "--no-progress")
    assert done.returncode == 0, done.stderr
    runs, curves = oe.load(out)
    _same(_metrics(runs), _metrics(plain[0]))
    _same(_curves(curves), _curves(plain[1]))


@pytest.mark.skipif(_gpu_usable(), reason="a usable GPU: checkpoint_every trains there (tests/cuda)")
def test_checkpoint_every_on_cuda_without_a_gpu_is_refused_before_any_work(tmp_path):
    (tmp_path / "s.toml").write_text(SPEC % "checkpoint_every = 2\ndevice = \"cuda\"")
    with pytest.raises(ConfigError, match="device"):
        run_sweep(tmp_path / "s.toml", tmp_path / "out", backend="sequential")
    assert not (tmp_path / "out").exists()
