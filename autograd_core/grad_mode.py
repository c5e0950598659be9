"""Whether ops record the graph: ``no_grad``, ``enable_grad`` and ``set_grad_enabled``.

The mode is per thread, as in PyTorch: turning recording off in one thread never changes what
another thread records. Each of the three works as a context manager and as a decorator.
"""

import functools
import threading

# One entry per setting of a thread that is away from its default (recording off here, anomaly
# detection on, forward-mode levels open); while it is empty no thread is in any special mode,
# and the ops read this one global instead of three thread-local settings (a read of a
# threading.local attribute costs about 600 instructions, as much as the rest of a Scalar op's
# checks).
_special: list = []


class _AwayToken:
    """Held by a thread's setting while it is away from its default, as one entry of _special:
    made on leaving the default, dropped on coming back, and also dropped with the thread's
    local values when a thread ends while away (otherwise its entry would stay, and every op
    would take the slow checks for good)."""

    __slots__ = ()

    def __init__(self):
        _special.append(None)  # list append and pop are atomic: threads need no lock

    def __del__(self, _pop=_special.pop):  # bound here: module globals may be gone at exit
        _pop()


class _Setting(threading.local):
    """A per-thread setting that keeps _special up to date as it leaves its default and
    comes back."""

    def _away(self) -> bool:
        raise NotImplementedError

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        values = self.__dict__  # this thread's
        if self._away():
            if "_token" not in values:
                values["_token"] = _AwayToken()
        elif "_token" in values:
            del values["_token"]


class _ThreadState(_Setting):
    enabled = True  # class attribute: every new thread starts with recording on

    def _away(self) -> bool:
        return not self.enabled


_state = _ThreadState()


def is_grad_enabled() -> bool:
    """True when ops in this thread record the graph for backward."""
    return _state.enabled


class _Switch:
    """A per-thread on/off setting (``state.enabled``) switched at once when called; used with
    ``with`` or as a decorator it restores the previous setting afterwards."""

    state = None  # a threading.local with an ``enabled`` attribute

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = self.state.enabled
        self.state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.state.enabled = self.previous
        return False

    def __call__(self, func):
        # As a decorator the switch in __init__ happened at decoration time: undo it, and switch
        # on every call instead.
        self.state.enabled = self.previous
        switch, mode = type(self), self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with switch(mode):
                return func(*args, **kwargs)

        return wrapper


class set_grad_enabled(_Switch):  # noqa: N801 - lower case to read like PyTorch's
    """Turn recording on or off in this thread.

    Called plainly it switches the mode at once (``set_grad_enabled(False)``); used with ``with``
    or as a decorator it restores the previous mode afterwards::

        with set_grad_enabled(False):
            y = x * 2          # not recorded
    """

    state = _state


class _FixedMode:
    """Shared body of no_grad, enable_grad (and anomaly's detect_anomaly): a context manager
    and decorator that holds one setting of a _Switch inside, and changes nothing until then."""

    mode = True
    switch = set_grad_enabled

    def __enter__(self):
        state = self.switch.state
        self.previous = state.enabled
        state.enabled = self.mode
        return self

    def __exit__(self, *exc_info):
        self.switch.state.enabled = self.previous
        return False

    def __call__(self, func):
        switch, mode = self.switch, self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with switch(mode):
                return func(*args, **kwargs)

        return wrapper


class no_grad(_FixedMode):  # noqa: N801
    """Record nothing inside: for inference and for in-place parameter updates.

    >>> x = ag.Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    mode = False


class enable_grad(_FixedMode):  # noqa: N801
    """Record inside, even within a ``no_grad`` block."""

    mode = True
