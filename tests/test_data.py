"""Tests for optengine.data: shapes, splits, standardisation, caching, files, errors."""

import random

import numpy as np
import pandas as pd
import pytest

import optengine.data as data
import optengine.data.mnist1d as m1d
from optengine.data import DATASETS, Dataset, dataset
from optengine.data.dataset import make_dataset
from optengine.errors import ConfigError


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory):
    """A private OPTENGINE_CACHE and in-process cache for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("cache")
        mp.setenv("OPTENGINE_CACHE", str(d))
        mp.setattr(m1d, "_MEMORY", {})
        yield d


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty disk cache and an empty in-process cache."""
    monkeypatch.setenv("OPTENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(m1d, "_MEMORY", {})
    return tmp_path / "cache"


def _check_arrays(ds: Dataset):
    for a in (ds.X_train, ds.X_val, ds.X_test):
        assert a.dtype == np.float64 and a.ndim == 2 and a.flags.c_contiguous
    assert ds.X_val.shape[1] == ds.n_features == ds.X_test.shape[1]
    if ds.task == "classification":
        for y in (ds.y_train, ds.y_val, ds.y_test):
            assert y.dtype == np.int64 and y.ndim == 1
            assert y.min() >= 0 and y.max() < ds.n_classes
        assert ds.n_outputs == ds.n_classes
    else:
        for y in (ds.y_train, ds.y_val, ds.y_test):
            assert y.dtype == np.float64 and y.ndim == 2 and y.flags.c_contiguous
            assert y.shape[1] == ds.n_outputs
        assert ds.n_outputs == ds.y_train.shape[1]
    assert len(ds.y_train) == ds.n_train and len(ds.y_val) == ds.n_val and len(ds.y_test) == ds.n_test
    assert isinstance(ds.summary(), str) and "\n" not in ds.summary()


# --------------------------------------------------------------------- named datasets

def test_mnist1d_standard(mnist_cache):
    ds = dataset("mnist1d")
    _check_arrays(ds)
    assert (ds.n_train, ds.n_val, ds.n_test, ds.n_features, ds.n_classes) == (3200, 800, 1000, 40, 10)
    assert "3200 train / 800 val / 1000 test" in ds.summary()
    # the standard dataset (seed 42): the generator's first training example and labels
    raw = m1d.mnist1d_arrays()
    np.testing.assert_allclose(raw["X_train"][0, :4], [-0.33200567, -0.47191037, -0.77869708, -1.00974083],
                               rtol=1e-7)
    np.testing.assert_array_equal(raw["y_train"][:10], [2, 6, 4, 5, 6, 6, 6, 0, 3, 1])
    np.testing.assert_array_equal(ds.X_test, raw["X_test"])  # the generator's test part, unchanged
    assert ds.info["standardize"] == {"X": False, "y": False}
    assert set(np.unique(ds.y_train)) == set(range(10))


@pytest.mark.parametrize("name, n, d, c", [
    ("digits", 1797, 64, 10), ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2),
])
def test_sklearn_classification(name, n, d, c):
    ds = dataset(name)
    _check_arrays(ds)
    assert ds.task == "classification" and ds.n_features == d and ds.n_classes == c
    n_test = int(np.ceil(0.2 * n))
    assert (ds.n_test, ds.n_val) == (n_test, int(np.ceil(0.2 * (n - n_test))))
    assert ds.n_train + ds.n_val + ds.n_test == n
    assert ds.info["split"]["stratified"]
    # stratified: class proportions agree between the splits
    pt = np.bincount(ds.y_train, minlength=c) / ds.n_train
    for y in (ds.y_val, ds.y_test):
        assert np.abs(pt - np.bincount(y, minlength=c) / len(y)).max() < 0.05
    assert len(ds.feature_names) == d


def test_diabetes_regression():
    ds = dataset("diabetes")
    _check_arrays(ds)
    assert ds.task == "regression" and ds.n_features == 10 and ds.n_outputs == 1
    assert (ds.n_train, ds.n_val, ds.n_test) == (282, 71, 89)
    assert ds.info["standardize"] == {"X": True, "y": True}
    raw = dataset("diabetes", standardize_target=False)
    assert raw.info["standardize"] == {"X": True, "y": False}
    assert raw.y_train.mean() > 50  # raw disease-progression scale


