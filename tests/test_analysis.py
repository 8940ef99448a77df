"""Analysis helpers and the report on hand-made results (known answers)."""

import json

import numpy as np
import pandas as pd
import pytest

from optengine import analysis, plots
from optengine.errors import ConfigError
from optengine.report import report
from optengine.results import RUNS_SCHEMA, write_pack


def make_runs():
    """2 optimizers x 2 lr x 2 batch sizes x 2 seeds; val loss = known numbers; one diverged trial."""
    rows = []
    for opt in ("sgd", "adam"):
        for lr in (0.01, 0.1):
            for batch in (16, 64):
                for seed in (0, 1):
                    loss = {"sgd": 1.0, "adam": 0.5}[opt] + (0.1 if lr == 0.1 else 0.0) + batch / 1000 + seed * 0.02
                    status = "ok"
                    if opt == "adam" and lr == 0.1 and batch == 16 and seed == 1:
                        status, loss = "diverged", np.nan
                    rows.append({"trial_id": f"{opt}-{lr}-{batch}-{seed}", "sweep": "t", "model": "mlp",
                                 "dataset": "iris", "optimizer": opt, "lr": lr, "batch_size": batch, "epochs": 2,
                                 "seed": seed, "schedule": "constant", "clip": "none", "dtype": "float32",
                                 "status": status, "error": "", "final_train_loss": loss, "final_val_loss": loss,
                                 "final_val_metric": 1 - (loss if np.isfinite(loss) else 1.0),
                                 "best_val_loss": loss, "best_epoch": 2, "steps": 10, "diverged_at_step": -1,
                                 "early_stopped": False, "wall_s": 0.1, "model_spec": "{}", "dataset_spec": "{}",
                                 "device": "cpu"})
    runs = pd.DataFrame(rows)
    for c in RUNS_SCHEMA.names:
        if c not in runs:
            runs[c] = np.nan
    runs["status"] = pd.Categorical(runs["status"], categories=["ok", "diverged", "failed"])
    return runs


def make_curves(runs):
    parts = []
    for tid, loss in zip(runs["trial_id"], runs["final_val_loss"]):
        parts.append(pd.DataFrame({"trial_id": tid, "epoch": [1, 2], "step": [5, 10], "lr": 0.1,
                                   "train_loss": [2.0, loss], "val_loss": [2.0, loss], "val_metric": [0.1, 0.5],
                                   "grad_norm": 1.0}))
    return pd.concat(parts, ignore_index=True)


def test_summarize_averages_seeds_and_refuses_to_rank_configs_with_a_diverged_seed():
    s = analysis.summarize(make_runs(), "final_val_loss")
    assert len(s) == 8 and (s["seeds"] == 2).all()
    row = s[(s.optimizer == "sgd") & (s.lr == 0.01) & (s.batch_size == 16)].iloc[0]
    assert row["mean"] == pytest.approx(1.016 + 0.01)
    assert row["std"] == pytest.approx(np.std([1.016, 1.036], ddof=1))
    bad = s[(s.optimizer == "adam") & (s.lr == 0.1) & (s.batch_size == 16)].iloc[0]
    assert np.isnan(bad["mean"]) and bad["diverged"] == 1


def test_best_per_optimizer_by_loss_and_by_metric():
    runs = make_runs()
    best = analysis.best_per_optimizer(runs, "final_val_loss")
    assert list(best["optimizer"]) == ["sgd", "adam"]
    assert list(best["lr"]) == [0.01, 0.01] and list(best["batch_size"]) == [16, 16]
    assert best["mean"].tolist() == pytest.approx([1.026, 0.526])
    assert set(best.columns) >= {"lr", "batch_size", "mean", "std", "seeds", "trial_ids"}
    by_metric = analysis.best_per_optimizer(runs, "final_val_metric")  # higher is better
    assert by_metric["mean"].tolist() == pytest.approx([1 - 1.026, 1 - 0.526])
    worst = analysis.best_per_optimizer(runs, "final_val_loss", mode="max")
    assert worst.iloc[1]["lr"] == 0.1 and worst.iloc[1]["batch_size"] == 64  # the diverged config is skipped


def test_lr_sensitivity_and_lr_batch_grid():
    runs = make_runs()
    sens = analysis.lr_sensitivity(runs)
    assert list(sens.columns) == ["sgd", "adam"] and list(sens.index) == [0.01, 0.1]
    assert sens.loc[0.1, "adam"] == pytest.approx(0.5 + 0.1 + 0.064 + 0.01)  # batch 16 diverged -> 64 is best
    grid = analysis.lr_batch_grid(runs, optimizer="adam")
    assert np.isnan(grid.loc[0.1, 16]) and grid.loc[0.01, 16] == pytest.approx(0.526)
    with pytest.raises(ConfigError, match="optimizer"):
        analysis.lr_batch_grid(runs, optimizer="adamm")
    with pytest.raises(ConfigError, match="metric"):
        analysis.summarize(runs, "val_acc")


def test_varying_finds_the_axes():
    assert analysis.varying(make_runs()) == ["lr", "batch_size"]


def test_curves_helpers():
    runs = make_runs()
    curves = make_curves(runs)
    c = analysis.curves_of(curves, ["sgd-0.01-16-0"])
    assert list(c["epoch"]) == [1, 2]
    with pytest.raises(ConfigError, match="no curves"):
        analysis.curves_of(curves, ["nope"])
    m = analysis.mean_curve(curves, ["sgd-0.01-16-0", "sgd-0.01-16-1"])
    assert m.loc[2, "mean"] == pytest.approx(1.026) and m.loc[2, "n"] == 2


def test_figures_and_report_are_written(tmp_path):
    runs = make_runs()
    curves = make_curves(runs)
    for name, fn in [("a.png", lambda p: plots.plot_lr_sensitivity(runs, p)),
                     ("b.png", lambda p: plots.plot_best_curves(runs, curves, p)),
                     ("c.png", lambda p: plots.plot_lr_batch_heatmap(runs, p, optimizer="adam"))]:
        path = fn(tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"format": 1, "name": "t", "trials": len(runs), "spec": {}}))
    write_pack(folder, 1, runs, curves)
    text = report(folder)
    assert "sweep t: 16 trials (15 ok, 1 diverged, 0 failed)" in text
    assert "1/8" in text  # adam: one of its 8 trials diverged
    names = {p.name for p in (folder / "figures").iterdir()}
    assert names == {"lr_sensitivity.png", "best_curves.png", "lr_batch_heatmap.png"}
    assert "lr_batch_heatmap.png" in (folder / "report.md").read_text()
