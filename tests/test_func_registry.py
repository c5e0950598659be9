"""Forward mode and the Jacobian transforms over the whole op registry.

Every differentiable spec of ``op_specs.py`` goes through ``func.jvp``, ``func.jacfwd``,
``func.jacrev`` and ``func.hessian``, each compared with central differences of the op itself
(plain numpy through our forward, no derivative code involved). The list of primitives whose
forward-mode rule is derived from their backward rule is pinned here, so that it cannot grow
unnoticed.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import COMPOSITE_SPECS, TENSOR_SPECS

import autograd_core as ag
from autograd_core import func

DIFFERENTIABLE = [spec for spec in TENSOR_SPECS + COMPOSITE_SPECS if spec.kind != "untracked"]
parametrize = pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=lambda spec: spec.id)
EPS = 1e-6

# The primitives without a forward rule of their own (neither explicit ``jvp`` nor elementwise):
# each gets the rule derived from its backward (forward_mode._derived). All are linear in their
# differentiable inputs or piecewise so (max, clip), except logsumexp, prod and
# softmax_cross_entropy, where the derived rule costs one backward of the op and its transpose.
DERIVED = [
    "astype", "broadcast_to", "cholesky", "clip", "clone", "concatenate", "conv1d", "conv2d",
    "conv_transpose1d", "conv_transpose2d", "det", "getitem", "inv", "logsumexp", "max",
    "max_pool2d", "min", "pad", "prod", "reshape", "scatter_add", "softmax_cross_entropy",
    "solve", "solve_triangular", "sum", "tensordot", "transpose",
]


def test_the_ops_on_the_derived_forward_rule_are_the_listed_ones():
    derived = func.derived_ops()
    print("ops whose jvp is derived from their backward rule:", derived)
    assert derived == DERIVED


def _split(spec, case):
    """The op as a function of its differentiated inputs only (float64 arrays), and those."""
    positions = [i for i, a in enumerate(case.args)
                 if isinstance(a, ag.Tensor) and a.requires_grad]
    primals = tuple(np.array(case.args[i].data, dtype=np.float64) for i in positions)

    def fn(*values):
        args = list(case.args)
        for i, v in zip(positions, values):
            args[i] = v
        return spec.call(*args, **case.kwargs)

    return fn, primals


def _plain(fn, values) -> np.ndarray:
    """The op on constants (no graph), as float64."""
    return np.array(fn(*(ag.Tensor(v) for v in values)).data, dtype=np.float64)


def _numeric_jacobian(fn, primals, k) -> np.ndarray:
    """d fn / d primals[k] by central differences, shaped out.shape + primals[k].shape."""
    out_shape = _plain(fn, primals).shape
    jac = np.zeros(out_shape + primals[k].shape)
    for index in np.ndindex(*primals[k].shape):
        plus = [p.copy() for p in primals]
        minus = [p.copy() for p in primals]
        plus[k][index] += EPS
        minus[k][index] -= EPS
        jac[(...,) + index] = (_plain(fn, plus) - _plain(fn, minus)) / (2 * EPS)
    return jac


def _close(actual, expected):
    actual = np.asarray(actual.data if isinstance(actual, ag.Tensor) else actual, np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


@parametrize
@given(data=st.data())
def test_jvp_matches_central_differences(spec, data):
    case = data.draw(spec.cases, label="case")
    fn, primals = _split(spec, case)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seed"))
    tangents = tuple(rng.standard_normal(p.shape) for p in primals)
    out, tangent_out = func.jvp(fn, primals, tangents)
    plus = _plain(fn, [p + EPS * t for p, t in zip(primals, tangents)])
    minus = _plain(fn, [p - EPS * t for p, t in zip(primals, tangents)])
    _close(out, _plain(fn, primals))
    _close(tangent_out, (plus - minus) / (2 * EPS))
    assert not tangent_out.requires_grad


@parametrize
@settings(max_examples=8)
@given(data=st.data())
def test_jacfwd_and_jacrev_match_central_differences(spec, data):
    case = data.draw(spec.cases, label="case")
    fn, primals = _split(spec, case)
    argnums = tuple(range(len(primals)))
    forward = func.jacfwd(fn, argnums=argnums)(*primals)
    reverse = func.jacrev(fn, argnums=argnums)(*primals)
    for k in argnums:
        expected = _numeric_jacobian(fn, primals, k)
        _close(forward[k], expected)
        _close(reverse[k], expected)


FORWARD_OVER_FORWARD_LIMIT = 24
# Each Hessian example differentiates the gradient by central differences, one pair of passes
# per input element (20 s for 5 examples of the nuclear norm): the profile sets how many, 2 in
# CI's (30 examples elsewhere) and 10 in the thorough one (150).
HESSIAN_EXAMPLES = max(2, settings().max_examples // 15)


@parametrize
@settings(max_examples=HESSIAN_EXAMPLES)
@given(data=st.data())
def test_hessian_matches_central_differences_of_the_gradient(spec, data):
    """The Hessian of <op(x), w> (w fixed) against central differences of its gradient, three
    ways: func.hessian (reverse over reverse), jacfwd of jacrev, and jacfwd of jacfwd (nested
    forward-mode levels)."""
    case = data.draw(spec.cases, label="case")
    fn, primals = _split(spec, case)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seed"))
    weights = rng.standard_normal(_plain(fn, primals).shape)

    def scalar(*values):
        return (fn(*values) * weights).sum()

    argnums = tuple(range(len(primals)))
    hessian = func.hessian(scalar, argnums=argnums)(*primals)
    forward_over_reverse = func.jacfwd(func.jacrev(scalar, argnums=argnums),
                                       argnums=argnums)(*primals)
    # Forward over forward runs one nested forward pass per pair of input elements (and the
    # ops on the derived rule replay their graph in each): for inputs of more than
    # FORWARD_OVER_FORWARD_LIMIT elements (convolutions' windows and kernels) that is minutes
    # per example, so there the two reverse-mode Hessians are the ones checked.
    small = sum(p.size for p in primals) <= FORWARD_OVER_FORWARD_LIMIT
    forward_over_forward = func.jacfwd(func.jacfwd(scalar, argnums=argnums),
                                       argnums=argnums)(*primals) if small else None
    gradient = func.grad(scalar, argnums=argnums)
    for k in argnums:
        for j in argnums:
            column = np.zeros(primals[k].shape + primals[j].shape)
            for index in np.ndindex(*primals[j].shape):
                plus = [p.copy() for p in primals]
                minus = [p.copy() for p in primals]
                plus[j][index] += EPS
                minus[j][index] -= EPS
                column[(...,) + index] = (gradient(*plus)[k].data
                                          - gradient(*minus)[k].data) / (2 * EPS)
            _close(hessian[k][j], column)
            _close(forward_over_reverse[k][j], column)
            if forward_over_forward is not None:
                _close(forward_over_forward[k][j], column)
