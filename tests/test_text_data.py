"""Sparse text data (``optengine/data/text.py``): the synthetic_text generator and the CSR .npz loader."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import optengine as oe
from optengine.data.text import (apply_transform, as_csr, csr_fingerprint_parts, load_text_npz,
                                 make_text_dataset, synthetic_text)
from optengine.errors import ConfigError

SMALL = {"n_docs": 200, "vocab_size": 300, "n_classes": 3, "doc_length": 20, "rare_per_class": 5, "signal": 0.2}


def canonical(A):
    return A.has_canonical_format and A.dtype == np.float64 and not np.any(A.data == 0)


# -- synthetic_text ------------------------------------------------------------------------------


def test_generator_is_deterministic_by_seed():
    a, b, c = synthetic_text(**SMALL, seed=3), synthetic_text(**SMALL, seed=3), synthetic_text(**SMALL, seed=4)
    for name in ("X_train", "X_val", "X_test"):
        assert (getattr(a, name) != getattr(b, name)).nnz == 0
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.info["class_tokens"], b.info["class_tokens"])
    assert (a.X_train != c.X_train).nnz > 0
    assert [p.tobytes() for p in csr_fingerprint_parts(a.X_train)] == \
        [p.tobytes() for p in csr_fingerprint_parts(b.X_train)]


def test_generator_shapes_and_contents():
    ds = synthetic_text(**SMALL, seed=0)
    assert ds.task == "classification" and ds.n_classes == 3 and ds.n_outputs == 3
    assert ds.n_features == 300 and (ds.n_train, ds.n_val, ds.n_test) == (128, 32, 40)
    for A in (ds.X_train, ds.X_val, ds.X_test):
        assert isinstance(A, sp.csr_matrix) and canonical(A)
        assert np.all(A.data >= 1) and np.all(A.data == np.round(A.data))  # counts
    assert ds.info["standardize"] == {"X": False, "y": False} and ds.info["sparse"] is True
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert np.bincount(y).tolist() == [67, 67, 66]  # balanced
    tokens = ds.info["class_tokens"]
    assert tokens.shape == (3, 5) and tokens.min() >= 150 and len(np.unique(tokens)) == 15
    # the class tokens carry the label: most of their occurrences are in documents of their class
    X, ys = sp.vstack([ds.X_train, ds.X_val, ds.X_test]).tocsc(), y
    for c in range(3):
        counts = np.asarray(X[:, tokens[c]].sum(axis=1)).ravel()
        assert counts[ys == c].sum() > 5 * counts[ys != c].sum()
    # the head of the vocabulary is frequent: token 0 is the most common
    freq = np.asarray(X.sum(axis=0)).ravel()
    assert freq[0] == freq.max()
    assert "synthetic_text" in repr(ds)


def test_generator_can_make_empty_documents():
    ds = synthetic_text(**{**SMALL, "doc_length": 0.5}, seed=1)
    assert np.any(ds.X_train.getnnz(axis=1) == 0)


@pytest.mark.parametrize("transform", ["binary", "log1p", "tfidf"])
def test_transforms(transform):
    counts = synthetic_text(**SMALL, seed=2)
    ds = synthetic_text(**SMALL, seed=2, transform=transform)
    assert ds.info["transform"] == transform and canonical(ds.X_train)
    assert np.array_equal(ds.X_train.indices, counts.X_train.indices)  # same sparsity pattern
    if transform == "binary":
        assert np.all(ds.X_train.data == 1.0)
    elif transform == "log1p":
        np.testing.assert_allclose(ds.X_train.data, np.log1p(counts.X_train.data))
    else:
        from sklearn.feature_extraction.text import TfidfTransformer

        tf = TfidfTransformer().fit(counts.X_train)  # fitted on the training split only
        np.testing.assert_allclose(ds.X_val.toarray(), tf.transform(counts.X_val).toarray(), atol=1e-15)
        np.testing.assert_allclose(ds.X_test.toarray(), tf.transform(counts.X_test).toarray(), atol=1e-15)
        np.testing.assert_allclose(ds.info["idf"], tf.idf_)
        norms = np.sqrt(np.asarray(ds.X_train.multiply(ds.X_train).sum(axis=1)).ravel())
        np.testing.assert_allclose(norms[norms > 0], 1.0)


@pytest.mark.parametrize("kwargs, field", [
    ({"n_docs": 5, "n_classes": 3}, "dataset.n_docs"),
    ({"vocab_size": 20, "n_classes": 3, "rare_per_class": 4}, "dataset.rare_per_class"),
    ({"signal": 1.5}, "dataset.signal"),
    ({"doc_length": 0}, "dataset.doc_length"),
    ({"transform": "tf-idf"}, "dataset.transform"),
    ({"seed": -1}, "dataset.seed"),
    ({"val_fraction": 1.0}, "dataset.val_fraction"),
    ({"test_fraction": 0.0}, "dataset.test_fraction"),
    ({"test_fraction": 0.999}, "dataset.test_fraction"),
    ({"split_seed": 1.5}, "dataset.split_seed"),
    ({"n_classes": 1}, "dataset.n_classes"),
    ({"standardize": True}, "dataset.standardize"),
    ({"standardize": "no"}, "dataset.standardize"),
])
def test_generator_errors(kwargs, field):
    with pytest.raises(ConfigError) as e:
        synthetic_text(**{**SMALL, **kwargs})
    assert e.value.field == field


# -- the .npz loader ---------------------------------------------------------------------------------


def tagged_docs(n=40, vocab=60, seed=0):
    """Documents whose token ``i`` (i < n) marks document i, so a split can be matched back."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, vocab, density=0.1, format="csr", random_state=seed) * 3
    X = sp.lil_matrix(X)
    X[:, :n] = 0
    for i in range(n):
        X[i, i] = 1.0
    y = rng.integers(0, 3, n)
    return sp.csr_matrix(X), y


