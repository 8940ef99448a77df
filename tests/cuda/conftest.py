"""The CUDA tests (``optengine/cuda``): numba's CUDA simulator on CPU-only CI, or a real GPU.

This directory is collected only where numba.cuda runs in one of those modes:

- ``NUMBA_ENABLE_CUDASIM=1`` (the simulator; ``tests/test_cuda.py`` runs this directory in a
  subprocess with it, so the rest of the suite keeps numba's normal CPU target), or
- ``OPTENGINE_CUDA_TESTS=1`` on a machine with a GPU: the same tests, compiled for the device:
  ``OPTENGINE_CUDA_TESTS=1 .venv/bin/python -m pytest -q tests/cuda``.

What the simulator cannot check: it runs every CUDA thread as a Python thread with NumPy
scalars, so it says nothing about speed, occupancy, register or shared-memory limits,
memory coalescing, compilation for a real device (numba types that only NVVM rejects),
the device's FMA contraction and libdevice math (last-bit differences), or races that only
show under real concurrent warps (the simulator interleaves threads at Python granularity,
though a missing ``syncthreads`` still shows up as wrong numbers at block sizes above 1).
Those are covered by running this directory and ``benchmarks/gpu.py`` on a GPU.
"""

import os
import sys

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
REAL_GPU = os.environ.get("OPTENGINE_CUDA_TESTS") == "1"

if not (SIMULATOR or REAL_GPU):
    collect_ignore_glob = ["test_*.py"]
elif SIMULATOR:
    # Simulated threads meet at every syncthreads; the default 5 ms GIL switch interval makes
    # each meeting cost milliseconds. A short interval makes these tests about 5x faster.
    sys.setswitchinterval(1e-4)
