"""Public names of a package imported on first use (PEP 562), for quick start-up.

``install(__name__, {"run_sweep": ".runner", ...})`` at the end of a package's ``__init__``:
``pkg.run_sweep`` imports ``pkg.runner`` then. Where a name is also a submodule's
(``optengine.train``, ``optengine.sweep.expand``), the name keeps meaning the function: Python
binds a submodule to its package when it is first imported, which would replace it.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module


def install(package: str, api: dict) -> None:
    module = sys.modules[package]

    def __getattr__(name):
        if name in api:
            value = getattr(import_module(api[name], package), name)
            types.ModuleType.__setattr__(module, name, value)
            return value
        try:  # a submodule, as an attribute of the package (oe.sweep, oe.models, ...)
            return import_module(f".{name}", package)
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(module)) | set(api))

    module.__getattr__ = __getattr__
    module.__dir__ = __dir__
    module.__class__ = type("LazyPackage", (types.ModuleType,), {"__setattr__": _make_setattr(api)})


def _make_setattr(api: dict):
    def __setattr__(self, name, value):
        if name in api and isinstance(value, types.ModuleType):
            return  # a submodule of the same name is being bound: keep the API name
        types.ModuleType.__setattr__(self, name, value)

    return __setattr__
