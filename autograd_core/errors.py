"""The library's exception types.

Each also derives from the built-in exception a numpy or PyTorch user would catch for the same
mistake (ValueError for shapes, TypeError for dtypes, RuntimeError for graph misuse), so existing
``except`` clauses keep working.
"""


class AutogradError(Exception):
    """Base class of every error this library raises on purpose."""


class ShapeError(AutogradError, ValueError):
    """An op was given shapes it cannot combine (the message names the op and the shapes)."""


class DTypeError(AutogradError, TypeError):
    """An op or a gradient was given a dtype it cannot use."""


class BackwardError(AutogradError, RuntimeError):
    """The graph cannot be differentiated as asked (freed buffers, missing grad, ...)."""


class AnomalyError(AutogradError, RuntimeError):
    """Anomaly detection found NaN or inf (the message names the op, where it was called from and
    the shapes of its inputs)."""


class GradcheckError(AutogradError, AssertionError):
    """Analytic and numerical gradients disagree; the message names the worst element."""


class StateDictError(AutogradError, ValueError):
    """A state dict does not fit the model or optimizer (the message lists every mismatch)."""


class CheckpointError(AutogradError, ValueError):
    """A saved file cannot be read: truncated, corrupted, not ours, or holding objects."""
