"""W3: MNIST-1D GRU on the layer engine (``oe.model("gru", preset="mnist1d")``: bidirectional, hidden 6,
Linear on all 40 steps' outputs), batch 100, 2 epochs (quick 1; ``--layer-epochs``), float32: one trial
on one thread, ``oe.train(threads=1)`` vs PyTorch (``nn.GRU(batch_first=True, bidirectional=True)`` +
Linear(480, 10), ``torch.set_num_threads(1)``), same run. Target: torch time / optengine time >= 1.5.
See ``layer_models.py``.
"""

from __future__ import annotations

from .common import Ctx
from .layer_models import bench_single

SINGLE_TARGET = 1.5


def run(ctx: Ctx) -> None:
    bench_single(ctx, "W3", "gru", SINGLE_TARGET)
