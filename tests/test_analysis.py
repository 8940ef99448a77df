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
                                 "seed": seed, "schedule": "constant", "schedule_settings": "constant()",
                                 "clipping": "none", "dtype": "float32",
                                 "status": status, "error": "", "final_train_loss": loss, "final_val_loss": loss,
                                 "final_val_metric": 1 - (loss if np.isfinite(loss) else 1.0),
                                 "best_val_loss": loss, "best_epoch": 2,
                                 # test = validation + 0.3 (+ 0.01 for seed 1): known answers beside the choice
                                 "final_test_loss": loss + 0.3 + 0.01 * seed,
                                 "final_test_metric": 0.7 - (loss if np.isfinite(loss) else np.nan),
                                 "steps": 10, "diverged_at_step": -1,
                                 "early_stopped": False, "wall_s": 0.1, "compile_s": 0.01, "model_spec": "{}",
                                 "dataset_spec": "{}", "device": "cpu"})
    runs = pd.DataFrame(rows)
    for c in RUNS_SCHEMA.names:  # (format 2's columns are all above; format 1's clip stays NaN)
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
        fig = fn(tmp_path / name)  # every plot function returns its figure, and writes the PNG when given a path
        assert hasattr(fig, "savefig") and (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"format": 1, "name": "t", "trials": len(runs), "spec": {}}))
    write_pack(folder, 1, runs, curves)
    text = report(folder)
    assert "sweep t: 16 trials (15 ok, 1 diverged, 0 failed)" in text
    assert "1/8" in text  # adam: one of its 8 trials diverged
    names = {p.name for p in (folder / "figures").iterdir()}
    assert names == {"lr_sensitivity.png", "best_curves.png", "lr_batch_heatmap.png", "train_val.png",
                     "grad_norm.png", "lr_schedule.png"}
    assert "lr_batch_heatmap.png" in (folder / "report.md").read_text()


# -- chosen on validation, reported on test ----------------------------------------------------------

def test_best_per_optimizer_shows_the_test_columns_of_the_chosen_configuration():
    best = analysis.best_per_optimizer(make_runs(), "final_val_loss")
    # sgd's choice: lr 0.01, batch 16: val 1.016 / 1.036, test 1.316 / 1.346
    assert best.loc[0, "final_test_loss"] == pytest.approx(1.331)
    assert best.loc[0, "final_test_loss_std"] == pytest.approx(np.std([1.316, 1.346], ddof=1))
    assert best.loc[1, "final_test_metric"] == pytest.approx(0.7 - 0.526)
    assert best["mean"].tolist() == pytest.approx([1.026, 0.526])  # the ranking itself is on validation


@pytest.mark.parametrize("metric", ["final_test_loss", "final_test_metric"])
def test_a_test_column_is_refused_as_the_ranking_metric(metric, tmp_path, capsys):
    runs = make_runs()
    for fn in (analysis.best_per_optimizer, analysis.summarize, analysis.lr_sensitivity, analysis.lr_batch_grid):
        with pytest.raises(ConfigError) as e:
            fn(runs, metric)
        assert e.value.field == "metric"
        assert "test split" in str(e.value) and "final_val_loss, best_val_loss, final_val_metric" in str(e.value)
    from optengine.cli import main

    folder = _folder(tmp_path, runs)
    assert main(["report", str(folder), "--metric", metric]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optengine: error: --metric: ") and "final_val_loss" in err
    assert not (folder / "report.md").exists()


def test_other_columns_are_refused_too():
    with pytest.raises(ConfigError, match="allowed: final_val_loss, best_val_loss, final_val_metric"):
        analysis.best_per_optimizer(make_runs(), "wall_s")


def _folder(tmp_path, runs, curves=None):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"format": 1, "name": "t", "trials": len(runs), "spec": {}}))
    write_pack(folder, 1, runs, make_curves(runs) if curves is None else curves)
    return folder


def test_report_says_chosen_on_validation_reported_on_test(tmp_path, monkeypatch):
    import optengine.report as rep

    runs = make_runs()
    monkeypatch.setattr(rep, "load", lambda folder: (runs, make_curves(runs)))  # with format 2's columns
    folder = _folder(tmp_path, runs)
    text = rep.report(folder, figures=False)
    assert "chosen on validation, reported on test" in text
    header = next(line for line in text.splitlines() if line.startswith("optimizer"))
    assert header.split() == ["optimizer", "lr", "batch_size", "final_val_loss", "final_val_metric", "final_test_loss",
                              "final_test_metric", "seeds", "diverged", "or", "failed", "diagnosis"]
    sgd = next(line for line in text.splitlines() if line.startswith("sgd"))
    assert "1.331 ± 0.021" in sgd
    assert "no test split" not in text  # these results have one
    md = (folder / "report.md").read_text()
    assert "chosen on validation" in md and "reported on test" in md and "1.331 ± 0.021" in md


def test_report_of_an_old_folder_shows_test_as_n_a(tmp_path):
    import shutil
    from pathlib import Path

    folder = tmp_path / "v1"
    shutil.copytree(Path(__file__).parent / "fixtures" / "results_v1", folder)
    text = report(folder, figures=False)
    rows = [line for line in text.splitlines() if line[:4] in ("sgd ", "adam")]
    assert rows and all(line.count("n/a") == 2 for line in rows), text
    assert "chosen on validation, reported on test" in text and "no test split" in text


def test_schedules_group_by_name_and_show_their_settings():
    runs = make_runs()
    cos = runs.copy()
    cos["trial_id"] = cos["trial_id"] + "-cos"
    cos["schedule"] = "cosine"
    cos["schedule_settings"] = np.where(cos["lr"] == 0.01, "cosine(lr_min=0,total_steps=10,warmup_steps=2)",
                                        "cosine(lr_min=0,total_steps=10,warmup_steps=5)")
    cos["final_val_loss"] = cos["final_val_loss"] - 0.05
    both = pd.concat([runs, cos], ignore_index=True)
    assert "schedule" in analysis.varying(both) and "schedule_settings" in analysis.varying(both)
    best = analysis.best_per_optimizer(both)
    assert list(best["schedule"]) == ["cosine", "cosine"]
    assert best.loc[0, "schedule_settings"] == "cosine(lr_min=0,total_steps=10,warmup_steps=2)"
    # one setting per schedule name (its total_steps follows the batch size): not an axis of its own
    one = cos.assign(schedule_settings=[f"cosine(total_steps={b})" for b in cos["batch_size"]])
    assert analysis.varying(pd.concat([runs, one], ignore_index=True)) == ["lr", "batch_size", "schedule"]


def test_report_still_prints_when_the_folder_cannot_be_written(tmp_path, monkeypatch):
    """A read-only folder (simulated: the tests may run as root, who writes anyway)."""
    import optengine.report as rep

    runs = make_runs()
    folder = _folder(tmp_path, runs)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(rep, "atomic_write_bytes", denied)
    monkeypatch.setattr(plots, "_save", lambda fig, path: denied(path))
    text = rep.report(folder)
    assert "sweep t: 16 trials" in text and "best configuration per optimizer" in text
    assert f"could not write {folder / 'report.md'}: Permission denied" in text
    assert f"could not write the figures into {folder / 'figures'}: Permission denied" in text
    assert "wrote" not in text
