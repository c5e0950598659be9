"""Linear algebra with gradients: solving, inverting, determinants, factorisations and norms.

Every op here works on a matrix or a batch of them (leading dimensions), as numpy.linalg does,
and is differentiable twice: each backward rule is written with the library's recorded ops
(matmul, the triangular solve, tril, where, ...), so ``create_graph=True`` records it.

Conventions (stated again on each op):

- Ops that read one triangle (``cholesky``, ``eigh``, ``solve_triangular``) have the gradient of
  what they compute: the other triangle gets 0, and an off-diagonal entry of the triangle read
  gets the sum of the two symmetric positions. (PyTorch returns the symmetrised gradient instead;
  for a matrix built symmetric from parameters, the parameters' gradients are the same.)
- ``eigh`` and ``svd``: the gradient through the eigen/singular *vectors* divides by the gaps
  between eigen/singular values, so with repeated values it is inf or nan, as in PyTorch (the
  vectors are then not unique). Eigen/singular values alone have finite gradients. Vectors are
  defined up to sign; a loss that depends on the sign gets a gradient for numpy's choice.
- Singular matrices in ``solve``/``inv``/``solve_triangular``, and matrices that are not positive
  definite in ``cholesky``, raise numpy's ``LinAlgError`` naming the op and the shape.

Ops with several results (``eigh``, ``svd``, ``qr``, ``slogdet``) are composites over one node
whose output packs the results side by side along a last axis: the engine records one output per
node, and the public function hands back views of it. Gradients of unused results are zeros.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..engine import Function, Variable
from ..errors import ShapeError
from ..registry import composite, primitive
from .elementwise import abs as _abs
from .elementwise import sign as _sign
from .elementwise import where
from .linalg import matmul
from .rearrange import tril, triu
from .reductions import max as _max
from .reductions import min as _min
from .reductions import sum as _sum
from .shape import concatenate, expand_dims, reshape, swapaxes, transpose


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


class SVDResult(NamedTuple):
    U: object
    S: object
    Vh: object


class QRResult(NamedTuple):
    Q: object
    R: object


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


# ---- checks and helpers -------------------------------------------------------------------------

def _square(op: str, shape: tuple, what: str = "a") -> int:
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{op}: expected square matrices of shape (..., n, n) for {what}, got "
                         f"shape {shape}")
    return shape[-1]


def _matrix(op: str, shape: tuple) -> None:
    if len(shape) < 2:
        raise ShapeError(f"{op}: expected a matrix or a batch of them (..., m, n), got shape "
                         f"{shape}")


def _check_rhs(op: str, a_shape: tuple, b_shape: tuple) -> None:
    """b is a vector (n,) when 1-d, else a stack of matrices (..., n, k), as numpy 2's solve."""
    n = _square(op, a_shape)
    if len(b_shape) == 1:
        if b_shape[0] != n:
            raise ShapeError(f"{op}: a of shape {a_shape} and b of shape {b_shape} do not fit: "
                             f"b needs {n} elements")
        return
    if len(b_shape) < 1 or b_shape[-2] != n:
        raise ShapeError(f"{op}: a of shape {a_shape} and b of shape {b_shape} do not fit: b "
                         f"must be a vector ({n},) or matrices (..., {n}, k)")
    try:
        np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ShapeError(f"{op}: the batch dimensions of a {a_shape} and b {b_shape} do not "
                         "broadcast together") from None


def _lapack(op: str, problem: str, shape: tuple, function, *args, **kwargs):
    """numpy.linalg's call, its LinAlgError re-raised with the op, the shape and the cause."""
    try:
        return function(*args, **kwargs)
    except np.linalg.LinAlgError as error:
        raise np.linalg.LinAlgError(f"{op}: {problem} (input of shape {shape}; numpy: "
                                    f"{error})") from None


_SINGULAR = "the matrix is singular, so the system has no unique solution"


def _t(x):
    """The matrices' transpose (the last two axes swapped)."""
    return swapaxes(x, -1, -2)


def _outer_last(u, v):
    """u[..., :, None] * v[..., None, :]: the outer products of two stacks of vectors."""
    return expand_dims(u, -1) * expand_dims(v, -2)


