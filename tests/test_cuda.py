"""device="cuda": the CUDA tests on numba's simulator (in a subprocess), and the errors without a GPU.

``tests/cuda/`` holds the kernel-by-kernel and pack-by-pack comparisons with the CPU. numba
reads NUMBA_ENABLE_CUDASIM when numba.cuda is imported, so they run in a child pytest with
the simulator on, leaving this process (and the CPU kernels of the rest of the suite)
untouched. On a GPU machine run them on the device: ``OPTENGINE_CUDA_TESTS=1 pytest tests/cuda``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import optengine as oe
import optengine.cuda as ocuda
from optengine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
IN_PROCESS = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or os.environ.get("OPTENGINE_CUDA_TESTS") == "1"
MLP = {"name": "mlp", "sizes": [4, 8, 3]}


@pytest.mark.skipif(IN_PROCESS, reason="tests/cuda is collected in this process itself")
@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed")
def test_cuda_suite_on_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cuda"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert " passed" in out and "skipped" not in out.splitlines()[-1], out[-2000:]
    print(f"tests/cuda on the simulator: {time.perf_counter() - t0:.1f} s\n{out.splitlines()[-1]}")


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed")
def test_kernels_compile_for_a_real_device():
    """What the simulator cannot show: NVVM accepts the kernels (PTX for sm_90, no GPU needed)."""
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "cuda" / "ptx_check.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]


def test_unknown_device_is_refused_before_any_data_is_loaded():
    with pytest.raises(ConfigError, match=r"^device:.*allowed: cpu, cuda"):
        oe.train(model=MLP, dataset="no-such-dataset", optimizer="adam", lr=1e-2, device="gpu")


@pytest.mark.skipif(ocuda.available(), reason="a CUDA GPU (or the simulator) is usable here")
def test_cuda_without_a_gpu_is_a_clear_error_not_a_fallback():
    with pytest.raises(ConfigError) as err:
        oe.train(model=MLP, dataset="no-such-dataset", optimizer="adam", lr=1e-2, device="cuda")
    assert err.value.field == "device"
    text = str(err.value)
    if ocuda.installed():
        assert "no CUDA GPU found" in text and "NUMBA_ENABLE_CUDASIM=1" in text
    assert 'device="cpu"' in text
    with pytest.raises(ConfigError, match=r"^device:"):
        oe.train_pack(MLP, "iris", [{"optimizer": "sgd", "lr": 0.1}], device="cuda")


def test_missing_numba_cuda_names_the_extra(monkeypatch):
    monkeypatch.setattr(ocuda, "installed", lambda: False)
    with pytest.raises(ConfigError, match=r"^device:.*pip install 'optengine\[cuda\]'"):
        oe.train(model=MLP, dataset="iris", optimizer="adam", lr=1e-2, device="cuda")
