"""``python -m autograd_core``: render one of the core's built-in example graphs to a file.

See :func:`autograd_core.viz.main` (``python -m autograd_core --help``); saved models are drawn
by ``python -m nn``.
"""

import sys

from .viz import main

sys.exit(main())
