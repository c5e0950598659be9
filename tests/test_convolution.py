"""Convolution, pooling and normalisation beyond the op specs: tie and padding conventions,
clear errors that leave inputs untouched, the layers (Conv, pooling, BatchNorm train/eval and
running statistics against numpy), buffers in state_dict and nn.save, and initialiser fans."""

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core.errors import ShapeError

# ---- op conventions -----------------------------------------------------------------------------

def test_max_pool_tie_sends_the_gradient_to_the_first_maximum_in_row_major_order():
    x = ag.Tensor(np.array([[[[1.0, 3.0], [3.0, 3.0]]]]), requires_grad=True)
    ag.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool_overlapping_windows_add_up_and_padding_is_never_the_max():
    x = ag.Tensor(np.array([[[[-5.0, -1.0, -7.0]]]]), requires_grad=True)
    # windows [pad, -5, -1], [-5, -1, -7], [-1, -7, pad]: -1 is the max of all three
    out = ag.max_pool2d(x, (1, 3), stride=1, padding=(0, 1))
    np.testing.assert_array_equal(out.data, [[[[-1.0, -1.0, -1.0]]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, 3.0, 0.0]]]])


def test_avg_pool_counts_padding_in_the_mean():
    x = np.ones((1, 1, 2, 2))
    out = ag.avg_pool2d(x, 2, stride=1, padding=1)
    np.testing.assert_allclose(out, [[[[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]]])


def test_conv_gradients_against_hand_values():
    # y = conv1d([1, 2, 3], [a, b]) = [a + 2b, 2a + 3b]; d sum(y) / d(a, b) = (3, 5)
    x = ag.Tensor(np.array([[[1.0, 2.0, 3.0]]]), requires_grad=True)
    w = ag.Tensor(np.array([[[0.5, -1.0]]]), requires_grad=True)
    y = ag.conv1d(x, w)
    np.testing.assert_allclose(y.data, [[[-1.5, -2.0]]])
    y.sum().backward()
    np.testing.assert_allclose(w.grad.data, [[[3.0, 5.0]]])
    np.testing.assert_allclose(x.grad.data, [[[0.5, -0.5, -1.0]]])


def test_conv_second_derivative_mixes_input_and_weight():
    # d/dw of (d sum(conv(x, w)^2) / dx) computed through the backward graph, against finite
    # differences of the first derivative
    rng = np.random.default_rng(0)
    x = ag.Tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = ag.Tensor(rng.standard_normal((3, 2, 2, 2)), requires_grad=True)
    assert ag.gradgradcheck(lambda x, w: ag.conv2d(x, w, stride=2, padding=1) ** 2, (x, w))


def test_conv_float32_batch_chunks_agree_with_one_chunk(monkeypatch):
    from autograd_core.ops import convolution

    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    whole = ag.conv2d(x, w, padding=1)
    monkeypatch.setattr(convolution, "_CHUNK_BYTES", 1)  # one example per chunk
    np.testing.assert_allclose(ag.conv2d(x, w, padding=1), whole, rtol=1e-12, atol=1e-12)


def test_pad_is_numpy_style_and_np_pad_dispatches():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = np.pad(x, ((1, 0), (0, 2)))
    assert isinstance(out, ag.Tensor) and out.requires_grad
    np.testing.assert_array_equal(out.data, [[0, 0, 0, 0, 0], [0, 1, 2, 0, 0], [3, 4, 5, 0, 0]])
    out = ag.pad(x, ((1, 0), (0, 2)), constant_values=9.0)
    np.testing.assert_array_equal(out.data, [[9, 9, 9, 9, 9], [0, 1, 2, 9, 9], [3, 4, 5, 9, 9]])
    with pytest.raises(ValueError, match="pad: only mode='constant'"):
        ag.pad(x, 1, mode="reflect")


def test_np_pad_takes_constant_values_through_numpys_kwargs():
    x = ag.Tensor(np.arange(4.0).reshape(2, 2), requires_grad=True)
    out = np.pad(x, 1, constant_values=-1.5)  # numpy passes constant_values in its **kwargs
    assert isinstance(out, ag.Tensor)
    np.testing.assert_array_equal(out.data, np.pad(x.data, 1, constant_values=-1.5))
    (out * out).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data)
    with pytest.raises(TypeError, match=r"np.pad\(..., stat_length=...\) on a Tensor"):
        np.pad(x, 1, stat_length=2)


# ---- errors -------------------------------------------------------------------------------------