def _half_diagonal(n: int, dtype, lower: bool = True) -> np.ndarray:
    """The mask of one triangle with 1/2 on the diagonal: the map Phi of the Cholesky and
    symmetric-eigen derivatives (and its adjoint: an elementwise mask is self-adjoint)."""
    tri = np.tri(n, dtype=dtype)
    return (tri if lower else tri.T) - np.eye(n, dtype=dtype) / 2


def _one_triangle(p, lower: bool):
    """The gradient of a function of the symmetric matrix ``tril(A) + tril(A, -1).T`` (or the
    upper one), from ``p``, its gradient with respect to a symmetric perturbation: the triangle
    read gets P + P^T off the diagonal and P's diagonal."""
    n = p.shape[-1]
    return (p + _t(p)) * _half_diagonal(n, _dtype(p), lower)


def _dtype(x):
    return x.data.dtype if isinstance(x, Variable) else np.asarray(x).dtype


def _pack(parts: list, batch: tuple) -> np.ndarray:
    """Several results side by side along one last axis (see the module's docstring)."""
    return np.concatenate([p.reshape(batch + (-1,)) for p in parts], axis=-1)


def _unpack(packed, shapes: list) -> list:
    """The results in ``packed``, each reshaped to its trailing shape; arrays or Tensors."""
    batch, start, parts = packed.shape[:-1], 0, []
    for shape in shapes:
        size = math.prod(shape)
        parts.append(reshape(packed[..., start:start + size], batch + tuple(shape)))
        start += size
    return parts


def _recorded(function_class, *args, **kwargs):
    """Run a Function: recorded when an argument is a Tensor, plain numpy otherwise."""
    for arg in args:
        if isinstance(arg, Variable):
            return function_class.apply(*args, **kwargs)
    return function_class.compute(*args, **kwargs)


def _as_vectors(solver, vector: bool, a, b, **kwargs):
    """``solver(a, b)`` where b's last axis holds the vectors even when b has batch dims (the
    gradient of a 1-d b solved against a batch of matrices), which solve would take for a matrix."""
    if not vector or b.ndim == 1:
        return solver(a, b, **kwargs)
    return solver(a, expand_dims(b, -1), **kwargs)[..., 0]


# ---- solving and inverting ----------------------------------------------------------------------

def _solution_grad(grad_b, x, vector: bool):
    """The gradient reaching ``a`` of ``a @ x = b`` (solve, solve_triangular): minus the outer
    product of b's gradient with the solution, per vector or per matrix column."""
    return -(_outer_last(grad_b, x) if vector else matmul(grad_b, _t(x)))


class Solve(Function):
    """x with ``a @ x = b``: b a vector (n,) when 1-d, else matrices (..., n, k), batch
    dimensions broadcast (numpy 2's np.linalg.solve). Gradients: b gets ``solve(a.T, g)``, a gets
    ``-(that) @ x.T``. A singular ``a`` raises LinAlgError."""

    @staticmethod
    def forward(ctx, a, b):
        a_shape, b_shape = np.shape(a), np.shape(b)
        _check_rhs("solve", a_shape, b_shape)
        x = _lapack("solve", _SINGULAR, a_shape, np.linalg.solve, a, b)
        ctx.vector = len(b_shape) == 1
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        need_a, _ = ctx.needs_input_grad
        grad_b = _as_vectors(solve, ctx.vector, _t(a), grad)
        if not need_a:
            return None, grad_b
        grad_a = _solution_grad(grad_b, x, ctx.vector)
        return grad_a, grad_b


def _solve(a, b):
    """x with ``a @ x = b`` for square ``a`` (..., n, n): b a vector (n,) when 1-d, else
    matrices (..., n, k), batch dimensions broadcast, as np.linalg.solve (numpy 2). A singular
    ``a`` raises LinAlgError."""
    return _recorded(Solve, a, b)


solve = primitive("solve", Solve, numpy=np.linalg.solve, public=_solve)


_TRIANGLE_BLOCK = 64  # below this size one LU solve is as fast as splitting further


