"""A damaged results folder: every damaged part is listed at once, and ``repair`` moves the damaged
parts (with their partners) aside into ``damaged/<time>/`` and reruns their trials, touching
nothing healthy."""

import shutil

import pandas as pd
import pytest

import optengine as oe
from optengine.results import DamagedResults, ResultsError
from optengine.sweep import run_sweep
from optengine.sweep.repair import repair_folder

SPEC = """
name = "rep"
seeds = [0]
[model]
name = "mlp"
hidden = [4]
[dataset]
name = "iris"
[train]
epochs = 2
batch_size = 32
[optimizer]
name = "sgd"
lr = [0.01, 0.03, 0.1, 0.2, 0.3]
"""


def metrics(runs):
    return runs.drop(columns=["wall_s", "compile_s"]).sort_values("trial_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    (tmp / "spec.toml").write_text(SPEC)
    out = tmp / "clean"
    run_sweep(tmp / "spec.toml", out, backend="sequential", pack_size=1)
    return tmp / "spec.toml", out


def damage(src, dst):
    """A copy of ``src`` with three damaged parts: a truncated runs part, an empty curves part and a
    runs part whose curves part is gone."""
    shutil.copytree(src, dst)
    runs1 = dst / "runs" / "part-000001.parquet"
    runs1.write_bytes(runs1.read_bytes()[:100])
    (dst / "curves" / "part-000003.parquet").write_bytes(b"")
    (dst / "curves" / "part-000005.parquet").unlink()
    return ["runs/part-000001.parquet", "curves/part-000003.parquet", "runs/part-000005.parquet"]


def healthy(folder):
    return {f"{t}/part-00000{n}.parquet": (folder / t / f"part-00000{n}.parquet").read_bytes()
            for t in ("runs", "curves") for n in (2, 4)}


def test_every_damaged_part_is_listed_at_once(clean, tmp_path):
    spec, src = clean
    out = tmp_path / "d"
    bad = damage(src, out)
    with pytest.raises(DamagedResults) as exc:
        run_sweep(spec, out, backend="sequential")
    text = str(exc.value)
    assert all(b in text for b in bad) and "3 damaged part file(s)" in text
    assert "truncated" in text or "torn" in text
    assert "empty (0 bytes)" in text and "its curves part curves/part-000005.parquet is missing" in text
    assert "run the same command with --repair" in text.lower() and str(out / "damaged") in text
    with pytest.raises(ResultsError, match="3 damaged part file"):
        oe.load(out)
    assert not (out / "damaged").exists()


def test_repair_moves_the_damaged_parts_aside_and_reruns_their_trials(clean, tmp_path):
    spec, src = clean
    out = tmp_path / "d"
    damage(src, out)
    keep = healthy(out)
    runs = run_sweep(spec, out, backend="sequential", repair=True)
    pd.testing.assert_frame_equal(metrics(runs), metrics(oe.load(src)[0]))
    assert healthy(out) == keep  # nothing healthy was touched
    [stamp] = (out / "damaged").iterdir()
    moved = sorted(p.relative_to(stamp).as_posix() for p in stamp.rglob("*") if p.is_file())
    assert moved == ["curves/part-000001.parquet", "curves/part-000003.parquet", "runs/part-000001.parquet",
                     "runs/part-000003.parquet", "runs/part-000005.parquet"]
    assert (stamp / "curves" / "part-000003.parquet").stat().st_size == 0  # as it was, for inspection
    # what repair moved is optengine's: --fresh clears it along with the rest
    run_sweep(spec, out, backend="sequential", fresh=True)
    assert not (out / "damaged").exists()


def test_repair_folder_returns_the_moved_paths(clean, tmp_path):
    _, src = clean
    out = tmp_path / "d"
    damage(src, out)
    moved = repair_folder(out)
    assert len(moved) == 5 and all(p.is_file() and p.is_relative_to(out / "damaged") for p in moved)
    assert len(oe.load(out)[0]) == 2  # the healthy packs; the others run again on resume
    assert repair_folder(out) == [] and repair_folder(src) == []
