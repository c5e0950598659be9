"""Issue 14's fifth pass on eager Scalar: the mechanisms behind its fast paths, by example.

- ``grad_mode._special``: one global list with an entry per thread setting away from its
  default (recording off, anomaly detection on, forward-mode levels open), which Scalar's
  operators read instead of three thread-local settings; a thread's modes still reach only its
  own ops.
- Scalar's backward driver (engine._run_floats) calls built-in rules with a light ctx
  (engine._FloatCtx's subclasses) and gives the gradients the general driver gives, bit for
  bit, for every registered Scalar op; what a rule reads beyond the saved values comes from
  the node.
- Each op's Scalar method has a code object of its own (its attribute stores specialize).
- Scalar's operators keep a node's edges in two slots, not in a tuple (one object the garbage
  collector tracks per op, not two); ``_next`` is made from them when read, and a node
  Function.apply made gets its two slots from ``_next`` the same way.
"""

import gc
import math

import pytest

import autograd_core as ag
from autograd_core import Function, engine, registry
from autograd_core.errors import AnomalyError, BackwardError
from autograd_core.grad_mode import _special
from tests.other_thread import held_in_another_thread


@pytest.fixture
def no_general_driver(monkeypatch):
    """Make engine._run raise: what passes under it ran on Scalar's own driver."""
    def refuse(*args, **kwargs):
        raise AssertionError("the general driver ran")

    monkeypatch.setattr(engine, "_run", refuse)


# ---- one global for the modes ---------------------------------------------------------------

def test_each_setting_away_from_its_default_has_one_entry_while_it_lasts():
    base = len(_special)  # (a thread of another test may still be inside a mode)
    with ag.no_grad():
        assert len(_special) == base + 1
        with ag.no_grad():  # the same setting again: no second entry
            assert len(_special) == base + 1
            with ag.enable_grad():  # back at its default inside
                assert len(_special) == base
                with ag.detect_anomaly():
                    assert len(_special) == base + 1
                assert len(_special) == base
            assert len(_special) == base + 1
    assert len(_special) == base
    with pytest.raises(RuntimeError), ag.no_grad(), ag.detect_anomaly():
        assert len(_special) == base + 2
        raise RuntimeError("left by an exception")
    assert len(_special) == base
    ag.set_grad_enabled(False)  # switched plainly, not in a block
    assert len(_special) == base + 1
    ag.set_grad_enabled(True)
    assert len(_special) == base


def test_forward_mode_levels_count_while_open():
    base = len(_special)
    seen = []

    def f(x):
        seen.append(len(_special))
        return x * x

    out, tangent = ag.func.jvp(f, (ag.Tensor([3.0]),), (ag.Tensor([1.0]),))
    assert seen == [base + 1] and len(_special) == base
    assert out.data.tolist() == [9.0] and tangent.data.tolist() == [6.0]  # d(x^2) = 2x dx


def test_modes_of_another_thread_leave_this_threads_scalar_ops_plain():
    seen = {}

    def worker():
        with ag.no_grad(), ag.detect_anomaly():
            x = ag.Scalar(2.0)
            y = x * 3.0
            seen["recorded"] = y.grad_fn is not None
            try:
                ag.Scalar(-1.0).log()  # nan: anomaly detection in this thread raises
            except AnomalyError:
                seen["anomaly"] = True
            yield

    with held_in_another_thread(worker):
        assert _special  # the worker is away from both defaults now
        a = ag.Scalar(2.0)
        b = a * a + 1.0  # recorded here, on the fast path
        assert type(b.grad_fn) is registry.PRIMITIVES["Add"]
        assert math.isnan(ag.Scalar(-1.0).log().data)  # no anomaly detection in this thread
        b.backward()
        assert a.grad == 4.0
    assert seen == {"recorded": False, "anomaly": True}


