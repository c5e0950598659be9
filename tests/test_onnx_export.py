"""nn.export_onnx: every layer type exported, run in onnxruntime (an ONNX implementation
independent of this library) and compared with the library's eval-mode forward, on the
example's batch size and on another; the errors, the atomic write and the model's state."""

from __future__ import annotations

import inspect
import os
import sys

import numpy as np
import onnx
import onnxruntime
import pytest

import autograd_core as ag
import nn
from autograd_core.errors import DTypeError, ShapeError
from nn import onnx_export
from nn.onnx_export import NOT_SUPPORTED, OPSET, OnnxExportError, export_onnx


def _floats(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _trained_batch_norm(layer, shape):
    """A batch norm layer whose running statistics have moved away from (0, 1), and whose
    affine parameters are not (1, 0), so that the export must carry all four."""
    rng = np.random.default_rng(7)
    layer.train()
    for _ in range(3):
        layer(rng.standard_normal(shape).astype(np.float32) * 3.0 + 2.0)
    if layer.affine:
        layer.weight.data[...] = rng.uniform(0.5, 2.0, layer.num_features)
        layer.bias.data[...] = rng.standard_normal(layer.num_features)
    return layer


def _layer_norm(shape, affine=True):
    layer = nn.LayerNorm(shape, elementwise_affine=affine)
    if affine:
        rng = np.random.default_rng(3)
        layer.weight.data[...] = rng.uniform(0.5, 2.0, layer.weight.shape)
        layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    return layer


def _attention(**kwargs):
    layer = nn.MultiHeadAttention(8, 2, rng=0, **kwargs)
    if layer.in_proj_bias is not None:  # biases start at zero: give them values to carry
        layer.in_proj_bias.data[...] = _floats(24, seed=5)
        layer.out_proj.bias.data[...] = _floats(8, seed=6)
    return layer


def _ids(shape, high, dtype=np.int64, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


# (case id, model factory, example input, input of another batch size). Every converter type
# appears here: test_every_converter_is_tested checks it.
CASES = [
    ("Dense", lambda: nn.Dense(5, 3, rng=0), _floats(4, 5), _floats(9, 5, seed=1)),
    ("Dense-no-bias-3d", lambda: nn.Dense(5, 3, bias=False, rng=0), _floats(2, 3, 5),
     _floats(6, 3, 5, seed=1)),
    ("Dense-float64-input", lambda: nn.Dense(5, 3, rng=0), _floats(4, 5).astype(np.float64),
     _floats(2, 5, seed=1).astype(np.float64)),
    ("ReLU", nn.ReLU, _floats(4, 6), _floats(3, 6, seed=1)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), _floats(4, 6), _floats(3, 6, seed=1)),
    ("Sigmoid", nn.Sigmoid, _floats(4, 6, scale=5), _floats(3, 6, seed=1, scale=5)),
    ("Tanh", nn.Tanh, _floats(4, 6, scale=3), _floats(3, 6, seed=1, scale=3)),
    ("GELU-exact", nn.GELU, _floats(4, 6, scale=3), _floats(3, 6, seed=1, scale=3)),
    ("GELU-tanh", lambda: nn.GELU("tanh"), _floats(4, 6, scale=3),
     _floats(3, 6, seed=1, scale=3)),
    ("SiLU", nn.SiLU, _floats(4, 6, scale=3), _floats(3, 6, seed=1, scale=3)),
    # values far out in both tails: the runtime's softplus must not overflow either
    ("Softplus", nn.Softplus, np.array([[-100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0]],
                                       dtype=np.float32), _floats(3, 7, seed=1, scale=20)),
    ("Softmax-last", nn.Softmax, _floats(4, 6, scale=4), _floats(3, 6, seed=1, scale=4)),
    ("Softmax-axis1", lambda: nn.Softmax(axis=1), _floats(2, 5, 3), _floats(4, 5, 3, seed=1)),
    ("Dropout", lambda: nn.Dropout(0.5, rng=0), _floats(4, 6), _floats(3, 6, seed=1)),
    ("Identity", nn.Identity, _floats(4, 6), _floats(3, 6, seed=1)),
    ("Flatten", nn.Flatten, _floats(2, 3, 4, 5), _floats(5, 3, 4, 5, seed=1)),
    ("Sequential-mlp", lambda: nn.Sequential(nn.Dense(5, 16, rng=0), nn.ReLU(),
                                             nn.Dense(16, 3, rng=1), nn.Softmax()),
     _floats(4, 5), _floats(11, 5, seed=1)),
    ("Sequential-empty", nn.Sequential, _floats(4, 5), _floats(2, 5, seed=1)),
    ("Residual", lambda: nn.Residual(nn.Sequential(nn.Dense(5, 5, rng=0), nn.Tanh())),
     _floats(4, 5), _floats(7, 5, seed=1)),
    ("Conv1d", lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, rng=0),
     _floats(2, 4, 11), _floats(3, 4, 11, seed=1)),
    ("Conv2d", lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), rng=0),
     _floats(2, 3, 7, 6), _floats(5, 3, 7, 6, seed=1)),
    ("Conv2d-no-bias-dilated", lambda: nn.Conv2d(2, 2, 2, dilation=2, bias=False, rng=0),
     _floats(1, 2, 6, 6), _floats(3, 2, 6, 6, seed=1)),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, stride=2, padding=1), _floats(2, 3, 7, 8),
     _floats(4, 3, 7, 8, seed=1)),
    # padding counts in the mean (count_include_pad=True): differs from the runtime's default
    ("AvgPool2d", lambda: nn.AvgPool2d((2, 3), stride=1, padding=1), _floats(2, 3, 5, 6),
     _floats(3, 3, 5, 6, seed=1)),
    ("BatchNorm1d-2d", lambda: _trained_batch_norm(nn.BatchNorm1d(5), (8, 5)), _floats(4, 5),
     _floats(9, 5, seed=1)),
    ("BatchNorm1d-3d", lambda: _trained_batch_norm(nn.BatchNorm1d(3), (4, 3, 6)),
     _floats(2, 3, 6), _floats(5, 3, 6, seed=1)),
    ("BatchNorm2d", lambda: _trained_batch_norm(nn.BatchNorm2d(3), (4, 3, 2, 2)),
     _floats(2, 3, 4, 4), _floats(3, 3, 4, 4, seed=1)),
    ("BatchNorm2d-no-affine", lambda: _trained_batch_norm(nn.BatchNorm2d(3, affine=False),
                                                          (4, 3, 2, 2)),
     _floats(2, 3, 4, 4), _floats(3, 3, 4, 4, seed=1)),
    # no running statistics: the batch's own statistics, in eval mode too
    ("BatchNorm2d-batch-stats", lambda: _trained_batch_norm(
        nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 2, 2)),
     _floats(2, 3, 4, 4, scale=2), _floats(3, 3, 4, 4, seed=1, scale=2)),
    ("BatchNorm1d-batch-stats-no-affine", lambda: nn.BatchNorm1d(
        4, affine=False, track_running_stats=False), _floats(6, 4, scale=2),
     _floats(3, 4, seed=1, scale=2)),
    ("LayerNorm", lambda: _layer_norm(6), _floats(4, 6, scale=3), _floats(2, 6, seed=1)),
    ("LayerNorm-2-axes-no-affine", lambda: _layer_norm((3, 4), affine=False),
     _floats(2, 5, 3, 4, scale=3), _floats(3, 5, 3, 4, seed=1)),
    ("Embedding-int64", lambda: nn.Embedding(10, 4, rng=0), _ids((2, 5), 10),
     _ids((3, 5), 10, seed=1)),
    ("Embedding-int32", lambda: nn.Embedding(10, 4, rng=0), _ids((2, 5), 10, np.int32),
     _ids((4, 5), 10, np.int32, seed=1)),
    ("Embedding-uint8", lambda: nn.Embedding(10, 4, rng=0), _ids((3,), 10, np.uint8),
     _ids((6,), 10, np.uint8, seed=1)),
    ("MultiHeadAttention", _attention, _floats(2, 5, 8), _floats(3, 5, 8, seed=1)),
    ("MultiHeadAttention-causal", lambda: _attention(causal=True), _floats(2, 5, 8),
     _floats(4, 5, 8, seed=1)),
    ("MultiHeadAttention-unbatched-no-bias", lambda: _attention(bias=False), _floats(5, 8),
     _floats(5, 8, seed=1)),
    ("transformer_block", lambda: nn.transformer_block(8, 2, rng=0, approximate="tanh"),
     _floats(2, 4, 8), _floats(3, 4, 8, seed=1)),
    ("TransformerLM", lambda: nn.TransformerLM(13, 6, embed_dim=8, num_heads=2, num_blocks=2,
                                               rng=0), _ids((2, 4), 13),
     _ids((5, 4), 13, seed=1)),
    ("TransformerLM-unbatched", lambda: nn.TransformerLM(13, 6, embed_dim=8, num_heads=2,
                                                         num_blocks=1, rng=0),
     _ids((6,), 13), _ids((4,), 13, seed=1)),
    ("cnn", lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0), _trained_batch_norm(nn.BatchNorm2d(4),
                                                                  (2, 4, 3, 3)),
        nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3, rng=0), nn.Flatten(),
        nn.Dense(4 * 3 * 3, 5, rng=1), nn.Softmax()),
     _floats(2, 1, 6, 6), _floats(7, 1, 6, 6, seed=1)),
]


