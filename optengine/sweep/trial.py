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
    # the pack's optional records (settings.Recording.as_dict, canonical JSON; "" when all are off): its
    # eval_every and target enter the id when set (Recording.id_fields), log_every and trajectory never
    recording: str = ""
    # the settings validated once by ``expand`` (settings.TrialSettings): the worker trains them as they are
    parsed: object = field(default=None, compare=False, repr=False)
    # the unscaled lr of a trial whose lr follows its batch size ([scaling], sweep/linked.py); not in its id
    lr_base: float | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, model: dict, dataset: dict | None, batch_size, epochs: int, dtype: str, early_stopping,
             diverge_factor: float, device: str, settings: dict, parsed=None, recording=None,
             lr_base=None) -> "Trial":
        fields = dict(model=canonical(model), dataset=canonical(dataset), batch_size=batch_size, epochs=epochs,
                      dtype=dtype, early_stopping=canonical(early_stopping), diverge_factor=float(diverge_factor),
                      device=device, settings=canonical(settings))
        outcome = recording.id_fields() if recording is not None else {}
        tid = hash_config({**fields, **({"outcome": outcome} if outcome else {})})
        rec = recording.as_dict() if recording is not None else {}
        return cls(trial_id=tid, **fields, recording=canonical(rec) if rec else "",
                   parsed=None if parsed is None else replace(parsed, trial_id=tid), lr_base=lr_base)

    def _outcome(self) -> dict:
        from ..settings import Recording

        return Recording.parse(**self.recording_dict()).id_fields() if self.recording else {}

    def recording_dict(self) -> dict:
        """The pack's optional records as ``train_pack``'s keywords (empty when all are off)."""
        return json.loads(self.recording) if self.recording else {}

    @property
    def config_id(self) -> str:
        """The id of the trial's configuration, seed left out: the seeds of one configuration share it."""
        settings = {k: v for k, v in json.loads(self.settings).items() if k != "seed"}
        outcome = self._outcome()
        return hash_config({**{f: getattr(self, f) for f in self.__dataclass_fields__
                               if f not in ("trial_id", "settings", "parsed", "recording", "lr_base")},
                            "settings": canonical(settings), **({"outcome": outcome} if outcome else {})})

    @property
    def pack_key(self) -> tuple:
        return (self.model, self.dataset, self.batch_size, self.epochs, self.dtype, self.early_stopping,
                self.diverge_factor, self.device, self.recording)

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
                "diverge_factor": self.diverge_factor, "device": self.device, **self.recording_dict(),
                **json.loads(self.settings)}
