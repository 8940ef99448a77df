"""The section-13 use-case sweep specs (``sweeps/cnn_adamw_cosine.toml``, ``sweeps/timeseries_clipping.toml``)
run end to end at a tiny size.

The sweep runner expands the grid; here a small expansion of the same tables (every axis value
appears at least once) is trained through ``oe.train_pack`` with epochs and data shrunk, so every
setting the specs hold is accepted by the model, dataset, rule, schedule and clipping.
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import pytest

import optengine as oe

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"
SHRINK = {"mnist1d": {"num_samples": 100}, "mackey_glass": {"n_steps": 120}}


def _axis(v):
    return v if isinstance(v, list) else [v]


def trials_of(spec):
    """Every (rule, lr, per-rule setting, clip, seed) combination of the spec's tables."""
    opt = dict(spec["optimizer"])
    names = _axis(opt.pop("name"))
    per_rule = {n: opt.pop(n) for n in names if isinstance(opt.get(n), dict)}
    common = {k: _axis(v) for k, v in opt.items()}
    clip = spec.get("clip", {})
    clips = [{k: c} for k, v in clip.items() for c in _axis(v)] or [None]
    sched = spec.get("schedule")
    out = []
    for name in names:
        axes = {**common, **{k: _axis(v) for k, v in per_rule.get(name, {}).items()}}
        keys = list(axes)
        for values in itertools.product(*(axes[k] for k in keys)):
            for c in clips:
                for seed in spec.get("seeds", [0]):
                    out.append({"optimizer": name, **dict(zip(keys, values)), "schedule": sched, "clip": c,
                                "seed": seed})
    return out


@pytest.mark.parametrize("file", ["cnn_adamw_cosine.toml", "timeseries_clipping.toml"])
def test_use_case_spec_runs_end_to_end_tiny(file, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTENGINE_CACHE", str(tmp_path))
    spec = tomllib.loads((SWEEPS / file).read_text())
    assert spec["name"] == file.removesuffix(".toml")
    trials = trials_of(spec)
    model = dict(spec["model"])
    data = {**spec["dataset"], **SHRINK[spec["dataset"]["name"]]}
    train = spec["train"]
    if file.startswith("cnn"):
        model = {"name": "cnn1d", "channels": [4, 4, 4]}  # the preset's layout at a quarter of the width
        names = {t["optimizer"] for t in trials}
        assert names == {"adam", "adamw"} and spec["schedule"]["name"] == "cosine" and spec["schedule"]["warmup_steps"]
        assert {t.get("weight_decay") for t in trials if t["optimizer"] == "adamw"} == {0.01, 0.1}
        oe.model("cnn1d", **{k: v for k, v in spec["model"].items() if k != "name"})  # the real preset builds
    else:
        assert {t["optimizer"] for t in trials} == {"rmsprop", "adam"} and len({str(t["clip"]) for t in trials}) == 3
        model["hidden_size"] = 3
    for t in trials:
        if isinstance(t["schedule"], dict):
            t["schedule"] = {**t["schedule"], "warmup_steps": 2}
    runs, curves = oe.train_pack(model, data, trials, batch_size=train["batch_size"], epochs=2,
                                 early_stopping=train.get("early_stopping"), dtype=train.get("dtype", "float32"))
    assert len(runs) == len(trials) and set(runs["status"]) <= {"ok", "diverged"}
    assert (runs["status"] == "ok").sum() >= len(trials) // 2