def _session(path):
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options,
                                        providers=["CPUExecutionProvider"])


def _forward(model, x):
    with ag.no_grad():
        out = model(x)
    return np.asarray(out.data if isinstance(out, ag.Tensor) else out)


@pytest.mark.parametrize("case, make, example, other", CASES, ids=[c[0] for c in CASES])
def test_exported_layer_runs_in_onnxruntime_like_the_library(tmp_path, case, make, example,
                                                              other):
    model = make()
    path = export_onnx(model, example, tmp_path / "model.onnx")
    assert path == tmp_path / "model.onnx"
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", OPSET)]
    session = _session(path)
    model.eval()
    for x in (example, other):  # the example's batch size and another one
        got = session.run(["output"], {"input": x})[0]
        expected = _forward(model, x)
        assert got.dtype == expected.dtype and got.shape == expected.shape, case
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=case)


def test_every_converter_is_tested():
    tested = set()
    for _, make, _, _ in CASES:
        tested.update(type(module) for module in make().modules())
    untested = {t.__name__ for t in onnx_export._CONVERTERS} - {t.__name__ for t in tested}
    assert not untested, f"converters without a case in CASES: {sorted(untested)}"


def _nn_module_classes():
    """Every public Module subclass nn defines, exported at the top or not."""
    found, stack = set(), [nn.Module]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] == "nn" and not cls.__name__.startswith("_"):
            found.add(cls)
    found.update(v for v in vars(nn).values()
                 if inspect.isclass(v) and issubclass(v, nn.Module))
    return found


