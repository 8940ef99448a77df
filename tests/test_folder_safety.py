"""A results folder is never damaged by optengine: ``--fresh`` deletes only the files optengine wrote
(its manifest, or content it can verify), refuses before deleting anything when anything else is
there, never follows links; a failed write (disk full, read-only) names the file and removes
nothing healthy; Ctrl-C and failed writes reach the user without joblib's warnings."""

import errno
import gc
import os
import shutil
import warnings
from pathlib import Path

import pytest

import optengine as oe
from optengine.errors import ConfigError
from optengine.results import ResultsError
from optengine.sweep import Interrupted, run_sweep
from optengine.sweep import manifest, ownership, runner

SPEC = """
name = "safe"
seeds = [0]
[model]
name = "mlp"
hidden = [4]
[dataset]
name = "iris"
[train]
epochs = 1
batch_size = 32
[optimizer]
name = "sgd"
lr = [0.01, 0.1, 0.3]
"""
MORE = SPEC.replace("lr = [0.01, 0.1, 0.3]", "lr = [0.01, 0.03, 0.1, 0.2, 0.3, 0.5]")


def spec_file(tmp_path, text=SPEC):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def tree(root: Path) -> dict:
    """Every file under root (links not followed) with its bytes."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes() if not p.is_symlink() else os.readlink(p)
    return out


@pytest.fixture()
def results(tmp_path):
    out = tmp_path / "d"
    run_sweep(spec_file(tmp_path), out, backend="sequential", pack_size=1)
    return out


@pytest.mark.parametrize("user_files", [
    {"holiday.png": "a", "figures/chart.png": "c", "runs_notes.txt": "n"},  # the issue's reproduction
    {"holiday.png": "a", "figures/chart.png": "c", "runs/notes.txt": "n", "curves/x.md": "x", "report.md": "r"},
])
def test_fresh_refuses_and_lists_every_file_it_did_not_write(results, tmp_path, user_files):
    for name, text in user_files.items():
        (results / name).parent.mkdir(exist_ok=True)
        (results / name).write_text(text)
    before = tree(results)
    with pytest.raises(ConfigError, match="nothing was deleted") as exc:
        run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)
    for name in user_files:
        assert name in str(exc.value)
    assert tree(results) == before
    # without them, --fresh replaces every file optengine wrote and nothing else remains
    for name in user_files:
        (results / name).unlink()
    runs = run_sweep(spec_file(tmp_path, SPEC.replace("epochs = 1", "epochs = 2")), results, backend="sequential",
                     fresh=True)
    assert len(runs) == 3 and (runs["epochs"] == 2).all()
    assert not any(n.startswith(("figures", "damaged")) for n in tree(results))


def test_the_issues_reproduction_into_a_new_folder_lists_every_user_file(tmp_path):
    d = tmp_path / "d"
    (d / "figures").mkdir(parents=True)
    (d / "holiday.png").write_text("a")
    (d / "figures" / "chart.png").write_text("c")
    (d / "runs_notes.txt").write_text("n")
    before = tree(d)
    with pytest.raises(ConfigError, match=r"figures/chart.png, holiday.png, runs_notes.txt; nothing was deleted"):
        run_sweep(spec_file(tmp_path), d, backend="sequential", fresh=True)
    assert tree(d) == before


def test_fresh_replaces_a_damaged_sweep_json_it_wrote(results, tmp_path):
    (results / "sweep.json").write_text("{torn")
    with pytest.raises(ResultsError, match="sweep.json: is not valid JSON"):
        run_sweep(spec_file(tmp_path), results, backend="sequential")
    assert len(run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)) == 3


def test_fresh_deletes_what_optengine_recorded_and_keeps_a_folder_it_cannot_verify(results, tmp_path):
    manifest.record(results, [results / "report.md", results / "figures" / "best_curves.png"])
    (results / "report.md").write_text("# report")
    (results / "figures").mkdir()
    (results / "figures" / "best_curves.png").write_bytes(b"png")
    run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)
    assert not (results / "report.md").exists() and not (results / "figures").exists()
    # the manifest is what makes them ours: an unrecorded figure is refused
    (results / "figures").mkdir()
    (results / "figures" / "best_curves.png").write_bytes(b"png")
    with pytest.raises(ConfigError, match=r"figures/best_curves.png"):
        run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)


def test_fresh_deletes_the_report_that_optengine_report_wrote(results, tmp_path):
    from optengine.report import report

    report(results)
    assert (results / "report.md").is_file()
    run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)
    assert not (results / "report.md").exists() and not (results / "figures").exists()


def test_fresh_with_a_linked_runs_folder_deletes_nothing_anywhere(results, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.move(results / "runs", outside)
    (outside / "mine.txt").write_text("keep")
    os.symlink(outside, results / "runs")
    before, before_outside = tree(results), tree(outside)
    with pytest.raises(ConfigError, match=r"runs \(a symbolic link\).*nothing was deleted"):
        run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)
    assert tree(results) == before and tree(outside) == before_outside
    assert (results / "curves").is_dir() and (results / "environment.json").is_file()
    # clearing checks everything before deleting anything, also when called directly
    with pytest.raises(ConfigError, match="symbolic link"):
        ownership.clear(results)
    assert tree(results) == before and tree(outside) == before_outside


def test_a_full_disk_names_the_file_and_removes_nothing_healthy(tmp_path, monkeypatch):
    out = tmp_path / "o"
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if str(dst).endswith("runs/part-000002.parquet"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ResultsError, match=r"runs/part-000002.parquet: cannot write it: No space left on device"):
            run_sweep(spec_file(tmp_path, MORE), out, jobs=2, pack_size=1)  # loky: packs still running then
        gc.collect()  # joblib warns when its generator is collected
    assert not [w for w in caught if "tasks" in str(w.message)], [str(w.message) for w in caught]
    assert not list(out.rglob(".part-*")), "the half-written temporary file is removed"
    assert len(oe.load(out)[0]) == 1  # the pack saved before is intact
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(run_sweep(spec_file(tmp_path, MORE), out, backend="sequential")) == 6


def test_a_read_only_folder_names_the_file(tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open

    def ro_open(path, mode="r", *a, **kw):
        if "w" in mode and "sweep.json" in str(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", ro_open)
    with pytest.raises(ResultsError, match=r"sweep.json: cannot write it: Read-only file system"):
        run_sweep(spec_file(tmp_path), tmp_path / "o", backend="sequential")
    assert not list((tmp_path / "o").glob(".sweep.json.tmp-*"))


def test_ctrl_c_reaches_the_user_without_joblib_warnings(tmp_path, monkeypatch):
    saved = []
    real_save = runner._save

    def save(res, *a, **kw):
        if saved:
            raise KeyboardInterrupt
        saved.append(res["pack_id"])
        return real_save(res, *a, **kw)

    monkeypatch.setattr(runner, "_save", save)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(Interrupted, match="1 of 6 trials are saved"):
            run_sweep(spec_file(tmp_path, MORE), tmp_path / "o", jobs=2, pack_size=1)
        gc.collect()
    assert not [w for w in caught if "tasks" in str(w.message)], [str(w.message) for w in caught]


def test_temporary_files_of_interrupted_writes_are_optengines(results, tmp_path):
    manifest.record(results, [results / "figures" / "best_curves.png"])
    (results / "figures").mkdir()
    leftovers = [".sweep.json.tmp-99", "runs/.part-000009.parquet.tmp-99", "figures/.best_curves.png.tmp.png"]
    for name in leftovers:
        (results / name).write_bytes(b"half")
    (results / ".notes.txt.tmp-1").write_text("mine")
    with pytest.raises(ConfigError, match=r": \.notes\.txt\.tmp-1; nothing was deleted"):
        run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)
    (results / ".notes.txt.tmp-1").unlink()
    run_sweep(spec_file(tmp_path), results, backend="sequential", fresh=True)
    assert not any((results / name).exists() for name in leftovers)
