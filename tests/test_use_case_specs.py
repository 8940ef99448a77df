"""Every shipped sweep spec runs end to end through the real runner at a tiny size.

Each spec is read as written, then shrunk (fewer samples, 1-2 epochs, narrower models,
short warmup) without touching its axes, so every setting the spec holds is accepted by
the validator, the models, datasets, rules, schedules and clipping, and the runner.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from optengine.sweep import expand, load_spec, run_sweep

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"
SHRINK_DATA = {"mnist1d": {"num_samples": 150}, "mackey_glass": {"n_steps": 160},
               "synthetic_text": {"n_docs": 120, "vocab_size": 300, "rare_per_class": 10}}
SHRINK_MODEL = {"cnn1d": {"preset": None, "channels": [4, 4, 4], "kernel_size": [5, 3, 3]},
                "gru": {"hidden_size": 3}, "mlp": {"hidden": [8]}}
EXPECT = {  # spec -> (trials as shipped, rules)
    "quickstart": (28, {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}),
    "mnist1d_optimizers": (336, {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}),
    "cnn_adamw_cosine": (9, {"adam", "adamw"}),
    "timeseries_clipping": (18, {"rmsprop", "adam"}),
    "text_sparse_adaptive": (72, {"sgd", "adagrad", "rmsprop", "adam"}),
}


def shrink(raw: dict) -> dict:
    raw = {**raw, "seeds": raw.get("seeds", [0])[:1]}
    model = {**raw["model"], **SHRINK_MODEL.get(raw["model"]["name"], {})}
    raw["model"] = {k: v for k, v in model.items() if v is not None}
    raw["dataset"] = {**raw["dataset"], **SHRINK_DATA.get(raw["dataset"]["name"], {})}
    raw["train"] = {**raw["train"], "epochs": 2}
    if "schedule" in raw:
        sched = dict(raw["schedule"])
        if "warmup_steps" in sched:
            sched["warmup_steps"] = 2
        for kind in ("cosine", "step", "exponential", "constant"):
            if isinstance(sched.get(kind), dict) and "warmup_steps" in sched[kind]:
                sched[kind] = {**sched[kind], "warmup_steps": 2}
        raw["schedule"] = sched
    return raw


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_shipped_spec_runs_end_to_end_tiny(name, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTENGINE_CACHE", str(tmp_path / "cache"))
    path = SWEEPS / f"{name}.toml"
    n_trials, rules = EXPECT[name]
    full = expand(load_spec(path))
    assert len(full) == n_trials
    raw = tomllib.loads(path.read_text())
    assert raw["name"] == name
    runs = run_sweep(shrink(raw), tmp_path / "out", backend="sequential")
    assert set(runs["optimizer"]) == rules
    assert len(runs) == n_trials // len(raw.get("seeds", [0]))
    assert set(runs["status"].astype(str)) <= {"ok", "diverged"}
    assert (runs["status"] == "ok").mean() >= 0.5
