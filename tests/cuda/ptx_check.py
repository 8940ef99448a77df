"""Compile every CUDA kernel to PTX for real devices without a GPU: ``python tests/cuda/ptx_check.py [DIR]``.

The simulator runs kernels as Python, so it cannot tell whether NVVM accepts them (a shape
that is not a compile-time constant, a NumPy function CUDA lacks, ...). This script types
and lowers the kernels for the device and compiles them with libnvvm, which needs only the
CUDA toolkit's libnvvm and libdevice (``pip install "numba-cuda[cu13]"``, or CUDA_HOME), not a
driver. numba-cuda asks a device for its compute capability and libnvrtc for the supported
architectures, so both are stood in for; this touches numba-cuda internals, so when they
moved the script exits 77 (skip) instead of failing. Exit 0: all compiled and checked.

What it compiles, for compute capabilities 8.0 and 9.0 and for float32 and float64
parameters: the update rules (``optimizers.update``, every rule of ``optengine/rules``),
clipping, schedules, the shuffle (RNG) and both pack-trainer kernels. What it checks:

- PTX came out (``.entry``), with the trainer kernels' launch bounds;
- **float32 stays float32**: each rule's per-parameter ``element``, compiled alone for float32
  (a probe kernel), has no float64 instruction at all, and the float32 ``update`` kernel's
  square roots are ``sqrt.rn.f32``. (Coefficients are computed in float64 once per tile and
  trial, as on the CPU; only the per-parameter arithmetic must be float32.)

``--cc 9.0`` / ``--dtypes float32`` narrow it; ``DIR`` keeps the PTX files.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SKIP = 77
ROOT = Path(__file__).resolve().parents[2]


def _ptxas(ptx: str, cc) -> str:
    """Registers and spills per thread from ``ptxas -v`` when the toolkit has it (information only)."""
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("ptxas") or next((p for p in (Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin",
                                                          "ptxas"),) if p.is_file()), None)
    if not exe:
        return ""
    arch = f"sm_{cc[0]}{cc[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "k.ptx")
        src.write_text(ptx)
        try:
            out = subprocess.run([str(exe), f"-arch={arch}", "-v", str(src), "-o", str(Path(tmp, "k.cubin"))],
                                 capture_output=True, text=True, timeout=300).stderr
        except (OSError, subprocess.SubprocessError):
            return ""
    lines = [line.split("ptxas info    :")[-1].strip() for line in out.splitlines()]
    used = [i for i, line in enumerate(lines) if line.startswith("Used ")]
    if not used:
        return ""
    spill = lines[used[-1] - 1] if "spill" in lines[used[-1] - 1] else ""
    return f"; ptxas {arch}: {lines[used[-1]]}; {spill}"


def _setup(cc=(9, 0)):
    """Stand in for a device of compute capability ``cc``; raise when numba-cuda cannot compile here."""
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    os.environ["NUMBA_FORCE_CUDA_CC"] = f"{cc[0]}.{cc[1]}"
    if not os.environ.get("CUDA_HOME") and os.path.isdir("/usr/local/cuda"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"
    sys.path.insert(0, str(ROOT))
    from numba.cuda import cuda_paths, dispatcher

    class Device:  # what device-function compilation asks of the current device
        compute_capability = cc

    cuda_paths._get_nvrtc_path = lambda: cuda_paths._env_path_tuple("none", None)
    dispatcher.get_current_device = lambda: Device()
    from numba.cuda.cudadrv.libs import get_libdevice
    from numba.cuda.cudadrv.nvvm import NVVM

    if not get_libdevice():
        raise RuntimeError("libdevice not found")
    NVVM()


def _jobs(dtype: str) -> dict:
    from optengine.cuda import clipping, optimizers, rng, schedules
    from optengine.cuda.pack_kernel import kernel_signatures, kernels

    f1, f2, f3 = f"{dtype}[::1]", f"{dtype}[:, ::1]", f"{dtype}[:, :, ::1]"
    i1, d1, d2, d3 = "int64[::1]", "float64[::1]", "float64[:, ::1]", "float64[:, :, ::1]"
    step, ev = kernels(dtype)
    return {
        "update": (optimizers.update, f"void({i1}, {f2}, {f2}, {f3}, {d3}, {d2}, {d1}, {i1})"),
        "clip": (clipping.clip, f"void({f2}, {i1}, {d1}, {d1})"),
        "schedule_values": (schedules.schedule_values, f"void({d2}, {d1}, {d2})"),
        "shuffle": (rng.shuffle, "void(int32[:, ::1], uint64[::1], int64[:, ::1])"),
        # the pack kernels take named records: their argument types come from the records themselves
        "step_kernel": (step, kernel_signatures(dtype)["step_kernel"]),
        "eval_kernel": (ev, kernel_signatures(dtype)["eval_kernel"]),
    }, f1


def element_probe(element, n):
    """A kernel running a rule's ``element`` once per thread on float32 values only (its ``n``
    coefficients read from a float32 array): the rule's per-parameter arithmetic, alone."""
    from numba import cuda

    co = ", ".join(f"c[{j}]" for j in range(n)) + ("," if n == 1 else "")
    src = ("def probe(c, theta, g, state):\n"
           "    j = cuda.grid(1)\n"
           "    if j < theta.size:\n"
           f"        co = ({co})\n"
           "        th, b0, b1, b2 = element(co, theta[j], g[j], state[0, j], state[1, j], state[2, j])\n"
           "        theta[j] = th\n        state[0, j] = b0\n        state[1, j] = b1\n        state[2, j] = b2\n")
    ns = {"cuda": cuda, "element": cuda.jit(device=True)(element)}
    exec(compile(src, "<element probe>", "exec"), ns)  # noqa: S102
    return ns["probe"]


