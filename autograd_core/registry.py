"""Lists of every built-in op, which the test suite walks so that no op goes untested.

``PRIMITIVES[family]`` maps an op name to its Function subclass ("tensor" or "scalar");
``COMPOSITES`` maps a name to a public function built only from primitives (mean, var, stack,
...), whose gradients therefore need no backward code of their own.
"""

PRIMITIVES: dict[str, dict[str, type]] = {"tensor": {}, "scalar": {}}
COMPOSITES: dict[str, object] = {}


def primitive(family: str):
    """Class decorator: register a built-in Function of ``family`` under its class name."""

    def register(cls):
        table = PRIMITIVES[family]
        if cls.__name__ in table:
            raise ValueError(f"{family} primitive {cls.__name__} is registered twice")
        table[cls.__name__] = cls
        return cls

    return register


def composite(func):
    """Function decorator: register a public op composed from primitives."""
    COMPOSITES[func.__name__] = func
    return func
