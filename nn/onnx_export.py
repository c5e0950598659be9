"""Export a model to ONNX, to run it elsewhere (onnxruntime, a browser, a phone) or look at it
in Netron: :func:`export_onnx`.

The export follows the model's eval-mode forward on an example input (dropout off, batch norm
with its running statistics), as PyTorch's ``torch.onnx.export`` does by default. Each module
type has one converter, a function that writes the ONNX nodes of that module's forward and is
registered in a table by :func:`converter`; containers (Sequential, Residual, TransformerLM)
convert their parts through the same table. Exporting a new layer type is one more converter.
A module with neither a converter nor an entry in :data:`NOT_SUPPORTED` raises
:class:`OnnxExportError` naming its type and place in the model, before anything is written.

Every converter is checked against the library's own forward by running the file in
onnxruntime (tests/test_onnx_export.py), batch sizes other than the example's included.

The ``onnx`` package is needed only here, and imported on first use: ``pip install
'autograd-core[onnx]'`` (which also brings ``onnxruntime`` to run the file).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

import autograd_core as ag
from autograd_core.errors import DTypeError, ShapeError

# the ops' own argument checks, so the ONNX attributes are the geometry the library computes with
from autograd_core.ops.convolution import _conv_plan, _pool_plan

from .attention import MultiHeadAttention, TransformerLM
from .convolution import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .embedding import Embedding
from .layers import (
    GELU,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Residual,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .module import Module, ModuleList, Sequential
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .serialization import write_atomically

# 17: the first opset with LayerNormalization; onnxruntime has run it since version 1.14.
OPSET = 17

# Module types exported by nn that are deliberately not converted, and why. Every other Module
# subclass nn exports must have a converter (a test checks this, so a new layer cannot be
# forgotten silently).
NOT_SUPPORTED: dict[type, str] = {
    Module: "the base class has no forward of its own; subclass it and register a converter "
            "with nn.onnx_export.converter",
    ModuleList: "a container, not a layer: it has no forward to export; export the model that "
                "calls its modules",
}


class OnnxExportError(TypeError):
    """A model (or part of one) that :func:`export_onnx` cannot write as ONNX."""


def _onnx():
    """The ``onnx`` package, imported on first use, or an error that says how to install it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError("export_onnx: the 'onnx' package is not installed; install the onnx "
                          "extra: pip install 'autograd-core[onnx]' (or pip install onnx "
                          "onnxruntime)") from error
    return onnx


