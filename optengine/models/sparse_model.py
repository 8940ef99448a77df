"""``sparse_logreg``: softmax regression on sparse bag-of-words documents (``models/sparse.py``).

Update semantics: dense, like PyTorch with a dense gradient
------------------------------------------------------------
The gradient of a mini-batch is non-zero only on the W rows of tokens that occur in
the batch (and on the bias), but it is handed to the update rules as a complete dense
vector with exact zeros elsewhere, and every rule updates every coordinate every step,
exactly as the notes' formulas (and ``softmax_regression`` on the densified matrix) do.
For a coordinate whose token is absent from the batch (g = 0) and ``l2 = 0``:

- ``sgd``: unchanged.
- ``momentum`` / ``nesterov``: v = m*v, theta -= lr*v (nesterov: lr*m*v): it keeps
  drifting along its last velocity, which decays geometrically (total drift
  lr*v*m/(1-m)).
- ``adagrad``: s += 0 and theta -= lr*0/(sqrt(s)+eps) = 0: frozen, accumulator
  untouched. Each feature's step lr/(sqrt(s_j)+eps) depends only on the batches that
  contained it: the notes' (5.1) per-feature behaviour, identical to a lazy update.
- ``rmsprop``: theta unchanged, but s = d*s decays while the token is absent, so its
  next step is larger than a lazy ("skip absent rows") RMSProp would take.
- ``adam``: m = b1*m and v = b2*v decay and theta keeps moving by lr*mhat/(sqrt(vhat)+eps)
  while m is non-zero; bias correction uses the global step t. ``adamw`` also applies
  the decoupled decay -lr*wd*theta to every coordinate every step.
- coupled ``l2``: g_j = 0 + l2*theta_j is non-zero on every coordinate, so absent rows
  are regularised every step (and AdaGrad's s grows on them too).
- clipping: the global norm over the whole vector (absent rows contribute 0).

Why dense: the results are exactly the notes' formulas (``tests/test_sparse.py`` trains
every rule a few steps on the sparse model and on ``softmax_regression`` with the
densified matrix and gets the same parameters), the same rule means the same thing on
every model of a sweep, and lazy variants change the algorithm (lazy Adam/RMSProp
skip the decay of absent moments, as TensorFlow's LazyAdam documents). The price is an
O(vocab x classes) update per step whatever the batch; the sparse gradient itself
costs O(batch x tokens x classes).

Input: ``prepare`` turns a CSR matrix (or a dense count matrix, or a dict of CSR
arrays) into the padded ELLPACK rows of ``models/sparse.py``. Token ids must be
< vocab_size, values finite (negative values are accepted: signed feature hashing);
empty documents are allowed and get bias-only logits. In float32 token ids are exact
only below 2**24, so a larger vocabulary needs ``dtype = "float64"``.
"""

from __future__ import annotations

import numpy as np

from ..data.text import as_csr
from ..errors import ConfigError, check_choice, check_number
from . import sparse
from .base import Model

from .kernels import SPARSE  # the family id in the trainer's dispatch
INITS = ("zeros", "pytorch")
FLOAT32_MAX_VOCAB = 2**24
MAX_ELL_BYTES = 4 * 2**30  # refuse padded matrices larger than this (one very long document)


