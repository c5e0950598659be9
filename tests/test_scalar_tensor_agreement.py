"""Scalar and Tensor give the same value and gradients for every Scalar primitive on edge
values: 0, -0, +-inf, NaN, negative numbers, ties (issue 10, item 5).

Every Scalar primitive is run next to its Tensor counterpart on float64 (the Scalar's float
type); a primitive added without an entry here fails the completeness test. The hand-worked
values at the end pin down the semantics both must follow (IEEE, as numpy and PyTorch)."""

import itertools
import math

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import Scalar, Tensor, registry

INF, NAN = math.inf, math.nan
EDGES = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, INF, -INF, NAN]

# Every op with a float kernel (a Scalar op) is compared: Scalar runs the float kernel and the
# rule on floats, Tensor the numpy kernel and the rule on arrays. Operators are called as users
# write them; other ops through their method (unary) or public function (binary).
OPERATORS = {"neg": lambda x: -x, "abs": abs, "add": lambda a, b: a + b,
             "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
             "pow": lambda a, b: a ** b}
SCALAR_OPS = {name: op for name, op in registry.OPS.items() if op.scalar}


def _calls(name):
    """(Scalar call, Tensor call) for the op ``name``."""
    if name in OPERATORS:
        return OPERATORS[name], OPERATORS[name]
    if name == "leaky_relu":
        return (lambda x: x.leaky_relu(slope=0.1)), (lambda x: ag.leaky_relu(x, 0.1))
    if name == "polygamma":  # its order n is a constant, as leaky_relu's slope
        return (lambda x: ag.polygamma(1, x)), (lambda x: ag.polygamma(1, x))
    function = registry.OPS[name].function
    if SCALAR_OPS[name].primitive.arity == 1:
        return (lambda x: getattr(x, name)()), function
    return function, function


UNARY = {n: _calls(n) for n, op in SCALAR_OPS.items() if op.primitive.arity == 1}
BINARY = {n: _calls(n) for n, op in SCALAR_OPS.items() if op.primitive.arity == 2}


def test_every_scalar_primitive_is_compared():
    ternary = {n for n, op in SCALAR_OPS.items() if op.primitive.arity == 3}
    assert set(SCALAR_OPS) == set(UNARY) | set(BINARY) | ternary
    assert ternary == {"where"}  # its condition is no float: tested with the other ops


def same(ours, theirs) -> bool:
    """Equal as IEEE floats, NaN equal to NaN (the sign of a zero is not compared)."""
    return (math.isnan(ours) and math.isnan(theirs)) or ours == theirs


def run_scalar(op, values):
    leaves = [Scalar(v) for v in values]
    out = op(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def run_tensor(op, values):
    leaves = [Tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    with np.errstate(all="ignore"):  # numpy's warnings about inf and nan: the values are the point
        out = op(*leaves)
        out.backward()
    return out.item(), [leaf.grad.item() for leaf in leaves]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_primitives_agree_on_edge_values(name):
    scalar_op, tensor_op = UNARY[name]
    for x in EDGES:
        value, grads = run_scalar(scalar_op, [x])
        t_value, t_grads = run_tensor(tensor_op, [x])
        assert same(value, t_value), f"{name}({x}): Scalar {value}, Tensor {t_value}"
        assert same(grads[0], t_grads[0]), f"{name}'({x}): Scalar {grads[0]}, Tensor {t_grads[0]}"


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_primitives_agree_on_edge_values_and_ties(name):
    scalar_op, tensor_op = BINARY[name]
    for a, b in itertools.product(EDGES + [-8.0, 1 / 3], repeat=2):
        value, grads = run_scalar(scalar_op, [a, b])
        t_value, t_grads = run_tensor(tensor_op, [a, b])
        where = f"{name}({a}, {b})"
        assert same(value, t_value), f"{where}: Scalar {value}, Tensor {t_value}"
        for i in range(2):
            assert same(grads[i], t_grads[i]), \
                f"{where} gradient {i}: Scalar {grads[i]}, Tensor {t_grads[i]}"


def test_second_derivatives_agree_at_zero_powers():
    for a, b in [(0.0, 0.5), (0.0, 0.0), (2.0, 0.0), (0.0, 2.0)]:
        s_a, s_b = Scalar(a), Scalar(b)
        (ga,) = ag.grad(s_a ** s_b, s_a, create_graph=True)
        (gab,) = ag.grad(ga, s_b, allow_unused=True)
        t_a = Tensor(np.array(a), requires_grad=True)
        t_b = Tensor(np.array(b), requires_grad=True)
        with np.errstate(all="ignore"):
            (tga,) = ag.grad(t_a ** t_b, t_a, create_graph=True)
            (tgab,) = ag.grad(tga, t_b, allow_unused=True)
        assert same(ga.data, tga.item())
        assert same(0.0 if gab is None else gab, 0.0 if tgab is None else tgab.item())


# ---- the semantics, by hand ---------------------------------------------------------------------

def test_scalar_relu_of_nan_is_nan_with_gradient_zero():
    x = Scalar(NAN)
    y = x.relu()
    y.backward()
    assert math.isnan(y.data) and x.grad == 0.0


def test_scalar_sqrt_power_at_zero_has_infinite_gradient():
    x = Scalar(0.0)
    (x ** 0.5).backward()
    assert x.grad == INF
    x = Scalar(0.0)
    x.sqrt().backward()
    assert x.grad == INF


@pytest.mark.parametrize("make, value", [
    (lambda x: x / 0, INF),
    (lambda x: -x / 0, -INF),
    (lambda x: (x - 2) / 0, NAN),
    (lambda x: 1 / (x - 2), INF),
    (lambda x: (-x).log(), NAN),
    (lambda x: (x - 2).log(), -INF),
    (lambda x: (-x).sqrt(), NAN),
    (lambda x: (x - 2) ** -1, INF),
    (lambda x: (-x) ** 0.5, NAN),
    (lambda x: (x * 1000).exp(), INF),
    (lambda x: (x * 1e200) ** 2, INF),
    (lambda x: (-x * 1e200) ** 3, -INF),
])
def test_scalar_domain_edges_give_ieee_values_not_exceptions(make, value):
    x = Scalar(2.0)
    out = make(x)
    assert same(out.data, value)


def test_maximum_with_nan_gives_the_nan_operand_the_gradient():
    a, b = Scalar(NAN), Scalar(1.0)
    out = a.maximum(b)
    out.backward()
    assert math.isnan(out.data) and a.grad == 1.0 and b.grad == 0.0
    a, b = Scalar(1.0), Scalar(NAN)
    out = a.minimum(b)
    out.backward()
    assert math.isnan(out.data) and a.grad == 0.0 and b.grad == 1.0