def _promoting_element(co, th, g, b0, b1, b2):
    """The mistake the probe must catch: a float literal turns float32 arithmetic into float64."""
    (lr,) = co
    return th - lr * (1.0 * g), b0, b1, b2


def float64_ops(ptx: str) -> list:
    """float64 instructions (and conversions to float64) in PTX."""
    return sorted(set(F64_OPS.findall(ptx)) | ({"cvt to f64"} if re.search(r"cvt\.\w+\.f64", ptx) else set()))


F64_OPS = re.compile(r"^\s*(?:@%p\d+\s+)?(\w+(?:\.\w+)*\.f64)\b", re.M)


def check(cc, dtype, out_dir=None) -> list[str]:
    """Compile every kernel for (cc, dtype); return the report lines (raises on a failed check)."""
    _setup(cc)
    from numba import cuda

    from optengine.cuda.pack_kernel import _LAUNCH
    from optengine.rules import RECORDS

    lines = []
    jobs, f1 = _jobs(dtype)
    for name, (kernel, sig) in jobs.items():
        t0 = time.perf_counter()
        options = _LAUNCH if name in ("step_kernel", "eval_kernel") else {}
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc, **options)
        assert ".entry" in ptx, name
        if options:
            assert ".maxntid 256" in ptx and ".minnctapersm 2" in ptx, "launch bounds missing from the PTX"
        if name == "update" and dtype == "float32":
            assert "sqrt.rn.f32" in ptx, "the float32 update's square roots are not float32"
        if out_dir:
            Path(out_dir, f"{name}-{dtype}-sm{cc[0]}{cc[1]}.ptx").write_text(ptx)
        lines.append(f"sm_{cc[0]}{cc[1]} {dtype} {name}: {len(ptx.splitlines())} lines of PTX in "
                     f"{time.perf_counter() - t0:.1f} s{_ptxas(ptx, cc) if name == 'step_kernel' else ''}")
    if dtype == "float32":
        from optengine.rules.dispatch import n_coefficients

        probe_sig = f"void({f1}, {f1}, {f1}, float32[:, ::1])"
        bad, _ = cuda.compile_ptx(element_probe(_promoting_element, 1), probe_sig, cc=cc)
        assert float64_ops(bad), "the float32 check does not see a float literal's float64 arithmetic"
        for rule in RECORDS:
            ptx, _ = cuda.compile_ptx(element_probe(rule.element, n_coefficients(rule)), probe_sig, cc=cc)
            f64 = float64_ops(ptx)
            assert not f64, (f"rule {rule.name}: its float32 element computes in float64 ({', '.join(f64)}): "
                             "a float literal or a float64 coefficient? Put constants into the coefficients")
        lines.append(f"sm_{cc[0]}{cc[1]} float32 elements of {len(RECORDS)} rules: no float64 instruction")
    return lines


def _run(args):
    try:
        return 0, check(*args)
    except (ImportError, RuntimeError, OSError) as exc:  # no toolkit here, or numba-cuda internals moved
        if "libdevice" in str(exc) or "NVVM" in str(exc) or "nvvm" in str(exc) or isinstance(exc, ImportError):
            return SKIP, [f"skip: cannot compile for a device here ({type(exc).__name__}: {exc})"]
        raise


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", nargs="?", help="a folder to keep the PTX in")
    p.add_argument("--cc", default="8.0,9.0")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    a = p.parse_args(argv)
    combos = [(tuple(int(x) for x in cc.split(".")), dt, a.dir) for cc in a.cc.split(",") for dt in a.dtypes.split(",")]
    try:
        _setup()  # fail fast (skip) before starting workers
    except Exception as exc:  # noqa: BLE001
        print(f"skip: cannot compile for a device here ({type(exc).__name__}: {exc})")
        return SKIP
    with ProcessPoolExecutor(max(1, min(a.jobs, len(combos)))) as pool:  # one process per (cc, dtype)
        results = list(pool.map(_run, combos))
    for rc, lines in results:
        print("\n".join(lines))
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
