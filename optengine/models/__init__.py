"""Models on one flat parameter vector: ``oe.model(name, **settings)``."""

from __future__ import annotations

import inspect

from ..errors import ConfigError, check_choice, check_keys
from .base import Model
from .sequence_models import resolve_preset
from .zoo import MODELS


def model(name: str, **settings) -> Model:
    """Build a named model, e.g. ``oe.model("mlp", sizes=[40, 100, 100, 10], activation="relu")``."""
    check_choice("model.name", name, list(MODELS))
    builder = MODELS[name]
    check_keys("model", settings, inspect.signature(builder).parameters, name)
    return builder(**resolve_preset(name, settings))


def settings_from_dataset(name: str, settings: dict, ds) -> dict:
    """``settings`` completed with what the dataset implies (input width, classes, loss, hidden sizes)."""
    settings = dict(settings)
    if name in ("linear_regression", "softmax_regression"):
        settings.setdefault("n_features", ds.n_features)
    if name == "linear_regression":
        settings.setdefault("n_outputs", ds.n_outputs)
    if name == "softmax_regression":
        settings.setdefault("n_classes", ds.n_outputs)
    if name == "sparse_logreg":
        settings.setdefault("vocab_size", ds.n_features)
        settings.setdefault("n_classes", ds.n_outputs)
    if name == "mlp":
        settings.setdefault("loss", "cross_entropy" if ds.task == "classification" else "mse")
        if settings.get("sizes") is None and isinstance(settings.get("hidden"), (list, tuple)):
            settings["sizes"] = [ds.n_features, *settings.pop("hidden"), ds.n_outputs]
    if name == "sequential":
        settings.setdefault("loss", "cross_entropy" if ds.task == "classification" else "mse")
        settings.setdefault("n_outputs", ds.n_outputs)
        if settings.get("input_shape") is None:
            settings["input_shape"] = dataset_input_shape(ds)
    if name in ("cnn1d", "rnn", "gru"):
        # A row of the dataset is one sequence: in_channels x input_length (CNN, channel-major) or
        # seq_len steps x input_size (recurrent, time-major). MNIST-1D: 40 steps of 1 value.
        settings.setdefault("loss", "cross_entropy" if ds.task == "classification" else "mse")
        settings.setdefault("n_outputs", ds.n_outputs)
        per, length = ("in_channels", "input_length") if name == "cnn1d" else ("input_size", "seq_len")
        if settings.get(length) is None:
            width = settings.get(per, ds.info.get("input_size", 1) if name != "cnn1d" else 1)
            if isinstance(width, int) and width >= 1 and ds.n_features % width:
                raise ConfigError(f"model.{per}", f"dataset {ds.name!r} has {ds.n_features} features per row, "
                                                  f"not a whole number of steps of {per}={width}")
            if isinstance(width, int) and width >= 1:
                settings[length] = ds.n_features // width
                if name != "cnn1d":
                    settings.setdefault(per, width)
    return settings


def dataset_input_shape(ds):
    """One sample's shape as the dataset gives it: a sparse bag of words, an image or sequence shape
    (``info["input_shape"]``, e.g. digits' [1, 8, 8]), or its feature count."""
    from ..data.text import is_sparse
    from ..layers.base import BAG, Shape

    if is_sparse(ds.X_train):
        return Shape(BAG, (ds.n_features,))
    shape = ds.info.get("input_shape")
    return list(shape) if shape else [ds.n_features]


def check_dataset(model: Model, ds) -> None:
    """Refuse a dataset whose task, input width or number of outputs the model does not take."""
    if model.task == "surface":
        return
    if ds.task != model.task:
        raise ConfigError("model", f"{model.name} is a {model.task} model but dataset {ds.name!r} is {ds.task}")
    if ds.n_features != model.n_features:
        raise ConfigError("model", f"{model.name} takes {model.n_features} input features but dataset "
                                   f"{ds.name!r} has {ds.n_features}")
    if ds.n_outputs != model.n_outputs:
        what = "classes" if ds.task == "classification" else "outputs"
        raise ConfigError("model", f"{model.name} has {model.n_outputs} outputs but dataset {ds.name!r} "
                                   f"has {ds.n_outputs} {what}")


def describe() -> dict:
    """Models with their settings and defaults (for ``optengine list``)."""
    out = {}
    for name, builder in MODELS.items():
        params = inspect.signature(builder).parameters
        out[name] = {k: (None if p.default is inspect.Parameter.empty else p.default) for k, p in params.items()}
    return out


__all__ = ["model", "Model", "MODELS", "describe", "settings_from_dataset", "check_dataset"]
