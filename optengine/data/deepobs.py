"""DeepOBS's ``quadratic`` data set, as its ``quadratic_deep`` test problem uses it.

x ~ N(0, noise_level^2 I) in ``dim`` dimensions, ``train_size`` draws per split from numpy's legacy
``RandomState`` with DeepOBS's fixed seeds (train 42, validation 44, test 43), cast to float32 as
DeepOBS does (``deepobs/tensorflow/datasets/quadratic.py``). The targets are one all-zero column (the
loss needs none; it keeps the trainer's regression plumbing).

DeepOBS evaluates a split in batches of the training batch size and drops the remainder, so its
validation and test losses are means over the first ``train_size // eval_batch * eval_batch`` draws
(896 at its batch size 128): ``eval_batch`` keeps that (``None``: every draw). Training uses all
``train_size`` draws.
"""

from __future__ import annotations

import numpy as np

from optengine.errors import check_number

from .dataset import make_dataset


def quadratic_deep(*, dim=100, train_size=1000, noise_level=0.6, eval_batch=128):
    """DeepOBS's quadratic data: 1000 train / 896 val / 896 test draws of x ~ N(0, 0.36 I_100)."""
    from ..models.quadratic import DATA_SEEDS, deepobs_draws

    dim = check_number("dataset.dim", dim, low=2, high=2000, integer=True)
    n = check_number("dataset.train_size", train_size, low=1, high=10**6, integer=True)
    noise = check_number("dataset.noise_level", noise_level, low=0.0)
    keep = n
    if eval_batch is not None:
        eb = check_number("dataset.eval_batch", eval_batch, low=1, high=n, integer=True)
        keep = n // eb * eb
    X = {s: deepobs_draws(s, dim, n, noise) for s in ("train", "val", "test")}
    zeros = np.zeros((n, 1))
    info = {"source": "DeepOBS quadratic (deepobs/tensorflow/datasets/quadratic.py)", "seeds": dict(DATA_SEEDS),
            "noise_level": noise, "eval_batch": eval_batch,
            "note": "targets are zeros (unused); val/test truncated to whole eval batches as DeepOBS evaluates"}
    return make_dataset("quadratic_deep", "regression", X["train"], zeros, X["val"][:keep], zeros[:keep],
                        X["test"][:keep], zeros[:keep], info=info)