def test_synthetic_regression():
    ds = dataset("synthetic_regression", n_samples=500, n_features=4, n_outputs=2, noise=0.0)
    _check_arrays(ds)
    assert (ds.n_train, ds.n_val, ds.n_test, ds.n_features, ds.n_outputs) == (320, 80, 100, 4, 2)
    w = ds.info["true_weights"]
    np.testing.assert_allclose(ds.X_train @ w, ds.y_train, atol=1e-12)  # noise=0: exact linear model
    assert ds.info["standardize"] == {"X": False, "y": False}


def test_synthetic_classification():
    ds = dataset("synthetic_classification", n_samples=600, n_classes=4, class_sep=5.0)
    _check_arrays(ds)
    assert (ds.n_train, ds.n_val, ds.n_test, ds.n_classes) == (384, 96, 120, 4)
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test]))
    assert (counts == 150).all()  # balanced
    # well separated clusters: nearest class mean classifies almost all points
    means = np.stack([ds.X_train[ds.y_train == k].mean(0) for k in range(4)])
    pred = np.argmin(((ds.X_val[:, None, :] - means) ** 2).sum(-1), axis=1)
    assert (pred == ds.y_val).mean() > 0.95


def test_registry_lists_defaults():
    assert {"mnist1d", "digits", "iris", "wine", "breast_cancer", "diabetes", "synthetic_regression",
            "synthetic_classification", "file", "arrays"} <= set(DATASETS)
    for name, (builder, desc, defaults) in DATASETS.items():
        assert callable(builder) and isinstance(desc, str) and desc
        # quadratic_deep's rows are DeepOBS's exact noise draws, which standardising would change
        assert "standardize" in defaults or name == "quadratic_deep", name
    assert DATASETS["mnist1d"][2]["seed"] == 42 and DATASETS["mnist1d"][2]["num_samples"] == 5000
    assert DATASETS["synthetic_regression"][2]["noise"] == 0.1
    assert DATASETS["file"][2]["path"] is data.REQUIRED


# --------------------------------------------------------------------- standardisation, determinism

