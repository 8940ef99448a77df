"""Learning-rate schedules as numba.cuda device functions (the CPU's ``schedules.py``).

``schedule_lr(sp, t)`` is compiled from the very source of the CPU kernel, so a schedule
vector (SCHED layout, float64) gives the same float64 learning rate on both devices
(up to the last bit of the device's exp/cos). ``schedule_values`` evaluates K schedules
at n steps in one launch, for tests and plots.
"""

from __future__ import annotations

from numba import cuda

from .. import schedules as _cpu

schedule_lr = cuda.jit(device=True)(_cpu.schedule_lr.py_func)


@cuda.jit
def schedule_values(scheds, ts, out):
    """out[k, i] = schedule_lr(scheds[k], ts[i]) for every trial k and time i."""
    n_trials = scheds.shape[0]
    n = ts.shape[0]
    start = cuda.grid(1)
    for e in range(start, n_trials * n, cuda.gridsize(1)):
        k = e // n
        i = e - k * n
        out[k, i] = schedule_lr(scheds[k], ts[i])
