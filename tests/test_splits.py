"""Train / validation / test splits of every dataset: sizes (as documented), disjointness,
determinism by ``split_seed``, MNIST-1D's own test split, user-given splits, bad settings."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import optengine.data as data
import optengine.data.mnist1d as m1d
from optengine.data import DATASETS, dataset
from optengine.errors import ConfigError


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPTENGINE_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setattr(m1d, "_MEMORY", {})
        yield


def _documented_sizes() -> dict:
    """``name -> (train, val, test)`` from the table in ``optengine.data``'s docstring."""
    sizes = {}
    for line in data.__doc__.splitlines():
        m = re.match(r"^([a-z_0-9, ]+?)\s+(\d+)\s+(\d+)\s+(\d+)\s", line)
        if m:
            for name in m.group(1).split(", "):
                sizes[name] = tuple(int(g) for g in m.group(2, 3, 4))
    return sizes


DOCUMENTED = _documented_sizes()


def test_table_covers_every_dataset():
    percent = {"text_npz", "file", "arrays"}  # documented as fractions: they depend on the user's data
    assert set(DOCUMENTED) == set(DATASETS) - percent
    for name in percent:
        assert re.search(rf"^{name}\s+64%\s+16%\s+20%", data.__doc__, re.M), name


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_default_sizes_are_the_documented_ones(name, mnist_cache):
    ds = dataset(name)
    assert (ds.n_train, ds.n_val, ds.n_test) == DOCUMENTED[name]
    assert f"{ds.n_train} train / {ds.n_val} val / {ds.n_test} test" in ds.summary()
    if name in ("digits", "iris", "wine", "breast_cancer", "diabetes"):  # the registry's descriptions say so too
        assert " / ".join(map(str, DOCUMENTED[name])) in DATASETS[name][1]


def _rows(*arrays) -> list:
    return [r.tobytes() for A in arrays for r in np.ascontiguousarray(A)]


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "diabetes"])
def test_sklearn_splits_partition_the_data(name):
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    ds = dataset(name, standardize=False)
    # the three splits together are the data set, each sample exactly once (as a multiset of rows)
    assert sorted(_rows(ds.X_train, ds.X_val, ds.X_test)) == sorted(_rows(bunch.data.astype(np.float64)))


def _tagged(n=50, classes=3):
    """Rows tagged by their index in column 0, so every split can be traced back."""
    X = np.stack([np.arange(n, dtype=float), np.random.default_rng(0).normal(size=n)], axis=1)
    return X, np.arange(n) % classes


def _ids(ds):
    return [set(A[:, 0].astype(int)) for A in (ds.X_train, ds.X_val, ds.X_test)]


def test_arrays_carving_is_disjoint_deterministic_and_seeded():
    X, y = _tagged()
    a = dataset("arrays", X=X, y=y, standardize=False)
    tr, va, te = _ids(a)
    assert (len(tr), len(va), len(te)) == (32, 8, 10)  # test ceil(0.2 * 50) = 10, val ceil(0.2 * 40) = 8
    assert not (tr & va or tr & te or va & te) and tr | va | te == set(range(50))
    assert a.info["split"]["stratified"] and a.info["split"]["sizes"] == {"train": 32, "val": 8, "test": 10}
    b = dataset("arrays", X=X, y=y, standardize=False)
    for f in ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    c = dataset("arrays", X=X, y=y, standardize=False, split_seed=1)
    assert _ids(c)[2] != te
    # labels follow their rows
    for A, yy in ((a.X_train, a.y_train), (a.X_val, a.y_val), (a.X_test, a.y_test)):
        np.testing.assert_array_equal(yy, A[:, 0].astype(int) % 3)


def test_arrays_given_splits_are_kept_and_missing_ones_carved():
    X, y = _tagged()
    # test given: validation carved from X (0.2 of 50 = 10), the test split used as it is
    ds = dataset("arrays", X=X, y=y, X_test=X[:7] + 100, y_test=y[:7], standardize=False)
    tr, va, te = _ids(ds)
    assert (len(tr), len(va)) == (40, 10) and te == set(range(100, 107)) and not tr & va
    assert ds.info["split"]["test"] == "given" and ds.info["split"]["val"] == "carved"
    # validation given: test carved from X
    ds = dataset("arrays", X=X, y=y, X_val=X[:6] + 100, y_val=y[:6], standardize=False)
    tr, va, te = _ids(ds)
    assert (len(tr), len(te)) == (40, 10) and va == set(range(100, 106)) and not tr & te
    # standardisation statistics come from the training split only
    ds = dataset("arrays", X=X, y=y.astype(float), X_val=X[:6], y_val=y[:6].astype(float), X_test=X[:5] * 10,
                 y_test=np.ones(5))
    np.testing.assert_allclose(ds.info["X_mean"], X.mean(0))
    np.testing.assert_allclose(ds.X_test, (X[:5] * 10 - X.mean(0)) / X.std(0))


