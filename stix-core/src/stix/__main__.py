"""``python -m stix`` runs the CLI."""

from stix.cli import main

main()
