"""``python -m autograd_core``: render a computation graph or a saved network to a file.

See :func:`autograd_core.viz.main` (``python -m autograd_core --help``).
"""

import sys

from .viz import main

sys.exit(main())
