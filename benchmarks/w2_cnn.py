"""W2: MNIST-1D 1-D CNN on the layer engine (``oe.model("cnn1d", preset="mnist1d")``: Conv1d(1,25,5,2,1)
+ReLU, Conv1d(25,25,3,2,1)+ReLU x2, flatten, Linear(125,10)), batch 100, 2 epochs (quick 1;
``--layer-epochs``), float32, against the same network in PyTorch, same run:

- 28 trials (14 learning rates log-spaced 1e-4..1e-1 x {adam, momentum}): one ``oe.train_pack`` on 2
  trainer threads (one BLAS thread) vs PyTorch, one trial per joblib task, 2 loky workers x 1 thread;
  target: torch time / optengine time >= 2;
- one trial on one thread (``oe.train(threads=1)`` vs ``torch.set_num_threads(1)``): target >= 1.

Compilation is excluded (the engine is warmed first); its first call in this process is reported
on its own, and C2 measures a cold start in a fresh process. See ``layer_models.py``.
"""

from __future__ import annotations

from .common import Ctx
from .layer_models import bench_pack, bench_single

PACK_TARGET = 2.0
SINGLE_TARGET = 1.0


def run(ctx: Ctx) -> None:
    bench_pack(ctx, "W2", "cnn1d", PACK_TARGET)
    bench_single(ctx, "W2", "cnn1d", SINGLE_TARGET)