class SparseLogReg(Model):
    """Softmax regression z = b + x W on bag-of-words rows x (see the module docstring)."""

    family = SPARSE
    task = "classification"
    metric = "accuracy"

    def __init__(self, vocab_size: int, n_classes: int, init: str):
        self.vocab_size = int(vocab_size)
        self.n_classes = int(n_classes)
        self.init_scheme = init
        super().__init__("sparse_logreg", {"vocab_size": self.vocab_size, "n_classes": self.n_classes, "init": init},
                         sparse.arch(self.vocab_size, self.n_classes), np.zeros(1),
                         sparse.n_params(self.vocab_size, self.n_classes), self.vocab_size, self.n_classes)

    def workspace_size(self, rows: int) -> int:
        return sparse.workspace_size(self.n_classes, rows)

    def init(self, seed: int = 0, dtype=np.float64) -> np.ndarray:
        """zeros (default), or pytorch: W, b ~ U(+-1/sqrt(vocab_size)), drawn exactly as
        ``softmax_regression(n_features=vocab_size, init="pytorch")`` draws them."""
        seed, dtype = self.check_init_args(seed, dtype)
        V, C = self.vocab_size, self.n_classes
        if self.init_scheme == "zeros":
            return np.zeros(V * C + C, dtype=dtype)
        rng = np.random.default_rng([seed, 1])
        bound = 1.0 / np.sqrt(V)
        w = rng.uniform(-bound, bound, V * C)
        b = rng.uniform(-bound, bound, C)
        return np.ascontiguousarray(np.concatenate([w, b]), dtype=dtype)

    # -- data ------------------------------------------------------------------------------
    def csr(self, X, field: str = "X"):
        """``X`` as a validated canonical float64 CSR matrix with vocab_size columns."""
        return as_csr(X, field, self.vocab_size, "vocab_size")

    def features(self, X, dtype, field: str = "X") -> np.ndarray:
        """The ELLPACK matrix (n x (1 + 2 * max tokens per document)) of ``X`` in ``dtype``."""
        dtype = np.dtype(dtype)
        if dtype == np.float32 and self.vocab_size > FLOAT32_MAX_VOCAB:
            raise ConfigError("dtype", f"float32 holds token ids exactly only below 2**24 = {FLOAT32_MAX_VOCAB}; "
                                       f"vocab_size={self.vocab_size} needs dtype float64")
        A = self.csr(X, field)
        nnz = np.diff(A.indptr)
        m = int(nnz.max()) if nnz.size else 0
        width = sparse.ell_width(m)
        nbytes = A.shape[0] * width * dtype.itemsize
        if nbytes > MAX_ELL_BYTES:
            raise ConfigError(field, f"the padded document matrix would take {nbytes / 2**30:.1f} GiB "
                                     f"({A.shape[0]} documents x {width} slots: the longest document has {m} "
                                     f"distinct tokens, the mean is {nnz.mean():.1f}); truncate or split the "
                                     "longest documents")
        out = np.zeros((A.shape[0], width), dtype=dtype)
        sparse.csr_to_ell(A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, width, out)
        return out

    # -- kernels (called directly, so the model works without the trainer's dispatch) -----
    def loss_and_grad(self, params, X=None, y=None):
        """Mean cross-entropy over (X, y) and its gradient (zero on W rows of absent tokens)."""
        params = self._check_params(params)
        E, yc, _ = self.prepare(X, y, params.dtype)
        grad = np.zeros_like(params)
        ws = np.empty(self.workspace_size(E.shape[0]), dtype=params.dtype)
        loss = sparse.sparse_loss_grad(self.ai, params, E, yc, np.arange(E.shape[0]), grad, ws)
        return float(loss), grad

    def evaluate(self, params, X=None, y=None):
        """(mean cross-entropy, accuracy) over (X, y)."""
        params = self._check_params(params)
        E, yc, _ = self.prepare(X, y, params.dtype)
        ws = np.empty(self.workspace_size(1), dtype=params.dtype)
        loss, acc = sparse.sparse_evaluate(self.ai, params, E, yc, ws, 1)
        return float(loss), float(acc)

    def forward(self, params, X) -> np.ndarray:
        """Logits, one row per document."""
        params = self._check_params(params)
        E = self.features(X, params.dtype)
        out = np.empty((E.shape[0], self.n_classes), dtype=params.dtype)
        sparse.sparse_forward(self.ai, params, E, out)
        return out

    def predict(self, params, X) -> np.ndarray:
        """Predicted class of each document (ties: the lowest class)."""
        return self.forward(params, X).argmax(axis=1)


def sparse_logreg(vocab_size=None, n_classes=None, init="zeros"):
    """Softmax regression on sparse bag-of-words input; the gradient touches only the tokens present.

    ``init``: ``"zeros"`` (default, as ``softmax_regression``: a token never seen in
    training then adds exactly 0 to the logits) or ``"pytorch"`` (U(+-1/sqrt(vocab_size))).
    """
    if vocab_size is None:
        raise ConfigError("model.vocab_size", "is required (or give a dataset so it can be inferred)")
    V = check_number("model.vocab_size", vocab_size, low=1, integer=True)
    if n_classes is None:
        raise ConfigError("model.n_classes", "is required (or give a dataset so it can be inferred)")
    C = check_number("model.n_classes", n_classes, low=2, integer=True)
    init = check_choice("model.init", init, INITS)
    if V * C + C > 2**31:
        raise ConfigError("model.vocab_size", f"vocab_size x n_classes = {V * C} parameters is too many (max 2**31)")
    return SparseLogReg(V, C, init)
