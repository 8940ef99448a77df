"""The Dataset container and its validating constructor ``make_dataset``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optengine.errors import ConfigError, check_choice

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / validation / test splits ready for training.

    The model is fitted on ``train``; ``val`` is for choices made while training (curves,
    early stopping, picking a configuration); ``test`` is kept apart and scored once at the
    end. ``X_*`` are float64, 2-D and C-contiguous. ``y_*`` are int64 labels ``0..n_classes-1``
    (classification) or float64 ``(n, n_outputs)`` targets (regression). ``info`` holds
    provenance: source, split settings, label mapping (``classes``), standardisation stats.
    Build one with :func:`make_dataset`, which validates its inputs.
    """

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None = None
    feature_names: tuple | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Model output width: ``n_classes`` (classification) or target columns (regression)."""
        if self.task == "classification":
            return int(self.n_classes)
        return int(self.y_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_val(self) -> int:
        return int(self.X_val.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    def summary(self) -> str:
        """One line: name, task, sizes, features, outputs, standardisation."""
        out = f"{self.n_classes} classes" if self.task == "classification" else f"{self.n_outputs} outputs"
        std = self.info.get("standardize", {})
        flags = ", ".join(k for k in ("X", "y") if std.get(k)) or "none"
        return (f"{self.name}: {self.task}, {self.n_train} train / {self.n_val} val / {self.n_test} test, "
                f"{self.n_features} features, {out}, standardized: {flags}")

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"


def _shape(a) -> str:
    return str(tuple(np.shape(a)))


def as_features(X, name: str, feature_names=None) -> np.ndarray:
    """Return ``X`` as a finite float64 C-contiguous 2-D array or raise ConfigError naming ``name``."""
    fld = f"dataset.{name}"
    try:
        A = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ConfigError(fld, f"cannot be read as an array ({exc})") from None
    if A.ndim != 2:
        raise ConfigError(fld, f"must be 2-D (samples x features), got shape {_shape(A)}")
    if A.shape[0] == 0:
        raise ConfigError(fld, "is empty (0 samples)")
    if A.shape[1] == 0:
        raise ConfigError(fld, "has 0 features")
    if A.dtype.kind not in "biuf":
        raise ConfigError(fld, f"must be numeric, got dtype {A.dtype}")
    A = np.ascontiguousarray(A, dtype=np.float64)
    check_finite(A, name, feature_names)
    return A


def check_finite(A: np.ndarray, name: str, feature_names=None) -> None:
    """Raise ConfigError if ``A`` holds NaN/inf: says how many, and in which columns."""
    bad = ~np.isfinite(A)
    n_bad = int(bad.sum())
    if not n_bad:
        return
    n_nan = int(np.isnan(A).sum())
    msg = f"has {n_bad} non-finite value(s) ({n_nan} NaN, {n_bad - n_nan} inf)"
    if A.ndim == 2:
        cols = np.flatnonzero(bad.any(axis=0))
        labels = [repr(feature_names[c]) if feature_names is not None else str(c) for c in cols[:10]]
        more = ", ..." if len(cols) > 10 else ""
        msg += f" in column(s) {', '.join(labels)}{more}"
    raise ConfigError(f"dataset.{name}", msg)


def _check_rows(X, y, xname: str, yname: str) -> None:
    if X.shape[0] != len(y):
        raise ConfigError(
            f"dataset.{yname}",
            f"{xname} has {X.shape[0]} rows but {yname} has {len(y)} "
            f"(shapes {_shape(X)} and {_shape(y)})",
        )


def encode_labels(*ys, name: str = "y_train"):
    """Map labels (any sortable values) of several splits to ``0..C-1`` by sorted unique value.

    Returns ``(codes_1, ..., codes_k, classes)``, one code array per input, sharing the
    mapping; ``classes[k]`` is the original label of code k.
    """
    flat = [np.asarray(y).ravel() for y in ys]
    try:
        classes, codes = np.unique(np.concatenate(flat), return_inverse=True)
    except TypeError as exc:
        raise ConfigError(f"dataset.{name}", f"labels cannot be sorted ({exc})") from None
    codes = codes.astype(np.int64).ravel()
    ends = np.cumsum([len(y) for y in flat])[:-1]
    return (*np.split(codes, ends), [c.item() if hasattr(c, "item") else c for c in classes])


def _as_labels(y, name: str) -> np.ndarray:
    fld = f"dataset.{name}"
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ConfigError(fld, f"classification labels must be 1-D, got shape {_shape(y)}")
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind not in "iuf":
        raise ConfigError(fld, f"classification labels must be integers >= 0, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        check_finite(y, name)
        frac = y != np.round(y)
        if frac.any():
            raise ConfigError(fld, f"classification labels must be integers, found {int(frac.sum())} "
                                   f"non-integral value(s), e.g. {y[frac][0]!r}")
    if len(y) and y.min() < 0:
        raise ConfigError(fld, f"classification labels must be >= 0, found {y.min()!r}")
    return np.ascontiguousarray(y, dtype=np.int64)


def _as_targets(y, name: str) -> np.ndarray:
    fld = f"dataset.{name}"
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ConfigError(fld, f"regression targets must be 1-D or 2-D, got shape {_shape(y)}")
    if y.dtype.kind not in "biuf":
        raise ConfigError(fld, f"regression targets must be numeric, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float64)
    check_finite(y, name)
    return y


SPLITS = ("train", "val", "test")


def class_labels(yt, yv, yte, n_classes, encode: bool, info: dict):
    """Checked integer labels ``(y_train, y_val, y_test, n_classes)``; with ``encode`` any labels
    map to ``0..C-1`` by sorted unique value over all three splits (``info["classes"]``)."""
    ys = [yt, yv, yte]
    if encode:
        for arr, part in zip(ys, SPLITS):
            if arr.dtype.kind == "f":
                check_finite(arr, f"y_{part}")
        *ys, info["classes"] = encode_labels(*ys)
        n_found = len(info["classes"])
    ys = [_as_labels(y, f"y_{part}") for y, part in zip(ys, SPLITS)]
    if not encode:
        n_found = int(max(y.max() for y in ys)) + 1
    if n_classes is None:
        n_classes = n_found
    elif n_found > n_classes:
        raise ConfigError("dataset.n_classes", f"labels go up to {n_found - 1} but n_classes={n_classes}")
    if n_classes < 2:
        raise ConfigError("dataset.y_train", f"classification needs at least 2 classes, found {n_classes}")
    return ys[0], ys[1], ys[2], int(n_classes)


def make_dataset(name, task, X_train, y_train, X_val, y_val, X_test, y_test, *, n_classes=None,
                 feature_names=None, info=None, encode=False) -> Dataset:
    """Validate and convert the three splits' arrays into a :class:`Dataset`.

    Checks: 2-D numeric finite non-empty X with equal feature counts, rows of X == len(y),
    finite targets with equal output counts, integral labels >= 0 (classification).
    ``encode=True`` first maps arbitrary labels (strings, negative ints) of all three splits
    to ``0..C-1`` by sorted unique value and records the original labels in
    ``info["classes"]``. Errors are ConfigError naming the offending array
    (``dataset.X_train``, ``dataset.y_test`` ...).
    """
    check_choice("dataset.task", task, TASKS)
    info = dict(info or {})
    if feature_names is not None:
        feature_names = tuple(str(f) for f in feature_names)
    Xt = as_features(X_train, "X_train", feature_names)
    Xv = as_features(X_val, "X_val", feature_names)
    Xte = as_features(X_test, "X_test", feature_names)
    for A, part in ((Xv, "val"), (Xte, "test")):
        if A.shape[1] != Xt.shape[1]:
            raise ConfigError(f"dataset.X_{part}", f"has {A.shape[1]} features but X_train has {Xt.shape[1]} "
                                                   f"(shapes {_shape(A)} and {_shape(Xt)})")
    if feature_names is not None and len(feature_names) != Xt.shape[1]:
        raise ConfigError("dataset.feature_names",
                          f"has {len(feature_names)} names for {Xt.shape[1]} features")
    yt, yv, yte = np.asarray(y_train), np.asarray(y_val), np.asarray(y_test)
    for A, y, part in ((Xt, yt, "train"), (Xv, yv, "val"), (Xte, yte, "test")):
        _check_rows(A, y, f"X_{part}", f"y_{part}")
    if task == "classification":
        yt, yv, yte, n_classes = class_labels(yt, yv, yte, n_classes, encode, info)
    else:
        yt, yv, yte = (_as_targets(y, f"y_{part}") for y, part in ((yt, "train"), (yv, "val"), (yte, "test")))
        for y, part in ((yv, "val"), (yte, "test")):
            if y.shape[1] != yt.shape[1]:
                raise ConfigError(f"dataset.y_{part}", f"has {y.shape[1]} outputs but y_train has {yt.shape[1]}")
        n_classes = None
    return Dataset(name=str(name), task=task, X_train=Xt, y_train=yt, X_val=Xv, y_val=yv, X_test=Xte, y_test=yte,
                   n_classes=n_classes, feature_names=feature_names, info=info)
