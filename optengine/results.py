"""Results on disk: the runs and curves tables as Parquet part files under ``results/<sweep>/``.

Layout::

    results/<sweep>/sweep.json          format version, splits, sweep name, the spec's canonical content
    results/<sweep>/spec.toml           the spec as written (when it came from a file)
    results/<sweep>/environment.json    one record per `optengine run` (versions, cores, threads, device)
    results/<sweep>/runs/part-000001.parquet     one row per trial
    results/<sweep>/curves/part-000001.parquet   one row per trial and epoch
    results/<sweep>/steps/part-000001.parquet    the step table (only with log_every / eval_every)
    results/<sweep>/trajectories/part-000001.parquet   parameter paths (2-parameter models)

A pack's part files share their number. Each is written whole or not at all: to a
hidden temporary name, flushed, then renamed. The curves part (and the steps and trajectories
parts, when the pack has them) are renamed first and the runs part last, so a runs part marks a
finished pack; a part without its runs part (a run killed before the last rename) is ignored,
and deleted by the next run. When a trial appears in several
parts (``--retry-failed``), the newest part wins. Every file is named in the folder's manifest
(``sweep/manifest.py``) before it is written, so ``--fresh`` deletes only what optengine wrote.

Results format 2 (this version) renamed the runs column ``clip`` to ``clipping``, keeps only the
schedule's name in ``schedule`` (its settings in ``schedule_settings``) and added the test split
(``final_test_loss``, ``final_test_metric``) and ``compile_s``. Format-1 parts are mapped on read.
A damaged folder (torn, empty or lonely parts) is reported with every damaged file at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ConfigError
from .schema import (ADDED_IN_2, ADDED_RUN_COLUMNS, CURVES_SCHEMA, EXTRA_RUN_COLUMNS, FORMAT, HYPER_COLUMNS_V2,
                     READ_FORMATS, RUN_COLUMNS_AFTER, RUN_COLUMNS_BEFORE, RUNS_SCHEMA, SCHEMAS, SIDE_TABLES, STATUSES,
                     hyper_order, runs_schema)

HYPER_COLUMNS = HYPER_COLUMNS_V2  # (kept for old imports; the trainer's are optengine.train.HYPER_COLUMNS)
SPLITS = "train/val/test"  # sweep.json's "splits" of a folder written by this version
META_KEY = b"optengine"
PART_RE = re.compile(r"^part-(\d{6})\.parquet$")
class ResultsError(ConfigError):
    """A results folder or file that cannot be used; ``field`` is the path at fault."""


class DamagedResults(ResultsError):
    """Part files that are torn, empty or without their partner; ``damaged``: [(path, reason)], all of them."""

    def __init__(self, folder, damaged: list[tuple[Path, str]], advice: str | None = None):
        self.folder, self.damaged = Path(folder), list(damaged)
        listing = "; ".join(f"{_rel(p, folder)} ({why})" for p, why in self.damaged)
        advice = advice or (f"`optengine run SPEC --out {folder} --repair` (the command that wrote it, with "
                            f"--repair) moves them aside into {Path(folder) / 'damaged'}/ and reruns their trials")
        super().__init__(str(folder), f"{len(self.damaged)} damaged part file(s): {listing}. {advice}")


def _rel(path: Path, folder) -> str:
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return str(path)


@contextlib.contextmanager
def os_errors(path, doing: str = "write"):
    """Turn an OSError (disk full, read-only file system, ...) into a ResultsError naming ``path``."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ResultsError(str(path), f"cannot {doing} it: {reason}") from None


# -- writing ----------------------------------------------------------------------------------------

