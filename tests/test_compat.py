"""Results folders written before results format 2 (``tests/fixtures/results_v1``, written at
4778c77: 80/20 splits, columns ``clip`` and ``schedule`` with its settings) load with the new
columns, are never resumed with the new splits, and ``--fresh`` replaces them."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.results import RUNS_SCHEMA
from optengine.sweep import run_sweep

FIXTURES = Path(__file__).parent / "fixtures"
V1, V1_SPEC = FIXTURES / "results_v1", FIXTURES / "fixture_v1.toml"


def files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_format_1_folder_loads_with_the_new_columns():
    runs, curves = oe.load(V1)
    assert list(runs.columns) == RUNS_SCHEMA.names and "clip" not in runs.columns
    assert len(runs) == 16 and len(curves) > 0
    assert set(runs["clipping"]) == {"none", "norm=1.0"}
    assert set(runs["schedule"]) == {"cosine"}
    assert runs["schedule_settings"].str.match(r"^cosine\(lr_min=0.0,total_steps=\d+,warmup_steps=2\)$").all()
    for c in ("final_test_loss", "final_test_metric", "compile_s"):
        assert runs[c].dtype == np.float64 and runs[c].isna().all()
    assert set(runs["status"].astype(str)) == {"ok", "diverged"}  # lr 1e4 diverges


def test_resuming_a_folder_with_the_old_splits_is_refused(tmp_path):
    out = tmp_path / "v1"
    shutil.copytree(V1, out)
    before = files(out)
    with pytest.raises(ConfigError, match=r"train/validation splits.*not be comparable.*--out NEW_FOLDER.*--fresh") \
            as exc:
        run_sweep(V1_SPEC, out, backend="sequential")
    assert exc.value.field == "out"
    assert files(out) == before


def test_fresh_replaces_a_format_1_folder_unless_it_holds_other_files(tmp_path):
    out = tmp_path / "v1"
    shutil.copytree(V1, out)
    (out / "report.md").write_text("# written by the old optengine, or by the user: cannot tell")
    before = files(out)
    with pytest.raises(ConfigError, match=r"report.md; nothing was deleted"):
        run_sweep(V1_SPEC, out, backend="sequential", fresh=True)
    assert files(out) == before
    (out / "report.md").unlink()
    runs = run_sweep(V1_SPEC, out, backend="sequential", fresh=True)
    assert len(runs) == 16
    info = json.loads((out / "sweep.json").read_text())
    assert info["format"] == 2 and info["splits"] == "train/val/test"
    for table in ("runs", "curves"):
        meta = pq.read_metadata(next((out / table).glob("part-*.parquet"))).metadata[b"optengine"]
        assert json.loads(meta) == {"format": 2, "table": table}


def test_a_surface_sweep_with_the_old_layout_may_resume(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "surf"\n[model]\nname = "rosenbrock"\n[train]\nepochs = 2\nbatch_size = "full"\n'
                    '[optimizer]\nname = "sgd"\nlr = [1e-4, 1e-3]\n')
    out = tmp_path / "o"
    run_sweep(spec, out, backend="sequential", pack_size=1)
    info = json.loads((out / "sweep.json").read_text())
    del info["splits"]
    info["format"] = 1
    (out / "sweep.json").write_text(json.dumps(info))
    (out / "runs" / "part-000002.parquet").unlink()
    runs = run_sweep(spec, out, backend="sequential")
    assert len(runs) == 2 and not math.isnan(runs["final_val_loss"].iloc[0])


def test_a_format_1_folder_keeps_its_configurations_apart_in_the_analysis():
    from optengine import analysis

    runs, _ = oe.load(V1)
    assert "clipping" in analysis.varying(runs)  # clip none and norm=1 are different configurations
    summary = analysis.summarize(runs)
    assert len(summary) == 8 and {"clipping", "schedule_settings"} <= set(summary.columns)