def test_mnist1d_test_split_is_the_generators(mnist_cache):
    raw = m1d.mnist1d_arrays(42, 5000)
    ds = dataset("mnist1d")
    np.testing.assert_array_equal(ds.X_test, raw["X_test"])
    np.testing.assert_array_equal(ds.y_test, raw["y_test"])
    # train + val are the generator's 4000 training sequences; validation is disjoint from test
    assert sorted(_rows(ds.X_train, ds.X_val)) == sorted(_rows(raw["X_train"]))
    assert not set(_rows(ds.X_val)) & set(_rows(ds.X_test))
    assert not set(_rows(ds.X_val)) & set(_rows(ds.X_train))
    assert ds.info["split"]["stratified"] and np.bincount(ds.y_val).min() >= 75  # 800 / 10 classes, stratified
    other = dataset("mnist1d", val_fraction=0.1, split_seed=5)
    assert (other.n_train, other.n_val, other.n_test) == (3600, 400, 1000)
    np.testing.assert_array_equal(other.X_test, raw["X_test"])


@pytest.mark.parametrize("name, extra", [
    ("synthetic_regression", {"n_samples": 100}), ("synthetic_classification", {"n_samples": 100}),
    ("synthetic_text", {"n_docs": 100, "vocab_size": 100, "rare_per_class": 5}), ("iris", {}),
])
def test_split_seed_draws_the_split_not_the_data(name, extra):
    extra = {**extra, "standardize": False}  # z-scoring by another training split would change the rows
    a, b = dataset(name, **extra), dataset(name, **extra, split_seed=7)
    key = (lambda A: _rows(A.toarray())) if name == "synthetic_text" else _rows
    assert sorted(key(a.X_test)) != sorted(key(b.X_test))
    all_a = sorted(key(a.X_train) + key(a.X_val) + key(a.X_test))
    assert all_a == sorted(key(b.X_train) + key(b.X_val) + key(b.X_test))  # the same samples
    c = dataset(name, **extra, split_seed=7)
    assert key(b.X_test) == key(c.X_test)


def test_file_split_column(tmp_path):
    n = 40
    df = pd.DataFrame({"id": np.arange(n, dtype=float), "label": np.arange(n) % 2,
                       "part": ["train"] * 25 + ["VAL"] * 5 + ["test "] * 10})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    ds = dataset("file", path=path, target="label", split_column="part", standardize=False)
    assert ds.feature_names == ("id",) and ds.info["split_column"] == "part"
    assert _ids(ds) == [set(range(25)), set(range(25, 30)), set(range(30, 40))]
    # without val rows the validation split is carved from the train rows
    df["part"] = ["train"] * 30 + ["test"] * 10
    df.to_csv(path, index=False)
    ds = dataset("file", path=path, target="label", split_column="part", standardize=False)
    tr, va, te = _ids(ds)
    assert (len(tr), len(va)) == (24, 6) and tr | va == set(range(30)) and te == set(range(30, 40))
    # plain file: carved like arrays
    ds = dataset("file", path=path, target="label", features=["id"], standardize=False)
    assert [len(s) for s in _ids(ds)] == [25, 7, 8]