def test_this_threads_modes_still_reach_its_scalar_ops():
    x = ag.Scalar(0.5)
    with ag.no_grad():
        assert (x * x).grad_fn is None and x.relu().grad_fn is None
    with ag.detect_anomaly(), pytest.raises(AnomalyError, match="Log"):
        ag.Scalar(-1.0).log()


# ---- the float driver's ctx -------------------------------------------------------------------

def _call(name):
    """The Scalar op ``name`` as a function of Scalars (options given where it takes them)."""
    operators = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
                 "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
                 "pow": lambda a, b: a ** b, "neg": lambda a: -a}
    if name in operators:
        return operators[name]
    if name == "leaky_relu":
        return lambda a: (a - 1.0).leaky_relu(slope=0.2)  # negative: the slope is the gradient
    if name == "polygamma":
        return lambda a: ag.polygamma(1, a)  # its order is a constant, as a slope
    if registry.OPS[name].primitive.arity == 1:
        return lambda a: getattr(a, name)()
    return registry.OPS[name].function


SCALAR_OPS = sorted(name for name, op in registry.OPS.items()
                    if op.scalar and op.primitive.arity in (1, 2))


@pytest.mark.parametrize("name", SCALAR_OPS)
def test_every_scalar_op_gives_the_general_drivers_gradients_bit_for_bit(name):
    op = _call(name)
    arity = registry.OPS[name].primitive.arity
    x, y = ag.Scalar(0.6), ag.Scalar(0.7)
    u, w = x * y, y + 0.1  # 0.42 and 0.8: inside every op's domain
    v = op(u, w) if arity == 2 else op(u)
    out = v * x + v * v  # the op's node fans out: its gradient is a sum
    general = ag.grad(out, [x, y], retain_graph=True)  # the general driver (targets)
    out.backward()  # Scalar's driver
    assert (x.grad, y.grad) == general
    assert all(math.isfinite(g) for g in general)


class Probe(Function):
    """x * y, whose rule reports what it reads from its ctx."""

    arity = 2
    seen = []

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        ctx.tag = "kept on the node"
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        Probe.seen.append((type(ctx), ctx.needs_input_grad, hasattr(ctx, "tag")))
        return grad * y, grad * x


@pytest.fixture
def probe_as_built_in():
    engine._register_float_rule(Probe)
    yield
    del engine._float_rules[Probe]
    Probe.seen.clear()


def test_a_built_in_rule_reads_its_saved_values_and_edges_through_the_light_ctx(
        no_general_driver, probe_as_built_in):
    a, b = ag.Scalar(2.0), ag.Scalar(-3.0)
    with_constant, with_both = Probe.apply(a, 5.0), Probe.apply(a, b)
    (with_constant + with_both).backward()
    assert a.grad == 5.0 - 3.0 and b.grad == 2.0
    # the light ctx holds the saved values and the edges; the rest stays on the node
    assert with_both.grad_fn.tag == with_constant.grad_fn.tag == "kept on the node"
    assert Probe.seen == [(engine._BinaryFloatCtx, (True, True), False),
                          (engine._BinaryFloatCtx, (True, False), False)]


def test_ops_with_options_are_left_to_the_general_step_of_scalars_driver():
    # their rules read ctx.kwargs, which the light ctx does not hold
    registered = {cls.__name__ for cls in engine._float_rules}
    assert "Mul" in registered and "Relu" in registered
    assert not {"LeakyRelu", "Round", "Gelu", "Polygamma"} & registered


def test_a_rule_taking_options_reads_them_from_its_node(no_general_driver):
    x = ag.Scalar(0.5)
    (x - 1.0).leaky_relu(slope=0.2).backward()
    assert x.grad == 0.2


class Miscount(Function):
    arity = 2

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad, grad


