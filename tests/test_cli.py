"""The command line: a tiny pack end to end, list, and clean errors."""

import contextlib
import os
import re
import shutil
import subprocess

import pytest

import optengine as oe
from optengine.cli import _options, main


def test_train_prints_runs_and_saves_a_results_folder(tmp_path, capsys):
    out = tmp_path / "myrun"
    argv = ["train", "--model", "mlp", "--hidden", "8", "--dataset", "iris", "--optimizer", "sgd,adam",
            "--lr", "0.01,0.1", "--seed", "0,1", "--epochs", "2", "--batch-size", "full", "--schedule", "cosine",
            "--clip-norm", "1", "--out", str(out)]
    rc = main(argv)
    text = capsys.readouterr().out
    assert rc == 0
    assert "8 trials" in text and "adam" in text and f"optengine report {out}" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myrun"]  # no myrunruns.parquet beside it
    runs, curves = oe.load(out)
    assert len(runs) == 8 and len(curves) == 16 and set(runs["clipping"]) == {"norm=1.0"}
    assert (runs["sweep"] == "myrun").all() and (runs["device"] == "cpu").all()
    assert runs.groupby("config_id")["seed"].nunique().eq(2).all() and runs["config_id"].nunique() == 4
    assert main(["report", str(out)]) == 0
    assert "sgd" in capsys.readouterr().out and (out / "report.md").is_file()
    assert main(argv) == 0  # the same command again: its trials are replaced, nothing mixed in
    capsys.readouterr()
    assert len(oe.load(out)[0]) == 8


