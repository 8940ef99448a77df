"""settings.TrialSettings: a trial validated once, frozen, passed as it is from the sweep's expansion
to the trainer; its canonical form keeps the trial_ids."""

import dataclasses
from pathlib import Path

import pytest

from optengine import clipping, optimizers
from optengine.errors import ConfigError
from optengine.settings import TrialSettings, canonical, hash_id
from optengine.sweep import expand, load_spec
from optengine.sweep.packs import make_packs

FIXTURES = Path(__file__).parent / "fixtures"


def test_clip_constant_matches():
    from optengine import settings

    assert settings._CLIP_NORM == clipping.CLIP_NORM


def test_trial_settings_are_frozen_and_parsed_once():
    t = TrialSettings.parse({"optimizer": "adam", "lr": 0.01, "schedule": "cosine", "clip": {"norm": 1.0}}, None,
                            "float32")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.seed = 3
    assert TrialSettings.parse(t, "trials[0]", "float32") is t
    assert t.hypers == {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "l2": 0.0, "amsgrad": 0.0}
    assert t.clipping == "norm=1.0" and t.lr == 0.01
    assert TrialSettings.parse(t.as_dict(), None, "float32").config() == t.config()


@pytest.mark.parametrize("trial, field", [
    ({"optimizer": "adam", "lr": -1}, "trials[0].lr"),
    ({"optimizer": "adam", "lr": 0.1, "momentum": 0.9}, "trials[0]"),
    ({"optimizer": "adma", "lr": 0.1}, "trials[0].optimizer"),
    ({"optimizer": "sgd", "lr": 0.1, "schedule": {"name": "step", "step_sise": 3}}, "trials[0].schedule"),
    ({"optimizer": "sgd", "lr": 0.1, "clip": {"norm": -1}}, "trials[0].clip"),
])
def test_errors_name_the_field(trial, field):
    with pytest.raises(ConfigError) as exc:
        TrialSettings.parse(trial, "trials[0]", "float32")
    assert exc.value.field.startswith(field)


def test_expanded_trials_carry_their_validated_settings():
    trials = expand(load_spec(FIXTURES / "fixture_v2.toml"))
    for t in trials:
        assert isinstance(t.parsed, TrialSettings) and t.parsed.trial_id == t.trial_id
        assert t.parsed.seed == t.config()["seed"] and t.parsed.optimizer == t.config()["optimizer"]
    payload = make_packs(trials, 16)[0].payload("x", 1, None)
    assert all(isinstance(x, TrialSettings) for x in payload["trials"])


def test_the_worker_trains_validated_settings_without_validating_again(monkeypatch):
    from optengine.sweep import worker

    trials = expand(load_spec(FIXTURES / "fixture_v2.toml"))[:2]
    payload = make_packs(trials, 16)[0].payload("x", 1, None)

    def refuse(*args, **kwargs):
        raise AssertionError("validated again")

    monkeypatch.setattr(optimizers, "validate_hyper", refuse)
    out = worker.run_pack(payload)
    assert list(out["runs"]["trial_id"]) == [t.trial_id for t in trials]
    assert set(out["runs"]["status"]) == {"ok"}


def test_canonical_and_hash_match_the_old_form():
    import hashlib
    import json

    config = {"b": 1, "a": [1.0, None], "c": {"z": "x", "y": 2.5}}
    assert canonical(config) == '{"a":[1.0,null],"b":1,"c":{"y":2.5,"z":"x"}}'
    old = hashlib.sha1(json.dumps(config, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()
    assert hash_id(config) == old[:16]
