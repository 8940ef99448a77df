"""Race-free shared arrays in numba-cuda's CUDA simulator (used by the tests and ``--smoke`` runs).

The simulator runs each CUDA thread as a Python thread. ``cuda.shared.array`` finds the block's
array by the caller's file and line and creates it when it is missing, without a lock
(numba-cuda 0.30.4, ``simulator/kernelapi.py``, ``FakeCUDAShared.array``). Two threads of a block
can both find it missing and each get an array of its own; a block reduction then adds half the
block, and a trial's loss and gradient norm come out wrong about once in 50 trainings.
``lock_shared_arrays()`` replaces the method by the same lookup under a lock. No effect on a GPU.
"""

from __future__ import annotations

import sys
import threading

_LOCK = threading.Lock()


def lock_shared_arrays() -> None:
    """Make the simulator's ``cuda.shared.array`` thread-safe (idempotent)."""
    import numpy as np
    from numba.core import types
    from numba.cuda.simulator.kernelapi import FakeCUDAShared
    from numba.np import numpy_support

    if getattr(FakeCUDAShared.array, "optengine_locked", False):
        return
    unlocked = FakeCUDAShared.array

    def array(self, shape, dtype, alignment=None):
        if alignment is not None or shape == 0:  # an error, or the (race-free) dynamic shared memory
            return unlocked(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)  # the simulator's key: one array per source line
        with _LOCK:
            res = self._allocations.get(caller)
            if res is None:
                res = np.empty(shape, dtype)
                self._allocations[caller] = res
        return res

    array.optengine_locked = True
    FakeCUDAShared.array = array
