"""Every registered Scalar primitive, through the same property checks as the Tensor ops.

The ops and how to draw their inputs (Python constants on either side of binary ops included) are
declared in ``op_specs.py``; this file says what must hold for each: the forward pass agrees with
``math``, and first and second derivatives agree with central differences.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_specs import SCALAR_SPECS

import autograd_core as ag
from autograd_core import registry

parametrize_specs = pytest.mark.parametrize("spec", SCALAR_SPECS, ids=lambda spec: spec.id)


def test_every_scalar_op_is_tested_on_scalars():
    """Every op with a float kernel (a Scalar op) has Scalar entries, derived from its spec."""
    scalar_ops = {name for name, op in registry.OPS.items() if op.scalar}
    assert {spec.op for spec in SCALAR_SPECS} == scalar_ops
    assert {"add", "mul", "pow", "exp", "tanh", "relu"} <= scalar_ops
    assert {spec.family for spec in SCALAR_SPECS} == {"scalar"}


@parametrize_specs
@given(data=st.data())
def test_forward_matches_numpy(spec, data):
    """The result is a Scalar holding a float equal to numpy's, computed by the primitive the
    spec is filed under."""
    case = data.draw(spec.cases, label="case")
    out = spec.run(case)
    expected = spec.expected(case)
    assert isinstance(out, ag.Scalar)
    assert isinstance(out.data, float), f"data is {type(out.data).__name__}, not float"
    assert math.isclose(out.data, expected, rel_tol=1e-12, abs_tol=1e-12)
    assert out.requires_grad
    assert isinstance(out.grad_fn, spec.primitive)


@parametrize_specs
@given(data=st.data())
def test_gradcheck(spec, data):
    """First derivatives agree with central differences."""
    case = data.draw(spec.cases, label="case")
    assert ag.gradcheck(spec.function_of_args(case), case.args)


@parametrize_specs
@given(data=st.data())
def test_gradgradcheck(spec, data):
    """Second derivatives (through the recorded backward pass) agree with central differences."""
    case = data.draw(spec.cases, label="case")
    assert ag.gradgradcheck(spec.function_of_args(case), case.args)
