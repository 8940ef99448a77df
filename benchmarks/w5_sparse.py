"""W5: sparse bag-of-words softmax regression on the layer engine (``sparse_logreg``: an
``embedding_bag`` layer, dense update every step as ``models/sparse_model.py`` documents) on the
synthetic text set of ``sweeps/text_sparse_adaptive.toml`` (20,000 tokens, 4 classes, 80,004
parameters), batch 32, 5 epochs (quick 1; ``--layer-epochs``), float32: one trial on one thread,
``oe.train(threads=1)`` vs PyTorch ``nn.EmbeddingBag(mode="sum")`` with ``per_sample_weights`` (the
counts) + a bias on padded (documents, slots) token ids, dense gradient, ``torch.set_num_threads(1)``.
Target: torch time / optengine time >= 1.
"""

from __future__ import annotations

from .common import Ctx
from .layer_models import bench_single

SINGLE_TARGET = 1.0


def run(ctx: Ctx) -> None:
    bench_single(ctx, "W5", "sparse", SINGLE_TARGET)