def test_standardize_uses_train_stats_only():
    raw = dataset("wine", standardize=False)
    std = dataset("wine")
    mean, sd = raw.X_train.mean(0), raw.X_train.std(0)
    np.testing.assert_allclose(std.info["X_mean"], mean)
    np.testing.assert_allclose(std.X_train, (raw.X_train - mean) / sd)
    np.testing.assert_allclose(std.X_val, (raw.X_val - mean) / sd)  # val uses train stats
    np.testing.assert_allclose(std.X_test, (raw.X_test - mean) / sd)  # and so does test
    np.testing.assert_allclose(std.X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(std.X_train.std(0), 1, atol=1e-12)
    assert np.abs(std.X_val.mean(0)).max() > 1e-3  # not re-centred on val


def test_standardize_constant_column_and_target():
    X = np.random.default_rng(0).normal(size=(40, 3))
    X[:, 1] = 7.0
    y = X[:, 0] * 10 + 100
    ds = dataset("arrays", X=X, y=y)
    assert ds.info["X_std"][1] == 1.0 and np.all(ds.X_train[:, 1] == 0)
    assert ds.info["standardize"] == {"X": True, "y": True}
    np.testing.assert_allclose(ds.y_train.mean(0), 0, atol=1e-12)
    back = ds.y_val * ds.info["y_std"] + ds.info["y_mean"]
    raw = dataset("arrays", X=X, y=y, standardize=False)
    np.testing.assert_allclose(back, raw.y_val)
    np.testing.assert_allclose(ds.y_test * ds.info["y_std"] + ds.info["y_mean"], raw.y_test)


@pytest.mark.parametrize("name, kw", [
    ("iris", {}), ("digits", {"split_seed": 3}), ("diabetes", {}),
    ("synthetic_regression", {"seed": 5}), ("synthetic_classification", {"seed": 5}),
])
def test_determinism(name, kw):
    a, b = dataset(name, **kw), dataset(name, **kw)
    for f in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_seeds_change_split():
    a, b = dataset("iris", split_seed=0), dataset("iris", split_seed=1)
    assert not np.array_equal(a.X_train, b.X_train)
    a, b = dataset("synthetic_regression", seed=0), dataset("synthetic_regression", seed=1)
    assert not np.array_equal(a.X_train, b.X_train)


# --------------------------------------------------------------------- mnist1d cache

def test_mnist1d_cache_round_trip(fresh_cache, monkeypatch):
    ds1 = dataset("mnist1d", num_samples=200, seed=3)
    files = list(fresh_cache.glob("mnist1d-*.npz"))
    assert len(files) == 1 and not list(fresh_cache.glob("*.tmp"))
    assert (ds1.n_train, ds1.n_val, ds1.n_test) == (128, 32, 40)  # the generator's 160 / 40, val carved
    # a fresh process (empty memory cache) reads the file instead of generating
    monkeypatch.setattr(m1d, "_MEMORY", {})
    monkeypatch.setattr(m1d, "_generate", lambda *a: pytest.fail("regenerated despite a valid cache"))
    ds2 = dataset("mnist1d", num_samples=200, seed=3)
    np.testing.assert_array_equal(ds1.X_train, ds2.X_train)
    np.testing.assert_array_equal(ds1.y_val, ds2.y_val)
    np.testing.assert_array_equal(ds1.X_test, ds2.X_test)
    # other args -> another cache key
    assert m1d.cache_key(3, 200) != m1d.cache_key(4, 200)
    # in-process cache hands out copies
    ds2.X_train[:] = 0
    assert dataset("mnist1d", num_samples=200, seed=3).X_train.any()


def test_mnist1d_corrupt_cache_regenerated(fresh_cache):
    ds1 = dataset("mnist1d", num_samples=100, seed=1)
    (path,) = fresh_cache.glob("mnist1d-*.npz")
    path.write_bytes(b"not a zip file")
    m1d._MEMORY.clear()
    ds2 = dataset("mnist1d", num_samples=100, seed=1)
    np.testing.assert_array_equal(ds1.X_train, ds2.X_train)
    with np.load(path) as z:  # rewritten properly
        np.testing.assert_array_equal(z["y_test"], ds1.y_test)


def test_mnist1d_leaves_global_rng_alone(fresh_cache):
    np.random.seed(123)
    random.seed(456)
    np_before, py_before = np.random.get_state(), random.getstate()
    dataset("mnist1d", num_samples=100, seed=7)
    np_after = np.random.get_state()
    assert np_before[0] == np_after[0] and np.array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]
    assert random.getstate() == py_before


# --------------------------------------------------------------------- files and arrays

def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.integers(0, 5, n)})
    df["label"] = np.where(df["a"] > 0, "pos", "neg")
    df["value"] = 2.0 * df["a"] - df["b"]
    return df


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_file_table_classification_string_labels(tmp_path, ext):
    df = _table()
    path = tmp_path / f"d.{ext}"
    df.to_csv(path, index=False) if ext == "csv" else df.to_parquet(path)
    ds = dataset("file", path=str(path), target="label", features=["a", "b", "c"])
    _check_arrays(ds)
    assert ds.task == "classification" and ds.n_classes == 2
    assert ds.info["classes"] == ["neg", "pos"]
    assert ds.feature_names == ("a", "b", "c") and (ds.n_train, ds.n_val, ds.n_test) == (38, 10, 12)
    # labels follow the mapping: "pos" (code 1) iff a > 0 (a is un-standardised via stats)
    a = ds.X_train[:, 0] * ds.info["X_std"][0] + ds.info["X_mean"][0]
    np.testing.assert_array_equal(ds.y_train, (a > 0).astype(int))


def test_file_csv_regression_auto_task(tmp_path):
    path = tmp_path / "d.csv"
    _table().drop(columns="label").to_csv(path, index=False)
    ds = dataset("file", path=path, target="value", standardize=False)
    assert ds.task == "regression" and ds.feature_names == ("a", "b", "c")
    np.testing.assert_allclose(ds.y_train[:, 0], 2 * ds.X_train[:, 0] - ds.X_train[:, 1], atol=1e-9)
    cls = dataset("file", path=path, target="c")  # integer target -> classification
    assert cls.task == "classification" and cls.feature_names == ("a", "b", "value")