def test_a_built_in_rule_returning_the_wrong_count_is_refused_with_the_op_named(
        no_general_driver):
    engine._register_float_rule(Miscount)
    try:
        out = Miscount.apply(ag.Scalar(1.0), ag.Scalar(2.0))
        with pytest.raises(BackwardError, match="Miscount.backward returned 3 gradient"):
            out.backward()
    finally:
        del engine._float_rules[Miscount]


def test_a_rule_that_divides_by_zero_gives_numpys_inf_through_the_light_ctx(no_general_driver):
    x = ag.Scalar(0.0)
    (x.sqrt() * 2.0).backward()  # 1 / (2 sqrt(0))
    assert x.grad == math.inf


# ---- one code object per op -------------------------------------------------------------------

def test_each_scalar_op_method_has_its_own_code_object():
    methods = [ag.Scalar.__add__, ag.Scalar.__radd__, ag.Scalar.__mul__, ag.Scalar.__sub__,
               ag.Scalar.relu, ag.Scalar.tanh, ag.Scalar.exp]
    assert len({id(m.__code__) for m in methods}) == len(methods)
    assert [m.__name__ for m in methods[:3]] == ["add", "add", "mul"]


# ---- the float driver's queue -----------------------------------------------------------------

@pytest.mark.parametrize("shape", ["tree", "interleaved", "fan"])
def test_nodes_held_out_of_the_heap_keep_the_general_drivers_order(shape):
    """Graphs where many nodes wait at once (the two held out of the heap and those in it), so
    that a wrong order would sum some gradient in another order: bit for bit with ag.grad."""
    leaves = [ag.Scalar(0.1 * i - 0.45) for i in range(10)]
    values = [a * b + 0.3 for a, b in zip(leaves, leaves[1:] + leaves[:1])]
    if shape == "tree":  # pairwise sums: a node's inputs were recorded far apart
        while len(values) > 1:
            values = [a.tanh() + b * a for a, b in zip(values[::2], values[1::2])] + \
                values[len(values) - len(values) % 2:]
    elif shape == "interleaved":  # each value used by the next two, and by the end
        for i in range(30):
            values.append(values[-1].tanh() * values[-2] + values[i % 7].sigmoid())
        values = [sum(values[::3], ag.Scalar(0.0, requires_grad=False))]
    else:  # one value used by every later one
        hub = values[0]
        values = [sum((hub * v for v in values[1:]), hub.relu())]
    out = values[0]
    general = ag.grad(out, leaves, retain_graph=True, allow_unused=True)
    out.backward()
    assert all(g is not None and math.isfinite(g) for g in general)
    assert [leaf.grad for leaf in leaves] == list(general)


def test_nodes_are_made_without_running_an_ops_own_init():
    from autograd_core.scalar import _node_maker

    class Traced(Function):
        made = 0

        def __init__(self):
            Traced.made += 1

    mul = registry.PRIMITIVES["Mul"]
    assert _node_maker(mul) is mul  # the class itself: it has no __new__ or __init__ of its own
    node = _node_maker(Traced)()
    assert type(node) is Traced and Traced.made == 0  # object.__new__, as Function.apply does


# ---- sixth pass: what the collector walks --------------------------------------------------------

