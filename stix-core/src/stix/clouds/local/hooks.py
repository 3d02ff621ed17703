"""Entry module of the built-in ``local`` cloud (registered like any plugin)."""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud


class LocalCloud(Cloud):
    """Runs nodes as sandboxes on this machine; needs no account."""

    name: ClassVar[str] = "local"
    display_name: ClassVar[str] = "Local"
    features: ClassVar[frozenset[str]] = frozenset(
        {"multi_node", "stop", "spot", "autostop", "autodown", "open_ports"}
    )
    uses_catalog: ClassVar[bool] = False
    default_cpus: ClassVar[str] = "1+"
    distribution: ClassVar[str] = "stix"

    def check(self) -> CheckResult:
        cpus = os.cpu_count() or 1
        return CheckResult(True, f"this machine ({cpus} CPUs, Python {sys.version.split()[0]})")


@hookimpl
def register_clouds(register: Any) -> None:
    register(LocalCloud)
