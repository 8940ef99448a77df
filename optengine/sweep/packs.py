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
    # exact checkpoints (optengine/checkpoints.py): train up to this epoch only (None: to the end), continuing
    # from the trials' checkpoints; ``prune``: save the trials as they stand at stop_epoch, status "pruned"
    stop_epoch: int | None = None
    prune: bool = False

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
                "diverge_factor": t.diverge_factor, "device": t.device, "recording": t.recording_dict(),
                "trials": [x.for_trainer() for x in self.trials], "stop_epoch": self.stop_epoch, "prune": self.prune}


def default_pack_size(n_trials: int, jobs: int) -> int:
    """Enough packs for every worker to get about four (load balance, streaming), at most MAX_PACK trials each."""
    return max(1, min(MAX_PACK, math.ceil(n_trials / (4 * max(1, jobs)))))


def make_packs(trials: list[Trial], pack_size: int, jobs: int = 1) -> list[Pack]:
    """Group by pack key (first-seen order), then cut each group into packs of at most ``pack_size``.

    Sizes within a group differ by at most one (10 trials at most 8 -> 5 + 5), and a group
    cut at all is cut into a multiple of ``jobs`` packs where it has the trials for it, so the
    workers finish together (28 trials, size 4, 2 workers -> 4 x 4 + 4 x 3, not 7 x 4)."""
    groups: dict[tuple, list[Trial]] = {}
    for t in trials:
        groups.setdefault(t.pack_key, []).append(t)
    packs = []
    for group in groups.values():
        n = math.ceil(len(group) / pack_size)
        if n > 1 and jobs > 1:
            n = min(len(group), math.ceil(n / jobs) * jobs)
        small, extra = divmod(len(group), n)
        start = 0
        for i in range(n):
            chunk = group[start:start + small + (i < extra)]
            start += len(chunk)
            pid = hashlib.sha1(",".join(t.trial_id for t in chunk).encode()).hexdigest()[:12]
            packs.append(Pack(pid, chunk))
    return packs
