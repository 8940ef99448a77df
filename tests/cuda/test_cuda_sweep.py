"""A sweep spec with ``device = "cuda"`` runs end to end and gives the CPU sweep's numbers."""

import numpy as np

from optengine.sweep import run_sweep

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
        np.testing.assert_allclose(gpu[col].to_numpy(), cpu[col].to_numpy(), rtol=1e-5)
