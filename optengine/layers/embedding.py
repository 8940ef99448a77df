"""Bag-of-words embedding: ``torch.nn.EmbeddingBag(V, dim, mode="sum")`` with per-sample weights, plus a bias.

Input: a ``bag`` (V,) shape, the dataset's padded ELLPACK rows (``layers/bag_rows.py``)::

    X[r] = [nnz, col_0, ..., col_{m-1}, val_0, ..., val_{m-1}]      m = (X.shape[1] - 1) // 2

Output (dim,): ``y_i = bias + sum_{k < nnz} val_k * weight[col_k, :]`` for the document ``X[idx[i]]``
(per_sample_weights = the values; an empty document gives ``bias``). ``bias`` is not part of
torch's EmbeddingBag. It must be the first layer: it reads the raw rows, not an activation.

Fields: ``dim`` (required, >= 1), ``bias`` (default false). Params: ``weight`` (V, dim) init
N(0, 1) (PyTorch's default), then ``bias`` (dim) init 0 when ``bias`` is true. With
``dim = C, bias = true`` followed by cross-entropy this is ``sparse_logreg`` (same flat layout).

Record: ``ints = [op, V, dim, bias]``; no floats, no save, no tmp. Token ids must lie in [0, V)
(the dataset's preparation guarantees it; the kernels do not check).

Kernels (their own signatures, the driver calls them specially)::

    embedding_bag_forward(r, f, W, X, idx, y)        y (len(idx), dim), overwritten
    embedding_bag_backward(r, f, W, X, idx, dy, dW)  dW cleared, then only the weight rows of the
                                                     tokens in the batch (and the bias) accumulate
"""

from __future__ import annotations

from ..errors import ConfigError
from ..jit import kernel
from .base import BAG, OPS, VECTOR, LayerPlan, Param, Shape, fields, flag, integer

R_OP, R_V, R_DIM, R_BIAS = 0, 1, 2, 3


def plan_embedding_bag(where, spec, in_shape):
    rest = fields(where, spec, ("dim", "bias"), "embedding_bag")
    if "dim" not in rest:
        raise ConfigError(f"{where}.dim", "is required: the size of each bag's embedding vector (an integer >= 1)")
    dim = integer(where, "dim", rest["dim"], low=1)
    bias = flag(where, "bias", rest.get("bias", False))
    if in_shape.kind != BAG or len(in_shape.dims) != 1:
        raise ConfigError(where, f"embedding_bag must be the first layer: it reads the dataset's sparse "
                                 f"bag-of-words rows (a bag input), got a {in_shape} input")
    V = int(in_shape.dims[0])
    params = [Param("weight", (V, dim), ("normal", 1.0))]
    if bias:
        params.append(Param("bias", (dim,), ("const", 0.0)))
    return LayerPlan(kind="embedding_bag", op=OPS["embedding_bag"], in_shape=in_shape,
                     out_shape=Shape(VECTOR, (dim,)), ints=[OPS["embedding_bag"], V, dim, int(bias)],
                     floats=[], params=params, spec={"type": "embedding_bag", "dim": dim, "bias": bias})


PLANNERS = {"embedding_bag": plan_embedding_bag}


@kernel
def embedding_bag_forward(r, f, W, X, idx, y):
    """y[i, :] = bias + sum_k val_k weight[col_k, :] over the document X[idx[i]]."""
    D = r[R_DIM]
    has_bias = r[R_BIAS] == 1
    wb = r[R_V] * D
    m = (X.shape[1] - 1) // 2
    T = y.dtype.type
    zero = T(0.0)
    for i in range(idx.size):
        row = idx[i]
        if has_bias:
            for j in range(D):
                y[i, j] = W[wb + j]
        else:
            for j in range(D):
                y[i, j] = zero
        nnz = int(X[row, 0])
        for k in range(nnz):
            off = int(X[row, 1 + k]) * D
            v = T(X[row, 1 + m + k])
            for j in range(D):
                y[i, j] += v * W[off + j]


@kernel
def embedding_bag_backward(r, f, W, X, idx, dy, dW):
    """dW cleared; dweight[col_k, :] += val_k dy[i, :] for every token of the batch; dbias = sum_i dy[i, :]."""
    D = r[R_DIM]
    has_bias = r[R_BIAS] == 1
    wb = r[R_V] * D
    m = (X.shape[1] - 1) // 2
    T = dW.dtype.type
    zero = T(0.0)
    for p in range(dW.size):
        dW[p] = zero
    for i in range(idx.size):
        row = idx[i]
        if has_bias:
            for j in range(D):
                dW[wb + j] += dy[i, j]
        nnz = int(X[row, 0])
        for k in range(nnz):
            off = int(X[row, 1 + k]) * D
            v = T(X[row, 1 + m + k])
            for j in range(D):
                dW[off + j] += v * dy[i, j]
