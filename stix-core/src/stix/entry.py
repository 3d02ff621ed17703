"""The ``stix`` console script: answers ``--version`` and cached ``--help`` before importing click.

Everything else is handed to :func:`stix.cli.main`. Standard library only.
"""

from __future__ import annotations

import os
import sys


def run() -> None:
    """Entry point of the ``stix`` executable."""
    args = tuple(sys.argv[1:])
    if "_STIX_COMPLETE" in os.environ:  # shell completion goes through click
        from stix.cli import main

        main()
        return
    if args in (("--version",), ("-V",)):
        from stix import __version__

        sys.stdout.write(f"stix {__version__}\n")
        return
    from stix import helpcache

    text = helpcache.lookup(args)
    if text is not None:
        sys.stdout.write(text + "\n")
        return
    from stix.cli import main

    main()
