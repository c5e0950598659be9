"""Anomaly detection: stop at the first op whose forward or backward produces NaN or inf.

Off by default, and then it costs one flag check per op. Turned on (per thread, like grad
mode), every op's result and every gradient a backward rule returns are checked; the first
non-finite one raises an :class:`AnomalyError` naming the op, the line of user code that called
it and the shapes of its inputs:

>>> w = ag.Tensor([1.0, 0.0], requires_grad=True)
>>> with detect_anomaly():
...     loss = w.log().sum()
...     loss.backward()
Traceback (most recent call last):
    ...
autograd_core.errors.AnomalyError: Log produced inf in its forward result (output shape (2,); ...

A forward result is anomalous when it holds NaN, or inf computed from finite inputs (an
overflow); inf that merely flows through (a ``-inf`` mask, ``logsumexp`` of a ``-inf`` row) is
left alone, NaN never. Any NaN or inf in a gradient is anomalous. While on, every recorded node
also remembers where it was created (for backward's messages) and a checksum of the arrays it
saved, so that writing into a saved array through ``.data`` or ``numpy()``, which the version
counters cannot see, is reported as well. That bookkeeping makes it slow: use it to debug.
"""

from __future__ import annotations

import math
import os
import sys
import zlib

import numpy as np

from .errors import AnomalyError, BackwardError
from .grad_mode import _FixedMode, _Setting, _Switch


class _ThreadState(_Setting):
    enabled = False  # class attribute: every new thread starts with detection off

    def _away(self) -> bool:
        return bool(self.enabled)


_state = _ThreadState()

# Frames in these folders are the library's; the first frame outside them is the user's code.
_LIBRARY_DIRS = tuple(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + name
                      + os.sep for name in ("autograd_core", "nn"))


def is_anomaly_enabled() -> bool:
    """True when anomaly detection is on in this thread."""
    return _state.enabled


class set_detect_anomaly(_Switch):  # noqa: N801 - lower case to read like PyTorch's
    """Turn anomaly detection on or off in this thread.

    Called plainly it switches at once (``set_detect_anomaly(True)``); used with ``with`` or as
    a decorator it restores the previous setting afterwards.
    """

    state = _state


class detect_anomaly(_FixedMode):  # noqa: N801
    """Anomaly detection on inside a ``with`` block, or in every call of a function decorated
    with ``@detect_anomaly()``.

    >>> with detect_anomaly():
    ...     y = ag.Tensor([0.0]).log()
    Traceback (most recent call last):
        ...
    autograd_core.errors.AnomalyError: Log produced inf in its forward result ...
    """

    mode = True
    switch = set_detect_anomaly


# ---- checks, called by the engine only while detection is on ------------------------------------

def user_location() -> str:
    """``file:line`` of the innermost caller outside autograd_core and nn (the user's code)."""
    frame = sys._getframe(1)
    outermost = frame
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS):
            return f"{filename}:{frame.f_lineno}"
        outermost = frame
        frame = frame.f_back
    return f"{outermost.f_code.co_filename}:{outermost.f_lineno}"


def _problem(value) -> str | None:
    """'NaN', 'inf' or None (finite) for an array, a number, or a Tensor/Scalar."""
    value = getattr(value, "data", value)
    if isinstance(value, float):
        return None if math.isfinite(value) else ("NaN" if math.isnan(value) else "inf")
    array = np.asarray(value)
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return None
    return "NaN" if np.isnan(array).any() else "inf"


def _shapes(raw) -> str:
    return ", ".join(str(np.shape(r)) for r in raw) or "none"


def check_forward(function, raw, out) -> None:
    """Raise if ``out`` holds NaN, or inf that the inputs ``raw`` did not already hold."""
    problem = _problem(out)
    if problem is None:
        return
    inputs = [(i, _problem(r)) for i, r in enumerate(raw)]
    inputs = [(i, p) for i, p in inputs if p is not None]
    if problem == "inf" and inputs:
        return  # inf passed on, not produced here
    cause = (f"its input {inputs[0][0]} already held {inputs[0][1]}" if inputs
             else "all of its inputs were finite")
    raise AnomalyError(
        f"{function.name()} produced {problem} in its forward result (output shape "
        f"{np.shape(out)}; input shapes {_shapes(raw)}; {cause}), called at "
        f"{user_location()}. Anomaly detection stopped here because detect_anomaly() is on."
    )


def remember(node, raw) -> None:
    """Keep where ``node`` was created, its input shapes and checksums of what it saved."""
    node._anomaly = (user_location(), _shapes(raw), _checksums(node))


def _checksums(node) -> tuple:
    return tuple(zlib.crc32(np.ascontiguousarray(value)) if isinstance(value, np.ndarray)
                 else None for value in node._saved or ())


def _origin(node) -> tuple[str, str]:
    """(where the node was created, its input shapes) as remembered, or placeholders."""
    remembered = node.__dict__.get("_anomaly")
    if remembered is None:
        return ("an unknown place (the forward pass ran with anomaly detection off; run it under "
                "detect_anomaly() too to see where)", "unknown")
    return remembered[0], remembered[1]


def check_saved(node) -> None:
    """Raise if an array the node saved was written into since (bypassing version counters)."""
    remembered = node.__dict__.get("_anomaly")
    if remembered is None or node._saved is None:
        return
    for value, before in zip(node._saved, remembered[2]):
        if before is not None and zlib.crc32(np.ascontiguousarray(value)) != before:
            raise BackwardError(
                f"{node.name()}: a tensor of shape {np.shape(value)} that it saved for "
                f"backward was modified in place after the forward pass (by writing into its "
                f"numpy array), so its gradient would be wrong. The op was called at "
                f"{remembered[0]}. Modify a copy instead (t = t.clone())."
            )


def check_backward(node, grad, input_grads) -> None:
    """Raise if the gradients ``node.backward`` returned hold NaN or inf."""
    for i, input_grad in enumerate(input_grads):
        if input_grad is None:
            continue
        problem = _problem(input_grad)
        if problem is None:
            continue
        where, shapes = _origin(node)
        incoming = _problem(grad)
        cause = (f"the gradient flowing into it already held {incoming}" if incoming
                 else "the gradient flowing into it was finite")
        raise AnomalyError(
            f"{node.name()}.backward produced {problem} in the gradient of its input {i} "
            f"(gradient shape {np.shape(getattr(input_grad, 'data', input_grad))}; input shapes "
            f"{shapes}; {cause}). The op was called at {where}."
        )