def _blocked_triangular_solve(t, b, lower: bool):
    """x with ``t @ x = b`` for triangular ``t`` (..., n, n) and b (..., n, k), by halves: solve
    one half, subtract its contribution from the other half's right side (one matrix product),
    solve that. O(n^2 k) in matrix products, where numpy's only solver (LU) is O(n^3); blocks of
    up to _TRIANGLE_BLOCK rows are solved by LU, exact on a triangle."""
    n = t.shape[-1]
    if n <= _TRIANGLE_BLOCK:
        return np.linalg.solve(t, b)
    h = n // 2
    if lower:
        first = _blocked_triangular_solve(t[..., :h, :h], b[..., :h, :], lower)
        second = _blocked_triangular_solve(t[..., h:, h:], b[..., h:, :] - t[..., h:, :h] @ first,
                                           lower)
    else:
        second = _blocked_triangular_solve(t[..., h:, h:], b[..., h:, :], lower)
        first = _blocked_triangular_solve(t[..., :h, :h], b[..., :h, :] - t[..., :h, h:] @ second,
                                          lower)
    return np.concatenate([first, second], axis=-2)


def _triangular_solve(t, b, lower: bool):
    if (np.diagonal(t, axis1=-2, axis2=-1) == 0).any():  # singular: LU would find it per block
        raise np.linalg.LinAlgError("Singular matrix")
    if b.ndim == 1:
        return _blocked_triangular_solve(t, b[:, None], lower)[..., 0]
    return _blocked_triangular_solve(t, b, lower)


class SolveTriangular(Function):
    """x with ``T @ x = b`` where T is the lower (``lower=True``) or upper triangle of ``a``; the
    other triangle is not read and gets no gradient. b as in ``solve``. A zero on the diagonal
    raises LinAlgError. (numpy has no triangular solver: see _blocked_triangular_solve.)"""

    @staticmethod
    def forward(ctx, a, b, lower=False):
        a_shape, b_shape = np.shape(a), np.shape(b)
        _check_rhs("solve_triangular", a_shape, b_shape)
        triangle = np.tril(a) if lower else np.triu(a)
        x = _lapack("solve_triangular", _SINGULAR + " (a zero on the diagonal)", a_shape,
                    _triangular_solve, triangle, np.asarray(b), lower)
        ctx.vector, ctx.lower = len(b_shape) == 1, lower
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        need_a, _ = ctx.needs_input_grad
        grad_b = _as_vectors(solve_triangular, ctx.vector, _t(a), grad, lower=not ctx.lower)
        if not need_a:
            return None, grad_b
        grad_a = _solution_grad(grad_b, x, ctx.vector)
        return (tril(grad_a) if ctx.lower else triu(grad_a)), grad_b


def _solve_triangular(a, b, lower: bool = False):
    """x with ``T @ x = b``, T the lower (``lower=True``) or upper (default, as scipy's) triangle
    of ``a``: the other triangle is not read and gets no gradient. ``b`` is a vector (n,) when
    1-d, else matrices (..., n, k); batch dimensions broadcast."""
    return _recorded(SolveTriangular, a, b, lower=bool(lower))


solve_triangular = primitive("solve_triangular", SolveTriangular, public=_solve_triangular)