def test_every_nn_module_has_a_converter_or_a_documented_reason():
    classes = _nn_module_classes()
    assert {nn.Dense, nn.Conv2d, nn.MultiHeadAttention, nn.ModuleList} <= classes
    missing = []
    for cls in classes:
        if cls in NOT_SUPPORTED:
            assert len(NOT_SUPPORTED[cls]) > 20  # a reason a user can act on
            continue
        try:
            onnx_export._converter_of(object.__new__(cls), "")
        except OnnxExportError:
            missing.append(cls.__name__)
    assert not missing, (f"nn module types without an ONNX converter: {sorted(missing)}; "
                         "register one in nn/onnx_export.py or add them to NOT_SUPPORTED")


class _Custom(nn.Module):
    def forward(self, x):
        return x * 2


class _DenseTwice(nn.Dense):
    def forward(self, x):
        return super().forward(x) * 2


class _NamedDense(nn.Dense):
    """A subclass that keeps Dense's forward: exported with Dense's converter."""


def _folder_files(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("bad, name, where", [
    (_Custom(), "_Custom", "'1'"),
    (_DenseTwice(4, 4, rng=0), "_DenseTwice", "'1'"),
    (nn.Sequential(nn.ReLU(), nn.ModuleList([nn.ReLU()])), "ModuleList", "'1.1'"),
])
def test_unsupported_module_is_named_and_leaves_no_file(tmp_path, bad, name, where):
    model = nn.Sequential(nn.Dense(3, 4, rng=0), bad)
    with pytest.raises(OnnxExportError) as info:
        export_onnx(model, _floats(2, 3), tmp_path / "model.onnx")
    message = str(info.value)
    assert name in message and where in message and "export_onnx" in message
    assert _folder_files(tmp_path) == []  # neither the file nor a temporary one


def test_failed_export_keeps_the_previous_file(tmp_path):
    path = tmp_path / "model.onnx"
    export_onnx(nn.Dense(3, 2, rng=0), _floats(2, 3), path)
    before = path.read_bytes()
    with pytest.raises(OnnxExportError):
        export_onnx(nn.Sequential(nn.Dense(3, 2, rng=1), _Custom()), _floats(2, 3), path)
    assert path.read_bytes() == before and _folder_files(tmp_path) == ["model.onnx"]


def test_subclass_keeping_the_forward_uses_the_base_converter(tmp_path):
    model = _NamedDense(3, 2, rng=0)
    path = export_onnx(model, _floats(2, 3), tmp_path / "m.onnx")
    x = _floats(5, 3, seed=2)
    np.testing.assert_allclose(_session(path).run(None, {"input": x})[0],
                               x @ model.weight.data + model.bias.data, rtol=1e-5, atol=1e-6)


def test_forward_hooks_are_refused(tmp_path):
    model = nn.Sequential(nn.Dense(3, 2, rng=0), nn.ReLU())
    model[1].register_forward_hook(lambda module, args, out: out * 0)
    with pytest.raises(OnnxExportError, match="ReLU at '1' has forward hooks"):
        export_onnx(model, _floats(2, 3), tmp_path / "m.onnx")
    assert _folder_files(tmp_path) == []


def test_train_mode_exports_eval_semantics_and_restores_every_mode(tmp_path):
    bn = _trained_batch_norm(nn.BatchNorm1d(4), (8, 4))
    drop = nn.Dropout(0.5, rng=0)
    model = nn.Sequential(nn.Dense(3, 4, rng=0), bn, drop, nn.Dense(4, 2, rng=1))
    model.train()
    drop.eval()  # mixed modes come back as they were
    state = {k: v.copy() for k, v in model.state_dict().items()}
    path = export_onnx(model, _floats(6, 3), tmp_path / "m.onnx")
    assert [m.training for m in model.modules()] == [True, True, True, False, True]
    after = model.state_dict()
    assert all(np.array_equal(state[k], after[k]) for k in state)  # running stats unmoved
    assert all(p.grad is None for p in model.parameters())
    # the file computes the eval-mode forward, written out in numpy
    x = _floats(5, 3, seed=3)
    h = x @ model[0].weight.data + model[0].bias.data
    h = ((h - bn.running_mean.data) / np.sqrt(bn.running_var.data + bn.eps) * bn.weight.data
         + bn.bias.data)
    expected = h @ model[3].weight.data + model[3].bias.data
    np.testing.assert_allclose(_session(path).run(None, {"input": x})[0], expected,
                               rtol=1e-5, atol=1e-5)


def test_dense_graph_matches_a_numpy_reference_and_names_weights_by_path(tmp_path):
    shared = nn.Dense(4, 4, rng=2)
    model = nn.Sequential(nn.Dense(3, 4, rng=0), nn.Tanh(), shared, shared)
    path = export_onnx(model, _floats(2, 3), tmp_path / "m.onnx")
    graph = onnx.load(str(path)).graph
    names = {init.name for init in graph.initializer}
    assert names == {"0.weight", "0.bias", "2.weight", "2.bias"}  # shared: stored once
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["output"]
    x = _floats(3, 3, seed=4)
    h = np.tanh(x @ model[0].weight.data + model[0].bias.data)
    for _ in range(2):
        h = h @ shared.weight.data + shared.bias.data
    np.testing.assert_allclose(_session(path).run(None, {"input": x})[0], h, rtol=1e-5,
                               atol=1e-6)


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_batch_axis_is_dynamic_by_default_and_can_be_fixed(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Dense(6, 2, rng=0))
    graph = onnx.load(str(export_onnx(model, _floats(4, 2, 3), tmp_path / "a.onnx"))).graph
    assert _dims(graph.input[0]) == ["batch", 2, 3] and _dims(graph.output[0]) == ["batch", 2]
    path = export_onnx(model, _floats(4, 2, 3), tmp_path / "b.onnx", dynamic_axes={},
                       input_name="pixels", output_name="scores")
    graph = onnx.load(str(path)).graph
    assert _dims(graph.input[0]) == [4, 2, 3] and _dims(graph.output[0]) == [4, 2]
    session = _session(path)
    assert session.run(["scores"], {"pixels": _floats(4, 2, 3)})[0].shape == (4, 2)
    with pytest.raises(onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument):
        session.run(None, {"pixels": _floats(5, 2, 3)})


@pytest.mark.parametrize("make, example, axes, others", [
    # a language model on any length up to its context
    (lambda: nn.TransformerLM(13, 8, embed_dim=8, num_heads=2, num_blocks=1, rng=0),
     _ids((2, 5), 13), {0: "batch", 1: "length"}, [_ids((3, 2), 13, seed=1),
                                                   _ids((1, 8), 13, seed=2)]),
    (lambda: _attention(causal=True), _floats(2, 5, 8), {0: "batch", -2: "length"},
     [_floats(1, 3, 8, seed=1), _floats(3, 9, 8, seed=2)]),
    # a fully convolutional network on any image size
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0), nn.ReLU(),
                           nn.MaxPool2d(2), _trained_batch_norm(nn.BatchNorm2d(3), (2, 3, 2, 2)),
                           nn.AvgPool2d(2, padding=1)),
     _floats(2, 2, 8, 8), {0: "batch", 2: "height", 3: "width"},
     [_floats(1, 2, 6, 10, seed=1), _floats(3, 2, 13, 5, seed=2)]),
])
def test_other_dynamic_axes_run_at_other_sizes(tmp_path, make, example, axes, others):
    model = make()
    path = export_onnx(model, example, tmp_path / "m.onnx", dynamic_axes=axes)
    graph = onnx.load(str(path)).graph
    declared = _dims(graph.input[0])
    assert all(declared[axis] == name for axis, name in axes.items())
    session = _session(path)
    model.eval()
    for x in others:
        np.testing.assert_allclose(session.run(None, {"input": x})[0], _forward(model, x),
                                   rtol=1e-5, atol=1e-5)