def check_round_trip(ds, X, y, classes=None):
    assert ds.n_features == X.shape[1] and ds.n_train + ds.n_val + ds.n_test == X.shape[0]
    seen = []
    for A, labels in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        assert canonical(A)
        for r in range(A.shape[0]):
            doc = int(A.indices[A.indptr[r]])  # the tag is the smallest token id
            seen.append(doc)
            np.testing.assert_array_equal(A[r].toarray(), X[doc].toarray())
            expect = y[doc] if classes is None else classes.index(y[doc])
            assert labels[r] == expect
    assert sorted(seen) == list(range(X.shape[0]))  # every document in exactly one split


def test_npz_round_trip_one_file(tmp_path):
    X, y = tagged_docs()
    path = tmp_path / "docs.npz"
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=X.shape, y=y)
    ds = load_text_npz(path=str(path), val_fraction=0.25, split_seed=1)
    check_round_trip(ds, X, y, classes=[0, 1, 2])
    assert ds.name == "text_npz:docs.npz" and (ds.n_val, ds.n_test) == (8, 8) and ds.info["split"]["stratified"]


def test_npz_round_trip_save_npz_and_label_file(tmp_path):
    X, y = tagged_docs(seed=1)
    sp.save_npz(tmp_path / "X.npz", X)
    names = np.array(["sport", "politics", "tech"])[y]
    np.save(tmp_path / "labels.npy", names)
    ds = load_text_npz(path=tmp_path / "X.npz", labels_path=tmp_path / "labels.npy", vocab_size=80)
    assert ds.info["classes"] == ["politics", "sport", "tech"]
    assert ds.n_features == 80
    Xw = sp.csr_matrix(X)
    Xw.resize((X.shape[0], 80))
    check_round_trip(ds, Xw, names, classes=ds.info["classes"])


def test_npz_transform_and_labels_in_second_npz(tmp_path):
    X, y = tagged_docs(seed=2)
    sp.save_npz(tmp_path / "X.npz", X, compressed=False)
    np.savez(tmp_path / "y.npz", label=y)
    ds = load_text_npz(path=tmp_path / "X.npz", labels_path=tmp_path / "y.npz", target="label", transform="binary")
    assert np.all(ds.X_train.data == 1.0)


