"""The op table: every built-in op, declared once, and everything made from that declaration.

An op is declared next to its rule (in ``ops/``) with :func:`primitive` (a :class:`Function`
subclass: forward and backward) or :func:`composite` (a public function composed from
primitives, which needs no backward of its own). The declaration makes, in one place:

- the public function (``ag.exp``): records on Tensors and Scalars, computes plain numpy on
  arrays (and plain floats on floats), so that backward rules written with it run on all four;
- the Tensor method (``t.exp()``) and, for primitives with a float kernel, the Scalar method;
- the numpy functions that dispatch to it on Tensors (``np.exp(t)``, see ``numpy_protocol``);
- the entry the test suite walks (``OPS``), so that no op goes untested.

``PRIMITIVES`` and ``COMPOSITES`` are views of ``OPS`` by kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One public op and what was made from its declaration."""

    name: str                      # ag.<name>
    function: Callable             # the public function
    primitive: type | None         # its Function subclass; None for a composite
    numpy: tuple = ()              # numpy functions that run it when given a Tensor
    method: str | None = None      # the Tensor method, if any
    scalar: bool = False           # also a Scalar method (a primitive with a float kernel)
    kind: str = "primitive"        # "primitive", "composite", or "untracked" (no gradient)


OPS: dict[str, Op] = {}
PRIMITIVES: dict[str, type] = {}   # Function subclass name -> class, for every primitive
COMPOSITES: dict[str, Callable] = {}
NUMPY: dict = {}                   # numpy function -> our public function (numpy_protocol)


def _register(op: Op) -> None:
    """Add ``op`` to the tables, after checking it against them (nothing is added on error)."""
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is declared twice")
    for np_func in op.numpy:
        if np_func in NUMPY:
            raise ValueError(f"np.{np_func.__name__} would dispatch to two ops: {op.name!r} and "
                             f"{NUMPY[np_func].__name__!r}; declare it with one of them only")
    OPS[op.name] = op
    if op.kind == "composite":
        COMPOSITES[op.name] = op.function
    elif op.kind == "primitive":
        PRIMITIVES.setdefault(op.primitive.__name__, op.primitive)
    for np_func in op.numpy:
        NUMPY[np_func] = op.function


def _numpy_tuple(numpy) -> tuple:
    if numpy is None:
        return ()
    return tuple(numpy) if isinstance(numpy, (tuple, list)) else (numpy,)


def primitive(name: str, function_class: type, numpy=None, method: bool | str = False,
              public: Callable | None = None) -> Callable:
    """Declare ``function_class`` (a Function) as the op ``name``; return its public function.

    The public function calls ``function_class.apply`` when any positional argument is a Tensor
    or Scalar, and its plain computation (``function_class.compute``) otherwise. Pass ``public``
    to write the public function by hand (argument checks, other signatures); it is registered
    as it is. ``method=True`` makes a Tensor method of the same name (a string: another name).
    """
    from .engine import Variable  # the engine imports nothing from here: no cycle at run time

    if public is None:
        apply, compute = function_class.apply, function_class.compute

        def public(*args, **kwargs):
            for arg in args:
                if isinstance(arg, Variable):
                    return apply(*args, **kwargs)
            return compute(*args, **kwargs)

        public.__name__ = public.__qualname__ = name
        public.__module__ = function_class.__module__
        public.__doc__ = function_class.__doc__
        public.__wrapped__ = function_class.forward  # help() shows forward's arguments
    op = Op(name, public, function_class, _numpy_tuple(numpy),
            (name if method is True else method) or None,
            scalar=getattr(function_class, "scalar_kernel", None) is not None)
    _register(op)
    return public


def composite(numpy=None, method: bool | str = False) -> Callable:
    """Function decorator: declare a public op composed from primitives (its name is the
    function's). Its gradients come from the primitives it calls."""

    def declare(func):
        _register(Op(func.__name__, func, None, _numpy_tuple(numpy),
                     (func.__name__ if method is True else method) or None, kind="composite"))
        return func

    return declare


def untracked(numpy=None, method: bool | str = False) -> Callable:
    """Function decorator: a public function whose result carries no gradient (indices,
    comparisons, rounding): listed so that numpy's functions dispatch to it on Tensors."""

    def declare(func):
        _register(Op(func.__name__, func, None, _numpy_tuple(numpy),
                     (func.__name__ if method is True else method) or None, kind="untracked"))
        return func

    return declare


def functions(module_name: str) -> dict[str, Callable]:
    """The public functions declared in one module (for its ``__all__``)."""
    return {op.name: op.function for op in OPS.values()
            if getattr(op.function, "__module__", None) == module_name}