CONV_ERRORS = [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, ShapeError, r"conv2d: channel mismatch: input of shape "
     r"\(2, 3, 5, 5\) has 3 channels.*weight of shape \(4, 2, 3, 3\)"),
    ((2, 3, 5, 5), (4, 1, 3, 3), {"groups": 2}, ShapeError, r"conv2d: groups=2 must divide"),
    ((2, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, ShapeError, r"conv2d: groups=2 must divide.*"
     r"out_channels \(3"),
    ((1, 1, 2, 2), (1, 1, 3, 3), {}, ShapeError, r"conv2d: the kernel .* is larger than the "
     r"padded input \(input shape \(1, 1, 2, 2\), padding \(0, 0\)"),
    ((1, 1, 4, 4), (1, 1, 3, 3), {"dilation": 2}, ShapeError, r"larger than the padded input"),
    ((1, 5, 5), (1, 1, 3, 3), {}, ShapeError, r"conv2d: expected a 4-D input \(N, C, H, W\), "
     r"got shape \(1, 5, 5\)"),
    ((1, 1, 5, 5), (1, 3, 3), {}, ShapeError, r"conv2d: expected a 4-D weight"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ValueError, r"conv2d: stride must be positive"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}, ValueError,
     r"conv2d: padding must be non-negative"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": (1, 2, 3)}, TypeError,
     r"conv2d: stride must be an int or a sequence of 2 ints"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"groups": 0}, ValueError, r"conv2d: groups must be a positive"),
    ((1, 1, 5, 5), (2, 1, 3, 3), {"bias": np.zeros(3)}, ShapeError,
     r"conv2d: bias of shape \(3,\) does not fit weight of shape \(2, 1, 3, 3\): expected \(2,\)"),
]


@pytest.mark.parametrize("x_shape, w_shape, kwargs, error, message", CONV_ERRORS)
def test_conv_errors_name_the_op_and_shapes_and_leave_inputs_alone(x_shape, w_shape, kwargs,
                                                                   error, message):
    x = ag.Tensor(np.ones(x_shape), requires_grad=True)
    w = ag.Tensor(np.full(w_shape, 0.5), requires_grad=True)
    with pytest.raises(error, match=message):
        ag.conv2d(x, w, **kwargs)
    np.testing.assert_array_equal(x.data, np.ones(x_shape))
    np.testing.assert_array_equal(w.data, np.full(w_shape, 0.5))
    assert x.grad is None and w.grad is None


def test_conv1d_wrong_ndim_names_its_layout():
    with pytest.raises(ShapeError, match=r"conv1d: expected a 3-D input \(N, C, L\)"):
        ag.conv1d(np.ones((1, 2, 3, 4)), np.ones((1, 2, 2)))


@pytest.mark.parametrize("call, message", [
    (lambda x: ag.max_pool2d(x, 3), r"max_pool2d: the kernel .* larger than the padded input"),
    (lambda x: ag.max_pool2d(x, 2, padding=2), r"max_pool2d: padding \(2, 2\) must be at most "
     r"half the kernel size"),
    (lambda x: ag.avg_pool2d(x, 2, stride=0), r"avg_pool2d: stride must be positive"),
    (lambda x: ag.max_pool2d(x[0], 2), r"max_pool2d: expected a 4-D input"),
    (lambda x: ag.pad(x, ((1, 1), (1, 1))), r"pad: pad_width .* does not fit an array of shape "
     r"\(1, 1, 2, 2\)"),
    (lambda x: ag.pad(x, -1), r"pad: pad_width -1 has a negative width"),
])
def test_pool_and_pad_errors(call, message):
    x = ag.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    with pytest.raises((ShapeError, ValueError), match=message):
        call(x)
    np.testing.assert_array_equal(x.data, np.ones((1, 1, 2, 2)))


# ---- layers -------------------------------------------------------------------------------------

def test_conv2d_layer_matches_the_op_with_its_parameters_and_pytorch_layout():
    layer = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2, rng=0)
    assert layer.weight.shape == (6, 2, 3, 2) and layer.bias.shape == (6,)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5))  # float64: cast to float32
    out = layer(x)
    assert out.dtype == np.float32
    expected = ag.conv2d(x.astype(np.float32), layer.weight.data, layer.bias.data, stride=2,
                         padding=1, groups=2)
    np.testing.assert_allclose(out.data, expected.data)
    assert nn.Conv2d(4, 6, 3, bias=False).bias is None
    assert nn.Conv1d(2, 3, 4).weight.shape == (3, 2, 4)


def test_conv_layer_errors():
    with pytest.raises(ValueError, match="Conv2d: groups=3 must divide in_channels=4"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ShapeError, match="conv2d: channel mismatch"):
        nn.Conv2d(3, 2, 3)(np.ones((1, 2, 5, 5), dtype=np.float32))


