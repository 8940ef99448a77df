"""Sparse bag-of-words documents as padded ELLPACK rows: the input ``embedding_bag`` reads.

One float row per document, ``m`` = the largest number of stored tokens of any row of *that*
matrix::

    X[i] = [nnz_i, col_0, ..., col_{m-1}, val_0, ..., val_{m-1}]     width 1 + 2m

Only the first ``nnz_i`` slots are read; columns (token ids) are stored as floats, exact up to
2**24 in float32 and 2**53 in float64. ``m`` is read from ``X.shape[1]``, so the train and
validation matrices may have different widths. Token ids are distinct within a row and values
non-zero (``data.text.as_csr`` sums duplicates and drops explicit zeros).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..jit import kernel

FLOAT32_MAX_VOCAB = 2**24
MAX_ELL_BYTES = 4 * 2**30  # refuse padded matrices larger than this (one very long document)


def ell_width(max_nnz: int) -> int:
    return 1 + 2 * int(max_nnz)


@kernel
def csr_to_ell(indptr, indices, data, width, out):
    """Fill ``out`` (n x width, zeroed) with the ELL rows of a canonical CSR matrix."""
    m = (width - 1) // 2
    for r in range(indptr.size - 1):
        lo = indptr[r]
        nnz = indptr[r + 1] - lo
        out[r, 0] = nnz
        for k in range(nnz):
            out[r, 1 + k] = indices[lo + k]
            out[r, 1 + m + k] = data[lo + k]


def bag_rows(X, dtype, field, vocab):
    """A sparse (CSR) bag-of-words matrix ``X`` with ``vocab`` columns as padded rows in ``dtype``."""
    from ..data.text import as_csr

    dtype = np.dtype(dtype)
    if dtype == np.float32 and vocab > FLOAT32_MAX_VOCAB:
        raise ConfigError("dtype", f"float32 holds token ids exactly only below 2**24 = {FLOAT32_MAX_VOCAB}; "
                                   f"vocab_size={vocab} needs dtype float64")
    A = as_csr(X, field, vocab, "vocab_size")
    nnz = np.diff(A.indptr)
    m = int(nnz.max()) if nnz.size else 0
    width = ell_width(m)
    nbytes = A.shape[0] * width * dtype.itemsize
    if nbytes > MAX_ELL_BYTES:
        raise ConfigError(field, f"the padded document matrix would take {nbytes / 2**30:.1f} GiB "
                                 f"({A.shape[0]} documents x {width} slots: the longest document has {m} "
                                 f"distinct tokens, the mean is {nnz.mean():.1f}); truncate or split the "
                                 "longest documents")
    out = np.zeros((A.shape[0], width), dtype=dtype)
    csr_to_ell(A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, width, out)
    return out