def _lm():
    return nn.TransformerLM(13, 8, embed_dim=8, num_heads=2, num_blocks=2, rng=0)


@pytest.mark.parametrize("make, example, axes, output", [
    (_lm, _ids((2, 5), 13), {0: "batch", 1: "length"}, ["batch", "length", 13]),
    (_lm, _ids((5,), 13), {0: "length"}, ["length", 13]),
    (lambda: _attention(causal=True), _floats(5, 8), {0: "length"}, ["length", 8]),
    (lambda: _attention(causal=True), _floats(2, 5, 8), {0: "batch", 1: "length"},
     ["batch", "length", 8]),
])
def test_the_output_axes_carry_the_names_of_the_input_axes_they_come_from(
        tmp_path, make, example, axes, output):
    # (the causal mask's Range and the position rows' Slice have sizes shape inference cannot
    # see; each is reshaped to a length read from a shape, so the names get through)
    path = export_onnx(make(), example, tmp_path / "m.onnx", dynamic_axes=axes)
    assert _dims(onnx.load(str(path)).graph.output[0]) == output


@pytest.mark.parametrize("call, error, match", [
    (lambda p: export_onnx(lambda x: x, _floats(2, 3), p), TypeError, "expected a Module"),
    (lambda p: export_onnx(nn.ReLU(), np.array(["a"]), p), DTypeError, "dtype <U1"),
    (lambda p: export_onnx(nn.ReLU(), np.array([True]), p), DTypeError, "dtype bool"),
    (lambda p: export_onnx(nn.ReLU(), _floats(2, 3), p, dynamic_axes={2: "x"}), ShapeError,
     r"axis 2, but the example input has shape \(2, 3\)"),
    (lambda p: export_onnx(nn.ReLU(), _floats(2, 3), p, dynamic_axes=[0]), TypeError,
     "must be a dict"),
    (lambda p: export_onnx(nn.ReLU(), _floats(2, 3), p, dynamic_axes={0: 1}), TypeError,
     "non-empty string"),
    (lambda p: export_onnx(nn.ReLU(), _floats(2), p, input_name="x", output_name="x"),
     ValueError, "two different"),
    (lambda p: export_onnx(nn.Dense(3, 2), _floats(2, 4), p), ShapeError, "in_features=3"),
    (lambda p: export_onnx(nn.ReLU(), _floats(2), p.parent / "missing" / "m.onnx"),
     FileNotFoundError, "does not exist"),
])
def test_bad_arguments_raise_clear_errors_and_write_nothing(tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call(tmp_path / "m.onnx")
    assert _folder_files(tmp_path) == []


def test_missing_onnx_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"autograd-core\[onnx\]"):
        export_onnx(nn.ReLU(), _floats(2, 3), tmp_path / "m.onnx")
    assert _folder_files(tmp_path) == []