class Inv(Function):
    """The inverse of each square matrix; gradient ``-inv.T @ g @ inv.T``. A singular matrix
    raises LinAlgError."""

    @staticmethod
    def forward(ctx, a):
        shape = np.shape(a)
        _square("inv", shape)
        out = _lapack("inv", "the matrix is singular, so it has no inverse", shape,
                      np.linalg.inv, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        inv_t = _t(out)
        return -matmul(matmul(inv_t, grad), inv_t)


inv = primitive("inv", Inv, numpy=np.linalg.inv)


class Det(Function):
    """The determinant of each square matrix; gradient ``g * det(a) * inv(a).T``, which needs
    ``a`` invertible: at a singular matrix backward raises LinAlgError (PyTorch returns the
    adjugate there)."""

    @staticmethod
    def forward(ctx, a):
        _square("det", np.shape(a))
        out = np.linalg.det(a)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return expand_dims(expand_dims(grad * out, -1), -1) * _t(inv(a))


det = primitive("det", Det, numpy=np.linalg.det)


class _Slogdet(Function):
    """sign and log|det| of each square matrix, packed (..., 2); only log|det| has a gradient,
    ``g * inv(a).T`` (needs ``a`` invertible)."""

    @staticmethod
    def forward(ctx, a):
        _square("slogdet", np.shape(a))
        sign, logabsdet = np.linalg.slogdet(a)
        ctx.save_for_backward(a)
        return np.stack([sign, logabsdet], axis=-1)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return expand_dims(expand_dims(grad[..., 1], -1), -1) * _t(inv(a))


@composite(numpy=np.linalg.slogdet)
def slogdet(a) -> SlogdetResult:
    """(sign, log|det|) of each square matrix, as np.linalg.slogdet: a determinant that would
    under- or overflow as a float stays finite in log form. ``sign`` is a constant (no gradient);
    ``logabsdet``'s gradient is ``inv(a).T``, which needs ``a`` invertible."""
    packed = _recorded(_Slogdet, a)
    if not isinstance(packed, Variable):
        return SlogdetResult(packed[..., 0], packed[..., 1])
    # sign(sign) is the sign, and sign is a constant op (no gradient), on any kind of Tensor.
    return SlogdetResult(_sign(packed[..., 0]), packed[..., 1])


# ---- factorisations -----------------------------------------------------------------------------

class Cholesky(Function):
    """The lower-triangular L with ``L @ L.T = a``, reading the lower triangle of ``a`` only.

    Gradient (Murray's): with Phi the lower triangle with a halved diagonal,
    ``P = L^-T Phi(L^T g) L^-1`` is the gradient for a symmetric perturbation, and the lower
    triangle read gets ``Phi(P + P^T)``, the upper 0 (see the module's docstring).
    """

    @staticmethod
    def forward(ctx, a):
        shape = np.shape(a)
        _square("cholesky", shape)
        out = _lapack("cholesky", "the matrix is not positive definite (add a small multiple "
                      "of the identity, or check that it is symmetric)", shape,
                      np.linalg.cholesky, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (low,) = ctx.saved_tensors
        n = low.shape[-1]
        phi = _half_diagonal(n, _dtype(low))
        middle = matmul(_t(low), tril(grad)) * phi  # L's upper triangle is 0: its grad unused
        left = solve_triangular(_t(low), middle, lower=False)  # L^-T Phi(...)
        p = _t(solve_triangular(_t(low), _t(left), lower=False))  # (...) L^-1
        return _one_triangle(p, lower=True)


def _cholesky_public(a, upper: bool = False):
    """The Cholesky factor of each symmetric positive-definite matrix: lower L with
    ``L @ L.T = a`` (reading a's lower triangle), or with ``upper=True`` upper U with
    ``U.T @ U = a`` (reading the upper triangle), as np.linalg.cholesky. The triangle not read
    gets no gradient. A matrix that is not positive definite raises LinAlgError."""
    if upper:
        return _t(_recorded(Cholesky, _t(a)))
    return _recorded(Cholesky, a)


cholesky = primitive("cholesky", Cholesky, numpy=np.linalg.cholesky, public=_cholesky_public)


@composite()
def cholesky_solve(low, b, lower: bool = True):
    """x with ``a @ x = b`` from the Cholesky factor of a (``low``: lower, or upper with
    ``lower=False``), by two triangular solves (scipy's cho_solve); b as in ``solve``."""
    if lower:
        return solve_triangular(_t(low), solve_triangular(low, b, lower=True), lower=False)
    return solve_triangular(low, solve_triangular(_t(low), b, lower=True), lower=False)


def _raw(x):
    return x.data if isinstance(x, Variable) else np.asarray(x)


def _gaps_times(values, x):
    """F * x with F[i, j] = 1 / (values[j] - values[i]) off the diagonal and 0 on it: inf where
    two values are equal (the degenerate case), except where x is also exactly 0, which gives 0,
    so that a loss that does not use the vectors (x = 0) keeps a finite gradient, as in
    PyTorch. The masks are constants: away from ties the rule is x / gap, differentiable."""
    n = values.shape[-1]
    diff = expand_dims(values, -2) - expand_dims(values, -1)
    eye = np.eye(n, dtype=bool)
    mask = eye | ((_raw(diff) == 0) & (_raw(x) == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(mask, 0.0, x / where(mask, 1.0, diff))


def _divided(x, values):
    """x / values, with 0 / 0 taken as 0 (an unused vector at a zero singular value)."""
    mask = (_raw(values) == 0) & (_raw(x) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(mask, 0.0, x / where(mask, 1.0, values))


def _diag_embed(v):
    return expand_dims(v, -1) * np.eye(v.shape[-1], dtype=_dtype(v))


class _Eigh(Function):
    """Eigenvalues (ascending) and eigenvectors, packed (..., n + n * n)."""

    @staticmethod
    def forward(ctx, a, UPLO="L"):  # noqa: N803 - numpy's name
        shape = np.shape(a)
        n = _square("eigh", shape)
        if UPLO not in ("L", "U"):
            raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        w, v = _lapack("eigh", "the eigenvalue iteration did not converge", shape,
                       np.linalg.eigh, a, UPLO)
        ctx.n, ctx.lower = n, UPLO == "L"
        out = _pack([w, v], shape[:-2])
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        n = ctx.n
        w, v = _unpack(out, [(n,), (n, n)])
        grad_w, grad_v = _unpack(grad, [(n,), (n, n)])
        inner = _diag_embed(grad_w) + _gaps_times(w, matmul(_t(v), grad_v))
        p = matmul(matmul(v, inner), _t(v))
        return _one_triangle(p, ctx.lower)


@composite(numpy=np.linalg.eigh)
def eigh(a, UPLO: str = "L") -> EighResult:  # noqa: N803 - numpy's name
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of each symmetric matrix,
    reading its lower (``UPLO='L'``) or upper triangle, as np.linalg.eigh.

    Gradients: eigenvalues' is ``v diag(g) v.T``; eigenvectors' divides by the gaps between
    eigenvalues, so with a repeated eigenvalue it is inf/nan, as PyTorch's (the eigenvectors are
    not unique then). An eigenvector's sign is numpy's choice; a loss that depends on it gets
    the gradient for that choice. The triangle not read gets no gradient.
    """
    if not isinstance(a, Variable):
        return EighResult(*np.linalg.eigh(a, UPLO))
    n = a.shape[-1] if a.ndim else 0
    w, v = _unpack(_Eigh.apply(a, UPLO=UPLO), [(n,), (n, n)])
    return EighResult(w, v)


class _SVD(Function):
    """U, S, Vh of the reduced SVD, packed (..., m*k + k + k*n), k = min(m, n)."""

    @staticmethod
    def forward(ctx, a):
        shape = np.shape(a)
        _matrix("svd", shape)
        u, s, vh = _lapack("svd", "the SVD did not converge", shape, np.linalg.svd, a,
                           full_matrices=False)
        m, n = shape[-2:]
        ctx.dims = (m, n, min(m, n))
        out = _pack([u, s, vh], shape[:-2])
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        m, n, k = ctx.dims
        shapes = [(m, k), (k,), (k, n)]
        u, s, vh = _unpack(out, shapes)
        grad_u, grad_s, grad_vh = _unpack(grad, shapes)
        v, grad_v = _t(vh), _t(grad_vh)
        s_row = expand_dims(s, -2)  # S as a row: x * s_row is x @ diag(S)
        squares = s * s
        ut_gu, vt_gv = matmul(_t(u), grad_u), matmul(_t(v), grad_v)
        inner = (_gaps_times(squares, ut_gu - _t(ut_gu)) * s_row + _diag_embed(grad_s)
                 + _t(s_row) * _gaps_times(squares, vt_gv - _t(vt_gv)))
        grad_a = matmul(matmul(u, inner), vh)
        if m > k:  # the part of grad_u outside U's columns: (I - U U^T) gU S^-1 V^T
            grad_a = grad_a + matmul(_divided(grad_u - matmul(u, ut_gu), s_row), vh)
        if n > k:  # U S^-1 gV^T (I - V V^T)
            grad_a = grad_a + matmul(u, _t(_divided(grad_v - matmul(v, vt_gv), s_row)))
        return grad_a


@composite(numpy=np.linalg.svd)
def svd(a, full_matrices: bool = True, compute_uv: bool = True):
    """The singular value decomposition ``a = U @ diag(S) @ Vh`` of each matrix, S descending,
    as np.linalg.svd (its defaults included). Only the reduced SVD (U (..., m, k), Vh
    (..., k, n), k = min(m, n)) has a gradient: ``full_matrices=True`` is accepted for square
    matrices, where the two agree, and refused for others, whose extra singular vectors are
    not unique. ``compute_uv=False`` gives S alone.

    Gradients: S's is ``U diag(g) Vh``; U's and Vh's divide by the gaps between squared singular
    values (inf/nan with repeated singular values, as PyTorch's) and, for non-square matrices,
    by the singular values (inf for a rank-deficient one). Vector signs are numpy's choice.
    """
    shape = np.shape(a)
    _matrix("svd", shape)
    m, n = shape[-2:]
    if full_matrices and compute_uv and m != n:
        raise ValueError(f"svd: full_matrices=True on matrices of shape {shape} (not square): "
                         "the extra singular vectors are not unique, so they have no gradient; "
                         "pass full_matrices=False for the reduced SVD")
    if not isinstance(a, Variable):
        if not compute_uv:
            return np.linalg.svd(a, compute_uv=False)
        return SVDResult(*np.linalg.svd(a, full_matrices=False))
    k = min(m, n)
    u, s, vh = _unpack(_SVD.apply(a), [(m, k), (k,), (k, n)])
    return SVDResult(u, s, vh) if compute_uv else s


def _copy_lower_to_upper(x):
    return tril(x) + _t(tril(x, -1))


def _qr_square_backward(grad_q, grad_r, q, r):
    """A = QR with R square (m >= n): gA = (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q."""
    m = matmul(r, _t(grad_r)) - matmul(_t(grad_q), q)
    b = grad_q + matmul(q, _copy_lower_to_upper(m))
    return _t(solve_triangular(r, _t(b), lower=False))


class _QR(Function):
    """Q, R of the reduced QR, packed (..., m*k + k*n), k = min(m, n)."""

    @staticmethod
    def forward(ctx, a):
        shape = np.shape(a)
        _matrix("qr", shape)
        q, r = np.linalg.qr(a)
        m, n = shape[-2:]
        ctx.dims = (m, n, min(m, n))
        out = _pack([q, r], shape[:-2])
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        m, n, k = ctx.dims
        shapes = [(m, k), (k, n)]
        q, r = _unpack(out, shapes)
        grad_q, grad_r = _unpack(grad, shapes)
        if m >= n:
            return _qr_square_backward(grad_q, grad_r, q, r)
        # wide: A = [X | Y] with X = Q U square and R = [U | Q^T Y]
        grad_u, grad_v = grad_r[..., :m], grad_r[..., m:]
        grad_x = _qr_square_backward(grad_q + matmul(a[..., m:], _t(grad_v)), grad_u, q,
                                     r[..., :m])
        return concatenate([grad_x, matmul(q, grad_v)], axis=-1)


@composite(numpy=np.linalg.qr)
def qr(a, mode: str = "reduced"):
    """The reduced QR decomposition ``a = Q @ R`` of each matrix (Q (..., m, k) with orthonormal
    columns, R (..., k, n) upper triangular, k = min(m, n)), as np.linalg.qr; ``mode='r'`` gives
    R alone, ``'complete'`` is accepted where it equals the reduced one (m <= n). The gradient
    needs the first k columns of ``a`` independent (R's leading k x k block invertible). Signs
    are numpy's (R's diagonal may be negative)."""
    shape = np.shape(a)
    _matrix("qr", shape)
    m, n = shape[-2:]
    if mode not in ("reduced", "r", "complete") or (mode == "complete" and m > n):
        raise ValueError(f"qr: mode {mode!r} on matrices of shape {shape}: expected 'reduced' "
                         "or 'r' ('complete' only where it equals 'reduced', m <= n: the extra "
                         "columns of a complete Q are not unique, so they have no gradient)")
    k = min(m, n)
    if not isinstance(a, Variable):
        q, r = np.linalg.qr(a)
    else:
        q, r = _unpack(_QR.apply(a), [(m, k), (k, n)])
    return r if mode == "r" else QRResult(q, r)


# ---- norms and products -------------------------------------------------------------------------

class _Norm2(Function):
    """The 2-norm of vectors (Frobenius of matrices): sqrt(sum(x**2)) over ``axis``; its
    gradient ``g * x / norm`` is taken as 0 where the norm is 0 (PyTorch's subgradient)."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        out = np.linalg.norm(x, axis=axis, keepdims=keepdims)
        shape = np.shape(x)
        ctx.axes = None if axis is None else tuple(
            a % len(shape) for a in ((axis,) if np.ndim(axis) == 0 else axis))
        ctx.keep = keepdims
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if ctx.axes is not None and not ctx.keep:
            for a in sorted(ctx.axes):
                out, grad = expand_dims(out, a), expand_dims(grad, a)
        zero = out == 0
        return where(zero, 0.0, x / where(zero, 1.0, out)) * grad


_VECTOR_ORDS = (None, 2, 1, np.inf, -np.inf)
_MATRIX_ORDS = (None, "fro", "nuc")


@composite(numpy=np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims: bool = False):  # noqa: A002 - numpy's name
    """Vector and matrix norms, as np.linalg.norm, for the orders that have gradients here.

    Vectors (1-d ``x`` or an int ``axis``): ``ord`` None or 2 (Euclidean), 1, inf (max |x|),
    -inf (min |x|). Matrices (2-d ``x`` or a pair ``axis``): None or 'fro' (Frobenius), 'nuc'
    (sum of singular values). With ``axis=None`` and ``ord=None`` every element counts (the
    2-norm of the flattened tensor). At 0, the 2-norm's gradient is 0 (PyTorch's subgradient),
    and the 1-norm's uses sign(0) = 0; inf/-inf split the gradient among tied elements (as
    max/min do). Other orders raise a ValueError.
    """
    shape = np.shape(x)
    if axis is None and ord is None:
        return _recorded(_Norm2, x, keepdims=keepdims)
    if axis is None:
        if len(shape) not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-d or 2-d tensor or an axis, got "
                             f"shape {shape}")
        axis = (0,) if len(shape) == 1 else (0, 1)
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    if len(axes) == 1:
        if ord not in _VECTOR_ORDS:
            raise ValueError(f"norm: vector ord={ord!r} is not supported; expected one of "
                             "None, 2, 1, inf, -inf")
        if ord is None or ord == 2:
            return _recorded(_Norm2, x, axis=axes[0], keepdims=keepdims)
        magnitude = _abs(x)
        if ord == 1:
            return _sum(magnitude, axis=axes[0], keepdims=keepdims)
        reduce = _max if ord == np.inf else _min
        return reduce(magnitude, axis=axes[0], keepdims=keepdims)
    if len(axes) != 2 or ord not in _MATRIX_ORDS:
        raise ValueError(f"norm: ord={ord!r} over axes {axis!r} is not supported; expected "
                         "one axis (vector norms) or two with ord None, 'fro' or 'nuc'")
    if ord != "nuc":
        return _recorded(_Norm2, x, axis=axes, keepdims=keepdims)
    rows, cols = (a % len(shape) for a in axes)
    if rows == cols:
        raise ValueError(f"norm: axis {axis!r} names one axis twice")
    order = [a for a in range(len(shape)) if a not in (rows, cols)] + [rows, cols]
    values = svd(x if order == list(range(len(shape))) else transpose(x, tuple(order)),
                 full_matrices=False, compute_uv=False)
    total = _sum(values, axis=-1)
    if keepdims:
        for a in sorted((rows, cols)):
            total = expand_dims(total, a)
    return total


@composite(numpy=np.kron)
def kron(a, b):
    """The Kronecker product, as np.kron: every ``a[i, j] * b`` as a block; the operand with
    fewer dims is read with leading 1s."""
    a_shape, b_shape = np.shape(a), np.shape(b)
    ndim = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    b_shape = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    # a's axes interleaved with b's: (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...), then merged
    a_wide = reshape(a, tuple(v for side in a_shape for v in (side, 1)))
    b_wide = reshape(b, tuple(v for side in b_shape for v in (1, side)))
    return reshape(a_wide * b_wide, tuple(x * y for x, y in zip(a_shape, b_shape)))