def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename); an OSError
    becomes a ResultsError naming the file, and the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _cleaned(tmp), os_errors(path):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _cleaned(tmp: Path):
    """Remove ``tmp`` when the block fails (a full disk must not keep half a file)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def part_path(folder, table: str, number: int) -> Path:
    return Path(folder) / table / f"part-{number:06d}.parquet"


def write_part(folder: Path, table: str, number: int, df: pd.DataFrame) -> Path:
    """Write ``df`` as ``<folder>/<table>/part-<number>.parquet`` atomically (named in the folder's
    manifest first); return the path. An OSError becomes a ResultsError naming the file."""
    from .sweep import manifest

    manifest.record(folder, [part_path(folder, table, number)])
    return _write_part(folder, table, number, df)


def _write_part(folder: Path, table: str, number: int, df: pd.DataFrame) -> Path:
    schema = runs_schema(hyper_order(df.columns)) if table == "runs" else SCHEMAS[table]
    df = df.reindex(columns=schema.names)
    if table == "runs":  # an added column its writer left out (or NaN) holds its default
        df = df.fillna({c: default for c, default in ADDED_RUN_COLUMNS.items()})
    for f in schema:  # a string column the trainer left empty (NaN) is "", never null
        if pa.types.is_string(f.type) and df[f.name].isna().any():
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), "")
    arrow = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    arrow = arrow.replace_schema_metadata({META_KEY: json.dumps({"format": FORMAT, "table": table}).encode()})
    path = part_path(folder, table, number)
    with os_errors(path.parent, "create"):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _cleaned(tmp), os_errors(path):
        pq.write_table(arrow, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def write_pack(folder: Path, number: int, runs: pd.DataFrame, curves: pd.DataFrame, tables=None) -> None:
    """A finished pack: its curves part, its side tables (``tables``: {"steps" | "trajectories": DataFrame},
    those with rows), then its runs part (the commit marker); all are named in the folder's manifest
    first (one fsync'd append)."""
    from .sweep import manifest

    side = [(t, df) for t, df in (tables or {}).items() if df is not None and len(df)]
    for t, _ in side:
        if t not in SIDE_TABLES:
            raise ValueError(f"unknown table {t!r}; known: {', '.join(SIDE_TABLES)}")
    manifest.record(folder, [part_path(folder, t, number) for t in ("curves", *(t for t, _ in side), "runs")])
    _write_part(folder, "curves", number, curves)
    for t, df in side:
        _write_part(folder, t, number, df)
    _write_part(folder, "runs", number, runs)


def next_part_number(folder: Path) -> int:
    numbers = [int(m.group(1)) for t in SCHEMAS for p in (Path(folder) / t).glob("part-*.parquet")
               if (m := PART_RE.match(p.name))]
    return max(numbers, default=0) + 1


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete temporary files of interrupted writes and curves parts without a runs part; return them.
    Links are never followed or removed."""
    folder = Path(folder)
    removed = []
    for t in SCHEMAS:
        if (folder / t).is_symlink():
            continue
        for p in (folder / t).glob(".part-*.tmp-*"):
            if not p.is_symlink():
                removed.append(p)
    runs = {p.name for p in (folder / "runs").glob("part-*.parquet")}
    for t in ("curves", *SIDE_TABLES):
        if not (folder / t).is_symlink():
            removed += [p for p in (folder / t).glob("part-*.parquet") if p.name not in runs and not p.is_symlink()]
    for p in removed:
        with os_errors(p, "remove"):
            p.unlink(missing_ok=True)
    return removed


# -- reading ----------------------------------------------------------------------------------------

def _parts(folder: Path, table: str) -> list[tuple[int, Path]]:
    out = []
    d = folder / table
    if not d.is_dir():
        return out
    for p in sorted(d.iterdir()):
        if p.name.startswith(".") and ".tmp-" in p.name:
            continue  # an interrupted write; never part of the results
        m = PART_RE.match(p.name)
        if not m or not p.is_file():
            raise ResultsError(str(p), f"foreign file in an optengine {table} folder (expected part-NNNNNN.parquet "
                                       "files only); move it elsewhere")
        out.append((int(m.group(1)), p))
    return out


class _Damaged(Exception):
    """A part file that is ours but cannot be used (torn, empty, columns missing)."""


def read_part(path: Path, table: str) -> pd.DataFrame:
    """One part file checked for being whole and ours, in this version's columns (format 1 mapped)."""
    try:
        return _read_part(path, table)
    except _Damaged as exc:
        raise ResultsError(str(path), f"{exc}; delete it and the part of the same number in "
                                      f"{'curves' if table == 'runs' else 'runs'}/, then run the sweep again "
                                      "to recompute its trials (or run it with --repair)") from None


def _read_part(path: Path, table: str) -> pd.DataFrame:
    try:
        arrow = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for torn files
        if path.is_file() and path.stat().st_size == 0:
            raise _Damaged("empty (0 bytes)") from None
        raise _Damaged(f"cannot be read as Parquet, torn: {type(exc).__name__}: {exc}") from None
    meta = (arrow.schema.metadata or {}).get(META_KEY)
    info = None
    if meta is not None:
        try:
            info = json.loads(meta)
        except ValueError:
            info = None
    if not isinstance(info, dict) or info.get("table") != table:
        raise ResultsError(str(path), f"is a Parquet file but not an optengine {table} part; move it elsewhere")
    fmt = info.get("format")
    if fmt not in READ_FORMATS:
        raise ResultsError(str(path), f"was written in results format {fmt}, this optengine reads formats "
                                      f"{', '.join(map(str, READ_FORMATS))}; use a newer optengine")
    df = arrow.to_pandas()
    if table == "runs" and fmt == 1:
        df = _from_format_1(df)
    # required: the fixed columns; every hyperparameter column is optional (NaN when absent, see schema.py)
    required = RUN_COLUMNS_BEFORE + RUN_COLUMNS_AFTER if table == "runs" else SCHEMAS[table].names
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise _Damaged(f"lacks columns {', '.join(missing)}")
    if table == "runs":
        for c in EXTRA_RUN_COLUMNS:  # written by an earlier optengine: empty
            if c not in df.columns:
                df[c] = ""
        for c, default in ADDED_RUN_COLUMNS.items():  # written before the column existed: its default
            if c not in df.columns:
                df[c] = default
        for c in HYPER_COLUMNS_V2:
            if c not in df.columns:
                df[c] = np.nan
    return df


def _from_format_1(df: pd.DataFrame) -> pd.DataFrame:
    """A format-1 runs part in format-2 columns: ``clip`` -> ``clipping``; ``schedule`` held the label,
    now ``schedule_settings``, with its name (the text before "(") in ``schedule``; test columns and
    ``compile_s`` NaN."""
    df = df.rename(columns={"clip": "clipping"})
    if "schedule" in df.columns and "schedule_settings" not in df.columns:
        df["schedule_settings"] = df["schedule"]
        df["schedule"] = df["schedule"].astype(str).str.split("(", n=1).str[0]
    for c in ADDED_IN_2:
        if c not in df.columns:
            df[c] = np.nan
    return df


def _typed(df: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    df = df.reindex(columns=schema.names)
    for f in schema:
        if pa.types.is_int64(f.type):
            df[f.name] = df[f.name].astype("int64")
        elif pa.types.is_float64(f.type):
            df[f.name] = df[f.name].astype("float64")
        elif pa.types.is_boolean(f.type):
            df[f.name] = df[f.name].astype("bool")
        else:
            df[f.name] = df[f.name].where(df[f.name].notna(), "").astype("str")
    if "status" in df:
        df["status"] = pd.Categorical(df["status"], categories=STATUSES)
    return df


def read_results(folder, hyper_columns=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) of a results folder, one row per trial (newest part wins) and per trial-epoch.
    The runs have format 2's hyperparameter columns, any later ones found in the folder and
    ``hyper_columns`` (NaN where a part lacks one). Raises DamagedResults listing every damaged part
    file at once."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(str(folder), "no such results folder")
    if not (folder / "sweep.json").is_file() and not (folder / "runs").is_dir():
        raise ResultsError(str(folder), "is not an optengine results folder (no sweep.json, no runs/)")
    run_parts = _parts(folder, "runs")
    curve_parts = dict(_parts(folder, "curves"))
    runs_frames, curve_frames, damaged = [], [], []
    for number, path in run_parts:
        try:
            df = _read_part(path, "runs")
        except _Damaged as exc:
            damaged.append((path, str(exc)))
            df = None
        if number not in curve_parts:  # written before its runs part, so it was removed since
            if df is not None:
                damaged.append((path, f"its curves part curves/{path.name} is missing"))
            continue
        try:
            c = _read_part(curve_parts[number], "curves")
        except _Damaged as exc:
            damaged.append((curve_parts[number], str(exc)))
            continue
        if df is None:
            continue
        df["_part"] = number
        runs_frames.append(df)
        c["_part"] = number
        curve_frames.append(c)
    if damaged:
        raise DamagedResults(folder, damaged)
    if runs_frames:
        runs = pd.concat(runs_frames, ignore_index=True)
        runs = runs.drop_duplicates("trial_id", keep="last")
    else:
        runs = pd.DataFrame({c: pd.Series(dtype=object) for c in RUNS_SCHEMA.names + ["_part"]})
    if curve_frames:
        curves = pd.concat(curve_frames, ignore_index=True)
        keep = set(zip(runs["trial_id"], runs["_part"]))
        mask = [(t, p) in keep for t, p in zip(curves["trial_id"], curves["_part"])]
        curves = curves[np.asarray(mask, dtype=bool)]
    else:
        curves = pd.DataFrame({c: pd.Series(dtype=object) for c in CURVES_SCHEMA.names})
    info = read_sweep_info(folder) or {}
    order = {tid: i for i, tid in enumerate(info.get("trial_ids", []))}
    if len(runs):  # the spec's trial order, whatever order the packs finished in
        runs = runs.assign(_order=[order.get(t, len(order)) for t in runs["trial_id"]])
        runs = runs.sort_values(["_order", "_part"], kind="stable").drop(columns="_order")
    schema = runs_schema(hyper_order(hyper_columns, *(f.columns for f in runs_frames)))
    runs = _typed(runs.drop(columns="_part"), schema).reset_index(drop=True)
    curves = _typed(curves.drop(columns="_part", errors="ignore"), CURVES_SCHEMA)
    curves = curves.sort_values(["trial_id", "epoch"], kind="stable").reset_index(drop=True)
    return runs, curves


def load(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``runs, curves = oe.load("results/quickstart")``: the two tables as pandas DataFrames."""
    return read_results(folder)


TABLES = ("runs", "curves", *SIDE_TABLES)


def load_table(folder, name: str) -> pd.DataFrame:
    """``oe.load_table(folder, "steps" | "trajectories" | "runs" | "curves")``: one table of a results
    folder. The side tables hold the rows of the trials' saved parts only (the newest part of a trial
    that ran twice; a part without its runs part is ignored), sorted by trial and step; a folder
    without the table (written before it existed, or with the recording off) gives the empty table
    with its columns."""
    from .errors import check_choice

    check_choice("name", name, TABLES)
    if name in ("runs", "curves"):
        return read_results(folder)[TABLES.index(name)]
    folder = Path(folder)
    runs, _ = read_results(folder)
    schema = SCHEMAS[name]
    owner = {}  # trial_id -> the part its saved run came from
    for number, path in _parts(folder, "runs"):
        for tid in _read_part(path, "runs")["trial_id"]:
            owner[tid] = number
    frames = []
    for number, path in _parts(folder, name):
        df = read_part(path, name)
        keep = [owner.get(t) == number for t in df["trial_id"]]
        frames.append(df[np.asarray(keep, dtype=bool)])
    if not frames:
        return _typed(pd.DataFrame(columns=schema.names), schema)
    out = _typed(pd.concat(frames, ignore_index=True), schema)
    return out.sort_values(["trial_id", "step"], kind="stable").reset_index(drop=True)


def read_sweep_info(folder) -> dict | None:
    """The folder's ``sweep.json`` or None when there is none."""
    path = Path(folder) / "sweep.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise ResultsError(str(path), "is not valid JSON; this folder was not written by optengine "
                                      "or the file was damaged") from None


__all__ = ["load", "load_table", "read_results", "write_pack", "write_part", "ResultsError", "DamagedResults", "HYPER_COLUMNS"]
