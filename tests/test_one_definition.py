"""Issue 11's mechanisms, each by example: the engine undoes broadcasting for every op (rules
never do), the op table refuses clashing declarations, and one declaration serves Tensor and
Scalar alike."""

import ast
import pathlib

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import Function, ShapeError, registry
from autograd_core.registry import Op

OPS_DIR = pathlib.Path(ag.__file__).parent / "ops"


class BroadcastAdd(Function):
    """x + y with broadcasting, whose backward knows nothing about it."""

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def test_the_engine_sums_each_gradient_to_its_inputs_shape():
    x = ag.Tensor(np.ones((2, 3)), requires_grad=True)
    y = ag.Tensor(np.ones((1, 3)), requires_grad=True)
    z = ag.Tensor(np.ones(()), requires_grad=True)
    out = BroadcastAdd.apply(BroadcastAdd.apply(x, y), z)
    out.backward(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.grad.data, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(y.grad.data, [[3.0, 5.0, 7.0]])  # summed over the rows
    assert z.grad.shape == () and z.grad.item() == 15.0


def test_broadcast_gradients_are_summed_in_a_recorded_backward_too():
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = ag.Tensor(np.array(3.0), requires_grad=True)
    (gb,) = ag.grad((x * b * b).sum(), [b], create_graph=True)  # d/db = 2 b sum(x) = 18
    assert gb.item() == 18.0
    (g2,) = ag.grad(gb, [b])  # d2/db2 = 2 sum(x) = 6
    assert g2.item() == 6.0


class WrongShape(Function):
    """x + y (broadcast), whose backward returns a gradient that fits neither input."""

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return np.ones((4, 5)), np.ones((4, 5))


def test_a_gradient_that_cannot_be_summed_to_the_inputs_shape_names_the_op_and_shapes():
    x = ag.Tensor(np.ones((2, 3)), requires_grad=True)
    y = ag.Tensor(np.ones(3), requires_grad=True)
    out = WrongShape.apply(x, y)
    with pytest.raises(ShapeError, match=r"WrongShape.backward: a gradient of shape \(4, 5\) "
                                         r"cannot be summed to shape \(2, 3\)"):
        out.backward(np.ones((2, 3)))


def test_no_rule_in_ops_undoes_broadcasting_itself():
    """The engine does it once for all (``engine.sum_to``): no module of ops/ refers to it."""
    for path in OPS_DIR.glob("*.py"):
        names = {node.id for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Name)}
        attributes = {node.attr for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.Attribute)}
        assert "sum_to" not in names | attributes, f"{path.name} calls sum_to"


def test_declaring_an_op_name_twice_is_refused_and_changes_nothing():
    before = (dict(registry.OPS), dict(registry.NUMPY))
    with pytest.raises(ValueError, match="op 'exp' is declared twice"):
        registry._register(Op("exp", lambda x: x, None, kind="composite"))
    assert (registry.OPS, registry.NUMPY) == before


def test_two_ops_for_one_numpy_function_are_refused_and_change_nothing():
    before = (dict(registry.OPS), dict(registry.NUMPY), dict(registry.COMPOSITES))
    with pytest.raises(ValueError, match=r"np.exp would dispatch to two ops: 'my_exp' and"):
        registry._register(Op("my_exp", lambda x: x, None, numpy=(np.exp,), kind="composite"))
    assert (registry.OPS, registry.NUMPY, registry.COMPOSITES) == before


def test_one_declaration_makes_the_function_the_methods_and_the_numpy_entry():
    op = registry.OPS["tanh"]
    assert ag.tanh is op.function and op.scalar
    assert registry.NUMPY[np.tanh] is op.function
    t = ag.Tensor([0.5], requires_grad=True)
    s = ag.Scalar(0.5)
    for value in (t.tanh(), ag.tanh(t), np.tanh(t), s.tanh(), ag.tanh(s)):
        assert type(value.grad_fn) is op.primitive  # the same Function class for both
    assert ag.tanh(0.5) == pytest.approx(np.tanh(0.5)) and isinstance(ag.tanh(0.5), float)


def test_scalar_operands_that_are_not_numbers_are_refused_with_the_op_named():
    s = ag.Scalar(1.0)
    with pytest.raises(TypeError, match="Scalar Add: expected a Scalar or a real number, got str"):
        s + "a"
    with pytest.raises(TypeError, match="Scalar Mul: cannot combine a Scalar with a Tensor"):
        s * ag.Tensor([1.0])
    assert (s * np.float32(2.0)).data == 2.0 and type((s * np.float32(2.0)).data) is float


_NODE_FIELDS = ("_next", "_saved", "_roles", "_out_type", "_shapes", "_retained")


def _node_fields(value):
    node = value._grad_fn
    # (Function.apply leaves _roles unset when nothing is saved)
    return type(node), tuple(getattr(node, name, None) for name in _NODE_FIELDS)


_OPERATORS = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv", "pow": "pow"}


@pytest.mark.parametrize("name", sorted(name for name, op in registry.OPS.items()
                                         if op.scalar and op.primitive.arity <= 2))
def test_scalar_methods_record_the_node_function_apply_records(name):
    # Scalar's methods and operators set a node's fields themselves (their fast path); those
    # must be exactly the fields that the general path, Function.apply, sets.
    cls = registry.OPS[name].primitive
    a, b = ag.Scalar(0.625), ag.Scalar(0.375)
    if cls.arity == 1:
        cases = [(getattr(ag.Scalar, name), (a,), (a,))]
    else:
        dunder = _OPERATORS.get(name)
        method = getattr(ag.Scalar, f"__{dunder}__" if dunder else name)
        cases = [(method, (a, b), (a, b)), (method, (a, 0.5), (a, 0.5))]  # 0.5: no edge
        if dunder:  # 0.5 - a runs a.__rsub__(0.5)
            cases.append((getattr(ag.Scalar, f"__r{dunder}__"), (a, 0.5), (0.5, a)))
    for method, args, apply_args in cases:
        fast, general = method(*args), cls.apply(*apply_args)
        assert fast.data == general.data and fast.requires_grad
        assert _node_fields(fast) == _node_fields(general), (name, args)
        # both numbered in the order they were recorded: backward visits nodes by that number
        assert type(fast.grad_fn._number) is int
        assert fast.grad_fn._number < general.grad_fn._number
