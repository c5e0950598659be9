"""Module and Parameter: the containers every layer and model is built from.

A Module holds Parameters (Tensors that require grad) and other Modules as attributes; assigning
one registers it, so ``parameters()``, ``named_parameters()``, ``state_dict()`` and ``train()`` /
``eval()`` reach the whole tree without the layer author listing anything::

    class TwoLayer(Module):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(2, 16, rng=0)
            self.out = Dense(16, 3, rng=1)

        def forward(self, x):
            return self.out(relu(self.hidden(x)))

    scores = TwoLayer()(np.ones((5, 2), dtype=np.float32))    # shape (5, 3)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from autograd_core import Tensor, is_grad_enabled, no_grad
from autograd_core.compiler import trace as _compile_trace
from autograd_core.engine import RemovableHandle
from autograd_core.errors import DTypeError, StateDictError

HookHandle = RemovableHandle  # the name nn exported before: one handle class for every hook


class Parameter(Tensor):
    """A Tensor that a Module trains: always a leaf that requires grad.

    Lists of Python floats become float32; numpy arrays keep their (floating) dtype.
    """

    __slots__ = ()

    def __init__(self, data, dtype=None, name: str | None = None):
        super().__init__(data, dtype=dtype, requires_grad=True, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


class Module:
    """Base class of layers and models: subclass it, assign parts in ``__init__``, write
    ``forward``; call the module to run it."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    # ---- registration --------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() in __init__ "
                                 f"before assigning attributes (assigning {name!r})")
        if name in self.__dict__.get("_buffers", ()):
            # A registered buffer keeps being a buffer: a new array or Tensor replaces its
            # values (None removes it), so it stays in state_dict() and nn.save
            if value is None:
                del self._buffers[name]
            else:
                self._buffers[name] = _as_buffer(type(self).__name__, name, value)
                value = self._buffers[name]
            object.__setattr__(self, name, value)
            return
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, Module) for v in value):
            value = ModuleList(value)
        # Replacing a registered part with something that cannot be registered would drop it
        # from parameters(), state_dict(), the optimizer and nn.save without a word: refused,
        # as PyTorch does (None still removes it on purpose).
        if name in self._parameters and value is not None and not isinstance(
                value, (Parameter, Module)):
            raise TypeError(
                f"{type(self).__name__}: cannot assign a {type(value).__name__} to the parameter "
                f"{name!r}: it would no longer be trained or saved. Change its values in place "
                f"(with no_grad(): module.{name}[...] = new_values, or module.{name}.data = "
                f"array), assign an nn.Parameter, or assign None to remove it")
        if name in self._modules and value is not None and not isinstance(
                value, (Parameter, Module)):
            raise TypeError(
                f"{type(self).__name__}: cannot assign a {type(value).__name__} to the submodule "
                f"{name!r}: its parameters would silently leave the model. Assign a Module, or "
                "None to remove it")
        # A replacement of the same kind keeps its place (the order of parameters() and so of
        # the optimizer's state and of state_dict()); anything else is unregistered first.
        if not (isinstance(value, Parameter) and name in self._parameters):
            self._parameters.pop(name, None)
        if not (isinstance(value, Module) and name in self._modules):
            self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value) -> None:
        """Keep ``value`` (an array or Tensor, stored as a Tensor that requires no grad) as
        state of this module that is not trained: BatchNorm's running statistics, say. Buffers
        are in ``state_dict()``, ``load_state_dict()`` and ``nn.save``/``nn.load``, reached by
        ``buffers()``, and never in ``parameters()`` (so no optimizer changes them)."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: the name must be a non-empty string without "
                             f"dots, got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ValueError(f"register_buffer: {type(self).__name__} already has a "
                             f"{'parameter' if name in self._parameters else 'submodule'} "
                             f"named {name!r}")
        buffer = _as_buffer(type(self).__name__, name, value)
        self._buffers[name] = buffer
        object.__setattr__(self, name, buffer)

    def _rebind_parameter(self, name: str, value: Tensor) -> None:
        """Put a new tensor in a parameter's place (a differentiable optimizer step does this)."""
        self._parameters[name] = value
        object.__setattr__(self, name, value)

    # ---- running -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if _compile_trace._current is not None:  # ag.compile: a replay checks the train mode
            _compile_trace.note_module(self)
        if self._forward_pre_hooks:  # checked first: most modules have no hooks
            for hook in tuple(self._forward_pre_hooks.values()):
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        if self._backward_hooks:
            args, on_output = _BackwardHookCall(self).wrap(args)
            out = self.forward(*args, **kwargs)
            on_output(out)
        else:
            out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in tuple(self._forward_hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward, as PyTorch's: ``args`` is the tuple
        of positional inputs; a hook that returns something other than None replaces them (a
        value that is not a tuple becomes the only input). Hooks run in registration order,
        each seeing the inputs the previous one returned. ``.remove()`` the handle to stop."""
        return RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward, as PyTorch's: a hook that
        returns something other than None replaces the output (the next hook, and the caller,
        get the returned value). ``.remove()`` the handle to stop."""
        return RemovableHandle(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` in every backward pass through this
        module, as PyTorch's: ``grad_output`` is the tuple of gradients of the module's output,
        ``grad_input`` that of its positional Tensor (and array) inputs (None for an input that
        needs no gradient), once they are computed. A hook may return a tuple of the same
        length to use instead of ``grad_input`` (what flows on to the inputs); None keeps it.
        The gradients of the module's parameters are not part of ``grad_input``. Hooks run in
        registration order; ``.remove()`` the handle to stop. forward must return one Tensor.

        Useful to watch gradient flow (record each layer's ``grad_output`` norm) or to change
        it (clip or rescale what a layer passes back).
        """
        if not callable(hook):
            raise TypeError(f"register_full_backward_hook: expected a callable, got "
                            f"{type(hook).__name__}")
        return RemovableHandle(self._backward_hooks, hook)

    def train(self, mode: bool = True) -> Module:
        """Switch this module and all it contains to training mode (dropout on); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode (dropout off); returns self."""
        return self.train(False)

    # ---- walking the tree ----------------------------------------------------------------------
    def children(self) -> Iterator[Module]:
        """The modules directly inside this one."""
        return iter(self._modules.values())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(self._modules.items())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module inside it, with dotted paths ('' for this one)."""
        stack = [(prefix, self)]
        seen = set()
        while stack:  # a stack, not recursion: models may nest deeply
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (module for _, module in self.named_modules())

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """``(dotted path, parameter)`` pairs, e.g. ``('layers.0.weight', ...)``; a parameter
        shared by two modules is listed once."""
        seen = set()
        for path, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{path}.{name}" if path else name), param

    def parameters(self) -> Iterator[Tensor]:
        return (param for _, param in self.named_parameters())

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """``(dotted path, buffer)`` pairs, e.g. ``('0.running_mean', ...)``."""
        for path, module in self.named_modules():
            for name, buffer in module._buffers.items():
                yield (f"{path}.{name}" if path else name), buffer

    def buffers(self) -> Iterator[Tensor]:
        return (buffer for _, buffer in self.named_buffers())

    def _parameter_slots(self) -> Iterator[tuple[Module, str, Tensor]]:
        """Every place a parameter is stored: (module, attribute name, parameter)."""
        for _, module in self.named_modules():
            for name, param in module._parameters.items():
                yield module, name, param

    def zero_grad(self) -> None:
        """Forget the gradients of all parameters (set them to None)."""
        for param in self.parameters():
            param.grad = None

    def num_parameters(self) -> int:
        return sum(param.size for param in self.parameters())

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Copies of every parameter's values, then every buffer's, by dotted name."""
        state = OrderedDict((name, param.data.copy()) for name, param in self.named_parameters())
        state.update((name, buffer.data.copy()) for name, buffer in self.named_buffers())
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values from ``state`` into the parameters, in place.

        Everything is checked before anything is written: missing or unexpected names (when
        ``strict``), shape or dtype mismatches raise a StateDictError listing all of them, and
        the model is left unchanged.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict into {type(self).__name__}: expected a dict of "
                            f"name -> array (from state_dict()), got {type(state).__name__}")
        own = OrderedDict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        values = {}
        for name, param in own.items():
            if name not in state:
                continue
            value = state[name]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if value.shape != param.shape:
                problems.append(f"{name}: shape {value.shape} in the state dict, "
                                f"{param.shape} in the model")
            elif not np.can_cast(value.dtype, param.dtype, casting="same_kind"):
                problems.append(f"{name}: dtype {value.dtype} in the state dict cannot become "
                                f"the model's {param.dtype}")
            else:
                values[name] = value
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: "
                                 + "; ".join(problems) + ". The model was not changed.")
        with no_grad():  # through Tensor's setitem, which bumps the versions
            for name, value in values.items():
                own[name][...] = value

    # ---- display -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()
            lines.append(f"  ({name}): {child_lines[0]}")
            lines.extend("  " + line for line in child_lines[1:])
        lines.append(")")
        return "\n".join(lines)

    def summary(self, input_shape: tuple | None = None, dtype=np.float32) -> str:
        """A table of the layers (with output shapes when ``input_shape`` is given, batch axis
        included) and parameter counts.

        A row is an innermost module, or any module that holds parameters directly (the model
        itself is shown as ``(model)``); each parameter is counted once, in the first row that
        holds it, so the counts add up to the total. With ``input_shape`` rows follow the order
        of the calls; a module called again shows ``(shared)``, one never called comes last
        with no shape.
        """
        shown = [(path or "(model)", module) for path, module in self.named_modules()
                 if module._parameters or (path and not module._modules)]
        if input_shape is not None:
            calls = _trace_output_shapes(self, shown, input_shape, dtype)
            called = {id(module) for _, module, _ in calls}
            calls += [(path, module, None) for path, module in shown if id(module) not in called]
        else:
            calls = [(path, module, None) for path, module in shown]
        rows, seen = [], set()
        for path, module, shape in calls:
            if id(module) in seen:
                count = "(shared)"
            else:
                seen.add(id(module))
                params = [p for p in module._parameters.values()
                          if p is not None and id(p) not in seen]
                seen.update(id(p) for p in params)
                count = f"{sum(p.size for p in params):,}"
            rows.append((path, type(module).__name__, "" if shape is None else str(shape), count))
        header = ("layer", "type", "output shape", "parameters")
        table = [header] + rows
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in table]
        lines.insert(1, "-" * len(lines[0]))
        total = self.num_parameters()
        trainable = sum(p.size for p in self.parameters() if p.requires_grad)
        lines.append(f"total parameters: {total:,} (trainable: {trainable:,})")
        return "\n".join(lines)


def _trace_output_shapes(model: Module, shown: list, input_shape: tuple, dtype) -> list:
    """Run the model once on zeros: (path, module, output shape) of each call of a module in
    ``shown``, in the order the calls end."""
    calls = []

    def record(module, args, out, path):
        calls.append((path, module, tuple(np.shape(out))))

    handles = [module.register_forward_hook(
                   lambda m, a, o, path=path: record(m, a, o, path))
               for path, module in shown]
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            model(Tensor(np.zeros(input_shape, dtype=dtype)))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return calls


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(Dense(2, 16), ReLU(), Dense(16, 3))``.

    Its parts are named ``0``, ``1``, ... (so parameters are ``0.weight``, ``2.bias``, ...).
    """

    def __init__(self, *layers: Module):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: part {i} is a {type(layer).__name__}, "
                                "expected a Module")
            setattr(self, str(i), layer)

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        """The part at ``index``; a slice gives a Sequential of those parts (the same modules,
        not copies), as PyTorch's."""
        parts = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*parts[index])
        return parts[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named ``len(self)``); returns self, as PyTorch's."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (named ``0``, ``1``, ...)."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int | slice) -> Module:
        """The module at ``index``; a slice gives a ModuleList of those modules."""
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList is a container, not a layer: call its modules instead")


def _as_buffer(owner: str, name: str, value) -> Tensor:
    """A buffer's value as a Tensor that requires no grad (a copy of the caller's array)."""
    if isinstance(value, Tensor):
        value = value.data
    try:
        array = np.array(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}: buffer {name!r} must be an array or a Tensor, got "
                        f"{type(value).__name__} ({error})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: buffer {name!r} must hold numbers, got dtype {array.dtype}")
    return Tensor(array, dtype=array.dtype)


class _BackwardHookCall:
    """One call of a module with backward hooks: each positional Tensor input that requires grad
    goes through an identity op (a view) whose hook sees exactly the gradient this module sends
    back to it; a hook on the output records grad_output. The module's hooks run when the last
    input's gradient arrives (or, when no input needs a gradient, at the output)."""

    def __init__(self, module: Module):
        self.module = module
        self.grad_output = None
        self.grad_input: list = []
        self.wrapped: set = set()  # the inputs (by slot) whose gradient the hooks wait for
        self.pending: set = set()

    def wrap(self, args: tuple):
        args = list(args)
        # A slot per Tensor or array input (an array is a constant: its entry stays None).
        self.grad_input = [None] * sum(isinstance(a, (Tensor, np.ndarray)) for a in args)
        slot = 0
        for position, value in enumerate(args):
            if not isinstance(value, (Tensor, np.ndarray)):
                continue
            if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
                view = value.reshape(value.shape)  # a new node sharing the input's memory
                view.register_hook(self._input_hook(slot))
                self.wrapped.add(slot)
                args[position] = view
            slot += 1
        return tuple(args), self._on_output

    def _on_output(self, out) -> None:
        if not isinstance(out, Tensor):
            raise TypeError(f"{type(self.module).__name__}: register_full_backward_hook needs "
                            f"forward to return a single Tensor, got {type(out).__name__}")
        if out.requires_grad:
            out.register_hook(self._output_hook)

    def _output_hook(self, grad):  # runs first in each backward pass through the module
        self.grad_output = grad
        self.pending = set(self.wrapped)
        if not self.pending:  # no input gets a gradient: the hooks see grad_output only
            self._call_hooks()
        return None

    def _input_hook(self, slot: int):
        def hook(grad):
            self.grad_input[slot] = grad
            self.pending.discard(slot)
            if self.pending:
                return None
            return self._call_hooks()[slot]

        return hook

    def _call_hooks(self) -> tuple:
        grad_input = tuple(self.grad_input)
        for hook in tuple(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, (self.grad_output,))
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise ValueError(
                    f"{type(self.module).__name__} backward hook {getattr(hook, '__name__', hook)}"
                    f" returned {len(result)} gradient(s) for {len(grad_input)} input(s)")
            if len(self.wrapped) > 1 and any(r is not g for r, g in zip(result, grad_input)):
                # the other inputs' gradients have already flowed on by now
                raise ValueError(f"{type(self.module).__name__}: a backward hook can replace "
                                 "grad_input only for a module with one input that needs a "
                                 "gradient")
            grad_input = result
        self.grad_input = list(grad_input)
        return grad_input


def check_floating(x, where: str) -> None:
    """Raise a DTypeError when a layer is given non-floating input."""
    dtype = x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    if dtype.kind != "f":
        raise DTypeError(f"{where}: expected floating-point input, got dtype {dtype}; convert "
                         "it first, e.g. x.astype('float32')")
