"""Numerical checks of analytic gradients, for our own ops and for users' custom ones.

``gradcheck`` compares the Jacobian that backward computes with central differences in float64;
``gradgradcheck`` does the same for the backward pass itself (second derivatives).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .engine import Variable, grad
from .errors import GradcheckError
from .scalar import Scalar
from .tensor import Tensor


def _as_tuple(values) -> tuple:
    if isinstance(values, tuple):
        return values
    if isinstance(values, list):
        return tuple(values)
    return (values,)


def _float64_copy(value):
    """A float64 leaf copy of a differentiable input; anything else is passed through."""
    if isinstance(value, Tensor) and np.issubdtype(value.dtype, np.floating):
        return Tensor(value.data, dtype=np.float64, requires_grad=value.requires_grad)
    if isinstance(value, Scalar):
        return Scalar(value.data, requires_grad=value.requires_grad)
    return value


def _values(output) -> np.ndarray:
    if not isinstance(output, Variable):
        raise TypeError(f"gradcheck: the function must return Tensors or Scalars, got "
                        f"{type(output).__name__}")
    return np.array(output.data, dtype=np.float64)


def _perturbed(x: Variable, index: tuple, delta: float):
    """Context: x's element at ``index`` shifted by ``delta`` (in place), then restored."""

    class _Shift:
        def __enter__(self):
            if isinstance(x, Scalar):
                self.original = x.data
                x.data = self.original + delta
            else:
                self.original = x.data[index]
                x.data[index] = self.original + delta

        def __exit__(self, *exc_info):
            if isinstance(x, Scalar):
                x.data = self.original
            else:
                x.data[index] = self.original

    return _Shift()


def _numeric_jacobians(fn, args, wrt, eps) -> list:
    """[output][input] -> array of shape out.shape + in.shape, by central differences."""
    # Not under no_grad: the function may itself differentiate (as gradgradcheck's does).
    shapes = [_values(o).shape for o in _as_tuple(fn(*args))]
    jacobians = [[np.zeros(s + np.shape(args[i].data)) for i in wrt] for s in shapes]
    for column, i in enumerate(wrt):
        for index in np.ndindex(*np.shape(args[i].data)):
            with _perturbed(args[i], index, eps):
                plus = [_values(o) for o in _as_tuple(fn(*args))]
            with _perturbed(args[i], index, -eps):
                minus = [_values(o) for o in _as_tuple(fn(*args))]
            for row, (p, m) in enumerate(zip(plus, minus)):
                jacobians[row][column][(...,) + index] = (p - m) / (2 * eps)
    return jacobians


def _analytic_jacobians(outputs, args, wrt) -> list:
    inputs = [args[i] for i in wrt]
    jacobians = []
    for out in outputs:
        shape = np.shape(out.data)
        rows = [np.zeros(shape + np.shape(x.data)) for x in inputs]
        if out.requires_grad:
            for index in np.ndindex(*shape):
                seed = np.zeros(shape)
                seed[index] = 1
                seed = Scalar(1.0) if isinstance(out, Scalar) else seed
                grads = grad(out, inputs, grad_outputs=[seed], retain_graph=True,
                             allow_unused=True)
                for column, g in enumerate(grads):
                    if g is not None:
                        rows[column][index] = np.asarray(g.data if isinstance(g, Variable) else g)
        jacobians.append(rows)
    return jacobians


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Check the gradients of ``fn(*inputs)`` against central differences in float64.

    Every Tensor/Scalar input that requires grad is checked, on a float64 copy; other inputs are
    passed unchanged. ``fn`` may return one Tensor/Scalar or a tuple of them. Returns True, or
    raises :class:`GradcheckError` naming the worst element: which input and output, the index,
    the analytic and the numerical value (returns False instead if ``raise_exception=False``).

    >>> gradcheck(lambda x: (x * x).sum(), [Tensor([1.0, 2.0], requires_grad=True)])
    True
    """
    args = tuple(_float64_copy(v) for v in _as_tuple(inputs))
    wrt = [i for i, v in enumerate(args) if isinstance(v, Variable) and v.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    outputs = _as_tuple(fn(*args))
    for out in outputs:
        _values(out)
    analytic = _analytic_jacobians(outputs, args, wrt)
    numeric = _numeric_jacobians(fn, args, wrt, eps)
    worst = None
    for row, (a_rows, n_rows) in enumerate(zip(analytic, numeric)):
        for column, (a, n) in enumerate(zip(a_rows, n_rows)):
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
            excess = np.where(np.isnan(a) != np.isnan(n), np.inf, np.nan_to_num(excess, nan=0.0))
            if excess.size and excess.max() > 0:
                flat = int(np.argmax(excess))
                if worst is None or excess.flat[flat] > worst[0]:
                    index = np.unravel_index(flat, a.shape)
                    worst = (excess.flat[flat], row, wrt[column], index, a[index], n[index])
    if worst is None:
        return True
    _, row, i, index, a_value, n_value = worst
    out_ndim = np.ndim(outputs[row].data)
    message = (
        f"gradcheck: gradient of output {row} element {tuple(int(k) for k in index[:out_ndim])} "
        f"with respect to input {i} element {tuple(int(k) for k in index[out_ndim:])}: "
        f"analytic {a_value:.6g} vs numeric {n_value:.6g} "
        f"(allowed difference atol={atol} + rtol={rtol} * |numeric|)"
    )
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(fn: Callable, inputs, grad_outputs: Sequence | None = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, v) -> v^T d fn / d inputs.

    ``grad_outputs`` (the v, one per output) are drawn at random (seeded) when not given; they
    take part in the check too, as they would in a double-backward through a loss.
    """
    args = tuple(_float64_copy(v) for v in _as_tuple(inputs))
    outputs = _as_tuple(fn(*args))
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = [
            Scalar(float(rng.standard_normal())) if isinstance(o, Scalar)
            else Tensor(rng.standard_normal(np.shape(o.data)), dtype=np.float64, requires_grad=True)
            for o in outputs
        ]
    vs = tuple(_float64_copy(v) for v in _as_tuple(grad_outputs))
    if len(vs) != len(outputs):
        raise ValueError(f"gradgradcheck: got {len(vs)} grad_outputs for {len(outputs)} "
                         "outputs of fn; pass one per output")
    n = len(args)

    def first_derivatives(*all_args):
        xs, v = all_args[:n], all_args[n:]
        outs = _as_tuple(fn(*xs))
        wrt = [x for x in xs if isinstance(x, Variable) and x.requires_grad]
        pairs = [(o, g) for o, g in zip(outs, v) if o.requires_grad]
        if not pairs:
            return tuple(_zeros_like(x) for x in wrt)
        grads = grad([o for o, _ in pairs], wrt, grad_outputs=[g for _, g in pairs],
                     create_graph=True, allow_unused=True)
        return tuple(_zeros_like(x) if g is None else g for g, x in zip(grads, wrt))

    return gradcheck(first_derivatives, args + vs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def _zeros_like(x):
    if isinstance(x, Scalar):
        return Scalar(0.0, requires_grad=False)
    return Tensor(np.zeros(x.shape, dtype=x.dtype))
