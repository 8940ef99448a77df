"""``sparse_logreg``: softmax regression on sparse bag-of-words documents (``layers/embedding.py``).

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

As layers: ``[{type = "embedding_bag", dim = n_classes, bias = true}]`` (``layers/embedding.py``), i.e.
z = b + sum_k val_k W[col_k, :] with W (vocab x C): the same flat layout as ``softmax_regression``.

Input: ``prepare`` turns a CSR matrix (or a dense count matrix, or a dict of CSR
arrays) into the padded ELLPACK rows of ``layers/bag_rows.py``. Token ids must be
< vocab_size, values finite (negative values are accepted: signed feature hashing);
empty documents are allowed and get bias-only logits. In float32 token ids are exact
only below 2**24, so a larger vocabulary needs ``dtype = "float64"``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, check_choice, check_number
from ..layers.base import BAG, Shape
from .layered import LayersModel

INITS = ("zeros", "pytorch")
from ..layers.bag_rows import FLOAT32_MAX_VOCAB, MAX_ELL_BYTES  # noqa: F401  (the limits of the padded rows)


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
    # zeros: a token never seen in training adds exactly 0 to the logits; pytorch: U(+-1/sqrt(vocab_size)),
    # drawn exactly as softmax_regression(n_features=vocab_size, init="pytorch") draws them
    value = ("const", 0.0) if init == "zeros" else ("uniform", 1.0 / np.sqrt(V))
    return LayersModel("sparse_logreg", {"vocab_size": V, "n_classes": C, "init": init},
                       [{"type": "embedding_bag", "dim": C, "bias": True}], Shape(BAG, (V,)), C, "cross_entropy",
                       inits={"weight": value, "bias": value}, prefixes={"0": ""})
