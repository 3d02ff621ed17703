"""Lazy public names for packages (PEP 562): a name's module is imported on first use.

Keeps ``import stix`` and ``import stix.task`` cheap for programs that embed STIX.
Standard library only.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # `import typing` alone costs `stix --help` about a third of its time
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` resolving ``table`` lazily.

    :param package: the package's ``__name__``.
    :param table: public name -> ``"module"`` (same attribute name) or ``"module:attribute"``.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module), attr or name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
