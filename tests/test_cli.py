"""The command line: a tiny pack end to end, list, and clean errors."""

import pandas as pd

from optengine.cli import main


def test_train_prints_runs_and_writes_parquet(tmp_path, capsys):
    rc = main(["train", "--model", "mlp", "--hidden", "8", "--dataset", "iris", "--optimizer", "sgd,adam",
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
               "--early-stopping", "50", "--epochs", "4", "--out", str(tmp_path / "new" / "r_")])
    assert rc == 0, capsys.readouterr().err
    runs = pd.read_parquet(tmp_path / "new" / "r_runs.parquet")
    assert runs.set_index("optimizer")["momentum"].to_dict()["momentum"] == 0.8
    assert runs.set_index("optimizer")["weight_decay"].to_dict()["adamw"] == 0.1
    assert (runs["l2"] == 1e-4).all() and (runs["schedule"] == "step(step_size=3,gamma=0.5,unit=epoch)").all()


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
