"""Trials -> packs: trials sharing model, dataset, batch size, epochs, dtype (and the other
pack-level settings) go into one compiled ``train_pack`` call, at most ``pack_size`` at a time."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from .trial import Trial

MAX_PACK = 16


@dataclass
class Pack:
    pack_id: str
    trials: list
    attempts: int = 0

    @property
    def key(self) -> tuple:
        return self.trials[0].pack_key

    def payload(self, sweep: str, threads: int | None, marker_dir: str | None) -> dict:
        import os

        from .worker import FAULT_ENV

        t = self.trials[0]
        return {"fault": os.environ.get(FAULT_ENV),  # tests only: the worker's fault injection
                "pack_id": self.pack_id, "sweep": sweep, "threads": threads, "marker_dir": marker_dir,
                "model": json.loads(t.model), "dataset": json.loads(t.dataset), "batch_size": t.batch_size,
                "epochs": t.epochs, "dtype": t.dtype, "early_stopping": json.loads(t.early_stopping),
                "diverge_factor": t.diverge_factor, "device": t.device,
                "trials": [x.trial_dict() for x in self.trials]}


def default_pack_size(n_trials: int, jobs: int) -> int:
    """Enough packs for every worker to get about four (load balance, streaming), at most MAX_PACK trials each."""
    return max(1, min(MAX_PACK, math.ceil(n_trials / (4 * max(1, jobs)))))


def make_packs(trials: list[Trial], pack_size: int) -> list[Pack]:
    """Group by pack key (first-seen order), then cut each group into packs of at most ``pack_size``."""
    groups: dict[tuple, list[Trial]] = {}
    for t in trials:
        groups.setdefault(t.pack_key, []).append(t)
    packs = []
    for group in groups.values():
        n = math.ceil(len(group) / pack_size)
        size = math.ceil(len(group) / n)  # even sizes: 10 trials at most 8 -> 5 + 5
        for i in range(0, len(group), size):
            chunk = group[i:i + size]
            pid = hashlib.sha1(",".join(t.trial_id for t in chunk).encode()).hexdigest()[:12]
            packs.append(Pack(pid, chunk))
    return packs
