"""MNIST-1D, generated locally by the ``mnist1d`` package and cached on disk (never downloaded).

Defaults (``seed=42``, ``num_samples=5000``) reproduce the standard dataset: the generator's
4000 training and 1000 test sequences, 40 features, 10 classes, already standardised. The
test split is the generator's test part, unchanged; the validation split is carved from the
generator's training part (``val_fraction``, default 0.2, stratified, seeded by
``split_seed``), giving 3200 train / 800 val / 1000 test. The cache holds the generator's
two parts; the carving happens after loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np

from optengine.errors import check_number
from optengine.memory import require

from .dataset import Dataset, make_dataset
from .split import check_fraction, check_seed, split
from .standardize import finish

_KEYS = ("X_train", "y_train", "X_test", "y_test")  # the generator's two parts
BYTES_PER_SAMPLE = 2048  # generator peak ~1300 bytes per sample (tracemalloc), + the split's copies
_MEMORY: dict = {}  # cache key -> dict of arrays (never handed out: callers get copies)


def cache_dir() -> Path:
    """``$OPTENGINE_CACHE`` or ``~/.cache/optengine``."""
    return Path(os.environ.get("OPTENGINE_CACHE") or Path.home() / ".cache" / "optengine")


def _version() -> str:
    from importlib.metadata import version

    return version("mnist1d")


def _args(seed: int, num_samples: int):
    from mnist1d.data import get_dataset_args

    args = get_dataset_args()
    args.seed = seed
    args.num_samples = num_samples
    return args


def cache_key(seed: int, num_samples: int) -> str:
    """Hash of what the arrays depend on: seed, sample count and the mnist1d version (whose
    generator defaults are the rest of the arguments). Cheap: importing the generator takes
    about a second (SciPy's interpolation), which a cached load never needs."""
    blob = json.dumps({"seed": seed, "num_samples": num_samples, "mnist1d": _version(), "format": 3},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(seed: int, num_samples: int) -> Path:
    return cache_dir() / f"mnist1d-{cache_key(seed, num_samples)}.npz"


def _generate(seed: int, num_samples: int) -> dict:
    """Run the generator with the global ``np.random``/``random`` states saved and restored."""
    from mnist1d.data import make_dataset as mnist1d_make

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = mnist1d_make(_args(seed, num_samples))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"X_train": d["x"], "y_train": d["y"].astype(np.int64),
            "X_test": d["x_test"], "y_test": d["y_test"].astype(np.int64)}


def _read(path: Path):
    """The cached arrays, or None when the file is missing or unreadable/corrupt."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in _KEYS}
    except Exception:
        return None
    ok = (arrays["X_train"].ndim == 2 and arrays["X_test"].ndim == 2
          and len(arrays["X_train"]) == len(arrays["y_train"]) > 0
          and len(arrays["X_test"]) == len(arrays["y_test"]) > 0)
    return arrays if ok else None


def _write(path: Path, arrays: dict) -> None:
    """Atomic write: a temporary file in the same folder, then ``os.replace``. Best effort."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def mnist1d_arrays(seed: int = 42, num_samples: int = 5000) -> dict:
    """Raw arrays (copies), from the in-process cache, the disk cache, or the generator."""
    key = cache_key(seed, num_samples)
    arrays = _MEMORY.get(key)
    if arrays is None:
        path = cache_path(seed, num_samples)
        arrays = _read(path)
        if arrays is None:
            arrays = _generate(seed, num_samples)
            _write(path, arrays)
        _MEMORY[key] = arrays
    return {k: v.copy() for k, v in arrays.items()}


def load_mnist1d(*, seed=42, num_samples=5000, val_fraction=0.2, split_seed=0, standardize=None) -> Dataset:
    """MNIST-1D (classification, 40 features, 10 classes); ``num_samples`` is rounded down to a
    multiple of 10, which the generator splits 80% train / 20% test. The validation split is
    ``val_fraction`` of the generator's training part (see the module docstring)."""
    seed = check_seed("dataset.seed", seed)
    num_samples = check_number("dataset.num_samples", num_samples, low=50, integer=True)
    val_fraction = check_fraction("dataset.val_fraction", val_fraction)
    split_seed = check_seed("dataset.split_seed", split_seed)
    require("dataset.num_samples", f"MNIST-1D with {num_samples} samples (the generator's working arrays, "
                                   f"about {BYTES_PER_SAMPLE} bytes per sample)", BYTES_PER_SAMPLE * num_samples)
    a = mnist1d_arrays(seed, num_samples)
    Xt, yt, Xv, yv, split_info = split(a["X_train"], a["y_train"], val_fraction=val_fraction,
                                       split_seed=split_seed, stratify=True)
    split_info = {"test": "generator's test part", "val": "carved from the generator's training part",
                  **split_info, "sizes": {"train": len(yt), "val": len(yv), "test": len(a["y_test"])}}
    info = {"source": f"mnist1d {_version()} (generated locally)", "seed": seed,
            "num_samples": num_samples, "split": split_info}
    ds = make_dataset("mnist1d", "classification", Xt, yt, Xv, yv, a["X_test"], a["y_test"],
                      n_classes=10, info=info)
    return finish(ds, standardize, None, recommended=False)
