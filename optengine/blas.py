"""One BLAS thread while the trainer's threads train trials: one level of parallelism at a time.

The dense models' matrix products are BLAS calls (``np.dot`` inside the kernels, which numba
routes to SciPy's BLAS). The pack trainer already runs one trial per thread, so each
BLAS call must stay on its own thread; ``one_blas_thread()`` caps the BLAS pools for the call.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def one_blas_thread():
    """Limit every loaded BLAS (OpenBLAS, MKL, BLIS) to one thread inside the ``with`` block."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba calls, so the limit reaches it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