def test_init_fans_of_a_conv_kernel():
    # (out, in / groups, kH, kW): fan_in = in/groups * kH * kW, fan_out = out * kH * kW
    assert nn.init.fans((8, 3, 5, 2)) == (30, 80)
    assert nn.init.fans((784, 128)) == (784, 128)  # Dense (in, out), unchanged
    layer = nn.Conv2d(6, 8, 3, groups=2, init="he_uniform", rng=0)
    limit = np.sqrt(6.0 / (3 * 9))
    assert np.abs(layer.weight.data).max() <= limit
    assert np.abs(layer.weight.data).max() > 0.9 * limit  # the limit is this one, not a smaller


def test_pool_layers():
    x = np.arange(16.0, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, [[[[5.0, 7.0], [13.0, 15.0]]]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data, [[[[2.5, 4.5], [10.5, 12.5]]]])


def _numpy_batchnorm(x, axes, running_mean, running_var, momentum, eps, steps):
    for _ in range(steps):
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        n = x.size // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    shape = [1] * x.ndim
    shape[1] = -1
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return out, running_mean, running_var


@pytest.mark.parametrize("layer, shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                          (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batchnorm_train_and_eval_against_numpy(layer, shape):
    x = np.random.default_rng(0).standard_normal(shape) * 3 + 1
    bn = layer(3, momentum=0.2, eps=1e-3, dtype=np.float64)
    for _ in range(3):
        out = bn(x)
    axes = (0,) + tuple(range(2, len(shape)))
    expected, mean, var = _numpy_batchnorm(x, axes, np.zeros(3), np.ones(3), 0.2, 1e-3, 3)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.data, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, var, rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 3
    # eval: the running statistics normalise, and stay as they are
    bn.eval()
    with ag.no_grad():
        bn.weight[...] = 2.0
        bn.bias[...] = 0.5
    out = bn(x)
    stat_shape = [1] * len(shape)
    stat_shape[1] = 3
    expected = (x - mean.reshape(stat_shape)) / np.sqrt(var.reshape(stat_shape) + 1e-3) * 2 + 0.5
    np.testing.assert_allclose(out.data, expected, rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.data, mean, rtol=1e-12)


def test_batchnorm_gradient_flows_through_the_batch_statistics():
    x = ag.Tensor(np.random.default_rng(2).standard_normal((5, 2, 3)), requires_grad=True)
    bn = nn.BatchNorm1d(2, dtype=np.float64)
    assert ag.gradcheck(lambda x: bn(x) ** 3, (x,))
    assert ag.gradgradcheck(lambda x: bn(x) ** 3, (x,))


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(1, momentum=None, dtype=np.float64)
    for values in ([0.0, 2.0], [4.0, 6.0]):
        bn(np.array(values).reshape(2, 1))
    np.testing.assert_allclose(bn.running_mean.data, [3.0])  # (1 + 5) / 2
    np.testing.assert_allclose(bn.running_var.data, [2.0])   # (2 + 2) / 2, unbiased


def test_batchnorm_errors_leave_the_running_stats_alone():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ShapeError, match=r"BatchNorm2d: input of shape \(2, 4, 3, 3\) does not "
                                         r"fit num_features=3: expected \(N, C, H, W\)"):
        bn(np.ones((2, 4, 3, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match="more than one"):
        nn.BatchNorm1d(3)(np.ones((1, 3), dtype=np.float32))
    np.testing.assert_array_equal(bn.running_mean.data, np.zeros(3))
    assert int(bn.num_batches_tracked.data) == 0


# ---- buffers ------------------------------------------------------------------------------------

def _model():
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2), nn.ReLU())


def test_buffers_are_state_but_not_parameters():
    model = _model()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [name for name, _ in model.named_buffers()] == [
        "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert list(model.state_dict()) == names + ["1.running_mean", "1.running_var",
                                                "1.num_batches_tracked"]
    assert all(not b.requires_grad for b in model.buffers())
    with pytest.raises(ValueError, match="already has a parameter named 'weight'"):
        model[1].register_buffer("weight", np.zeros(2))


def test_buffers_round_trip_through_state_dict_and_save_load(tmp_path):
    x = np.random.default_rng(3).standard_normal((4, 1, 5, 5)).astype(np.float32)
    model = _model()
    model(x)
    model(x * 2)
    state = model.state_dict()
    fresh = _model()
    fresh.load_state_dict(state)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    path = nn.save(model, tmp_path / "model.nn")
    other = _model()
    nn.load(path, model=other)
    np.testing.assert_array_equal(other[1].running_var.data, model[1].running_var.data)
    assert int(other[1].num_batches_tracked.data) == 2
    model.eval()
    other.eval()
    np.testing.assert_array_equal(other(x).data, model(x).data)


def test_load_state_dict_missing_buffer_changes_nothing():
    model = _model()
    state = model.state_dict()
    del state["1.running_var"]
    state["1.running_mean"] = np.full(2, 7.0, dtype=np.float32)
    with pytest.raises(nn.module.StateDictError, match=r"missing keys: \['1.running_var'\]"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model[1].running_mean.data, np.zeros(2))
