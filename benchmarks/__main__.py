"""``python -m benchmarks``: cap BLAS/OpenMP spinning, then run the benchmarks.

On a 2-core machine an idle BLAS or OpenMP worker thread spins for a while after each call and
steals a core from whatever runs next; in an interleaved run (ours, reference, ours, ...) that
next thing is the other library. The limits have to be in the environment before numpy and torch
load their thread pools, hence here, before any import of them.
"""

import os
import sys

SPIN_CAP = {
    "OPENBLAS_THREAD_TIMEOUT": "4",  # OpenBLAS's minimum: idle workers sleep after 2**4 cycles
    "GOMP_SPINCOUNT": "0",           # libgomp (PyTorch's OpenMP) sleeps at once when idle
    "OMP_WAIT_POLICY": "PASSIVE",
}

_already_loaded = sorted(name for name in ("numpy", "torch") if name in sys.modules)
for _name, _value in SPIN_CAP.items():
    os.environ.setdefault(_name, _value)

from benchmarks.run import main  # noqa: E402 - after the environment is set

sys.exit(main(spin_cap={name: os.environ[name] for name in SPIN_CAP},
              loaded_before_cap=_already_loaded))
