"""``python -m edge.cli``: the ``capleak`` command without the installed script."""

import sys

from edge.cli import main

sys.exit(main())
