"""Package attributes that load their module on first use (PEP 562).

A host that imports one corner of the library pays for that corner only: importing the
adapters' settings does not load the serializer, and a host that serializes its own models
never loads the event schemas.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for names that live in its ``modules``
    (relative names, each with the names it exports); a loaded name is cached on the package.

    >>> getattr_, dir_ = lazy_exports("json", {".decoder": ("JSONDecodeError",)})
    >>> getattr_("JSONDecodeError").__name__
    'JSONDecodeError'
    """
    home = {name: module for module, names in modules.items() for name in names}

    def load(name: str) -> object:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted({*home, *vars(sys.modules[package])})

    return load, names
