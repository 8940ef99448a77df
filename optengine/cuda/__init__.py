"""numba.cuda twins of the CPU kernels: update rules, schedules, clipping and the pack trainer.

Use: ``oe.train(..., device="cuda")`` or ``oe.train_pack(..., device="cuda")``. The modules
have the CPU modules' names and arguments, with one row (or entry) per trial where the CPU
kernel takes one trial, so one launch serves a whole pack; one concept per file:

- ``optimizers.update``      every update rule of optengine/rules, one grid-stride launch for every trial of a pack
- ``schedules.schedule_lr``  learning-rate schedules as device functions
- ``clipping.clip``          clip by value / by global norm, a block reduction per trial
- ``rng.shuffle``            the CPU's SplitMix64 Fisher-Yates shuffle, one thread per trial
- ``gemm``                   block-level tiled matrix products in shared memory
- ``pack_kernel.train_pack`` the pack trainer for the dense family (linear/softmax regression, MLP)

The kernels need the ``numba-cuda`` package (``pip install 'optengine[cuda]'``) and an NVIDIA
GPU, or ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) for numba's CUDA simulator,
which runs the same code in Python threads: slow, for tests only. Nothing falls back to the
CPU silently: ``require_device()`` raises a ``ConfigError("device", ...)`` instead.

Kernels are compiled for the device on first use in a process (tens of seconds for the
trainer; not cached on disk, since numba would not notice a change in a called module).
"""

from __future__ import annotations

import importlib.util

from ..errors import ConfigError

INSTALL_HINT = "pip install 'optengine[cuda]' (the numba-cuda package)"


def installed() -> bool:
    """True when the ``numba-cuda`` package (not numba's deprecated built-in target) is importable."""
    return importlib.util.find_spec("numba_cuda") is not None


def simulating() -> bool:
    """True when numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1`` when numba.cuda was imported)."""
    if not installed():
        return False
    from numba.cuda import config

    return bool(config.ENABLE_CUDASIM)


def available() -> bool:
    """True when CUDA kernels can run here: a usable GPU, or the simulator."""
    if not installed():
        return False
    from numba import cuda

    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def require_device() -> None:
    """Raise ``ConfigError("device", ...)`` unless a GPU (or the simulator) is usable; never falls back."""
    if not installed():
        raise ConfigError("device", f"device=\"cuda\" needs numba-cuda: {INSTALL_HINT}; or use device=\"cpu\"")
    if not available():
        raise ConfigError("device", "no CUDA GPU found (numba.cuda.is_available() is False); install an NVIDIA "
                                    "driver on a machine with a CUDA GPU, set NUMBA_ENABLE_CUDASIM=1 before "
                                    "importing numba to run the (slow) simulator, or use device=\"cpu\"")


if simulating():
    from .simulator_fix import lock_shared_arrays

    lock_shared_arrays()

__all__ = ["available", "installed", "require_device", "simulating", "INSTALL_HINT"]