class _Value:
    """A value of the graph: its ONNX name and the library's result for the example input (for
    its shape and dtype)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value):
        self.name = name
        self.value = np.asarray(value.data if isinstance(value, ag.Tensor) else value)


_CONVERTERS: dict[type, tuple[Callable, bool]] = {}


def converter(*module_types: type, container: bool = False):
    """Register the decorated function as the ONNX converter of ``module_types``.

    A converter is called as ``fn(graph, module, x, y, path)``: ``x`` the input (``x.name``
    its ONNX name, ``x.value`` the example's value), ``y`` the library's output for it (a numpy
    array: its dtype and shape), ``path`` the module's dotted name in the model (to name its
    weights); it adds nodes with ``graph.node(...)`` and returns the name of the output. With
    ``container=True`` the converter is called as ``fn(graph, module, x, path)`` and returns a
    ``_Value`` (it converts its parts with ``graph.convert``, which computes their values).
    """
    def register(function):
        for module_type in module_types:
            _CONVERTERS[module_type] = (function, container)
        return function
    return register


def _converter_of(module: Module, path: str):
    """The converter of ``module``'s type, or of the nearest base class whose forward it still
    uses (a subclass that overrides forward needs its own converter)."""
    kind = type(module)
    for base in kind.__mro__:
        if base in _CONVERTERS and kind.forward is base.forward:
            return _CONVERTERS[base]
    where = f" at {path!r}" if path else ""
    reason = NOT_SUPPORTED.get(kind)
    if reason is None:
        reason = ("no ONNX converter is registered for it; register one with "
                  "nn.onnx_export.converter")
    supported = ", ".join(sorted(t.__name__ for t in _CONVERTERS))
    raise OnnxExportError(f"export_onnx: cannot export {kind.__name__}{where}: {reason} "
                          f"(supported: {supported})")


class _Graph:
    """The nodes and initializers of the graph being built, with unique names."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes: list = []
        self.initializers: list = []
        self._names: set[str] = set()
        self._params: dict[tuple, str] = {}     # (id(tensor), dtype) -> initializer name
        self._constants: dict[tuple, str] = {}  # (hint, dtype, shape, bytes) -> name

    def fresh(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, outputs: int = 1,
             **attributes):
        """Add one ``op`` node; returns its output's name (a list of names if ``outputs`` > 1)."""
        base = hint or op.lower()
        names = [self.fresh(base) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, names,
                                                     name=self.fresh(f"{base}/{op}"),
                                                     **attributes))
        return names[0] if outputs == 1 else names

    def _initializer(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array),
                                                                   name))
        return name

    def param(self, tensor, path: str, dtype=None) -> str:
        """A parameter or buffer as an initializer named by its dotted path (a tensor shared by
        two modules is stored once), in ``dtype`` if given."""
        array = np.asarray(tensor.data if isinstance(tensor, ag.Tensor) else tensor)
        dtype = array.dtype if dtype is None else np.dtype(dtype)
        key = (id(tensor), dtype.str)
        if key not in self._params:
            self._params[key] = self._initializer(array.astype(dtype, copy=False), path)
        return self._params[key]

    def constant(self, value, dtype, hint: str = "const") -> str:
        """A constant array as an initializer named ``hint``; the same constant asked for under
        the same name again is stored once."""
        array = np.asarray(value, dtype=dtype)
        key = (hint, array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self._initializer(array, hint)
        return self._constants[key]

    def cast(self, x: _Value, dtype, hint: str) -> str:
        """``x`` in ``dtype``: the layers compute in their parameters' dtype, as in the library."""
        dtype = np.dtype(dtype)
        if x.value.dtype == dtype:
            return x.name
        to = self.onnx.helper.np_dtype_to_tensor_dtype(dtype)
        return self.node("Cast", [x.name], f"{hint}.cast" if hint else "cast", to=to)

    def convert(self, module: Module, x: _Value, path: str) -> _Value:
        """Add ``module``'s forward on ``x`` to the graph; its output, with the library's value."""
        function, container = _converter_of(module, path)
        if module._forward_hooks or module._forward_pre_hooks:
            # a hook may change inputs or outputs in ways the graph cannot show
            raise OnnxExportError(f"export_onnx: {type(module).__name__} at {path or 'the top'!r} "
                                  "has forward hooks, which an ONNX graph cannot contain; remove "
                                  "them (handle.remove()) before exporting")
        if container:
            return function(self, module, x, path)
        y = _Value("", module(x.value)).value  # the library's own result, checked by its layer
        return _Value(function(self, module, x, y, path), y)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---- containers ----------------------------------------------------------------------------------

@converter(Sequential, container=True)
def _sequential(g: _Graph, module: Sequential, x: _Value, path: str) -> _Value:
    for name, part in module.named_children():
        x = g.convert(part, x, _join(path, name))
    return x


@converter(Residual)
def _residual(g: _Graph, module: Residual, x: _Value, y, path: str) -> str:
    inner = g.convert(module.module, x, _join(path, "module"))
    return g.node("Add", [x.name, inner.name], _join(path, "add"))


# ---- dense layers and activations ----------------------------------------------------------------

def _linear(g: _Graph, x: str, weight, bias, path: str, dtype) -> str:
    """x @ weight + bias over the last axis (MatMul broadcasts over any leading axes)."""
    out = g.node("MatMul", [x, g.param(weight, _join(path, "weight"), dtype)],
                 _join(path, "matmul"))
    if bias is not None:
        out = g.node("Add", [out, g.param(bias, _join(path, "bias"), dtype)], _join(path, "add"))
    return out


@converter(Dense)
def _dense(g: _Graph, module: Dense, x: _Value, y, path: str) -> str:
    return _linear(g, g.cast(x, y.dtype, path), module.weight, module.bias, path, y.dtype)


@converter(Identity, Dropout)  # Dropout: the identity in eval mode, the mode of the export
def _identity(g: _Graph, module: Module, x: _Value, y, path: str) -> str:
    return g.node("Identity", [x.name], path or "identity")


def _unary(op: str):
    def convert(g: _Graph, module: Module, x: _Value, y, path: str) -> str:
        return g.node(op, [x.name], path or op.lower())
    convert.__name__ = f"_{op.lower()}"
    return convert


converter(ReLU)(_unary("Relu"))
converter(Tanh)(_unary("Tanh"))
converter(Sigmoid)(_unary("Sigmoid"))
converter(Softplus)(_unary("Softplus"))


@converter(SiLU)
def _silu(g: _Graph, module: SiLU, x: _Value, y, path: str) -> str:
    sigmoid = g.node("Sigmoid", [x.name], _join(path, "sigmoid"))
    return g.node("Mul", [x.name, sigmoid], path or "silu")


@converter(LeakyReLU)
def _leaky_relu(g: _Graph, module: LeakyReLU, x: _Value, y, path: str) -> str:
    return g.node("LeakyRelu", [x.name], path or "leaky_relu", alpha=float(module.slope))


@converter(GELU)
def _gelu(g: _Graph, module: GELU, x: _Value, y, path: str) -> str:
    # opset 17 has no Gelu node (it came in 20): the formulas of autograd_core's gelu
    dtype, name = y.dtype, path or "gelu"

    def mul(a: str, b: str, step: str) -> str:
        return g.node("Mul", [a, b], _join(name, step))

    def add(a: str, b: str, step: str) -> str:
        return g.node("Add", [a, b], _join(name, step))

    half, one = g.constant(0.5, dtype, "half"), g.constant(1.0, dtype, "one")
    if module.approximate == "tanh":
        # 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
        cube = mul(x.name, mul(x.name, x.name, "square"), "cube")
        inner = add(x.name, mul(cube, g.constant(0.044715, dtype, "gelu_cubic"), "cubic"),
                    "inner")
        t = g.node("Tanh", [mul(inner, g.constant(math.sqrt(2.0 / math.pi), dtype,
                                                  "sqrt_2_over_pi"), "scaled")],
                   _join(name, "tanh"))
        return g.node("Mul", [mul(x.name, half, "half_x"), add(t, one, "one_plus")], name)
    # x * ((erf(x / sqrt(2)) + 1) * 0.5)
    erf = g.node("Erf", [mul(x.name, g.constant(1.0 / math.sqrt(2.0), dtype, "inv_sqrt2"),
                             "scaled")], _join(name, "erf"))
    return g.node("Mul", [x.name, mul(add(erf, one, "one_plus"), half, "phi")], name)


@converter(Softmax)
def _softmax(g: _Graph, module: Softmax, x: _Value, y, path: str) -> str:
    return g.node("Softmax", [x.name], path or "softmax", axis=int(module.axis))


@converter(Flatten)
def _flatten(g: _Graph, module: Flatten, x: _Value, y, path: str) -> str:
    return g.node("Flatten", [x.name], path or "flatten", axis=1)


# ---- convolution and pooling ---------------------------------------------------------------------

@converter(Conv1d, Conv2d)
def _conv(g: _Graph, module, x: _Value, y, path: str) -> str:
    weight, bias = module.weight, module.bias
    plan = _conv_plan(type(module).__name__, module.nd, x.value.shape, weight.shape,
                      None if bias is None else bias.shape, module.stride, module.padding,
                      module.dilation, module.groups)
    inputs = [g.cast(x, y.dtype, path), g.param(weight, _join(path, "weight"), y.dtype)]
    if bias is not None:
        inputs.append(g.param(bias, _join(path, "bias"), y.dtype))
    return g.node("Conv", inputs, path or "conv", kernel_shape=list(plan.kernel),
                  strides=list(plan.stride), pads=list(plan.padding) * 2,
                  dilations=list(plan.dilation), group=plan.groups)


@converter(MaxPool2d, AvgPool2d)
def _pool(g: _Graph, module, x: _Value, y, path: str) -> str:
    plan = _pool_plan(type(module).__name__, x.value.shape, module.kernel_size, module.stride,
                      module.padding)
    geometry = {"kernel_shape": list(plan.kernel), "strides": list(plan.stride),
                "pads": list(plan.padding) * 2}
    if isinstance(module, MaxPool2d):  # ONNX's MaxPool never picks padding, as -inf padding
        return g.node("MaxPool", [x.name], path or "max_pool", **geometry)
    # zero padding counts in the mean: PyTorch's (and the library's) count_include_pad=True
    return g.node("AveragePool", [x.name], path or "avg_pool", count_include_pad=1, **geometry)


# ---- normalisation and embedding -----------------------------------------------------------------

@converter(BatchNorm1d, BatchNorm2d)
def _batch_norm(g: _Graph, module, x: _Value, y, path: str) -> str:
    dtype, c = y.dtype, module.num_features
    name = path or "batch_norm"
    xn = g.cast(x, dtype, name)
    if module.affine:
        scale, shift = (g.param(module.weight, _join(path, "weight"), dtype),
                        g.param(module.bias, _join(path, "bias"), dtype))
    else:
        scale, shift = g.constant(np.ones(c), dtype, "ones"), g.constant(np.zeros(c), dtype,
                                                                          "zeros")
    if module.track_running_stats:  # eval mode: the running statistics
        mean = g.param(module.running_mean, _join(path, "running_mean"), dtype)
        var = g.param(module.running_var, _join(path, "running_var"), dtype)
        return g.node("BatchNormalization", [xn, scale, shift, mean, var], name,
                      epsilon=float(module.eps))
    # no running statistics: the batch's mean and biased variance, in eval mode too
    axes = [0] + list(range(2, x.value.ndim))
    mean = g.node("ReduceMean", [xn], _join(name, "mean"), axes=axes, keepdims=1)
    centred = g.node("Sub", [xn, mean], _join(name, "centred"))
    var = g.node("ReduceMean", [g.node("Mul", [centred, centred], _join(name, "sq"))],
                 _join(name, "var"), axes=axes, keepdims=1)
    std = g.node("Sqrt", [g.node("Add", [var, g.constant(module.eps, dtype, _join(name, "eps"))],
                                 _join(name, "var_eps"))], _join(name, "std"))
    out = g.node("Div", [centred, std], _join(name, "normed"))
    if not module.affine:
        return out
    per_channel = g.constant((c,) + (1,) * (x.value.ndim - 2), np.int64, "per_channel")
    scale = g.node("Reshape", [scale, per_channel], _join(name, "scale"))
    shift = g.node("Reshape", [shift, per_channel], _join(name, "shift"))
    return g.node("Add", [g.node("Mul", [out, scale], _join(name, "scaled")), shift], name)


@converter(LayerNorm)
def _layer_norm(g: _Graph, module: LayerNorm, x: _Value, y, path: str) -> str:
    dtype, shape = y.dtype, module.normalized_shape
    if module.elementwise_affine:
        scale = g.param(module.weight, _join(path, "weight"), dtype)
        shift = g.param(module.bias, _join(path, "bias"), dtype)
    else:
        scale, shift = g.constant(np.ones(shape), dtype, "ones"), g.constant(np.zeros(shape),
                                                                             dtype, "zeros")
    return g.node("LayerNormalization", [g.cast(x, dtype, path), scale, shift],
                  path or "layer_norm", axis=-len(shape), epsilon=float(module.eps))


def _ids(g: _Graph, x: _Value, hint: str) -> str:
    """Integer ids as Gather takes them (int32 or int64)."""
    if x.value.dtype in (np.int32, np.int64):
        return x.name
    return g.cast(x, np.int64, hint)


@converter(Embedding)
def _embedding(g: _Graph, module: Embedding, x: _Value, y, path: str) -> str:
    return g.node("Gather", [g.param(module.weight, _join(path, "weight")),
                             _ids(g, x, path)], path or "embedding", axis=0)


# ---- attention -----------------------------------------------------------------------------------

@converter(MultiHeadAttention)
def _attention(g: _Graph, module: MultiHeadAttention, x: _Value, y, path: str) -> str:
    # self-attention (the form a Sequential calls): x of (N, L, E) or (L, E); the shapes below
    # copy the leading axes at run time (Reshape's 0), so any batch size and length run
    dtype, e = y.dtype, module.embed_dim
    h, d = module.num_heads, module.head_dim
    name = path or "attention"
    batched = x.value.ndim == 3
    keep = [0, 0] if batched else [0]  # Reshape: 0 copies that axis of the input
    qkv = _linear(g, g.cast(x, dtype, name), module.in_proj_weight, module.in_proj_bias,
                  _join(path, "in_proj"), dtype)
    q, k, v = g.node("Split", [qkv, g.constant([e, e, e], np.int64, "split")],
                     _join(name, "qkv"), outputs=3, axis=-1)
    heads_shape = g.constant(keep + [h, d], np.int64, "heads_shape")
    to_heads = [0, 2, 1, 3] if batched else [1, 0, 2]  # (..., L, H, D) -> (..., H, L, D)
    q, k, v = (g.node("Transpose", [g.node("Reshape", [t, heads_shape], _join(name, f"{s}_split"))],
                      _join(name, s), perm=to_heads) for t, s in ((q, "q"), (k, "k"), (v, "v")))
    k_t = g.node("Transpose", [k], _join(name, "k_t"),
                 perm=[0, 1, 3, 2] if batched else [0, 2, 1])
    scores = g.node("Mul", [g.node("MatMul", [q, k_t], _join(name, "qk")),
                            g.constant(1.0 / math.sqrt(d), dtype, "scale")], _join(name, "scores"))
    if module.causal:
        # query i keeps keys 0..i: key index <= query index, from the run-time length
        length = g.node("Gather", [g.node("Shape", [scores], _join(name, "shape")),
                                   g.constant(-1, np.int64, "last")], _join(name, "length"))
        zero, one = g.constant(0, np.int64, "zero"), g.constant(1, np.int64, "one")
        positions = g.node("Range", [zero, length, one], _join(name, "range"))
        # reshaped to its own length read from the scores' shape: a no-op when run, which
        # tells ONNX's shape inference that the mask has the scores' length (a Range's size
        # is unknown to it, and the model's output axis came out as "unk__6")
        positions = g.node("Reshape", [positions, g.node("Shape", [scores],
                                                         _join(name, "key_count"), start=-1)],
                           _join(name, "positions"))
        rows = g.node("Unsqueeze", [positions, g.constant([1], np.int64, "axis1")],
                      _join(name, "rows"))
        allowed = g.node("LessOrEqual", [positions, rows], _join(name, "causal"))
        scores = g.node("Where", [allowed, scores, g.constant(-np.inf, dtype, "minus_inf")],
                        _join(name, "masked"))
    weights = g.node("Softmax", [scores], _join(name, "weights"), axis=-1)
    out = g.node("MatMul", [weights, v], _join(name, "context"))
    out = g.node("Transpose", [out], _join(name, "merge"), perm=to_heads)
    out = g.node("Reshape", [out, g.constant(keep + [e], np.int64, "merged_shape")],
                 _join(name, "merged"))
    proj = module.out_proj
    return _linear(g, out, proj.weight, proj.bias, _join(path, "out_proj"), dtype)


@converter(TransformerLM)
def _transformer_lm(g: _Graph, module: TransformerLM, x: _Value, y, path: str) -> str:
    tokens = g.convert(module.token, x, _join(path, "token"))
    # the first T rows of the position table, T the run-time length (T <= context, as the
    # library checks): a Slice (a Gather of Range(0, T) is what the library computes, but
    # onnxruntime's optimizer rewrites that pattern into a Slice it then cannot run)
    length = g.node("Shape", [x.name], _join(path, "length"), start=-1)
    rows = g.node("Slice", [g.param(module.position.weight, _join(path, "position.weight")),
                            g.constant([0], np.int64, "starts"), length,
                            g.constant([0], np.int64, "axes")], _join(path, "position_rows"))
    # The same rows, reshaped to (T, E) with T read from the input's shape: a no-op when run,
    # but it tells ONNX's shape inference that they have the input's length (a Slice's end
    # computed at run time leaves the length unknown, and the output's axis came out named
    # "unk__6" instead of the input's axis name for an unbatched model)
    rows_shape = g.node("Concat", [length, g.constant([module.position.weight.shape[1]],
                                                      np.int64, "embed_dim")],
                        _join(path, "position_shape"), axis=0)
    rows = g.node("Reshape", [rows, rows_shape], _join(path, "position"))
    position = _Value(rows, module.position(np.arange(x.value.shape[-1])))
    h = _Value(g.node("Add", [tokens.name, position.name], _join(path, "embedded")),
               tokens.value + position.value)
    h = g.convert(module.blocks, h, _join(path, "blocks"))
    h = g.convert(module.norm, h, _join(path, "norm"))
    return g.convert(module.head, h, _join(path, "head")).name


# ---- export --------------------------------------------------------------------------------------

def _dynamic_axes(dynamic_axes, shape: tuple) -> dict[int, str]:
    """``dynamic_axes`` checked, as {non-negative axis: symbolic name}."""
    if dynamic_axes is None:
        return {0: "batch"} if shape else {}
    if not isinstance(dynamic_axes, dict):
        raise TypeError(f"export_onnx: dynamic_axes must be a dict {{axis: name}}, e.g. "
                        f"{{0: 'batch', 1: 'length'}}, got {type(dynamic_axes).__name__}")
    axes = {}
    for axis, name in dynamic_axes.items():
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
                or not -len(shape) <= axis < len(shape):
            raise ShapeError(f"export_onnx: dynamic_axes names axis {axis!r}, but the example "
                             f"input has shape {shape}: expected axes in "
                             f"[{-len(shape)}, {len(shape)})")
        if not isinstance(name, str) or not name:
            raise TypeError(f"export_onnx: dynamic_axes[{axis}] must be a non-empty string (the "
                            f"axis' name), got {name!r}")
        axes[int(axis) % len(shape)] = name
    return axes


def _output_shape(onnx, proto, y: np.ndarray) -> list:
    """The output's dims as ONNX's shape inference finds them from the symbolic input, after
    checking them against the library's output for the example (a converter whose graph
    computes another shape is a bug, and raises here rather than writing a wrong file)."""
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    tensor_type = inferred.graph.output[0].type.tensor_type
    dims = ([d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
             for d in tensor_type.shape.dim] if tensor_type.HasField("shape") else None)
    if dims is None:
        return [None] * y.ndim
    if len(dims) != y.ndim or any(isinstance(d, int) and d != n for d, n in zip(dims, y.shape)):
        raise OnnxExportError(f"export_onnx: the graph's output has shape {dims} but the model's "
                              f"output has shape {y.shape}: a converter is wrong; please report "
                              "it")
    return dims


def export_onnx(model: Module, example_input, path, *, dynamic_axes: dict | None = None,
                input_name: str = "input", output_name: str = "output") -> Path:
    """Write ``model`` as an ONNX file (opset :data:`OPSET`) at ``path``; returns the path.

    ``example_input`` (a numpy array, a Tensor or a nested list: float values, or integer ids
    for an Embedding or TransformerLM) is run through the model once, to follow its forward
    and fix the input's dtype and shape. ``dynamic_axes`` ({axis: name}) makes those axes of
    the input symbolic, so the file runs on other sizes there; the default, ``{0: "batch"}``,
    is any batch size; ``{0: "batch", 1: "length"}`` suits a TransformerLM (any length up to
    its context); ``{}`` fixes every axis to the example's. The output's axes follow from the
    graph (ONNX shape inference).

    The file holds the *eval-mode* forward, as ``torch.onnx.export`` by default: a model in
    training mode is switched to eval for the export and each module's mode is restored
    afterwards (dropout becomes the identity, batch norm uses its running statistics). Nothing
    in the model changes: no running statistic moves, no gradient is recorded.

    Every layer type of ``nn`` is supported (see :data:`NOT_SUPPORTED` for the two
    exceptions); MultiHeadAttention as self-attention, the way Sequential calls it. A module
    without a converter, or one with forward hooks, raises :class:`OnnxExportError` naming it,
    and then no file is written. The model is checked with ``onnx.checker`` and written
    atomically (a temporary file, then one rename). Needs the ``onnx`` extra (``pip install
    'autograd-core[onnx]'``). Open the file in Netron (https://netron.app, or ``pip install
    netron; netron model.onnx``) to see the graph.

    >>> export_onnx(model, np.zeros((1, 784), np.float32), "model.onnx")  # doctest: +SKIP
    PosixPath('model.onnx')
    """
    onnx = _onnx()
    if not isinstance(model, Module):
        raise TypeError(f"export_onnx: expected a Module, got {type(model).__name__}")
    example = np.asarray(example_input.data if isinstance(example_input, ag.Tensor)
                         else example_input)
    if example.dtype.kind not in "fiu":
        raise DTypeError(f"export_onnx: example_input must hold floats or integer ids, got "
                         f"dtype {example.dtype} (shape {example.shape})")
    dynamic = _dynamic_axes(dynamic_axes, example.shape)
    if not (isinstance(input_name, str) and isinstance(output_name, str) and input_name
            and output_name and input_name != output_name):
        raise ValueError(f"export_onnx: input_name and output_name must be two different "
                         f"non-empty strings, got {input_name!r} and {output_name!r}")
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        graph = _Graph(onnx)
        graph.fresh(input_name)
        graph.fresh(output_name)  # reserved: no node gets it until the end
        with ag.no_grad():
            out = graph.convert(model, _Value(input_name, example), "")
    finally:
        for module, training in modes:  # each module's own mode back, mixed modes included
            object.__setattr__(module, "training", training)
    if out.name == input_name or not any(out.name in n.output for n in graph.nodes):
        out = _Value(graph.node("Identity", [out.name]), out.value)
    for node in graph.nodes:  # the last value gets the output's name
        node.input[:] = [output_name if i == out.name else i for i in node.input]
        node.output[:] = [output_name if o == out.name else o for o in node.output]
    helper = onnx.helper
    onnx_graph = helper.make_graph(
        graph.nodes, type(model).__name__,
        [helper.make_tensor_value_info(input_name, helper.np_dtype_to_tensor_dtype(example.dtype),
                                       [dynamic.get(i, n) for i, n in enumerate(example.shape)])],
        [helper.make_tensor_value_info(output_name,
                                       helper.np_dtype_to_tensor_dtype(out.value.dtype), None)],
        initializer=graph.initializers)
    opsets = [helper.make_opsetid("", OPSET)]
    proto = helper.make_model(
        onnx_graph, opset_imports=opsets, producer_name="autograd-core nn",
        producer_version=ag.__version__, doc_string=repr(model),
        ir_version=helper.find_min_ir_version_for(opsets))
    shape = _output_shape(onnx, proto, out.value)
    if not dynamic:  # every size known: the example's (inference may leave some symbolic)
        shape = list(out.value.shape)
    proto.graph.output[0].CopyFrom(helper.make_tensor_value_info(
        output_name, helper.np_dtype_to_tensor_dtype(out.value.dtype), shape))
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    return write_atomically(path, lambda file: file.write(data), "export_onnx")


__all__ = ["NOT_SUPPORTED", "OPSET", "OnnxExportError", "converter", "export_onnx"]