@pytest.mark.parametrize("values, words", [
    (["train"] * 20 + ["valid"] * 4, ["'part'", "train, val or test", "row 20", "'valid'"]),
    (["test"] * 24, ["no \"train\" rows"]),
])
def test_file_split_column_errors(tmp_path, values, words):
    df = pd.DataFrame({"x": np.arange(24.0), "label": np.arange(24) % 2, "part": values})
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ConfigError) as e:
        dataset("file", path=tmp_path / "d.csv", target="label", split_column="part")
    assert e.value.field == "dataset.split_column"
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_file_split_column_must_exist_and_not_be_a_feature(tmp_path):
    df = pd.DataFrame({"x": np.arange(24.0), "label": np.arange(24) % 2, "part": ["train"] * 24})
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ConfigError, match="no column 'prt'.*did you mean 'part'") as e:
        dataset("file", path=tmp_path / "d.csv", target="label", split_column="prt")
    assert e.value.field == "dataset.split_column"
    with pytest.raises(ConfigError) as e:
        dataset("file", path=tmp_path / "d.csv", target="label", split_column="part", features=["x", "part"])
    assert e.value.field == "dataset.features"
    np.savez(tmp_path / "d.npz", X=np.ones((5, 2)), y=np.arange(5))
    with pytest.raises(ConfigError) as e:
        dataset("file", path=tmp_path / "d.npz", split_column="part")
    assert e.value.field == "dataset.split_column"


def test_file_npz_pairs_must_be_complete(tmp_path):
    np.savez(tmp_path / "d.npz", X_train=np.ones((10, 2)), y_train=np.arange(10) % 2, X_test=np.ones((3, 2)))
    with pytest.raises(ConfigError, match="has X_test but no y_test") as e:
        dataset("file", path=tmp_path / "d.npz")
    assert e.value.field == "dataset.path"


SPLIT_KEYWORDS = sorted(n for n, (_, _, d) in DATASETS.items() if "test_fraction" in d)


def test_every_dataset_with_its_own_carving_takes_the_split_settings():
    fixed = {"mnist1d", "quadratic_deep"}  # their splits are the generators' own (quadratic_deep: DeepOBS's seeds)
    assert set(SPLIT_KEYWORDS) == set(DATASETS) - fixed
    for name, (_, _, d) in DATASETS.items():
        if name in fixed - {"mnist1d"}:
            continue
        assert d["val_fraction"] == 0.2
        if name not in ("sines", "ar2", "mackey_glass"):  # time order needs no seed
            assert d["split_seed"] == 0
        if name != "mnist1d":
            assert d["test_fraction"] == 0.2


def _required(name, tmp_path):
    if name == "file":
        np.savez(tmp_path / "d.npz", X=np.ones((30, 2)), y=np.arange(30) % 2)
        return {"path": tmp_path / "d.npz"}
    if name == "text_npz":
        np.savez(tmp_path / "t.npz", data=np.ones(30), indices=np.zeros(30, int), indptr=np.arange(31),
                 shape=[30, 3], y=np.arange(30) % 2)
        return {"path": tmp_path / "t.npz"}
    if name == "arrays":
        return {"X": np.ones((30, 2)), "y": np.arange(30) % 2}
    return {}


@pytest.mark.parametrize("name", SPLIT_KEYWORDS)
@pytest.mark.parametrize("field, value", [("test_fraction", 1.5), ("test_fraction", 0), ("val_fraction", -0.1),
                                          ("test_fraction", "a fifth")])
def test_bad_fractions_are_named(name, field, value, tmp_path):
    with pytest.raises(ConfigError) as e:
        dataset(name, **_required(name, tmp_path), **{field: value})
    assert e.value.field == f"dataset.{field}"


@pytest.mark.parametrize("name, kw, field", [
    ("synthetic_classification", {"test_fraction": 1.0}, "test_fraction"),
    ("synthetic_regression", {"val_fraction": 0}, "val_fraction"),
    ("synthetic_regression", {"n_samples": 4, "test_fraction": 0.9}, "test_fraction"),
    ("synthetic_text", {"split_seed": -1}, "split_seed"),
    ("sines", {"test_fraction": 0.999}, "horizon"),  # "the training part has 1 of the 2000 steps"
    ("ar2", {"val_fraction": 2}, "val_fraction"),
    ("mackey_glass", {"test_fraction": None}, "test_fraction"),
])
def test_split_settings_checked_before_generating(name, kw, field, monkeypatch):
    def no_data(*a, **k):
        raise AssertionError("generated data before checking the split settings")

    monkeypatch.setattr(np.random, "default_rng", no_data)
    with pytest.raises(ConfigError) as e:
        dataset(name, **kw)
    assert e.value.field == f"dataset.{field}"


def test_empty_split_after_the_test_split_is_named():
    with pytest.raises(ConfigError) as e:
        dataset("synthetic_regression", n_samples=3, val_fraction=0.9)
    assert e.value.field == "dataset.val_fraction" and "left after the test split (of 3)" in str(e.value)
