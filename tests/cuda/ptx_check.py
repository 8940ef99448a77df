"""Compile every CUDA kernel to PTX for a real device (sm_90) without a GPU: ``python tests/cuda/ptx_check.py [DIR]``.

The simulator runs kernels as Python, so it cannot tell whether NVVM accepts them (a shape
that is not a compile-time constant, a NumPy function CUDA lacks, ...). This script types
and lowers the kernels for the device and compiles them with libnvvm, which needs only the
CUDA toolkit's libnvvm and libdevice (found through CUDA_HOME or the usual places), not a
driver. numba-cuda asks a device for its compute capability and libnvrtc for the supported
architectures, so both are stood in for (cc 9.0); this touches numba-cuda internals, so
when they moved the script exits 77 (skip) instead of failing. Exit 0: all compiled.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

SKIP = 77


def _ptxas(ptx: str) -> str:
    """Registers and spills per thread from ``ptxas -v`` when the toolkit has it (information only)."""
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("ptxas") or next((p for p in (Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin",
                                                          "ptxas"),) if p.is_file()), None)
    if not exe:
        return ""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "k.ptx")
        src.write_text(ptx)
        try:
            out = subprocess.run([str(exe), "-arch=sm_90", "-v", str(src), "-o", str(Path(tmp, "k.cubin"))],
                                 capture_output=True, text=True, timeout=300).stderr
        except (OSError, subprocess.SubprocessError):
            return ""
    lines = [line.split("ptxas info    :")[-1].strip() for line in out.splitlines()]
    used = [i for i, line in enumerate(lines) if line.startswith("Used ")]
    if not used:
        return ""
    spill = lines[used[-1] - 1] if "spill" in lines[used[-1] - 1] else ""
    return f"; ptxas sm_90: {lines[used[-1]]}; {spill}"


def main() -> int:
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    os.environ.setdefault("NUMBA_FORCE_CUDA_CC", "9.0")
    if not os.environ.get("CUDA_HOME") and os.path.isdir("/usr/local/cuda"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"
    try:
        from numba import cuda
        from numba.cuda import cuda_paths, dispatcher

        class Device:  # what device-function compilation asks of the current device
            compute_capability = (9, 0)

        cuda_paths._get_nvrtc_path = lambda: cuda_paths._env_path_tuple("none", None)
        dispatcher.get_current_device = lambda: Device()
        from numba.cuda.cudadrv.libs import get_libdevice
        from numba.cuda.cudadrv.nvvm import NVVM

        if not get_libdevice():
            raise RuntimeError("libdevice not found")
        NVVM()
    except Exception as exc:  # no toolkit here, or numba-cuda internals moved
        print(f"skip: cannot compile for a device here ({type(exc).__name__}: {exc})")
        return SKIP

    from optengine.cuda import clipping, optimizers, rng, schedules
    from optengine.cuda.pack_kernel import _LAUNCH, kernel_signatures, kernels

    f2, i1, d1, d2 = "float32[:, ::1]", "int64[::1]", "float64[::1]", "float64[:, ::1]"
    step, ev = kernels("float32")
    jobs = {
        "update": (optimizers.update, f"void({i1}, {f2}, {f2}, {f2}, {f2}, {d2}, {d1}, {i1})"),
        "clip": (clipping.clip, f"void({f2}, {i1}, {d1}, {d1})"),
        "schedule_values": (schedules.schedule_values, f"void({d2}, {d1}, {d2})"),
        "shuffle": (rng.shuffle, "void(int32[:, ::1], uint64[::1], int64[:, ::1])"),
        # the pack kernels take named records: their argument types come from the records themselves
        "step_kernel": (step, kernel_signatures("float32")["step_kernel"]),
        "eval_kernel": (ev, kernel_signatures("float32")["eval_kernel"]),
    }
    for name, (kernel, sig) in jobs.items():
        t0 = time.perf_counter()
        options = _LAUNCH if name in ("step_kernel", "eval_kernel") else {}
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0), **options)
        assert ".entry" in ptx
        if options:
            assert ".maxntid 256" in ptx and ".minnctapersm 2" in ptx, "launch bounds missing from the PTX"
        if len(sys.argv) > 1:  # a folder to keep the PTX in (e.g. for ptxas -v)
            Path(sys.argv[1], f"{name}.ptx").write_text(ptx)
        print(f"{name}: {len(ptx.splitlines())} lines of PTX in {time.perf_counter() - t0:.1f} s{_ptxas(ptx)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
