"""Tensor: a numpy array that records the ops applied to it, for reverse-mode differentiation."""

from __future__ import annotations

import numpy as np

from . import numpy_protocol, ops, registry
from .engine import Variable, bump_version, version_of
from .errors import BackwardError, DTypeError, ShapeError
from .grad_mode import is_grad_enabled, set_grad_enabled
from .ops.elementwise import Abs as _Abs
from .ops.elementwise import Add as _Add
from .ops.elementwise import Div as _Div
from .ops.elementwise import Mul as _Mul
from .ops.elementwise import Neg as _Neg
from .ops.elementwise import Pow as _Pow
from .ops.elementwise import Sub as _Sub


def _to_array(data, dtype) -> np.ndarray:
    """Copy ``data`` into a new array. Python floats become float32, as in PyTorch."""
    if isinstance(data, Variable):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.array(data, dtype=dtype)
    array = np.array(data, dtype=dtype)
    if array.dtype == object:
        raise DTypeError(f"Tensor: cannot make a numeric tensor from {type(data).__name__} "
                         f"{data!r:.80}: expected numbers or (nested) sequences of numbers")
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


def _shape_of(value) -> tuple:
    """np.shape, answered directly for arrays and Python numbers (most of an op's inputs):
    np.shape itself is a Python-level function, and this runs once per input of every op."""
    kind = type(value)
    if kind is np.ndarray:
        return value.shape
    return () if kind is float or kind is int or kind is bool else np.shape(value)


