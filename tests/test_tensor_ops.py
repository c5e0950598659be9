"""Every registered Tensor primitive and composite, through the same property checks.

The ops and how to draw their inputs are declared in ``op_specs.py``; this file only says what
must hold for each of them: the forward pass agrees with numpy, first and second derivatives agree
with central differences, and float32 stays float32. The first two tests fail when an op is
registered without a spec (or a spec names an op that is not registered), so that no op goes
untested.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import COMPOSITE_SPECS, TENSOR_SPECS

import autograd_core as ag
from autograd_core import registry

SPECS = TENSOR_SPECS + COMPOSITE_SPECS
DIFFERENTIABLE = [spec for spec in SPECS if spec.kind != "untracked"]
parametrize_specs = pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.id)
parametrize_differentiable = pytest.mark.parametrize("spec", DIFFERENTIABLE,
                                                     ids=lambda spec: spec.id)


def test_every_declared_op_has_a_spec():
    """A new op must come with an entry in op_specs.py."""
    missing = set(registry.OPS) - {spec.op for spec in SPECS}
    assert not missing, f"ops without a spec: {sorted(missing)}"


def test_every_spec_names_a_declared_op():
    """A spec for a renamed or removed op would silently test nothing that is declared."""
    unknown = {spec.op for spec in SPECS} - set(registry.OPS)
    assert not unknown, f"specs for ops that are not declared: {sorted(unknown)}"
    assert {spec.kind for spec in COMPOSITE_SPECS} == {"composite"}
    assert "composite" not in {spec.kind for spec in TENSOR_SPECS}
    ids = [spec.id for spec in SPECS]
    assert len(ids) == len(set(ids)), "two specs share an id: give them distinct variants"


@parametrize_specs
@given(data=st.data())
def test_forward_matches_numpy(spec, data):
    """float64 results equal numpy's (shape, dtype and values), and the spec's call really runs
    the primitive it is filed under (``astype`` to the same dtype, say, would record nothing)."""
    case = data.draw(spec.cases, label="case")
    out = spec.run(case)
    expected = np.asarray(spec.expected(case))
    assert isinstance(out, ag.Tensor)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    if spec.kind == "untracked":
        assert not out.requires_grad, "an op without gradient returned a tensor in the graph"
        return
    assert out.requires_grad
    if spec.primitive is not None:
        assert isinstance(out.grad_fn, spec.primitive)


@parametrize_differentiable
@given(data=st.data())
def test_gradcheck(spec, data):
    """First derivatives (every differentiable input) agree with central differences."""
    case = data.draw(spec.cases, label="case")
    assert ag.gradcheck(spec.function_of_args(case), case.args)


@parametrize_differentiable
@given(data=st.data())
def test_gradgradcheck(spec, data):
    """The backward pass is itself differentiable, and correctly so: second derivatives (and
    the derivative with respect to the incoming gradient) agree with central differences."""
    case = data.draw(spec.cases, label="case")
    assert ag.gradgradcheck(spec.function_of_args(case), case.args)


def _float32(value):
    """float64 Tensors and numpy constants as float32; anything else unchanged."""
    if isinstance(value, ag.Tensor) and value.dtype == np.float64:
        return ag.Tensor(value.data, dtype=np.float32, requires_grad=value.requires_grad)
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value.astype(np.float32)
    return value


def _leaf_copy(value):
    if isinstance(value, ag.Tensor):
        return ag.Tensor(value.data, dtype=value.dtype, requires_grad=value.requires_grad)
    return value


def _backward(spec, case, args):
    out = spec.run(case, args)
    out.backward(np.ones(out.shape))
    return out


@parametrize_differentiable
@given(data=st.data())
def test_float32_in_float32_out(spec, data):
    """float32 inputs give a float32 output (Cast: the dtype asked for) and float32 gradients,
    which agree with the float64 gradients to float32 accuracy."""
    case = data.draw(spec.cases, label="case")
    args32 = tuple(_float32(a) for a in case.args)
    out = _backward(spec, case, args32)
    if spec.preserves_dtype:
        assert out.dtype == np.float32
    else:
        assert out.dtype == np.asarray(spec.expected(case, args32)).dtype
    args64 = tuple(_leaf_copy(a) for a in case.args)
    _backward(spec, case, args64)
    checked = 0
    for a32, a64 in zip(args32, args64):
        if isinstance(a32, ag.Tensor) and a32.requires_grad:
            assert a32.grad is not None
            assert a32.grad.dtype == np.float32
            assert a32.grad.shape == a32.shape
            scale = 1 + np.max(np.abs(a64.grad.data), initial=0)
            np.testing.assert_allclose(a32.grad.data, a64.grad.data, rtol=1e-3, atol=1e-4 * scale)
            checked += 1
    assert checked > 0


def test_constant_sharing_an_inputs_buffer_stays_constant_at_second_order():
    """``x * x.detach()``: the detached operand is a constant, so d/dx of the gradient (which is
    x.detach()) is 0. Ops save raw arrays and the engine maps a saved array back to an input by
    identity, so a constant that shares an input's buffer must not be taken for that input.
    (The Scalar specs hit the same thing with equal float objects: ``Scalar(3.0) * 3.0``.)"""
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = ag.grad((x * x.detach()).sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.data, [1.0, 2.0])
    assert not g.requires_grad, "the gradient x.detach() was recorded as a function of x"