class _Triple(nn.Module):
    def forward(self, x):
        return x * 3


def test_a_registered_converter_exports_a_new_module_type(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_CONVERTERS", dict(onnx_export._CONVERTERS))

    @onnx_export.converter(_Triple)
    def _triple(g, module, x, y, path):
        return g.node("Mul", [x.name, g.constant(3.0, y.dtype)], path or "triple")

    model = nn.Sequential(nn.Dense(3, 2, rng=0), _Triple())
    path = export_onnx(model, _floats(2, 3), tmp_path / "m.onnx")
    x = _floats(4, 3, seed=1)
    np.testing.assert_allclose(_session(path).run(None, {"input": x})[0],
                               (x @ model[0].weight.data + model[0].bias.data) * 3, rtol=1e-5,
                               atol=1e-6)


def test_a_converter_whose_graph_has_another_shape_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_CONVERTERS", dict(onnx_export._CONVERTERS))
    onnx_export.converter(_Triple)(  # wrong: flattens what the module keeps 3-D
        lambda g, module, x, y, path: g.node("Flatten", [x.name], axis=1))
    with pytest.raises(OnnxExportError, match=r"output has shape \(2, 3, 4\)"):
        export_onnx(_Triple(), _floats(2, 3, 4), tmp_path / "m.onnx")
    assert _folder_files(tmp_path) == []


def test_a_0d_input_exports_with_fixed_shape(tmp_path):
    path = export_onnx(nn.Softplus(), np.float32(-2.0), tmp_path / "m.onnx")
    got = _session(path).run(None, {"input": np.array(-2.0, np.float32)})[0]
    assert got.shape == () and np.isclose(got, np.log1p(np.exp(-2.0)), rtol=1e-6)
