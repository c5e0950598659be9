"""In-place safety: every in-place change through the public API bumps the tensor's version,
and backward refuses to use a saved tensor that changed after it was saved."""

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import BackwardError, Tensor


def version_after(change) -> int:
    t = Tensor(np.ones(3))
    assert t._version == 0
    change(t)
    return t._version


@pytest.mark.parametrize("change", [
    lambda t: t.__iadd__(1.0),
    lambda t: t.__isub__(1.0),
    lambda t: t.__imul__(2.0),
    lambda t: t.__itruediv__(2.0),
    lambda t: t.__setitem__(0, 5.0),
    lambda t: t.__setitem__(slice(None), Tensor([1.0, 2.0, 3.0])),
], ids=["+=", "-=", "*=", "/=", "t[i]=v", "t[:]=tensor"])
def test_every_in_place_operator_bumps_the_version(change):
    assert version_after(change) == 1


def test_out_of_place_ops_and_failed_in_place_ops_do_not_bump():
    t = Tensor(np.ones(3))
    _ = t + 1, t * 2, t.reshape(3, 1), t[0], t.clone()
    with pytest.raises(ag.ShapeError):
        t += np.ones((2, 3))
    with pytest.raises(IndexError):
        t[5] = 1.0
    assert t._version == 0


@pytest.mark.parametrize("make", [
    lambda p: nn.SGD([p], lr=0.1),
    lambda p: nn.SGD([p], lr=0.1, momentum=0.9),
    lambda p: nn.Adam([p]),
    lambda p: nn.AdamW([p]),
    lambda p: nn.RMSProp([p]),
    lambda p: nn.Adagrad([p]),
], ids=["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad"])
def test_optimizer_steps_bump_parameter_versions_and_stale_graphs_refuse(make):
    p = nn.Parameter(np.array([1.0, 2.0]))
    optimizer = make(p)
    (p * p).sum().backward()
    stale = (p * p).sum()  # saved p before the update
    optimizer.step()
    assert p._version >= 1
    with pytest.raises(BackwardError, match=r"Mul: one of its inputs \(shape \(2,\)\).*in-place"):
        stale.backward()


def test_modified_input_is_named_with_op_and_shape():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    y = w.tanh()  # saves its output, not w: changing w afterwards is harmless here
    z = (w * 3.0).sum()
    with ag.no_grad():
        w[0, 0] = 7.0
    y.sum().backward()  # fine: Tanh did not save w
    with pytest.raises(BackwardError) as error:
        z.backward()
    assert "Mul" in str(error.value) and "(2, 3)" in str(error.value)
    assert "in-place" in str(error.value) and "clone" in str(error.value)


def test_modified_output_that_backward_needs_is_caught():
    x = Tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # Exp saves its output
    with ag.no_grad():
        y += 1.0
    with pytest.raises(BackwardError, match=r"Exp: its output \(shape \(2,\)\)"):
        y.sum().backward()


def test_changes_after_backward_or_to_unsaved_tensors_are_fine():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1.0).sum()  # Add saves nothing
    with ag.no_grad():
        x *= 3.0
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])
    z = (x * x).sum()
    z.backward(retain_graph=True)
    with ag.no_grad():
        x -= 1.0  # after backward: the next backward through z would be wrong, and says so
    with pytest.raises(BackwardError, match="Mul"):
        z.backward()


def test_gradient_accumulation_bumps_the_grad_tensors_version():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    grad = x.grad
    (x * 2).sum().backward()
    assert grad is x.grad and grad._version == 1


def test_load_state_dict_bumps_parameter_versions():
    model = nn.Dense(2, 2, rng=0)
    loss = model(np.ones((1, 2), dtype=np.float32)).sum()
    model.load_state_dict(nn.Dense(2, 2, rng=1).state_dict())
    assert all(p._version == 1 for p in model.parameters())
    with pytest.raises(BackwardError, match="in-place"):
        loss.backward()


def test_create_graph_backward_checks_versions_too():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (g,) = ag.grad((x * x * x).sum(), x, create_graph=True)
    with ag.no_grad():
        x += 1.0
    with pytest.raises(BackwardError, match="in-place"):
        g.sum().backward()


def test_views_share_the_version_counter_of_their_memory():
    x = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = (x.exp() * x).sum()
    view = x.detach().reshape(2, 2).T  # shares x's memory, as PyTorch's views do
    view[1, 0] = 0.0  # a tensor that does not require grad: allowed, and counted
    assert x._version == view._version == 1
    with pytest.raises(BackwardError, match=r"Mul: one of its inputs \(shape \(4,\)\)"):
        y.backward()


def test_parameters_changed_through_a_transposed_view_are_caught():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    loss = (Tensor(np.ones((4, 2))) @ w).sum() + (w.T * 2.0).sum()
    with ag.no_grad():
        w *= 0.5
    with pytest.raises(BackwardError, match="in-place"):
        loss.backward()


def test_memory_that_dies_forgets_its_count():
    from autograd_core import engine

    t = Tensor(np.ones(3))
    t += 1.0
    key = id(t.data)
    assert key in engine._changes
    del t
    assert key not in engine._changes


class _ScaleBy(ag.Function):
    """A custom op that saves a Tensor it was given as a keyword, rather than a raw input."""

    @staticmethod
    def forward(ctx, x, *, by):
        ctx.save_for_backward(by)
        return x * by.data

    @staticmethod
    def backward(ctx, grad):
        (by,) = ctx.saved_tensors
        return grad * by


def test_a_tensor_saved_directly_is_checked_too():
    w = Tensor(np.ones(3), requires_grad=True)
    x = Tensor(np.arange(3.0), requires_grad=True)
    y = _ScaleBy.apply(x, by=w).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 1.0])
    with ag.no_grad():
        w += 1.0
    with pytest.raises(BackwardError, match="_ScaleBy.*in-place"):
        y.backward()
