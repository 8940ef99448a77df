"""Sparse bag-of-words text classification: a seeded generator and a CSR ``.npz`` loader.

Both return the project's :class:`Dataset` with ``X_train`` / ``X_val`` / ``X_test`` as canonical
``scipy.sparse.csr_matrix`` (float64, sorted token ids, no duplicates, no stored zeros),
one row per document and one column per vocabulary entry (``n_features = vocab_size``),
task ``"classification"``. They are meant for ``sparse_logreg``. The documents are split
in three: ``test_fraction`` kept apart as the test split, then ``val_fraction`` of the rest
as the validation split (stratified when possible, seeded by ``split_seed``).

Counts are never standardised: z-scoring would subtract column means and turn every
zero into a non-zero (a dense matrix of vocab columns), and would destroy the sparsity
pattern the model and AdaGrad's per-feature steps are about. ``transform`` offers the
usual text rescalings instead, fitted on the training split only and applied alike to the
validation and test splits:

- ``"counts"``: raw term counts (default);
- ``"binary"``: 1 where a token occurs;
- ``"log1p"``: log(1 + count) (sublinear term frequency);
- ``"tfidf"``: scikit-learn's ``TfidfTransformer()`` defaults (smooth idf =
  ln((1 + n) / (1 + df)) + 1 from the training documents, rows scaled to unit L2 norm).

``info["standardize"]`` is ``{"X": False, "y": False}`` and ``info["sparse"]`` is True.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optengine.errors import ConfigError, check_choice, check_number, closest
from optengine.memory import require

from .dataset import Dataset, class_labels
from .split import check_seed, split3, split_sizes

if TYPE_CHECKING:  # imported where used: scipy.sparse takes ~0.1 s to import
    import scipy.sparse as sp

TRANSFORMS = ("counts", "binary", "log1p", "tfidf")
CSR_KEYS = ("data", "indices", "indptr")


# -- CSR input ------------------------------------------------------------------------------------

def _first_row(indptr, pos: int) -> int:
    """The row that stored entry ``pos`` belongs to."""
    return int(np.searchsorted(indptr, pos, side="right") - 1)


def is_sparse(X) -> bool:
    """``scipy.sparse.issparse(X)`` without importing scipy.sparse: no sparse matrix exists
    before it is imported."""
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(X)


def as_csr(X, field: str, n_cols: int | None = None, what: str = "vocab_size") -> sp.csr_matrix:
    """``X`` as a canonical float64 CSR matrix (summed duplicates, no stored zeros), validated.

    ``X``: any ``scipy.sparse`` matrix/array; a mapping (dict, ``np.load`` of an .npz) with
    ``data, indices, indptr`` and optional ``shape`` (``scipy.sparse.save_npz``'s CSR layout);
    or a dense 2-D count matrix. ``n_cols`` (if given) is the number of columns (token ids
    ``0..n_cols-1``) it must have; ``what`` names that number in messages. Values must be
    finite; negative values are allowed (e.g. signed feature hashing). Errors are
    ``ConfigError(field, ...)`` saying which row and token.
    """
    import scipy.sparse as sp
    shape = None
    if sp.issparse(X):
        A = X.tocsr()
        data, indices, indptr, shape = A.data, A.indices, A.indptr, A.shape
    elif isinstance(X, Mapping):  # a dict, or np.load(...) of an .npz
        keys = list(X.keys())
        missing = [k for k in CSR_KEYS if k not in keys]
        if missing:
            raise ConfigError(field, f"a CSR matrix needs arrays {', '.join(CSR_KEYS)} (and optionally shape); "
                                     f"missing {', '.join(missing)}; it has: {', '.join(map(str, keys)) or '(none)'}")
        extra = [k for k in keys if k not in (*CSR_KEYS, "shape", "format")]
        if extra:
            raise ConfigError(field, f"unexpected array(s) {', '.join(map(repr, extra))} in a CSR matrix "
                                     f"(allowed: data, indices, indptr, shape)")
        if "format" in keys:
            fmt = np.asarray(X["format"]).item()
            fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
            if fmt != "csr":
                raise ConfigError(field, f"holds a {fmt!r} matrix; only CSR is supported here "
                                         "(save X.tocsr(), or use scipy.sparse.load_npz and pass the matrix)")
        data, indices, indptr = (np.asarray(X[k]) for k in CSR_KEYS)
        if "shape" in keys:
            s = np.asarray(X["shape"])
            if s.shape != (2,) or s.dtype.kind not in "iu" or s.min() < 0:
                raise ConfigError(field, f"shape must be two non-negative integers (rows, columns), got {s.tolist()!r}")
            shape = (int(s[0]), int(s[1]))
    else:
        try:
            A = np.asarray(X)
        except Exception as exc:
            raise ConfigError(field, f"cannot be read as a matrix ({exc})") from None
        if A.dtype == object and A.ndim == 0:
            raise ConfigError(field, f"must be a scipy.sparse matrix, a dict of CSR arrays or a dense 2-D count "
                                     f"matrix, got {type(X).__name__}")
        if A.ndim != 2:
            raise ConfigError(field, f"must be 2-D (documents x vocabulary), got shape {A.shape}")
        if A.dtype.kind not in "biuf":
            raise ConfigError(field, f"must be numeric, got dtype {A.dtype}")
        A = sp.csr_matrix(A.astype(np.float64))
        data, indices, indptr, shape = A.data, A.indices, A.indptr, A.shape
    return _check_parts(data, indices, indptr, shape, field, n_cols, what)


def _check_parts(data, indices, indptr, shape, field, n_cols, what) -> sp.csr_matrix:
    import scipy.sparse as sp
    for name, a, kinds in (("data", data, "biuf"), ("indices", indices, "iu"), ("indptr", indptr, "iu")):
        if a.ndim != 1:
            raise ConfigError(field, f"{name} must be 1-D, got shape {a.shape}")
        if a.dtype.kind not in kinds:
            need = "numbers" if name == "data" else "integers"
            raise ConfigError(field, f"{name} must hold {need}, got dtype {a.dtype}")
    if indptr.size == 0 or indptr[0] != 0:
        raise ConfigError(field, "indptr must start at 0 (it has one entry per row plus one)")
    if np.any(np.diff(indptr) < 0):
        r = int(np.flatnonzero(np.diff(indptr) < 0)[0])
        raise ConfigError(field, f"indptr must be non-decreasing; it decreases after row {r}")
    if data.size != indices.size or indptr[-1] != indices.size:
        raise ConfigError(field, f"data ({data.size}), indices ({indices.size}) and indptr[-1] ({int(indptr[-1])}) "
                                 "must all equal the number of stored entries")
    n_rows = indptr.size - 1
    if shape is not None and shape[0] != n_rows:
        raise ConfigError(field, f"shape says {shape[0]} rows but indptr describes {n_rows}")
    limit = n_cols if n_cols is not None else (shape[1] if shape is not None else None)
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0:
            pos = int(np.flatnonzero(indices < 0)[0])
            raise ConfigError(field, f"token id {lo} in row {_first_row(indptr, pos)} is negative")
        if limit is not None and hi >= limit:
            pos = int(np.flatnonzero(indices >= limit)[0])
            name = what if n_cols is not None else "the matrix's column count"
            raise ConfigError(field, f"token id {int(indices[pos])} in row {_first_row(indptr, pos)} is out of range "
                                     f"for {name} {limit} (ids must be 0..{limit - 1})")
    if data.size and data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ConfigError(field, f"has {int(bad.sum())} non-finite value(s); the first is {float(data[pos])!r} in row "
                                     f"{_first_row(indptr, pos)} at token {int(indices[pos])}")
    cols = limit if limit is not None else (int(indices.max()) + 1 if indices.size else 0)
    if n_cols is not None and shape is not None and shape[1] != n_cols:
        raise ConfigError(field, f"has {shape[1]} columns (tokens) but {what} is {n_cols}")
    A = sp.csr_matrix((data.astype(np.float64), indices.astype(np.int64), indptr.astype(np.int64)),
                      shape=(n_rows, cols))
    A.sum_duplicates()  # also sorts the ids of each row
    A.eliminate_zeros()
    return A


def csr_fingerprint_parts(X) -> tuple:
    """Arrays that identify a sparse matrix's content (for hashing; ``np.asarray`` of a
    scipy matrix is an object array holding a pointer, which must not be hashed)."""
    import scipy.sparse as sp
    A = sp.csr_matrix(X)
    A.sum_duplicates()
    return (np.asarray(A.shape, dtype=np.int64), A.indptr.astype(np.int64), A.indices.astype(np.int64),
            A.data.astype(np.float64))


def split_csr(X: sp.csr_matrix, y, test_fraction, val_fraction, split_seed):
    """``data.split.split3`` for a CSR matrix (stratified when possible):
    ``(Xt, yt, Xv, yv, Xte, yte, info)``."""
    import scipy.sparse as sp
    rows = np.arange(X.shape[0])
    it, yt, iv, yv, ite, yte, info = split3(rows, np.asarray(y), test_fraction=test_fraction,
                                            val_fraction=val_fraction, split_seed=split_seed, stratify=True)
    return sp.csr_matrix(X[it]), yt, sp.csr_matrix(X[iv]), yv, sp.csr_matrix(X[ite]), yte, info


def check_no_standardize(value) -> None:
    """``standardize`` (every dataset takes it) may only be false/omitted for bag-of-words data."""
    if value is None or value is False or value is np.False_:
        return
    if value is True or value is np.True_:
        raise ConfigError("dataset.standardize", "bag-of-words counts are never standardised (z-scoring would make "
                                                 "every zero non-zero and erase the sparsity); use transform = "
                                                 "\"log1p\", \"binary\" or \"tfidf\" to rescale them")
    raise ConfigError("dataset.standardize", f"must be true or false (or omitted), got {value!r}")


# -- transforms and the Dataset ------------------------------------------------------------------

def apply_transform(Xt: sp.csr_matrix, others, transform: str):
    """``(Xt, [X, ...], info)`` after ``transform``, fitted on ``Xt`` only and applied to ``Xt``
    and to each matrix of ``others`` (the validation and test splits); see the module docstring."""
    import scipy.sparse as sp
    transform = check_choice("dataset.transform", transform, TRANSFORMS)
    info = {"transform": transform}
    if transform == "counts":
        return Xt, list(others), info
    if transform in ("binary", "log1p"):
        out = []
        for A in (Xt, *others):
            A = A.copy()
            A.data = np.sign(A.data) if transform == "binary" else np.sign(A.data) * np.log1p(np.abs(A.data))
            out.append(A)
        return out[0], out[1:], info
    from sklearn.feature_extraction.text import TfidfTransformer

    if Xt.data.size and Xt.data.min() < 0:
        raise ConfigError("dataset.transform", "tfidf needs non-negative counts")
    tf = TfidfTransformer().fit(Xt)
    info["idf"] = tf.idf_.copy()
    return sp.csr_matrix(tf.transform(Xt)), [sp.csr_matrix(tf.transform(A)) for A in others], info


def make_text_dataset(name, X_train, y_train, X_val, y_val, X_test, y_test, *, n_classes=None, info=None,
                      encode=False) -> Dataset:
    """A classification :class:`Dataset` whose X (train, val, test) are canonical float64 CSR
    matrices (validated), widened to a common vocabulary.

    ``make_dataset`` would densify nothing and refuse a sparse X, so this builds the
    (frozen) dataclass directly after the same label checks.
    """
    parts = ("train", "val", "test")
    Xs = [as_csr(X, f"dataset.X_{part}") for X, part in zip((X_train, X_val, X_test), parts)]
    n_cols = max(A.shape[1] for A in Xs)
    for A, part in zip(Xs, parts):
        A.resize((A.shape[0], n_cols))
        if A.shape[0] == 0:
            raise ConfigError(f"dataset.X_{part}", "is empty (0 documents)")
    if n_cols == 0:
        raise ConfigError("dataset.X_train", "has an empty vocabulary (0 columns)")
    ys = [np.asarray(y) for y in (y_train, y_val, y_test)]
    for A, y, part in zip(Xs, ys, parts):
        if y.ndim != 1 or y.shape[0] != A.shape[0]:
            raise ConfigError(f"dataset.y_{part}", f"X_{part} has {A.shape[0]} documents but y_{part} has shape "
                                                   f"{y.shape} (one label per document)")
    info = dict(info or {})
    yt, yv, yte, n_classes = class_labels(*ys, n_classes, encode, info)
    info.setdefault("standardize", {"X": False, "y": False})
    info["sparse"] = True
    info["mean_tokens_per_doc"] = float(Xs[0].getnnz(axis=1).mean())
    info["max_tokens_per_doc"] = int(max(A.getnnz(axis=1).max() for A in Xs))
    return Dataset(name=str(name), task="classification", X_train=Xs[0], y_train=yt, X_val=Xs[1], y_val=yv,
                   X_test=Xs[2], y_test=yte, n_classes=int(n_classes), info=info)


# -- the generator ------------------------------------------------------------------------------

# per token while generating: int64/float64 temporaries (rows, draws, ids, signal mask and picks),
# the COO -> CSR matrix and the split's CSR copies; measured peak (tracemalloc) 55 bytes per token
BYTES_PER_TOKEN = 64


def synthetic_text(*, n_docs=2000, vocab_size=5000, n_classes=4, doc_length=60, rare_per_class=20,
                   signal=0.05, zipf_exponent=1.1, transform="counts", test_fraction=0.2, val_fraction=0.2,
                   seed=0, split_seed=0, standardize=False) -> Dataset:
    """Seeded bag-of-words documents: a Zipf vocabulary shared by all classes plus rare class tokens.

    Token ids are frequency ranks: background tokens are drawn with P(id = r) proportional
    to 1 / (r + 1)**zipf_exponent over the whole vocabulary. Each class owns
    ``rare_per_class`` tokens, drawn without replacement from the rarer half of the
    vocabulary (``info["class_tokens"]``, n_classes x rare_per_class). A document of
    class y has Poisson(doc_length) tokens (possibly 0: an empty document); each token is,
    with probability ``signal``, one of class y's tokens (uniformly) and otherwise a
    background token. Labels are balanced; the three splits are stratified, drawn with ``split_seed``.

    The label signal lives in rare features with small counts, while the frequent head
    tokens carry large counts and no signal: plain SGD's step must stay small for the
    head, which starves the rare class tokens; AdaGrad's per-feature steps do not.
    """
    import scipy.sparse as sp
    n = check_number("dataset.n_docs", n_docs, low=2, integer=True)
    V = check_number("dataset.vocab_size", vocab_size, low=2, integer=True)
    C = check_number("dataset.n_classes", n_classes, low=2, integer=True)
    L = check_number("dataset.doc_length", doc_length, low=0.0, low_open=True)
    R = check_number("dataset.rare_per_class", rare_per_class, low=1, integer=True)
    signal = check_number("dataset.signal", signal, low=0.0, high=1.0)
    s = check_number("dataset.zipf_exponent", zipf_exponent, low=0.0)
    transform = check_choice("dataset.transform", transform, TRANSFORMS)
    seed = check_seed("dataset.seed", seed)
    check_no_standardize(standardize)
    if n < 2 * C:
        raise ConfigError("dataset.n_docs", f"needs at least 2 documents per class ({2 * C} for {C} classes), got {n}")
    tail = V - V // 2
    if C * R > tail:
        raise ConfigError("dataset.rare_per_class", f"{C} classes x {R} rare tokens = {C * R} do not fit in the "
                                                    f"rarer half of the vocabulary ({tail} ids of vocab_size={V})")
    split_sizes(n, test_fraction=test_fraction, val_fraction=val_fraction, split_seed=split_seed)
    tokens_expected = int(n * L)
    require("dataset.n_docs", f"the dataset synthetic_text ({n} documents x {L:g} tokens on average, "
                              f"about {BYTES_PER_TOKEN} bytes per token while generating)",
            BYTES_PER_TOKEN * tokens_expected + 16 * V + 64 * n)
    rng = np.random.default_rng(seed)
    class_tokens = rng.choice(np.arange(V // 2, V), size=C * R, replace=False).reshape(C, R)
    y = rng.permutation(np.arange(n) % C).astype(np.int64)
    lengths = rng.poisson(L, size=n)
    rows = np.repeat(np.arange(n), lengths)
    total = rows.size
    cdf = np.cumsum(1.0 / np.arange(1, V + 1, dtype=np.float64) ** s)
    cdf /= cdf[-1]
    tokens = np.minimum(np.searchsorted(cdf, rng.random(total), side="right"), V - 1)
    is_signal = rng.random(total) < signal
    pick = rng.integers(0, R, size=total)
    tokens = np.where(is_signal, class_tokens[y[rows], pick], tokens)
    X = sp.csr_matrix((np.ones(total), (rows, tokens)), shape=(n, V))
    X.sum_duplicates()
    Xt, yt, Xv, yv, Xte, yte, split_info = split_csr(X, y, test_fraction, val_fraction, split_seed)
    Xt, (Xv, Xte), tinfo = apply_transform(Xt, (Xv, Xte), transform)
    info = {"source": "synthetic", "split": split_info, "seed": seed, "class_tokens": class_tokens,
            "doc_length": L, "signal": signal, "zipf_exponent": s, **tinfo}
    return make_text_dataset("synthetic_text", Xt, yt, Xv, yv, Xte, yte, n_classes=C, info=info)


# -- the file loader -----------------------------------------------------------------------------

def load_text_npz(*, path, target="y", labels_path=None, vocab_size=None, transform="counts",
                  test_fraction=0.2, val_fraction=0.2, split_seed=0, standardize=False) -> Dataset:
    """Documents from an ``.npz`` file holding a CSR matrix and its labels.

    The file holds arrays ``data, indices, indptr, shape`` (the layout
    ``scipy.sparse.save_npz`` writes for a CSR matrix; write one with labels by
    ``np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=X.shape, y=y)``)
    and the labels under ``target`` (default ``"y"``). Or: ``path`` is a file written by
    ``scipy.sparse.save_npz`` and ``labels_path`` a ``.npy`` file (or an ``.npz`` with the
    array ``target``). Labels (any sortable values) map to ``0..C-1`` by sorted value
    (``info["classes"]``). ``vocab_size`` (default: the matrix's column count) may widen
    the vocabulary. The documents are split in three: ``test_fraction`` kept apart as the test
    split, then ``val_fraction`` of the rest for validation (stratified when possible).
    """
    check_no_standardize(standardize)
    p = _npz_path("dataset.path", path)
    target = str(target)
    arrays = _read_npz("dataset.path", p)
    y = None
    if labels_path is None:
        if target not in arrays:
            raise ConfigError("dataset.target", f"no labels array {target!r} in {p.name}{closest(target, arrays)}; "
                                                f"it has: {', '.join(arrays) or '(none)'} (or give labels_path)")
        y = arrays.pop(target)
    else:
        lp = Path(labels_path).expanduser() if isinstance(labels_path, (str, Path)) else None
        if lp is None:
            raise ConfigError("dataset.labels_path", f"must be a file path, got {labels_path!r}")
        if lp.suffix.lower() not in (".npy", ".npz"):
            raise ConfigError("dataset.labels_path", f"must be a .npy or .npz file, got {str(lp)!r}")
        if not lp.is_file():
            raise ConfigError("dataset.labels_path", f"file not found: {str(lp)!r}")
        if lp.suffix.lower() == ".npy":
            try:
                y = np.load(lp, allow_pickle=False)
            except Exception as exc:
                raise ConfigError("dataset.labels_path", f"cannot read {str(lp)!r}: {exc}") from None
        else:
            larr = _read_npz("dataset.labels_path", lp)
            if target not in larr:
                raise ConfigError("dataset.target", f"no labels array {target!r} in {lp.name}; "
                                                    f"it has: {', '.join(larr) or '(none)'}")
            y = larr[target]
        arrays.pop(target, None)
    n_cols = None
    if vocab_size is not None:
        n_cols = check_number("dataset.vocab_size", vocab_size, low=1, integer=True)
    X = as_csr(arrays, "dataset.path", None)
    if n_cols is not None:
        if X.shape[1] > n_cols:
            X = as_csr(arrays, "dataset.path", n_cols, "vocab_size")  # names the first offending token
        X.resize((X.shape[0], n_cols))
    if X.shape[0] == 0:
        raise ConfigError("dataset.path", f"{p.name} holds no documents (0 rows)")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ConfigError("dataset.target", f"{p.name} has {X.shape[0]} documents but {y.shape[0] if y.ndim else 0} "
                                            f"labels (shape {y.shape}); one label per document is needed")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ConfigError("dataset.target", f"labels hold {int((~np.isfinite(y)).sum())} NaN/inf value(s)")
    transform = check_choice("dataset.transform", transform, TRANSFORMS)
    Xt, yt, Xv, yv, Xte, yte, split_info = split_csr(X, y, test_fraction, val_fraction, split_seed)
    Xt, (Xv, Xte), tinfo = apply_transform(Xt, (Xv, Xte), transform)
    info = {"source": str(p.resolve()), "target": target, "split": split_info, **tinfo}
    return make_text_dataset(f"text_npz:{p.name}", Xt, yt, Xv, yv, Xte, yte, info=info, encode=True)


def _npz_path(field, path) -> Path:
    if not isinstance(path, (str, Path)):
        raise ConfigError(field, f"must be a file path, got {path!r}")
    p = Path(path).expanduser()
    if p.suffix.lower() != ".npz":
        raise ConfigError(field, f"must be an .npz file, got {str(p)!r}")
    if not p.is_file():
        raise ConfigError(field, f"file not found: {str(p)!r}")
    return p


def _read_npz(field, p: Path) -> dict:
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:
        raise ConfigError(field, f"cannot read {str(p)!r} (object arrays are not allowed): {exc}") from None
