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


def test_every_registered_scalar_primitive_has_a_spec():
    """A new Scalar primitive must come with an entry in op_specs.py."""
    missing = set(registry.PRIMITIVES["scalar"]) - {spec.op for spec in SCALAR_SPECS}
    assert not missing, f"scalar primitives without a spec: {sorted(missing)}"


def test_every_scalar_spec_names_a_registered_primitive():
    """A spec for a renamed or removed primitive would silently test nothing registered."""
    assert {spec.family for spec in SCALAR_SPECS} == {"scalar"}
    unknown = {spec.op for spec in SCALAR_SPECS} - set(registry.PRIMITIVES["scalar"])
    assert not unknown, f"specs for scalar ops that are not registered: {sorted(unknown)}"
    ids = [spec.id for spec in SCALAR_SPECS]
    assert len(ids) == len(set(ids)), "two specs share an id: give them distinct variants"


@parametrize_specs
@given(data=st.data())
def test_forward_matches_math(spec, data):
    """The result is a Scalar holding a float equal to math's, computed by the primitive the
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
