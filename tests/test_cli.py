"""The command line: a tiny pack end to end, list, and clean errors."""

import pandas as pd

from optengine.cli import main


def test_train_prints_runs_and_writes_parquet(tmp_path, capsys):
    rc = main(["train", "--model", "mlp", "--sizes", "4,8,3", "--dataset", "iris", "--optimizer", "sgd,adam",
               "--lr", "0.01,0.1", "--epochs", "2", "--batch-size", "full", "--schedule", "cosine",
               "--clip-norm", "1", "--out", str(tmp_path / "x_")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "4 trials" in out and "adam" in out
    runs = pd.read_parquet(tmp_path / "x_runs.parquet")
    curves = pd.read_parquet(tmp_path / "x_curves.parquet")
    assert len(runs) == 4 and len(curves) == 8 and set(runs["clip"]) == {"norm=1.0"}


def test_list_shows_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("adamw", "cosine", "mlp", "rosenbrock", "mnist1d", "breast_cancer", "weight_decay"):
        assert name in out


def test_errors_go_to_stderr_without_traceback(capsys):
    rc = main(["train", "--dataset", "iris", "--sizes", "4,8,3", "--optimizer", "adamm"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "optimizer.name" in err and "did you mean 'adam'" in err and "Traceback" not in err
    rc = main(["train", "--dataset", "iris", "--sizes", "4,8,3", "--batch-size", "big"])
    assert rc == 2 and "batch_size" in capsys.readouterr().err
