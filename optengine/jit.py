"""The one place kernels get their compile options.

``cache=True`` (compiled once, reused from disk), ``error_model="numpy"`` (a float
division by zero gives inf/nan like NumPy instead of raising, which would be lost inside
``prange``; the trainer turns non-finite values into divergence), and never ``fastmath``
(it would delete the NaN/inf checks).
"""

from numba import njit


def kernel(fn=None, *, parallel=False):
    """``@kernel`` or ``@kernel(parallel=True)``: a module-level Numba kernel."""
    decorate = njit(cache=True, error_model="numpy", parallel=parallel)
    return decorate if fn is None else decorate(fn)
