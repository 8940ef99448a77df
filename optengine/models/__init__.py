"""Models on one flat parameter vector: ``oe.model(name, **settings)``."""

from __future__ import annotations

import inspect

from ..errors import check_choice, check_keys
from .base import Model
from .zoo import MODELS


def model(name: str, **settings) -> Model:
    """Build a named model, e.g. ``oe.model("mlp", sizes=[40, 100, 100, 10], activation="relu")``."""
    check_choice("model.name", name, list(MODELS))
    builder = MODELS[name]
    check_keys("model", settings, inspect.signature(builder).parameters, name)
    return builder(**settings)


def describe() -> dict:
    """Models with their settings and defaults (for ``optengine list``)."""
    out = {}
    for name, builder in MODELS.items():
        params = inspect.signature(builder).parameters
        out[name] = {k: (None if p.default is inspect.Parameter.empty else p.default) for k, p in params.items()}
    return out


__all__ = ["model", "Model", "MODELS", "describe"]
