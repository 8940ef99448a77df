"""W4: a 2-D CNN on sklearn's digits (8x8 images, input [1, 8, 8]) on the layer engine,
``layer_models.DIGITS_LAYERS``: conv2d 16 (3x3, padding 1) + relu, maxpool2d 2, conv2d 32 (3x3, padding 1)
+ relu, global average pool, dense; batch 64, 5 epochs (quick 1; ``--layer-epochs``), float32, against
the same network in PyTorch, same run, the two ratios of W2:

- 28 trials (14 learning rates x {adam, momentum}): ``oe.train_pack(threads=2)`` vs PyTorch on 2 loky
  workers x 1 thread; target >= 2;
- one trial on one thread; target >= 1.
"""

from __future__ import annotations

from .common import Ctx
from .layer_models import bench_pack, bench_single

PACK_TARGET = 2.0
SINGLE_TARGET = 1.0


def run(ctx: Ctx) -> None:
    bench_pack(ctx, "W4", "conv2d", PACK_TARGET)
    bench_single(ctx, "W4", "conv2d", SINGLE_TARGET)
