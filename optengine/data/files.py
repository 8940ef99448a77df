"""User data from .csv, .parquet or .npz files, validated column by column."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optengine.errors import ConfigError, check_choice, closest

from .dataset import TASKS, Dataset, _check_rows, as_features, check_finite, make_dataset
from .split import split3
from .standardize import finish

EXTENSIONS = (".csv", ".parquet", ".pq", ".npz")
_SPLIT_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def infer_task(y) -> str:
    """Float targets -> regression; integer, bool and string targets -> classification.

    More than ``MAX_AUTO_CLASSES`` distinct integers is ambiguous: ``task`` must then be given.
    """
    return "regression" if np.asarray(y).dtype.kind in "fc" else "classification"


MAX_AUTO_CLASSES = 50


def _resolve_task(task, y, target) -> str:
    if task is None:
        y = np.asarray(y)
        n_distinct = len(np.unique(y)) if y.dtype.kind in "iu" else 0
        if n_distinct > MAX_AUTO_CLASSES:
            raise ConfigError("dataset.task", f"target {target!r} holds {n_distinct} distinct integers, which may be "
                                              "a count or a price rather than classes: set task = "
                                              "\"classification\" or \"regression\"")
        return infer_task(y)
    check_choice("dataset.task", task, TASKS)
    if task == "regression" and np.asarray(y).dtype.kind not in "biuf":
        raise ConfigError("dataset.target", f"column {target!r} is not numeric; regression needs numbers")
    return task


SPLIT_VALUES = ("train", "val", "test")


def load_file(*, path, target=None, task=None, features=None, split_column=None, test_fraction=0.2,
              val_fraction=0.2, split_seed=0, standardize=None, standardize_target=None) -> Dataset:
    """Load ``path`` (.csv/.parquet: table with a ``target`` column; .npz: arrays ``X`` and
    ``target`` (default ``"y"``), or ``X_train, y_train`` with optional ``X_val, y_val`` and
    ``X_test, y_test``).

    ``features`` picks feature columns (names; column indices for .npz); default all but the
    target (and ``split_column``). Classification labels (any values) are mapped to ``0..C-1``
    by sorted unique value over all splits (``info["classes"]``). Splits: a table may name
    each row's split in ``split_column`` (values ``"train"``, ``"val"``, ``"test"``, case and
    surrounding spaces ignored); a split the file does not give is carved with the fixed
    ``split_seed`` like ``arrays`` does: the test split is ``test_fraction`` of the training
    rows, kept apart first, then the validation split ``val_fraction`` of the rest (stratified
    for classification when possible).
    """
    if not isinstance(path, (str, Path)):
        raise ConfigError("dataset.path", f"must be a file path, got {path!r}")
    p = Path(path).expanduser()
    ext = p.suffix.lower()
    if ext not in EXTENSIONS:
        raise ConfigError("dataset.path", f"unsupported file type {ext or '(none)'!r} for {str(p)!r}; "
                                          f"allowed: {', '.join(EXTENSIONS)}")
    if not p.is_file():
        raise ConfigError("dataset.path", f"file not found: {str(p)!r}")
    if ext == ".npz":
        if split_column is not None:
            raise ConfigError("dataset.split_column", "only for .csv/.parquet tables; an .npz file gives its "
                                                      "splits as arrays X_train, y_train, X_val, y_val, X_test, y_test")
        parts, names, extra = _read_npz(p, target, features)
    else:
        parts, names, extra = _read_table(p, ext, target, features, split_column)
    X, y = parts.pop("X"), parts.pop("y")
    _check_rows(X, y, extra["x_name"], str(extra["y_name"]))
    task = _resolve_task(task, y, extra["y_name"])
    *arrays, extra["split"] = split3(X, y, **parts, test_fraction=test_fraction, val_fraction=val_fraction,
                                     split_seed=split_seed, stratify=task == "classification")
    info = {"source": str(p.resolve()), **{k: v for k, v in extra.items() if k not in ("x_name", "y_name")}}
    ds = make_dataset(f"file:{p.name}", task, *arrays, feature_names=names, info=info,
                      encode=task == "classification")
    return finish(ds, standardize, standardize_target, recommended=True)


def _read_table(p: Path, ext: str, target, features, split_column):
    import pandas as pd

    try:
        df = pd.read_csv(p) if ext == ".csv" else pd.read_parquet(p)
    except Exception as exc:
        raise ConfigError("dataset.path", f"cannot read {str(p)!r}: {exc}") from None
    cols = [str(c) for c in df.columns]
    df.columns = cols
    listing = ", ".join(map(repr, cols))
    if target is None:
        raise ConfigError("dataset.target", f"required for {ext} files: name the target column; "
                                            f"available columns: {listing}")
    if str(target) not in cols:
        raise ConfigError("dataset.target", f"no column {target!r} in {p.name}{closest(target, cols)}; "
                                            f"available columns: {listing}")
    target = str(target)
    if split_column is not None:
        if str(split_column) not in cols:
            raise ConfigError("dataset.split_column", f"no column {split_column!r} in {p.name}"
                                                      f"{closest(split_column, cols)}; available columns: {listing}")
        split_column = str(split_column)
        if split_column == target:
            raise ConfigError("dataset.split_column", f"the target column {target!r} cannot also name the splits")
    if features is None:
        features = [c for c in cols if c not in (target, split_column)]
    else:
        if isinstance(features, str) or not all(isinstance(f, str) for f in features):
            raise ConfigError("dataset.features", f"must be a list of column names, got {features!r}")
        for f in features:
            if f not in cols:
                raise ConfigError("dataset.features", f"no column {f!r} in {p.name}{closest(f, cols)}; "
                                                      f"available columns: {listing}")
        if target in features:
            raise ConfigError("dataset.features", f"the target column {target!r} cannot also be a feature")
        if split_column in features:
            raise ConfigError("dataset.features", f"the split column {split_column!r} cannot also be a feature")
    if not features:
        raise ConfigError("dataset.features", f"{p.name} has no feature columns besides {target!r}")
    if len(df) == 0:
        raise ConfigError("dataset.path", f"{p.name} has no rows")
    for c in features:
        s = df[c]
        if s.dtype.kind not in "biuf":
            example = s.dropna().iloc[0] if s.notna().any() else None
            raise ConfigError("dataset.features", f"column {c!r} is not numeric (dtype {s.dtype}, "
                                                  f"e.g. {example!r}); encode it or drop it via features=[...]")
        _check_column(p, c, s.to_numpy(dtype=np.float64, na_value=np.nan))
    y = df[target]
    if y.isna().any():
        raise ConfigError("dataset.target", f"column {target!r} has {int(y.isna().sum())} missing value(s) "
                                            f"(first at row {int(np.flatnonzero(y.isna().to_numpy())[0])})")
    kind = y.dtype.kind
    y = y.to_numpy(dtype={"i": np.int64, "u": np.int64, "b": bool, "f": np.float64}.get(kind, object))
    if kind == "f":
        _check_column(p, target, y, field="dataset.target")
    elif y.dtype.kind == "O":
        y = y.astype(str)
    X = df[features].to_numpy(dtype=np.float64, na_value=np.nan)
    parts = {"X": X, "y": y}
    if split_column is not None:
        where = df[split_column].astype(str).str.strip().str.lower().to_numpy()
        bad = ~np.isin(where, SPLIT_VALUES)
        if bad.any():
            raise ConfigError("dataset.split_column", f"column {split_column!r} must hold train, val or test in every "
                                                      f"row; row {int(np.flatnonzero(bad)[0])} holds "
                                                      f"{df[split_column].iloc[int(np.flatnonzero(bad)[0])]!r}")
        if not (where == "train").any():
            raise ConfigError("dataset.split_column", f"column {split_column!r} names no \"train\" rows")
        parts = {"X": X[where == "train"], "y": y[where == "train"]}
        for part in ("val", "test"):
            rows = where == part
            parts[f"X_{part}"], parts[f"y_{part}"] = (X[rows], y[rows]) if rows.any() else (None, None)
    extra = {"target": target, "x_name": "X", "y_name": target}
    if split_column is not None:
        extra["split_column"] = split_column
    return parts, tuple(features), extra


def _check_column(p: Path, name: str, values: np.ndarray, field: str = "dataset.path") -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        n_nan = int(np.isnan(values).sum())
        raise ConfigError(field, f"{p.name}: column {name!r} has {int(bad.sum())} missing/non-finite value(s) "
                                 f"({n_nan} NaN, {int(bad.sum()) - n_nan} inf; first at row "
                                 f"{int(np.flatnonzero(bad)[0])})")


def _read_npz(p: Path, target, features):
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise ConfigError("dataset.path", f"cannot read {str(p)!r} (object arrays are not allowed): {exc}") from None
    keys = ", ".join(map(repr, arrays)) or "(none)"
    if "X_train" in arrays:
        for part in ("train", "val", "test"):
            if (f"X_{part}" in arrays) != (f"y_{part}" in arrays):
                have, lack = (f"X_{part}", f"y_{part}") if f"X_{part}" in arrays else (f"y_{part}", f"X_{part}")
                raise ConfigError("dataset.path", f"{p.name} has {have} but no {lack} (they come in pairs); "
                                                  f"it has: {keys}")
        named = {k: arrays[k] for k in _SPLIT_KEYS if k in arrays}
        extra = {"target": "/".join(k for k in named if k.startswith("y")), "x_name": "X_train", "y_name": "y_train"}
    else:
        target = "y" if target is None else str(target)
        if "X" not in arrays:
            raise ConfigError("dataset.path", f"{p.name} needs an array 'X' (or X_train, y_train and optionally "
                                              f"X_val, y_val, X_test, y_test); it has: {keys}")
        if target not in arrays:
            raise ConfigError("dataset.target", f"no array {target!r} in {p.name}"
                                                f"{closest(target, arrays)}; it has: {keys}")
        named = {"X": arrays["X"], target: arrays[target]}
        extra = {"target": target, "x_name": "X", "y_name": target}
    if features is not None:
        if isinstance(features, str) or not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool)
                                                for f in features):
            raise ConfigError("dataset.features", f"for .npz files must be a list of column indices, got {features!r}")
        first = named[extra["x_name"]]
        n_cols = np.shape(first)[-1] if np.ndim(first) == 2 else 0
        for f in features:
            if not 0 <= f < n_cols:
                raise ConfigError("dataset.features", f"column index {f} out of range for {n_cols} columns")
        named = {k: a[:, list(features)] if k.startswith("X") and np.ndim(a) == 2 else a for k, a in named.items()}
    for name, a in named.items():  # name the file's own arrays in NaN/inf errors
        if name.startswith("X"):
            named[name] = as_features(a, name)
        elif np.asarray(a).dtype.kind == "f":
            check_finite(np.asarray(a), name)
    parts = {"X": named.pop(extra["x_name"]), "y": named.pop(extra["y_name"])}
    parts.update({k: named.get(k) for k in _SPLIT_KEYS[2:]})  # the file's own val/test arrays, or None
    return parts, None, extra
