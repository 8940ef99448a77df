"""A trial: one frozen configuration of a sweep, with a stable ``trial_id``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from ..settings import canonical, hash_id as hash_config


@dataclass(frozen=True)
class Trial:
    """One configuration. The pack-level part (model ... device) is shared by the trials of a pack;
    ``settings`` (canonical JSON) holds the rule, its hyperparameters, schedule, clipping and seed."""

    trial_id: str
    model: str
    dataset: str
    batch_size: int | str
    epochs: int
    dtype: str
    early_stopping: str
    diverge_factor: float
    device: str
    settings: str
    # the settings validated once by ``expand`` (settings.TrialSettings): the worker trains them as they are
    parsed: object = field(default=None, compare=False, repr=False)
    # the unscaled lr of a trial whose lr follows its batch size ([scaling], sweep/linked.py); not in its id
    lr_base: float | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, model: dict, dataset: dict | None, batch_size, epochs: int, dtype: str, early_stopping,
             diverge_factor: float, device: str, settings: dict, parsed=None, lr_base=None) -> "Trial":
        fields = dict(model=canonical(model), dataset=canonical(dataset), batch_size=batch_size, epochs=epochs,
                      dtype=dtype, early_stopping=canonical(early_stopping), diverge_factor=float(diverge_factor),
                      device=device, settings=canonical(settings))
        tid = hash_config(fields)
        return cls(trial_id=tid, **fields, parsed=None if parsed is None else replace(parsed, trial_id=tid),
                   lr_base=lr_base)

    @property
    def config_id(self) -> str:
        """The id of the trial's configuration, seed left out: the seeds of one configuration share it."""
        settings = {k: v for k, v in json.loads(self.settings).items() if k != "seed"}
        skip = ("trial_id", "settings", "parsed", "lr_base")
        return hash_config({**{f: getattr(self, f) for f in self.__dataclass_fields__ if f not in skip},
                            "settings": canonical(settings)})

    @property
    def pack_key(self) -> tuple:
        return (self.model, self.dataset, self.batch_size, self.epochs, self.dtype, self.early_stopping,
                self.diverge_factor, self.device)

    def trial_dict(self) -> dict:
        """The settings in ``train_pack``'s trial form, with this trial's id."""
        return {**json.loads(self.settings), "trial_id": self.trial_id}

    def for_trainer(self):
        """What the worker passes to ``train_pack``: the validated settings (with this trial's id) when
        ``expand`` made the trial, its settings dict otherwise."""
        return self.parsed if self.parsed is not None else self.trial_dict()

    def config(self) -> dict:
        """Everything that defines the trial, as plain values."""
        return {"model": json.loads(self.model), "dataset": json.loads(self.dataset), "batch_size": self.batch_size,
                "epochs": self.epochs, "dtype": self.dtype, "early_stopping": json.loads(self.early_stopping),
                "diverge_factor": self.diverge_factor, "device": self.device, **json.loads(self.settings)}
