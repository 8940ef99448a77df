"""Exact checkpoints on the GPU path: stopped at an epoch and continued, a CUDA pack gives bit for bit the runs
and curves of the pack trained straight, and its checkpoints have the CPU's format (optengine/checkpoints.py).

Tiny on purpose (the simulator runs the kernels' Python): iris, 3 epochs of 2 mini-batches, three trials
(adam with a cosine schedule and warmup, momentum with cosine and clipping, one that diverges at once)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine import checkpoints
from optengine.sweep import run_sweep

MLP = {"name": "mlp", "sizes": [4, 5, 3]}
TRIALS = [
    {"optimizer": "adam", "lr": 0.02, "seed": 0, "schedule": {"name": "cosine", "warmup_steps": 2}},
    {"optimizer": "momentum", "lr": 0.05, "momentum": 0.9, "seed": 1, "schedule": "cosine", "clip": {"norm": 1.0}},
    {"optimizer": "nesterov", "lr": 1e6, "momentum": 0.9, "seed": 2},  # diverges in the first epoch
]
KW = dict(batch_size=64, epochs=3, early_stopping={"patience": 2})
TIMING = ["wall_s", "compile_s"]


@pytest.fixture(scope="module")
def iris():
    return oe.dataset("iris")


@pytest.fixture(scope="module")
def straight(iris):
    runs, curves = oe.train_pack(MLP, iris, TRIALS, device="cuda", **KW)
    assert list(runs["status"]) == ["ok", "ok", "diverged"]
    return runs, curves


def _same(a, b):
    pd.testing.assert_frame_equal(a.drop(columns=[c for c in TIMING if c in a]).reset_index(drop=True),
                                  b.drop(columns=[c for c in TIMING if c in b]).reset_index(drop=True),
                                  check_exact=True)


def test_stop_save_continue_is_bit_identical_and_in_the_cpu_format(iris, straight, tmp_path):
    _, _, saved = oe.train_pack(MLP, iris, TRIALS, device="cuda", stop_epoch=1, return_checkpoints=True, **KW)
    assert [int(s["epoch"]) for s in saved] == [1, 1, 0] and [bool(s["finished"]) for s in saved] == [0, 0, 1]
    # through the files, as a sweep saves and loads them
    resume = [checkpoints.load(tmp_path, str(checkpoints.save(tmp_path, s).stem)) for s in saved]
    runs, curves, done = oe.train_pack(MLP, iris, TRIALS, device="cuda", resume=resume, return_checkpoints=True,
                                       **KW)
    _same(runs, straight[0])
    _same(curves, straight[1])
    assert [int(s["epoch"]) for s in done] == [3, 3, 0] and all(bool(s["finished"]) for s in done)

    # the CPU's checkpoint of the same stop: the same fields, shapes and dtypes; the same integers (steps,
    # batch order, shuffling stream, epochs); floats equal to float32 rounding
    _, _, cpu = oe.train_pack(MLP, iris, TRIALS, stop_epoch=1, return_checkpoints=True, **KW)
    for g, c in zip(saved, cpu):
        assert g.keys() == c.keys()
        for key in g:
            a, b = np.asarray(g[key]), np.asarray(c[key])
            assert a.shape == b.shape and a.dtype == b.dtype, key
            if a.dtype.kind in "iub":
                np.testing.assert_array_equal(a, b, err_msg=key)
            elif a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=key)
            else:
                assert a == b, key

    # a CUDA checkpoint continues on the CPU (and the numbers stay those of the CPU's straight run)
    _, c_cpu = oe.train_pack(MLP, iris, TRIALS, **KW)
    _, c_mix, _ = oe.train_pack(MLP, iris, TRIALS, resume=resume, **KW)
    pd.testing.assert_frame_equal(c_mix[["trial_id", "epoch", "step"]], c_cpu[["trial_id", "epoch", "step"]])
    for col in ("train_loss", "val_loss", "val_metric", "grad_norm", "lr"):
        np.testing.assert_allclose(c_mix[col], c_cpu[col], rtol=1e-5, err_msg=col)


SPEC = {
    "name": "gpu_ckpt", "seeds": [0],
    "model": {"name": "mlp", "hidden": [5]}, "dataset": {"name": "iris"},
    "train": {"epochs": 3, "batch_size": 64, "device": "cuda"},
    "optimizer": {"name": ["adam", "momentum"], "lr": 0.05},
}


def test_sweep_checkpoint_every_on_cuda_changes_no_number(tmp_path):
    plain = run_sweep(SPEC, tmp_path / "plain", backend="sequential")
    chunked = run_sweep({**SPEC, "train": {**SPEC["train"], "checkpoint_every": 1}}, tmp_path / "chunked",
                        backend="sequential")
    assert (chunked["device"] == "cuda").all() and len(chunked) == 2 and (chunked["status"] == "ok").all()
    _same(chunked.sort_values("trial_id"), plain.sort_values("trial_id"))
    curves = [oe.load(tmp_path / name)[1].sort_values(["trial_id", "epoch"]) for name in ("chunked", "plain")]
    _same(*curves)
    assert not list((tmp_path / "chunked" / "checkpoints").glob("*.npz"))  # removed once the runs are saved