def test_file_npz_forms(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    np.savez(tmp_path / "xy.npz", X=X, y=y)
    ds = dataset("file", path=tmp_path / "xy.npz")
    assert ds.task == "classification" and (ds.n_train, ds.n_val, ds.n_test) == (32, 8, 10)
    np.savez(tmp_path / "xt.npz", X=X, target=X @ [1.0, 2.0, 3.0])
    ds = dataset("file", path=tmp_path / "xt.npz", target="target", features=[0, 2])
    assert ds.task == "regression" and ds.n_features == 2
    np.savez(tmp_path / "split.npz", X_train=X[:40], y_train=np.array(["x", "y"] * 20),
             X_val=X[40:], y_val=np.array(["y"] * 10))
    ds = dataset("file", path=tmp_path / "split.npz", standardize=False)
    assert (ds.n_train, ds.n_val, ds.n_test) == (32, 10, 8) and ds.info["classes"] == ["x", "y"]
    assert ds.info["split"]["val"] == "given" and ds.info["split"]["test"] == "carved"  # from X_train
    np.testing.assert_array_equal(ds.X_val, X[40:])
    assert (ds.y_val == 1).all()
    np.savez(tmp_path / "split3.npz", X_train=X[:30], y_train=y[:30], X_val=X[30:40], y_val=y[30:40],
             X_test=X[40:], y_test=y[40:])
    ds = dataset("file", path=tmp_path / "split3.npz", standardize=False)
    assert (ds.n_train, ds.n_val, ds.n_test) == (30, 10, 10)
    np.testing.assert_array_equal(ds.X_train, X[:30])
    np.testing.assert_array_equal(ds.X_test, X[40:])


def test_arrays_dataset():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 2)), rng.integers(0, 3, 30)
    ds = dataset("arrays", X=X, y=y, X_val=X[:5], y_val=y[:5], X_test=X[:4], y_test=y[:4], standardize=False)
    assert ds.task == "classification" and (ds.n_train, ds.n_val, ds.n_test) == (30, 5, 4)
    np.testing.assert_array_equal(ds.X_train, X)
    np.testing.assert_array_equal(ds.X_test, X[:4])
    ds = dataset("arrays", X=X.tolist(), y=np.where(y > 0, 1, -1))  # negative labels get encoded
    assert ds.info["classes"] == [-1, 1] and ds.n_classes == 2
    ds = dataset("arrays", X=X, y=y.astype(float), task="classification")  # integral floats are fine
    assert ds.y_train.dtype == np.int64


# --------------------------------------------------------------------- error catalogue

