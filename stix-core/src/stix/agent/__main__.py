"""``python -m stix.agent <subcommand>``."""

import sys

from .cli import main

sys.exit(main())