def _is_float(dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


def _must_copy(grad: np.ndarray, claimed: set) -> bool:
    """Whether a gradient must be copied before it is kept in a ``.grad``: it shares memory with
    a gradient already handed out in this backward pass (``x + z`` passes one array to both
    inputs) or cannot be written (broadcast views). Otherwise its memory is claimed."""
    owner = grad if grad.base is None else grad.base
    if not grad.flags.writeable or id(owner) in claimed:
        return True
    claimed.add(id(owner))
    return False


class Tensor(Variable):
    """An n-dimensional array of numbers that can carry gradients.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    Tensor([2., 4., 6.])

    ``data`` is copied into a new numpy array: a list of Python floats becomes float32, a numpy
    array keeps its dtype, Python ints become int64 (only floating tensors can require grad).
    """

    __slots__ = ()
    # np.exp(t), np.sum(t), array + t, ...: numpy's functions run our recorded ops on Tensors
    # (see numpy_protocol for which, and what the others do).
    __array_ufunc__ = numpy_protocol.array_ufunc
    __array_function__ = numpy_protocol.array_function
    __hash__ = Variable.__hash__  # == is elementwise, yet tensors stay usable as dict keys

    def __init__(self, data, dtype=None, requires_grad: bool = False, name: str | None = None):
        self.data = _to_array(data, dtype)
        self._grad = None
        self._grad_fn = None
        self._requires_grad = False
        self.name = name
        if requires_grad:
            self.requires_grad_(True)

    # ---- engine hooks ---------------------------------------------------------------------------
    @classmethod
    def _from_op(cls, data, node):
        tensor = Tensor.__new__(Tensor)
        tensor.data = data if type(data) is np.ndarray else np.asarray(data)
        tensor._grad = None
        tensor._grad_fn = node
        tensor._requires_grad = node is not None
        tensor.name = None
        return tensor

    @staticmethod
    def _run_forward(function, ctx, raw, kwargs):
        try:
            return function.forward(ctx, *raw, **kwargs)
        except (ShapeError, np.linalg.LinAlgError):  # already say the op; not a shape problem
            raise
        except ValueError as error:
            shapes = ", ".join(str(np.shape(r)) for r in raw)
            raise ShapeError(f"{function.name()}: {error} (input shapes: {shapes})") from None

    @staticmethod
    def _can_carry_grad(raw) -> bool:
        if type(raw) is np.ndarray:  # the common case first: this runs once per op
            return raw.dtype.kind == "f"
        dtype = raw.dtype if isinstance(raw, np.generic) else np.asarray(raw).dtype
        return dtype.kind == "f"

    @staticmethod
    def _input_shapes(raw, out, edges):
        # Only inputs that get a gradient (an edge) count: a constant's shape does not matter.
        shape = out.shape if type(out) is np.ndarray else _shape_of(out)
        for r, edge in zip(raw, edges):
            if edge is not None and (r.shape if type(r) is np.ndarray else _shape_of(r)) != shape:
                return tuple([None if e is None else _shape_of(r) for r, e in zip(raw, edges)])
        return None

    def _check_can_require_grad(self, where: str) -> None:
        if not _is_float(self.data.dtype):
            raise DTypeError(
                f"{where}: only floating-point tensors can require gradients, but this tensor has "
                f"dtype {self.data.dtype}; convert it first, e.g. Tensor(data, dtype='float32')"
            )

    def _root_grad(self, grad, create_graph: bool):
        shape = self.data.shape
        if grad is None:
            if self.data.size != 1:
                raise BackwardError(
                    f"backward: grad can only be left out for a tensor with one element, but "
                    f"this one has shape {shape}. Pass grad=<array of shape {shape}> (the "
                    f"gradient of your loss with respect to this tensor), or reduce first: "
                    f"t.sum().backward()"
                )
            raw = np.ones_like(self.data)
        else:
            given = grad.data if isinstance(grad, Variable) else np.asarray(grad)
            if not _is_float(given.dtype):
                raise DTypeError(f"backward: grad must be floating-point, got dtype {given.dtype}")
            if given.shape != shape:
                raise ShapeError(f"backward: grad has shape {given.shape} but the tensor has shape "
                                 f"{shape}; they must be equal")
            if create_graph and isinstance(grad, Tensor):
                with set_grad_enabled(True):
                    return ops.clone(grad)  # the caller keeps their tensor; the graph goes on
            raw = np.array(given, dtype=self.data.dtype)  # a copy: the caller keeps their array
        return Tensor._from_op(raw, None) if create_graph else raw

    def _fit_grad(self, grad):
        """A gradient with this tensor's shape checked and its dtype matched."""
        if grad.shape != self.data.shape:
            raise ShapeError(f"backward: a gradient of shape {grad.shape} reached a tensor of "
                             f"shape {self.data.shape} (a custom Function's backward returned a "
                             f"wrongly shaped gradient?)")
        return grad if grad.dtype == self.data.dtype else grad.astype(self.data.dtype)

    def _capture(self, grad, create_graph: bool, claimed: set):
        if create_graph:
            # One gradient Tensor can reach several leaves (x + z): each gets its own copy, still
            # in the graph, so that changing x.grad never changes z.grad.
            if not isinstance(grad, Tensor):
                grad = Tensor._from_op(np.asarray(grad), None)
            grad = self._fit_grad(grad)
            if _must_copy(grad.data, claimed):
                with set_grad_enabled(True):
                    grad = ops.clone(grad)
                claimed.add(id(grad.data))
            return grad
        raw = self._fit_grad(grad.data if isinstance(grad, Tensor) else np.asarray(grad))
        return Tensor._from_op(raw.copy() if _must_copy(raw, claimed) else raw, None)

    def _accumulate_grad(self, grad, create_graph: bool, claimed: set) -> None:
        current = self._grad
        if current is None:
            self._grad = self._capture(grad, create_graph, claimed)
        elif not create_graph and current._grad_fn is None and current.data.flags.writeable \
                and current.data.dtype == self.data.dtype:
            raw = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
            current.data += self._fit_grad(raw)  # in place: no new buffer per accumulation
            bump_version(current.data)
        else:
            self._grad = current + self._capture(grad, create_graph, claimed)

    def _check_grad(self, value):
        """``t.grad = value``: None, or a floating Tensor/array of this tensor's shape (cast to
        its dtype if need be, as a gradient always has its tensor's dtype); anything else is
        refused here, rather than failing later inside an optimizer step."""
        if isinstance(value, Tensor):
            raw = value.data
        elif isinstance(value, (np.ndarray, np.generic)):
            raw = np.asarray(value)
        else:
            raise TypeError(f"grad: expected None or a Tensor/numpy array of shape "
                            f"{self.data.shape}, got {type(value).__name__} {value!r:.40}")
        if isinstance(value, Tensor) and raw.dtype == self.data.dtype \
                and raw.dtype.kind == "f" and raw.shape == self.data.shape:
            return value  # kept as given, as PyTorch keeps the tensor assigned (the common case:
            # checked first, as formatting the message below costs more than the assignment)
        what = (f"grad: a gradient of shape {raw.shape} and dtype {raw.dtype} cannot be the "
                f"gradient of a tensor of shape {self.data.shape} and dtype {self.data.dtype}")
        if raw.shape != self.data.shape:
            raise ShapeError(f"{what}: expected the same shape")
        if not _is_float(raw.dtype):
            raise DTypeError(f"{what}: expected a floating-point dtype")
        if isinstance(value, Tensor):
            return ops.astype(value, self.data.dtype) if value._requires_grad else \
                Tensor._from_op(raw.astype(self.data.dtype), None)
        return Tensor._from_op(np.array(raw, dtype=self.data.dtype), None)  # a copy

    @staticmethod
    def _from_hook(result, create_graph: bool, shape):
        raw = result.data if isinstance(result, Variable) else np.asarray(result)
        if raw.shape != shape:
            raise ShapeError(f"register_hook: a hook returned a gradient of shape {raw.shape} "
                             f"for a tensor of shape {shape}; it must return the same shape "
                             "(or None to keep the gradient)")
        if not create_graph:
            return raw
        return result if isinstance(result, Tensor) else Tensor._from_op(raw, None)

    # ---- array-like properties ------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        """The tensor with its axes reversed."""
        return ops.transpose(self)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.data, dtype=dtype)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a Python "
                             f"number, this one has shape {self.data.shape}")
        return self.data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor as its number; a larger tensor takes
        only the empty spec (its repr)."""
        if self.data.size == 1:
            return format(self.data.item(), spec)
        if spec:
            raise TypeError(f"format: spec {spec!r} needs a tensor with one element, this one "
                            f"has shape {self.data.shape}; format t.item() or t.data instead")
        return str(self)

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.data.shape} is "
                             "ambiguous; use .any() or .all()")
        return bool(self.data.item())

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._from_op(self.data, None)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.data.dtype != np.float32 or self.data.size == 0:
            extras.append(f"dtype={self.data.dtype}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn={self._grad_fn!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "Tensor(" + ", ".join([body] + extras) + ")"

    # ---- in place: t[i] = v, t += v, t -= v, t *= v, t /= v ------------------------------------
    # These change self.data itself and are not recorded, so on a tensor that requires grad they
    # are allowed only under no_grad() (parameter updates), as in PyTorch. Each bumps the version
    # counter of the memory, so that a backward that needs the old values raises instead of
    # using the new ones.
    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return version_of(self.data)

    def _check_inplace(self, op: str) -> None:
        if not self.data.flags.writeable:
            raise ValueError(
                f"{op}: this tensor's data (shape {self.data.shape}) is read-only, e.g. a "
                "broadcast view or a read-only numpy array, so it cannot be changed in place; "
                "expected writable memory: change a copy instead (t = t.clone())"
            )
        if self._requires_grad and is_grad_enabled():
            raise BackwardError(
                f"{op}: in-place change of a tensor that requires grad is not recorded, so it "
                "would make gradients wrong; do it under no_grad() (e.g. a parameter update), "
                "or build a new tensor (t = t + v, where(), concatenate())"
            )

    def __setitem__(self, index, value) -> None:
        self._check_inplace("setitem")
        if isinstance(value, Variable):
            value = value.data
        self.data[ops.shape._raw_index(index)] = value
        bump_version(self.data)

    def _inplace(self, ufunc, other, op: str):
        self._check_inplace(op)
        if isinstance(other, Variable):
            other = other.data
        try:
            ufunc(self.data, other, out=self.data, casting="same_kind")
        except ValueError as error:
            raise ShapeError(f"{op}: {error} (tensor shape {self.data.shape}, "
                             f"operand shape {np.shape(other)}; an in-place result must keep "
                             "the tensor's shape)") from None
        bump_version(self.data)
        return self

    def __iadd__(self, other):
        return self._inplace(np.add, other, "+=")

    def __isub__(self, other):
        return self._inplace(np.subtract, other, "-=")

    def __imul__(self, other):
        return self._inplace(np.multiply, other, "*=")

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other, "/=")

    # ---- operators ------------------------------------------------------------------------------
    # The operators call their op's apply directly: self is known to be a Tensor.
    def __add__(self, other):
        return _Add.apply(self, other)

    def __radd__(self, other):
        return _Add.apply(other, self)

    def __sub__(self, other):
        return _Sub.apply(self, other)

    def __rsub__(self, other):
        return _Sub.apply(other, self)

    def __mul__(self, other):
        return _Mul.apply(self, other)

    def __rmul__(self, other):
        return _Mul.apply(other, self)

    def __truediv__(self, other):
        return _Div.apply(self, other)

    def __rtruediv__(self, other):
        return _Div.apply(other, self)

    def __pow__(self, other):
        return _Pow.apply(self, other)

    def __rpow__(self, other):
        return _Pow.apply(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return _Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _Abs.apply(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # Comparisons and logic give bool tensors, which are never differentiated.
    def _compare(self, other, compare):
        other = other.data if isinstance(other, Variable) else other
        return Tensor._from_op(compare(self.data, other), None)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __and__(self, other):
        return self._compare(other, np.logical_and)

    def __or__(self, other):
        return self._compare(other, np.logical_or)

    def __rand__(self, other):
        return self._compare(other, np.logical_and)

    def __ror__(self, other):
        return self._compare(other, np.logical_or)

    def __invert__(self):
        return Tensor._from_op(np.logical_not(self.data), None)

    # ---- methods: every op declared with method=True is attached below the class ---------------
    def flatten(self):
        return ops.reshape(self, -1)

    def transpose(self, *axes):
        """Permute axes: ``t.transpose(1, 0, 2)`` or ``t.transpose((1, 0, 2))``; none reverses."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = axes[0]
        return ops.transpose(self, axes or None)

    def permute(self, *dims):
        """PyTorch's name for transpose with explicit axes."""
        return self.transpose(*dims)


Tensor._family = Tensor
for _op in registry.OPS.values():
    if _op.method and not hasattr(Tensor, _op.method):
        setattr(Tensor, _op.method, _op.function)
del _op


# ---- creating tensors ---------------------------------------------------------------------------

def tensor(data, dtype=None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """``Tensor(...)`` spelled as PyTorch's ``torch.tensor``."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, name=name)


def _filled(shape, fill, dtype, requires_grad) -> Tensor:
    return Tensor(np.full(shape, fill, dtype=dtype or np.float32), requires_grad=requires_grad)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    return _filled(ops.shape._shape_arg(shape), 0, dtype, requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` says otherwise)."""
    return _filled(ops.shape._shape_arg(shape), 1, dtype, requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    return _filled(shape, fill_value, dtype, requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.shape(t), 0, dtype or np.asarray(t).dtype, requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.shape(t), 1, dtype or np.asarray(t).dtype, requires_grad)