def _write_csv(tmp_path, df, name="d.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def _nan_csv(tmp_path):
    df = _table()
    df.loc[[3, 9], "b"] = np.nan
    return _write_csv(tmp_path, df)


def _inf_csv(tmp_path):
    df = _table()
    df.loc[4, "a"] = np.inf
    return _write_csv(tmp_path, df)


def _text_csv(tmp_path):
    df = _table()
    df["color"] = ["red", "blue"] * 30
    return _write_csv(tmp_path, df)


def _npz_nan(tmp_path):
    X = np.ones((20, 3))
    X[2, 1] = np.nan
    np.savez(tmp_path / "bad.npz", X=X, y=np.arange(20) % 2)
    return tmp_path / "bad.npz"


ERRORS = [
    # (id, builder of the call (tmp_path -> kwargs for dataset()), exception, words the message must hold)
    ("missing file", lambda t: ("file", dict(path=t / "nope.csv", target="y")),
     "dataset.path", ["nope.csv", "not found"]),
    ("bad extension", lambda t: ("file", dict(path=t / "d.xlsx", target="y")),
     "dataset.path", [".xlsx", ".csv", ".parquet", ".npz"]),
    ("missing target", lambda t: ("file", dict(path=_write_csv(t, _table()), target="lable")),
     "dataset.target", ["lable", "'label'", "'a'", "did you mean"]),
    ("no target given", lambda t: ("file", dict(path=_write_csv(t, _table()))),
     "dataset.target", ["required", "'value'"]),
    ("NaN value", lambda t: ("file", dict(path=_nan_csv(t), target="label")),
     "dataset.path", ["'b'", "2 missing"]),
    ("inf value", lambda t: ("file", dict(path=_inf_csv(t), target="label")),
     "dataset.path", ["'a'", "1 missing/non-finite", "1 inf"]),
    ("non-numeric feature", lambda t: ("file", dict(path=_text_csv(t), target="label")),
     "dataset.features", ["'color'", "not numeric"]),
    ("unknown feature", lambda t: ("file", dict(path=_write_csv(t, _table()), target="label", features=["a", "bb"])),
     "dataset.features", ["'bb'", "did you mean 'b'"]),
    ("npz NaN", lambda t: ("file", dict(path=_npz_nan(t))), "dataset.X", ["1 non-finite", "1 NaN", "column(s) 1"]),
    ("npz missing key", lambda t: ("file", dict(path=_npz_nan(t), target="labels")),
     "dataset.target", ["'labels'", "'X'", "'y'"]),
    ("shape mismatch", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(9))),
     "dataset.y", ["10 rows", "9", "(10, 2)", "(9,)"]),
    ("val shape mismatch", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10) % 2,
                                                     X_val=np.ones((4, 3)), y_val=np.arange(4) % 2)),
     "dataset.X_val", ["3 features", "X_train has 2"]),
    ("val rows mismatch", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10) % 2,
                                                    X_val=np.ones((4, 2)), y_val=np.arange(5) % 2)),
     "dataset.y_val", ["X_val has 4 rows", "y_val has 5"]),
    ("X_val without y_val", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10), X_val=np.ones((3, 2)))),
     "dataset.y_val", ["together"]),
    ("1-D X", lambda t: ("arrays", dict(X=np.ones(10), y=np.arange(10))), "dataset.X", ["2-D", "(10,)"]),
    ("array NaN", lambda t: ("arrays", dict(X=np.array([[1.0, np.nan]] * 6), y=np.arange(6) % 2)),
     "dataset.X", ["6 non-finite", "column(s) 1"]),
    ("target inf", lambda t: ("arrays", dict(X=np.ones((6, 2)), y=np.array([1.0, 2, np.inf, 3, 4, 5]))),
     "dataset.y", ["1 non-finite", "1 inf"]),
    ("fractional labels", lambda t: ("arrays", dict(X=np.ones((6, 2)), y=np.array([0, 1, 0.5, 1, 0, 1]),
                                                    task="classification")),
     "dataset.y", ["integers", "0.5"]),
    ("unknown dataset", lambda t: ("mnist", {}), "dataset.name", ["'mnist'", "did you mean 'mnist1d'", "iris"]),
    ("unknown keyword", lambda t: ("iris", dict(val_frac=0.3)),
     "dataset.val_frac", ["'iris'", "did you mean 'val_fraction'", "split_seed"]),
    ("keyword of another dataset", lambda t: ("iris", dict(standardize_target=True)),
     "dataset.standardize_target", ["allowed"]),
    ("bad val_fraction", lambda t: ("iris", dict(val_fraction=1.5)), "dataset.val_fraction", ["1.5", "(0, 1)"]),
    ("val_fraction empties a split", lambda t: ("iris", dict(val_fraction=0.999)),
     "dataset.val_fraction", ["0.999", "0 train / 120 val", "left after the test split (of 150)"]),
    ("bad test_fraction", lambda t: ("iris", dict(test_fraction=0)), "dataset.test_fraction", ["0", "(0, 1)"]),
    ("test_fraction empties a split", lambda t: ("iris", dict(test_fraction=0.995)),
     "dataset.test_fraction", ["0.995", "0 train+val / 150 test"]),
    ("test_fraction leaves no validation", lambda t: ("arrays", dict(X=np.ones((5, 2)), y=np.arange(5.0),
                                                                    test_fraction=0.7)),
     "dataset.test_fraction", ["1 train+val / 4 test"]),
    ("bad split_seed", lambda t: ("wine", dict(split_seed=-2)), "dataset.split_seed", ["-2"]),
    ("test rows mismatch", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10) % 2,
                                                     X_test=np.ones((4, 2)), y_test=np.arange(3) % 2)),
     "dataset.y_test", ["X_test has 4 rows", "y_test has 3"]),
    ("test features mismatch", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10.0),
                                                         X_test=np.ones((4, 3)), y_test=np.arange(4.0))),
     "dataset.X_test", ["3 features", "X_train has 2"]),
    ("test outputs mismatch", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10.0),
                                                        X_test=np.ones((4, 2)), y_test=np.ones((4, 2)))),
     "dataset.y_test", ["2 outputs", "y_train has 1"]),
    ("X_test without y_test", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10), X_test=np.ones((3, 2)))),
     "dataset.y_test", ["together"]),
    ("test NaN", lambda t: ("arrays", dict(X=np.ones((10, 2)), y=np.arange(10.0),
                                           X_test=np.array([[1.0, np.nan]]), y_test=[1.0])),
     "dataset.X_test", ["1 NaN"]),
    ("mnist1d bad val_fraction", lambda t: ("mnist1d", dict(val_fraction=1)), "dataset.val_fraction", ["(0, 1)"]),
    ("series test_fraction", lambda t: ("sines", dict(test_fraction=-0.1)), "dataset.test_fraction", ["-0.1"]),
    ("text test_fraction", lambda t: ("synthetic_text", dict(test_fraction=1.0)), "dataset.test_fraction",
     ["(0, 1)"]),
    ("bad seed", lambda t: ("synthetic_regression", dict(seed=-1)), "dataset.seed", ["-1"]),
    ("bad noise", lambda t: ("synthetic_regression", dict(noise="lots")), "dataset.noise", ["'lots'"]),
    ("one class", lambda t: ("synthetic_classification", dict(n_classes=1)), "dataset.n_classes", ["1"]),
    ("bad standardize", lambda t: ("iris", dict(standardize="yes")), "dataset.standardize", ["true or false"]),
    ("bad task", lambda t: ("arrays", dict(X=np.ones((6, 2)), y=np.arange(6), task="ranking")),
     "dataset.task", ["'ranking'", "classification", "regression"]),
    ("missing required", lambda t: ("file", {}), "dataset.path", ["required"]),
    ("bad mnist1d size", lambda t: ("mnist1d", dict(num_samples=10)), "dataset.num_samples", ["10"]),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_catalogue(tmp_path, case):
    _, make, fld, words = case
    if "extension" in case[0]:
        (tmp_path / "d.xlsx").write_text("x")
    name, kwargs = make(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError)) as exc:
        dataset(name, **kwargs)
    assert isinstance(exc.value, ConfigError) and exc.value.field == fld
    msg = str(exc.value)
    assert msg.startswith(fld + ":")
    for w in words:
        assert w in msg, (w, msg)


