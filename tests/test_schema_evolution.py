"""Results that survive change: a folder written before a hyperparameter (or rule) existed loads and
resumes, and reading results never imports numba."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optengine as oe
from optengine import schema
from optengine.results import RUNS_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures"
V2, V2_SPEC = FIXTURES / "results_v2", FIXTURES / "fixture_v2.toml"


def _fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("folder", ["results_v1", "results_v2"])
def test_reading_results_does_not_import_numba(folder):
    out = _fresh(f"import sys, optengine as oe; runs, curves = oe.load({str(FIXTURES / folder)!r}); "
                 "from optengine import analysis; analysis.summarize(runs); "
                 "print(len(runs), sorted(m for m in sys.modules if m == 'numba' or m.startswith('numba.')"
                 " or m.startswith('optengine.models') or m == 'optengine.train'))")
    assert out.endswith(" []") and int(out.split()[0]) in (12, 16)


def test_report_does_not_import_numba(tmp_path):
    """``optengine report`` (the command line's path, figures included) reads a folder without numba."""
    out = tmp_path / "v2"
    shutil.copytree(V2, out)
    text = _fresh(f"import sys; from optengine import cli; cli.main(['report', {str(out)!r}]); "
                  "print('numba' in sys.modules)")
    assert text.endswith("False") and (out / "report.md").is_file()


def test_the_format_2_fixture_loads():
    runs, curves = oe.load(V2)
    assert list(runs.columns) == RUNS_SCHEMA.names
    assert len(runs) == 12 and set(runs["status"].astype(str)) == {"ok"} and len(curves) == 12 * 3
    assert set(runs["optimizer"]) == {"momentum", "adamw"}
    assert runs.loc[runs["optimizer"] == "momentum", "beta1"].isna().all()


def test_a_folder_written_before_a_new_hyperparameter_loads_and_resumes(tmp_path):
    from optengine.sweep import run_sweep

    out = tmp_path / "v2"
    shutil.copytree(V2, out)
    before, _ = oe.load(out)
    # fixture_v2 was written before momentum gained `dampening` (and the new rules their settings):
    # the new columns are optional on read, NaN in the old parts
    runs, _ = oe.load(out)
    assert len(runs) == 12
    # resume: nothing reruns (the trial_ids are the same), then a missing pack reruns beside the old ones
    runs = run_sweep(V2_SPEC, out, backend="sequential")
    assert len(runs) == 12 and sorted(runs["trial_id"]) == sorted(before["trial_id"])
    victim = sorted((out / "runs").glob("part-*.parquet"))[0]
    lost = set(pd.read_parquet(victim)["trial_id"])
    victim.unlink()
    (out / "curves" / victim.name).unlink()
    runs = run_sweep(V2_SPEC, out, backend="sequential")
    assert len(runs) == 12 and set(runs["trial_id"]) == set(before["trial_id"])
    runs, curves = oe.load(out)
    assert "dampening" in runs.columns and list(runs.columns)[:len(RUNS_SCHEMA.names)] != []
    new = runs["trial_id"].isin(lost)
    assert runs.loc[~new, "dampening"].isna().all()
    assert (runs.loc[new & (runs["optimizer"] == "momentum"), "dampening"] == 0.0).all()
    assert set(curves["trial_id"]) == set(runs["trial_id"])
    # the retrained trials have the old numbers (same ids, same settings)
    b = before.set_index("trial_id").loc[sorted(lost), "final_val_loss"]
    a = runs.set_index("trial_id").loc[sorted(lost), "final_val_loss"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6)


def test_hyperparameter_columns_are_optional_on_read(tmp_path):
    out = tmp_path / "v2"
    shutil.copytree(V2, out)
    part = sorted((out / "runs").glob("part-*.parquet"))[0]
    import pyarrow.parquet as pq

    table = pq.read_table(part)
    table = table.drop(["decay", "l2"]).append_column("rho", table.column("lr"))
    pq.write_table(table, part)
    runs, _ = oe.load(out)
    assert len(runs) == 12
    assert list(runs.columns) == schema.run_columns(schema.HYPER_COLUMNS_V2 + ["rho"], extra=True)
    n = pq.read_table(part).num_rows
    assert runs["rho"].notna().sum() == n and runs["l2"].isna().sum() == n
