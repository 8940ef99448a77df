"""A sweep spec with ``device = "cuda"`` runs end to end and gives the CPU sweep's numbers."""

import os

import numpy as np

from optengine.sweep import run_sweep

# The simulator runs the kernels' Python: equal to float32 rounding. A real GPU fuses
# multiply-adds (FMA), so there 1e-4, as in test_cuda_pack.py.
RTOL = 1e-5 if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else 1e-4

SPEC = {
    "name": "gpu_tiny", "seeds": [0],
    "model": {"name": "mlp", "hidden": [5]}, "dataset": {"name": "iris"},
    "train": {"epochs": 2, "batch_size": 40},
    "optimizer": {"name": ["sgd", "adam"], "lr": 0.05},
    "clip": {"norm": ["none", 0.5]},
}


def test_spec_on_cuda_equals_spec_on_cpu(tmp_path):
    cpu = run_sweep(SPEC, tmp_path / "cpu", backend="sequential")
    gpu = run_sweep({**SPEC, "train": {**SPEC["train"], "device": "cuda"}}, tmp_path / "gpu", backend="sequential")
    assert (gpu["device"] == "cuda").all() and (cpu["device"] == "cpu").all()
    assert len(gpu) == len(cpu) == 4 and (gpu["status"] == "ok").all()
    for col in ("final_train_loss", "final_val_loss", "final_val_metric", "best_val_loss"):
        np.testing.assert_allclose(gpu[col].to_numpy(), cpu[col].to_numpy(), rtol=RTOL)