def _write(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case, field, message", [
    ("missing file", "dataset.path", "file not found"),
    ("wrong extension", "dataset.path", "must be an .npz file"),
    ("missing indptr", "dataset.path", "missing indptr"),
    ("missing labels", "dataset.target", "no labels array 'y'"),
    ("label count", "dataset.target", "has 4 documents but 3 labels"),
    ("shape rows", "dataset.path", "shape says 5 rows but indptr describes 4"),
    ("id beyond shape", "dataset.path", "token id 9 in row 3 is out of range for the matrix's column count 6"),
    ("id beyond vocab_size", "dataset.path", "token id 5 in row 2 is out of range for vocab_size 4"),
    ("csc matrix", "dataset.path", "holds a 'csc' matrix"),
    ("labels file missing", "dataset.labels_path", "file not found"),
    ("NaN labels", "dataset.target", "NaN/inf"),
    ("one class", "dataset.y_train", "at least 2 classes"),
])
def test_npz_errors(tmp_path, case, field, message):
    data, indices, indptr = np.ones(4), np.array([0, 1, 5, 2]), np.array([0, 1, 2, 3, 4])
    good = {"data": data, "indices": indices, "indptr": indptr, "shape": np.array([4, 6]),
            "y": np.array([0, 1, 0, 1])}
    kw = {}
    if case == "missing file":
        path = tmp_path / "nope.npz"
    elif case == "wrong extension":
        path = tmp_path / "docs.csv"
        path.write_text("x")
    elif case == "missing indptr":
        path = _write(tmp_path, **{k: v for k, v in good.items() if k != "indptr"})
    elif case == "missing labels":
        path = _write(tmp_path, **{k: v for k, v in good.items() if k != "y"})
    elif case == "label count":
        path = _write(tmp_path, **{**good, "y": np.array([0, 1, 0])})
    elif case == "shape rows":
        path = _write(tmp_path, **{**good, "shape": np.array([5, 6])})
    elif case == "id beyond shape":
        path = _write(tmp_path, **{**good, "indices": np.array([0, 1, 5, 9])})
    elif case == "id beyond vocab_size":
        path, kw = _write(tmp_path, **good), {"vocab_size": 4}
    elif case == "csc matrix":
        path = tmp_path / "csc.npz"
        sp.save_npz(path, sp.csc_matrix(np.eye(4)))
        kw = {"labels_path": tmp_path / "y.npy"}
        np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1]))
    elif case == "labels file missing":
        path, kw = _write(tmp_path, **good), {"labels_path": tmp_path / "absent.npy"}
    elif case == "NaN labels":
        path = _write(tmp_path, **{**good, "y": np.array([0.0, np.nan, 1.0, 0.0])})
    else:
        path = _write(tmp_path, **{**good, "y": np.array([1, 1, 1, 1])})
    with pytest.raises(ConfigError) as e:
        load_text_npz(path=path, val_fraction=0.5, **kw)
    assert e.value.field == field, str(e.value)
    assert message in str(e.value)


def test_npz_refuses_standardize(tmp_path):
    X, y = tagged_docs()
    path = tmp_path / "docs.npz"
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=X.shape, y=y)
    with pytest.raises(ConfigError, match="never standardised") as e:
        load_text_npz(path=path, standardize=True)
    assert e.value.field == "dataset.standardize"
    assert load_text_npz(path=path, standardize=False).info["standardize"] == {"X": False, "y": False}


def test_make_text_dataset_checks_labels_and_widths():
    X = sp.csr_matrix(np.eye(4))
    with pytest.raises(ConfigError, match="X_train has 4 documents but y_train has shape"):
        make_text_dataset("t", X, [0, 1], X, [0, 1, 0, 1], X, [0, 1, 0, 1])
    with pytest.raises(ConfigError, match="X_test has 4 documents but y_test has shape"):
        make_text_dataset("t", X, [0, 1, 0, 1], X, [0, 1, 0, 1], X, [0])
    ds = make_text_dataset("t", X, [0, 1, 0, 1], X[:, :2], [1, 0, 1, 0], X[:3, :3], [0, 1, 1])
    assert ds.X_val.shape == (4, 4) and ds.X_test.shape == (3, 4)  # widened to the training vocabulary
    with pytest.raises(ConfigError, match="labels go up to 1 but n_classes=1"):
        make_text_dataset("t", X, [0, 1, 0, 1], X, [0, 1, 0, 1], X, [0, 1, 0, 1], n_classes=1)


def test_as_csr_names_the_field():
    with pytest.raises(ConfigError) as e:
        as_csr({"data": np.ones(1)}, "dataset.X_train")
    assert e.value.field == "dataset.X_train"


def test_apply_transform_refuses_negative_counts_for_tfidf():
    X = sp.csr_matrix(np.array([[1.0, -1.0]]))
    with pytest.raises(ConfigError, match="tfidf needs non-negative"):
        apply_transform(X, [X], "tfidf")


@pytest.mark.skipif("synthetic_text" not in oe.data.DATASETS, reason="synthetic_text is not registered yet")
def test_registered_datasets():
    ds = oe.dataset("synthetic_text", **SMALL)
    assert ds.n_features == 300
    assert "text_npz" in oe.data.DATASETS
