"""Losing ``$STIX_HOME/state.db`` and getting a cloud's cluster back with ``stix state recover``.

Each cloud plugin's recover test launches a cluster through its fake API, then calls
:func:`lose_state_and_recover` and checks the record and that ``stix down`` leaves nothing.
"""

from __future__ import annotations

from typing import Any


def lose_state_and_recover(cli: Any, name: str) -> Any:
    """Delete the state database, run ``stix state recover``; the cluster's refreshed record."""
    import stix.sdk as sdk
    from stix.state.db import state_path

    for path in state_path().parent.glob("state.db*"):
        path.unlink()
    assert sdk.status([name]) == []
    recovered = cli("state", "recover")
    assert recovered.exit_code == 0, recovered.stderr
    assert f"recovered cluster {name}" in recovered.stdout.splitlines()
    [record] = sdk.status([name], refresh=True)
    return record


__all__ = ["lose_state_and_recover"]