def test_make_dataset_direct_checks():
    X, y = np.ones((5, 2)), np.array([0, 1, 0, 1, 2])
    ds = make_dataset("t", "classification", X, y, X, y, X, y)
    assert ds.n_classes == 3 and ds.X_train.flags.c_contiguous
    ds = make_dataset("t", "regression", X.T.copy().T, y * 1.5, X, y, X[:2], y[:2])
    assert ds.y_train.shape == (5, 1) and ds.y_train.dtype == np.float64 and ds.y_test.shape == (2, 1)
    with pytest.raises(ValueError, match="dataset.X_train: is empty"):
        make_dataset("t", "regression", np.ones((0, 2)), [], X, y, X, y)
    with pytest.raises(ValueError, match="dataset.X_test: is empty"):
        make_dataset("t", "regression", X, y, X, y, np.ones((0, 2)), [])
    with pytest.raises(ValueError, match=r"dataset.y_train: classification labels must be >= 0"):
        make_dataset("t", "classification", X, -y, X, y, X, y)
    with pytest.raises(ValueError, match=r"dataset.y_test: classification labels must be >= 0"):
        make_dataset("t", "classification", X, y, X, y, X, -y)
    with pytest.raises(ValueError, match=r"dataset.n_classes: labels go up to 4"):
        make_dataset("t", "classification", X, y, X, y, X, y + 2, n_classes=3)  # the test labels count too
    with pytest.raises(ValueError, match=r"dataset.feature_names"):
        make_dataset("t", "classification", X, y, X, y, X, y, feature_names=("a",))


def test_labels_are_encoded_over_all_three_splits():
    X = np.ones((4, 2))
    ds = make_dataset("t", "classification", X, ["b", "c", "b", "c"], X, ["c", "b", "c", "b"],
                      X, ["a", "b", "c", "a"], encode=True)
    assert ds.info["classes"] == ["a", "b", "c"] and ds.n_classes == 3
    np.testing.assert_array_equal(ds.y_train, [1, 2, 1, 2])
    np.testing.assert_array_equal(ds.y_test, [0, 1, 2, 0])
