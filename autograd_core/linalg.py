"""``ag.linalg``: the linear algebra ops under numpy.linalg's names, so that code written for
``np.linalg`` reads the same (``ag.linalg.solve(a, b)``, ``ag.linalg.norm(x)``). Each is the op
declared in ``ops/decompositions.py`` or ``ops/linalg.py`` (also ``ag.solve``, ``ag.norm``, ...),
and ``np.linalg.solve(t, ...)`` etc. on a Tensor run the same ops. Every op takes a matrix or a
batch of them (leading dimensions), as numpy.linalg does.

``trace`` and ``diagonal`` here are numpy.linalg's: over the last two axes (batched), unlike
``np.trace``/``ag.trace``, which take the first two by default.
"""

from .ops.decompositions import (
    EighResult,
    QRResult,
    SlogdetResult,
    SVDResult,
    cholesky,
    cholesky_solve,
    det,
    eigh,
    inv,
    kron,
    norm,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
)
from .ops.linalg import matmul, outer, tensordot
from .ops.rearrange import diagonal as _diagonal
from .ops.rearrange import trace as _trace


def trace(x, offset: int = 0):
    """The sum of each matrix's ``offset`` diagonal, over the last two axes (np.linalg.trace)."""
    return _trace(x, offset, -2, -1)


def diagonal(x, offset: int = 0):
    """Each matrix's ``offset`` diagonal, over the last two axes (np.linalg.diagonal)."""
    return _diagonal(x, offset, -2, -1)


__all__ = [
    "EighResult", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "cholesky_solve", "det",
    "diagonal", "eigh", "inv", "kron", "matmul", "norm", "outer", "qr", "slogdet", "solve",
    "solve_triangular", "svd", "tensordot", "trace",
]