def test_importing_the_library_leaves_scipy_unimported_until_gelu_needs_it():
    # scipy.special brings about 16,000 objects the collector tracks: every full collection of
    # a Scalar user's process walked them. GELU imports it on first use and still uses it.
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(ag.__file__)))  # this checkout's
    code = ("import sys, math, autograd_core as ag\n"
            "print('scipy' in sys.modules)\n"
            "y = ag.Scalar(0.5).gelu()\n"
            "print('scipy.special' in sys.modules)\n"
            "print(repr(y.data))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root, env=dict(os.environ, PYTHONPATH=root)).stdout.split()
    assert out[:2] == ["False", "True"]
    x = 0.5  # x * Phi(x) with scipy's erf: within an ulp of math.erf's
    assert float(out[2]) == pytest.approx(x * (math.erf(x / math.sqrt(2)) + 1) / 2, rel=1e-15)


def test_the_first_hook_or_retain_grad_in_a_process_reaches_scalars_driver(
        monkeypatch, no_general_driver):
    # Scalar's driver reads a node's _retained slot only once some node was given extras: the
    # first register_hook() or retain_grad() must switch that on.
    monkeypatch.setattr(engine, "_any_extras", False)
    a = ag.Scalar(3.0)
    b = a * a  # node: b's gradient is 2 * (b + 1) = 20, a's 2 * 3 * 20 = 120 without the hook
    c = (b + 1.0) ** 2
    b.retain_grad()
    seen = []
    b.register_hook(lambda g: seen.append(g) or g * 10.0)
    assert engine._any_extras is True
    c.backward()
    assert seen == [20.0]
    assert b.grad == 200.0  # retain_grad keeps the gradient after the hook (as PyTorch does)
    assert a.grad == 1200.0


# ---- a node's edges in two slots ---------------------------------------------------------------

def test_an_operator_node_keeps_its_edges_in_slots_and_makes_next_from_them_when_read():
    a, b = ag.Scalar(2.0), ag.Scalar(3.0)
    product = a * b
    node = product.grad_fn
    assert (node._edge_a, node._edge_b) == (a, b)
    assert not hasattr(node, "_edges")  # no tuple until something reads _next
    assert node._next == (a, b) and node._edges is node._next  # made once, then kept
    unary = product.relu().grad_fn
    assert unary._next == (node,) and unary._edge_a is node
    assert (a * 4.0).grad_fn._next == (a, None)
    (product.relu() * 2.0).backward()  # the driver reads the slots or the tuple alike
    assert (a.grad, b.grad) == (6.0, 4.0)


class AddThree(Function):
    @staticmethod
    def forward(ctx, x, y, z):
        return x + y + z

    @staticmethod
    def backward(ctx, grad):
        return grad, grad, grad


def test_a_node_function_apply_made_holds_its_edges_as_a_tuple_alone(no_general_driver):
    a = ag.Scalar(-0.5)
    out = a.leaky_relu(slope=0.25)  # an op with options: Function.apply's node
    node = out.grad_fn
    assert node._next == (a,) and not hasattr(node, "_edge_a")
    wide = AddThree.apply(a, a, out).grad_fn
    assert wide._next == (a, a, node)
    wide._next = (a, a, None)  # setting the tuple (as forward mode does) replaces slots too
    product = (a * a).grad_fn
    product._next = (None, a)
    assert not hasattr(product, "_edge_a") and product._next == (None, a)
    AddThree.apply(out, a, 1.0).backward()  # _run_floats on a node of each kind
    assert a.grad == 0.25 + 1.0
    with pytest.raises(AttributeError, match="'AddThree' object has no attribute '_next'"):
        assert AddThree()._next is None  # a ctx not in a graph


def test_a_scalar_graph_holds_one_tracked_object_per_op():
    # What the collector walks in every collection while a graph lives (its time in micrograd's
    # demo step halved when the edge tuple went): the node, and nothing else per op (the saved
    # floats' tuples are untracked by the first collection that meets them).
    x = ag.Scalar(0.5)
    gc.collect()
    before = len(gc.get_objects())
    y = x
    for _ in range(300):
        y = (y * 1.0001 + x).relu()  # 3 ops per pass
    gc.collect()
    assert len(gc.get_objects()) - before <= 900 + 5
    y.backward()
    assert x.grad > 0


def test_a_thread_that_ends_inside_a_mode_takes_its_entry_with_it():
    base = len(_special)

    def stay_in_no_grad_and_anomaly():
        ag.no_grad().__enter__()  # never exited: the thread ends inside both modes
        ag.detect_anomaly().__enter__()
        yield

    with held_in_another_thread(stay_in_no_grad_and_anomaly):
        assert len(_special) == base + 2
    gc.collect()
    assert len(_special) == base
