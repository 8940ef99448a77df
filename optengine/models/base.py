"""The Model object: a family's kernels bound to one architecture and flat parameters."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_number
from . import kernels

EVAL_CHUNK = 512  # rows per forward pass when evaluating a whole split


class Model:
    """A model on one flat parameter vector.

    ``init(seed)`` -> params; ``loss_and_grad(params, X, y)`` -> (mean loss, gradient);
    ``predict(params, X)``; ``evaluate(params, X, y)`` -> (mean loss, metric).
    """

    family: int
    task: str  # "classification", "regression" or "surface"
    metric: str

    def __init__(self, name: str, spec: dict, ai: np.ndarray, af: np.ndarray, n_params: int,
                 n_features: int, n_outputs: int):
        self.name = name
        self._spec = spec
        self.ai = ai
        self.af = af
        self.n_params = int(n_params)
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)

    def spec(self) -> dict:
        """The settings that rebuild this model with ``oe.model(**spec)``."""
        return {"name": self.name, **self._spec}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._spec.items())
        return f"model({self.name!r}{', ' if args else ''}{args})  # {self.n_params} parameters"

    # -- to be provided by the family -------------------------------------------
    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def check_init_args(seed, dtype):
        """Validated (seed, dtype) for ``init``."""
        seed = check_number("seed", seed, low=0, high=2**63 - 1, integer=True)
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt not in (np.float32, np.float64):
            raise ConfigError("dtype", f"must be float32 or float64, got {dtype!r}")
        return seed, dt

    def workspace_size(self, rows: int) -> int:
        return 1

    def forward(self, params, X) -> np.ndarray:
        """Raw outputs (logits or predicted values), one row per sample."""
        raise NotImplementedError

    def predict(self, params, X) -> np.ndarray:
        """Class labels (classification) or predicted values (regression; 1-D for one output)."""
        out = self.forward(params, X)
        if self.task == "classification":
            return out.argmax(axis=1)
        return out[:, 0] if self.n_outputs == 1 else out

    # -- data plumbing --------------------------------------------------------------
    def features(self, X, dtype, field: str = "X") -> np.ndarray:
        """``X`` as a C-contiguous 2-D array of ``dtype`` with this model's columns."""
        try:
            X = np.ascontiguousarray(X, dtype=dtype)
        except (TypeError, ValueError):
            raise ConfigError(field, f"must be a numeric 2-D array, got {type(X).__name__}") from None
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ConfigError(field, f"must be a 2-D array with {self.n_features} columns for {self.name}, "
                                     f"got shape {X.shape}")
        return X

    def prepare(self, X, y, dtype, field: str = "X"):
        """(X, y_class, y_reg) as the kernels take them, after shape checks."""
        X = self.features(X, dtype, field)
        n = X.shape[0]
        if n == 0:
            raise ConfigError(field, "has no rows; at least one sample is needed")
        yc = np.zeros(0, dtype=np.int64)
        yr = np.zeros((0, 0), dtype=dtype)
        if self.task == "classification":
            y = np.asarray(y)
            if y.dtype.kind not in "biuf":
                raise ConfigError("y", f"class labels must be integers 0..{self.n_outputs - 1}, got dtype {y.dtype} "
                                       "(oe.dataset maps other labels to integers)")
            if y.shape != (n,):
                raise ConfigError("y", f"must hold {n} class labels (shape ({n},)), got shape {y.shape}")
            if y.size and (not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or y.min() < 0
                           or y.max() >= self.n_outputs):
                raise ConfigError("y", f"labels must be integers in [0, {self.n_outputs - 1}]")
            yc = np.ascontiguousarray(y, dtype=np.int64)
        elif self.task == "regression":
            try:
                y = np.asarray(y, dtype=dtype)
            except (TypeError, ValueError):
                raise ConfigError("y", "regression targets must be numbers") from None
            if y.ndim == 1:
                y = y[:, None]
            if y.shape != (n, self.n_outputs):
                raise ConfigError("y", f"must have shape ({n}, {self.n_outputs}) (or ({n},) for one output), "
                                       f"got {np.shape(y)}")
            yr = np.ascontiguousarray(y)
        return X, yc, yr

    def _check_params(self, params):
        if not isinstance(params, np.ndarray) or params.shape != (self.n_params,) \
                or params.dtype not in (np.float32, np.float64):
            raise ConfigError("params", f"must be a flat float32/float64 array of {self.n_params} values "
                                        f"for this {self.name}, got {getattr(params, 'shape', type(params))}")
        return np.ascontiguousarray(params)

    def loss_and_grad(self, params, X=None, y=None, key: int = 0):
        """Mean loss over (X, y) and its gradient (a new array of params' dtype); ``key`` is the
        random key of the step (dropout draws its masks from it; models without dropout ignore it)."""
        params = self._check_params(params)
        X, yc, yr = self.prepare(X, y, params.dtype)
        grad = np.zeros_like(params)
        idx = np.arange(X.shape[0])
        ws = np.empty(self.workspace_size(X.shape[0]), dtype=params.dtype)
        loss = kernels.LOSS_GRAD[self.family](self.ai, self.af, params, X, yc, yr, idx, grad, ws, int(key))
        return float(loss), grad

    def evaluate(self, params, X=None, y=None):
        """(mean loss, metric) over (X, y): accuracy, R^2, or distance to the minimiser."""
        params = self._check_params(params)
        X, yc, yr = self.prepare(X, y, params.dtype)
        ws = np.empty(self.workspace_size(min(EVAL_CHUNK, max(1, X.shape[0]))), dtype=params.dtype)
        loss, metric = kernels.EVALUATE[self.family](self.ai, self.af, params, X, yc, yr, ws, EVAL_CHUNK)
        return float(loss), float(metric)
