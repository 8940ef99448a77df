"""Public names of a package imported on first use (PEP 562), for quick start-up.

``install(__name__, {"run_sweep": ".runner", ...})`` at the end of a package's ``__init__``:
``pkg.run_sweep`` imports ``pkg.runner`` then. Where a name is also a submodule's
(``optengine.train``, ``optengine.sweep.expand``), the name keeps meaning the function: Python
binds a submodule to its package when it is first imported, which would replace it.
"""

from __future__ import annotations

import copyreg
import sys
import types
from importlib import import_module


class LazyPackage(types.ModuleType):
    """A package whose API names (``_lazy_api``) a same-named submodule does not replace."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_lazy_api", ()):
            return  # the submodule of the same name is being bound: keep the API name
        types.ModuleType.__setattr__(self, name, value)


def _by_name(module):
    return import_module, (module.__name__,)


# pickle (cloudpickle, joblib, dask) sends a package by name, as it does any importable module
copyreg.pickle(LazyPackage, _by_name)


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

    module._lazy_api = dict(api)
    module.__getattr__ = __getattr__
    module.__dir__ = __dir__
    module.__class__ = LazyPackage
