"""``python -m nn``: draw a saved model, or nn's built-in example, to a file.

See :func:`nn.cli.main` (``python -m nn --help``).
"""

import sys

from .cli import main

sys.exit(main())
