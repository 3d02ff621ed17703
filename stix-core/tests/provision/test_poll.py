"""``stix.provision.poll.until``: returns the first answer, gives up with a zone-scoped error."""

from __future__ import annotations

import pytest
from stix.errors import ProvisionError
from stix.provision.poll import until


def test_returns_the_first_answer() -> None:
    answers = iter([None, None, "UP"])
    assert until(lambda: next(answers), timeout=30, what="x", first_delay=0.01) == "UP"


def test_gives_up_with_the_message() -> None:
    with pytest.raises(ProvisionError, match=r"^lambda: cluster c not UP after 0 s$") as info:
        until(lambda: None, timeout=0.05, what="lambda: cluster c not UP", first_delay=0.01)
    assert info.value.scope == "zone"


def test_a_probe_error_ends_the_wait() -> None:
    def probe() -> None:
        raise ProvisionError("gone", scope="cloud")

    with pytest.raises(ProvisionError, match="gone"):
        until(probe, timeout=30, what="x")
