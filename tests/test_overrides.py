"""Command-line overrides of a sweep spec (``optengine run SPEC key=value``, ``--set``)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from optengine.cli import main
from optengine.sweep import overrides as ov
from optengine.sweep.problems import SpecError
from optengine.sweep.spec import load_spec

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"
TINY = '''name = "tiny"
seeds = [0]
[model]
name = "mlp"
hidden = [8]
[dataset]
name = "iris"
[train]
epochs = 2
batch_size = 16
[optimizer]
name = ["sgd", "adam"]
lr = [0.01]
'''


@pytest.mark.parametrize("text, path, value", [
    ("train.epochs=5", ["train", "epochs"], 5),
    ("optimizer.lr=[1e-3,1e-2]", ["optimizer", "lr"], [1e-3, 1e-2]),
    ("optimizer.name=[adam,sgd]", ["optimizer", "name"], ["adam", "sgd"]),
    ("optimizer.name=adam", ["optimizer", "name"], "adam"),
    ("clip={norm = 1.0}", ["clip"], {"norm": 1.0}),
    ("train.batch_size=full", ["train", "batch_size"], "full"),
    ("schedule.warmup_steps = 100", ["schedule", "warmup_steps"], 100),
    ("model.layers[2].channels=8", ["model", "layers", 2, "channels"], 8),
    ('description="a b"', ["description"], "a b"),
])
def test_values_read_as_toml_with_bare_words(text, path, value):
    assert ov.parse(text) == (path, value)


@pytest.mark.parametrize("text, words", [
    ("train.epochs", "KEY=VALUE"), ("train.epochs=", "no value"), ("train..x=1", "dotted key"),
    ("optimizer.lr=[1e-3,", "cannot read"),
])
def test_malformed_overrides_are_refused(text, words):
    with pytest.raises(SpecError) as e:
        ov.parse(text)
    assert e.value.field == "override" and words in str(e.value)


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_spec_survives_the_toml_writer(path):
    raw = tomllib.loads(path.read_text())
    assert tomllib.loads(ov.dumps(raw, header="x")) == raw


def test_overrides_are_validated_like_the_file():
    spec = load_spec(TINY, overrides=["train.epochs=3", "optimizer.lr=[1e-3,1e-2]"])
    assert spec.raw["train"]["epochs"] == 3 and spec.raw["optimizer"]["lr"] == [1e-3, 1e-2]
    assert "with overrides: train.epochs=3" in spec.text
    with pytest.raises(SpecError) as e:
        load_spec(TINY, overrides=["train.epoch=3"])
    assert "train.epoch" in str(e.value) and "epochs" in str(e.value)
    with pytest.raises(SpecError) as e:
        load_spec(TINY, overrides=["optimizer.name=[adma]"])
    assert "adam" in str(e.value)
    with pytest.raises(SpecError):
        load_spec(TINY, overrides=["model.hidden[3]=4"])


def test_run_records_the_overridden_spec_and_resume_checks_it(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    out = tmp_path / "out"
    args = ["run", str(spec), "train.epochs=1", "--set", "optimizer.lr=[0.05]", "--out", str(out), "--jobs", "1",
            "--backend", "sequential", "--no-progress"]
    assert main(args) == 0
    saved = tomllib.loads((out / "spec.toml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["optimizer"]["lr"] == [0.05]
    assert json.loads((out / "sweep.json").read_text())["spec"]["train"]["epochs"] == 1
    assert main(args) == 0  # resuming with the same overrides: nothing to do
    assert "2 trials" in capsys.readouterr().out
    assert main(args[:2] + ["train.epochs=2"] + args[3:]) == 2  # another spec for the same folder
    assert "different spec" in capsys.readouterr().err
    assert main(["plan", str(spec), "seeds=[0,1]"]) == 0
    assert "4 trials" in capsys.readouterr().out