def test_train_out_refuses_foreign_and_other_folders_before_training(tmp_path, capsys):
    base = ["train", "--hidden", "4", "--dataset", "iris", "--epochs", "1"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main([*base, "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optengine: error: --out: ") and "no optengine results" in err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    other = tmp_path / "other"
    assert main([*base, "--out", str(other)]) == 0
    capsys.readouterr()
    before = sorted(p.relative_to(other) for p in other.rglob("*"))
    assert main([*base, "--lr", "0.1", "--out", str(other)]) == 2  # a different command
    err = capsys.readouterr().err
    assert "another optengine train command" in err and "--out" in err
    assert sorted(p.relative_to(other) for p in other.rglob("*")) == before
    bad = tmp_path / "bad"
    assert main([*base, "--optimizer", "adamm", "--out", str(bad)]) == 2  # invalid: no folder is left
    assert not bad.exists()


def test_list_shows_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("adamw", "cosine", "mlp", "rosenbrock", "mnist1d", "breast_cancer", "weight_decay"):
        assert name in out


def test_errors_go_to_stderr_without_traceback(capsys):
    rc = main(["train", "--dataset", "iris", "--sizes", "4,8,3", "--optimizer", "adamm"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--optimizer" in err and "did you mean 'adam'" in err and "Traceback" not in err
    rc = main(["train", "--dataset", "iris", "--sizes", "4,8,3", "--batch-size", "big"])
    assert rc == 2 and "batch_size" in capsys.readouterr().err


def test_every_setting_has_a_flag(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}"
                                              for i in range(40)))
    rc = main(["train", "--dataset", "file", "--path", str(csv), "--target", "label", "--hidden", "4",
               "--optimizer", "momentum,adamw", "--momentum", "0.8", "--weight-decay", "0.1", "--l2", "1e-4",
               "--schedule", "step", "--step-size", "3", "--gamma", "0.5", "--unit", "epoch",
               "--early-stopping", "50", "--epochs", "4", "--out", str(tmp_path / "new" / "r")])
    assert rc == 0, capsys.readouterr().err
    runs = oe.load(tmp_path / "new" / "r")[0]
    assert runs.set_index("optimizer")["momentum"].to_dict()["momentum"] == 0.8
    assert runs.set_index("optimizer")["weight_decay"].to_dict()["adamw"] == 0.1
    assert (runs["l2"] == 1e-4).all()
    assert (runs["schedule_settings"] == "step(step_size=3,gamma=0.5,unit=epoch)").all() and (runs["schedule"] == "step").all()


def test_surfaces_default_to_their_noise_data(capsys):
    assert main(["train", "--model", "rosenbrock", "--optimizer", "adam", "--lr", "0.05", "--batch-size", "full",
                 "--epochs", "50", "--dtype", "float64"]) == 0
    assert "adam" in capsys.readouterr().out


def test_errors_name_the_flag(capsys):
    cases = [(["--schedule", "step"], "--step-size"), (["--momentum", "0.9"], "--momentum"),
             (["--lr", "-1"], "--lr"), (["--seed", str(2**64)], "--seed"), (["--path", "x.csv"], "--path"),
             (["--dataset", "file", "--path", "missing.csv", "--target", "y"], "--path")]
    for extra, flag in cases:
        rc = main(["train", "--dataset", "iris", "--hidden", "4", "--epochs", "1", *extra])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith(f"optengine: error: {flag}"), (extra, err)
        assert "Traceback" not in err


def test_model_opt_sets_any_model_setting(capsys):
    rc = main(["train", "--model", "gru", "--model-opt", "hidden_size=3", "--model-opt", "bidirectional=true",
               "--dataset", "iris", "--epochs", "1", "--lr", "0.01"])
    assert rc == 0 and "1 trials" in capsys.readouterr().out


def test_mlp_flags_are_refused_for_other_models(capsys):
    assert main(["train", "--model", "gru", "--hidden", "8", "--dataset", "iris"]) == 2
    assert "--hidden: is an mlp setting" in capsys.readouterr().err
    assert main(["train", "--sizes", "4,8,3", "--hidden", "8", "--dataset", "iris"]) == 2
    assert "not both" in capsys.readouterr().err


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    import pytest

    from optengine.errors import ConfigError

    with pytest.raises(ConfigError, match="file not found"):
        main(["run", str(tmp_path / "nope.toml"), "--debug"])


def test_error_messages_name_only_flags_that_exist(tmp_path, capsys):
    """Every --flag in a train error is a real option (dataset/model settings without a flag of their
    own are named as --dataset-opt KEY=... / --model-opt KEY=...)."""
    many = tmp_path / "many_ints.csv"
    many.write_text("a,label\n" + "\n".join(f"{i % 7},{i}" for i in range(80)))
    file = ["--dataset", "file", "--path", str(many), "--target", "label"]
    cases = [
        (file, "--dataset-opt task="),
        ([*file, "--dataset-opt", "task=classification", "--dataset-opt", "features=nope"], "--dataset-opt features="),
        (["--dataset", "iris", "--dataset-opt", "val_fraction=2"], "--dataset-opt val_fraction="),
        (["--dataset", "iris", "--dataset-opt", "nope=1"], "--dataset-opt nope="),
        (["--dataset", "iris", "--model-opt", "loss=mse"], "--model"),
        (["--dataset", "iris", "--hidden", "4,0"], "--hidden: model.hidden[1]"),
        (["--dataset", "iris", "--sizes", "4,0,3"], "--sizes: model.sizes[1]"),
        (["--model", "gru", "--model-opt", "hidden_size=0", "--dataset", "iris"], "--model-opt hidden_size="),
        (["--dataset", "iris", "--schedule", "cosine", "--lr-min", "5"], "--lr-min"),
        (["--dataset", "iris", "--clip-value", "-1"], "--clip-value"),
        (["--dataset", "iris", "--early-stopping", "0"], "--early-stopping"),
        (["--dataset", "iris", "--batch-size", "0"], "--batch-size"),
        (["--dataset", "iris", "--seed", "-1"], "--seed"),
        (["--model", "softmax_regression", "--dataset", "diabetes"], "--model-opt n_classes="),
    ]
    real = _options("train")
    for extra, expected in cases:
        rc = main(["train", "--epochs", "1", *extra])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith(f"optengine: error: {expected}"), (extra, err)
        assert "Traceback" not in err
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", err))
        assert named <= real, (extra, named - real, err)


def test_version_and_bare_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and re.fullmatch(r"optengine \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: optengine") and "train" in out and "report" in out


SPEC = """
name = "t"
[model]
name = "mlp"
hidden = [4]
[dataset]
name = "iris"
[train]
epochs = 1
[optimizer]
name = ["sgd", "adam"]
lr = 0.1
"""


def test_a_sweep_whose_every_trial_failed_exits_1_with_the_first_error(tmp_path, capsys, monkeypatch):
    import optengine.sweep.worker as worker

    def fail(payload, trials, threads):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(worker, "_train", fail)
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    rc = main(["run", str(spec), "--out", str(tmp_path / "res"), "--backend", "sequential", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "every trial failed" in err and "RuntimeError: injected failure" in err and "Traceback" not in err


def test_os_errors_are_one_clean_line_naming_the_path(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    target = "/proc/optengine-cannot-be-made"  # not creatable, even by root
    rc = main(["run", str(spec), "--out", target, "--backend", "sequential", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and target in err and "Traceback" not in err, err
    rc = main(["train", "--hidden", "4", "--dataset", "iris", "--epochs", "1", "--out", target + "/x"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "/proc/optengine-cannot-be-made" in err, err


def test_memory_error_is_a_clean_error(monkeypatch, capsys):
    import importlib

    def boom(*args, **kwargs):
        raise MemoryError("Unable to allocate 37.3 GiB for an array with shape (100000000, 50)")

    monkeypatch.setattr(importlib.import_module("optengine.train"), "train_pack", boom)
    rc = main(["train", "--dataset", "iris", "--hidden", "4"])
    err = capsys.readouterr().err
    assert rc == 2 and "needs more memory than the" in err and "available" in err and "37.3 GiB" in err
    assert "Traceback" not in err


@contextlib.contextmanager
def _read_only(folder):
    """``folder`` made unwritable: mode 555, or for root (who writes anyway) the immutable attribute."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("root, and no chattr +i here: cannot make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_report_on_a_read_only_folder_still_prints_its_summary(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    out = tmp_path / "res"
    assert main(["run", str(spec), "--out", str(out), "--backend", "sequential", "--no-progress"]) == 0
    capsys.readouterr()
    before = sorted(p.name for p in out.iterdir())
    with _read_only(out):
        assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best configuration per optimizer" in text
    assert re.search(rf"^could not write {re.escape(str(out / 'report.md'))}: (Permission denied|Operation not "
                     "permitted)$", text, re.M), text
    assert re.search(rf"^could not write the figures into {re.escape(str(out / 'figures'))}: \w", text, re.M), text
    assert sorted(p.name for p in out.iterdir()) == before


def test_train_prints_compile_time_and_why_a_trial_diverged(capsys):
    assert main(["train", "--hidden", "4", "--dataset", "iris", "--optimizer", "sgd", "--lr", "1e4,0.1",
                 "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "compiling or loading the kernels" in out
    line = next(x for x in out.splitlines() if x.startswith("diverged: "))
    assert "sgd lr=10000 seed=0: loss" in line and "x starting loss" in line and "at step" in line


# -- diagnose, export, report.html ---------------------------------------------------------------------

def _small_folder(tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["train", "--hidden", "8", "--dataset", "iris", "--optimizer", "sgd", "--lr", "50,0.1",
                 "--epochs", "6", "--batch-size", "16", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def test_diagnose_lists_problems_with_evidence_and_remedy(tmp_path, capsys):
    out = _small_folder(tmp_path, capsys)
    assert main(["diagnose", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 trials: ") and "diverged (1): Loss diverges quickly -> lower learning rate" in text
    assert "sgd lr=50 seed=0" in text and "stopped at step" in text and "remedy: " in text
    assert "lr=0.1 seed=0" not in text  # the healthy trial is listed with --all only
    assert main(["diagnose", str(out), "--all"]) == 0
    assert "lr=0.1 seed=0" in capsys.readouterr().out
    assert main(["diagnose", str(out), "--label", "oscilating"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optengine: error: --label: ") and "oscillating" in err


def test_report_writes_a_self_contained_html_page(tmp_path, capsys):
    out = _small_folder(tmp_path, capsys)
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{out / 'report.html'}" in text and "diagnosis" in text and "Search budget per rule" in text
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") >= 4
    assert 'src="figures/' not in page and "<table>" in page and "Diagnosis" in page and "Rankings" in page
    assert "report.html" in (out / ".optengine-manifest").read_text()


def test_export_csv_writes_the_tables_named_in_the_manifest(tmp_path, capsys):
    import pandas as pd

    out = _small_folder(tmp_path, capsys)
    assert main(["export", str(out), "--csv"]) == 0
    assert "runs.csv" in capsys.readouterr().out
    runs = pd.read_csv(out / "export" / "runs.csv")
    curves = pd.read_csv(out / "export" / "curves.csv")
    loaded_runs, loaded_curves = oe.load(out)
    assert len(runs) == len(loaded_runs) == 2 and len(curves) == len(loaded_curves)
    assert {"export/runs.csv", "export/curves.csv"} <= set((out / ".optengine-manifest").read_text().split())
    with pytest.raises(SystemExit) as e:  # the format must be named (argparse's usage error)
        main(["export", str(out)])
    assert e.value.code == 2 and "--csv" in capsys.readouterr().err


def test_diagnose_and_export_refuse_foreign_folders(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    for argv in (["diagnose", str(foreign)], ["export", str(foreign), "--csv"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "not an optengine results folder" in err and "Traceback" not in err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_export_names_the_file_it_cannot_write(tmp_path, capsys):
    out = _small_folder(tmp_path, capsys)
    (out / "export").mkdir()
    with _read_only(out / "export"):
        assert main(["export", str(out), "--csv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out / "export" / "runs.csv") in err and "cannot write" in err, err
