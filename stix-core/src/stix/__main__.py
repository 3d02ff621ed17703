"""``python -m stix`` runs the CLI."""

from stix.entry import run

run()
