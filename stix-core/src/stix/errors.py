"""The one exception hierarchy of STIX, shared with plugins.

Raise a ``StixError`` subclass anywhere; the CLI boundary (``stix.cli.main``)
turns it into ``Error: <message>`` plus an optional ``Hint: <next step>``.
"""

from __future__ import annotations


class StixError(Exception):
    """Base class of every error a user is meant to read.

    :param message: one line saying what is wrong, naming the value.
    :param hint: optional next step (a command to run, a field to change).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class TaskError(StixError):
    """A task, pipeline or service YAML is invalid.

    The message is prefixed with ``file:line: field.path:`` where known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.file = file
        self.line = line
        self.reason = message
        super().__init__(self._format(), hint)

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.reason}"

    def located(self, file: str | None = None, line: int | None = None) -> TaskError:
        """Return a copy that also names ``file`` and ``line`` (when not known yet)."""
        return TaskError(
            self.reason,
            path=self.path,
            file=self.file or file,
            line=self.line or line,
            hint=self.hint,
        )


class ConfigError(StixError):
    """A config file (``~/.stix/config.yaml``, ``.stix.yaml``) is invalid."""


class PluginError(StixError):
    """A plugin failed to load, or registered something invalid."""


class CatalogError(StixError):
    """A catalog is missing, unreadable or has no row for a request."""


class ResourcesUnavailableError(StixError):
    """No candidate satisfies the requested resources (optimizer)."""


class ProvisionError(StixError):
    """Provisioning failed; ``scope`` tells failover what to block.

    :param scope: one of ``zone``, ``region``, ``cloud`` or ``abort``; or
        ``instance_type``: only this instance type at this place is out (clouds whose
        stock is per GPU type, such as RunPod or Vast), so other types there are tried.
    """

    scope = "zone"

    def __init__(self, message: str, hint: str | None = None, scope: str | None = None) -> None:
        super().__init__(message, hint)
        if scope is not None:
            self.scope = scope


class NoCapacityError(ProvisionError):
    """The cloud has no capacity for the request in this zone (try the next one)."""

    scope = "zone"


class QuotaError(ProvisionError):
    """An account quota blocks the request in this region (skip the region)."""

    scope = "region"


class CredentialsError(ProvisionError):
    """Credentials are missing or rejected (stop and tell the user how to fix them)."""

    scope = "cloud"


class ClusterError(StixError):
    """A cluster is missing, in the wrong state, or does not fit the request."""


class JobError(StixError):
    """A job id is unknown or the job is in the wrong state."""


class StateError(StixError):
    """A file STIX keeps its state in is damaged; the message names the file.

    :param path: the damaged file (never overwritten; the hint names the recovery).
    """

    def __init__(self, message: str, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message, hint)
        self.path = path


__all__ = [
    "CatalogError",
    "ClusterError",
    "ConfigError",
    "CredentialsError",
    "JobError",
    "NoCapacityError",
    "PluginError",
    "ProvisionError",
    "QuotaError",
    "ResourcesUnavailableError",
    "StateError",
    "StixError",
    "TaskError",
]
