"""``python -m approxnn``: the same as the ``approxnn`` command."""

import sys

from .cli import main

sys.exit(main())
