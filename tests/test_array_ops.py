"""The array ops numpy users reach for (issue 11's coverage list), beyond the property tests that
every op gets from op_specs.py: values worked out by hand at the edges the specs keep away from
(zeros in prod, ties in sort/topk/argmax), what each returns (lists, (values, indices), integer
tensors, dtypes of created tensors), the Tensor methods, the numpy functions routed to each op,
and the errors for bad arguments."""

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import registry


def _leaf(values):
    return ag.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


# ---- prod: gradients with zeros -----------------------------------------------------------------

def test_prod_gradient_with_one_zero_is_the_product_of_the_others():
    x = _leaf([2.0, 0.0, 3.0, 5.0])
    ag.prod(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 30.0, 0.0, 0.0])


def test_prod_gradient_per_slice_with_zeros_in_some():
    x = _leaf([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0], [0.0, 0.0, 7.0]])
    out = x.prod(axis=1)
    np.testing.assert_array_equal(out.data, [0.0, 8.0, 0.0])
    out.backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(x.grad.data, [[0.0, 6.0, 0.0], [80.0, 40.0, 20.0],
                                                [0.0, 0.0, 0.0]])


def test_prod_second_derivatives_with_one_and_two_zeros():
    # P = x0 x1 x2: the Hessian's (i, j) entry is the third element, whatever is 0.
    for values in ([0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]):
        x = _leaf(values)
        (g,) = ag.grad(ag.prod(x), [x], create_graph=True)
        hessian = np.stack([ag.grad(g[i], [x], retain_graph=True)[0].data for i in range(3)])
        v = values
        expected = [[0.0, v[2], v[1]], [v[2], 0.0, v[0]], [v[1], v[0], 0.0]]
        np.testing.assert_array_equal(hessian, expected, err_msg=f"at {values}")


def test_prod_of_nothing_is_one_and_of_integers_stays_integer():
    assert ag.prod(ag.zeros(0)).item() == 1.0
    ints = ag.prod(ag.Tensor([2, 3, 4]))
    assert ints.item() == 24 and ints.dtype.kind == "i" and not ints.requires_grad


# ---- std ----------------------------------------------------------------------------------------

def test_std_with_ddof_by_hand():
    x = _leaf([1.0, 2.0, 3.0, 6.0])  # mean 3, squared deviations 4 + 1 + 0 + 9 = 14
    np.testing.assert_allclose(x.std().item(), np.sqrt(14 / 4))
    out = ag.std(x, ddof=1)
    np.testing.assert_allclose(out.item(), np.sqrt(14 / 3))
    out.backward()
    # d std / dx_i = (x_i - mean) / ((n - ddof) std)
    np.testing.assert_allclose(x.grad.data, np.array([-2.0, -1.0, 0.0, 3.0]) /
                               (3 * np.sqrt(14 / 3)))


# ---- split, array_split, vstack, hstack ---------------------------------------------------------

def test_split_returns_a_list_of_tensors_in_the_graph():
    x = _leaf(np.arange(12.0).reshape(3, 4))
    pieces = ag.split(x, 2, axis=1)
    assert isinstance(pieces, list) and len(pieces) == 2
    for piece, expected in zip(pieces, np.split(np.arange(12.0).reshape(3, 4), 2, axis=1)):
        assert isinstance(piece, ag.Tensor) and piece.requires_grad
        np.testing.assert_array_equal(piece.data, expected)
    (pieces[1] * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 2, 2]] * 3)


def test_split_at_indices_and_array_split_sizes():
    x = _leaf(np.arange(7.0))
    assert [p.data.tolist() for p in ag.split(x, [2, 5])] == [[0, 1], [2, 3, 4], [5, 6]]
    assert [p.shape for p in ag.array_split(x, 3)] == [(3,), (2,), (2,)]


def test_split_into_unequal_sections_is_an_error_naming_array_split():
    with pytest.raises(ValueError, match="split: .*7 elements.*3 equal sections.*array_split"):
        ag.split(_leaf(np.arange(7.0)), 3)


def test_vstack_and_hstack_of_vectors():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    np.testing.assert_array_equal(ag.vstack([a, b]).data, [[1, 2], [3, 4]])
    h = ag.hstack([a, b, np.array([5.0])])
    np.testing.assert_array_equal(h.data, [1, 2, 3, 4, 5])
    (h * np.arange(5.0)).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0, 1])
    np.testing.assert_array_equal(b.grad.data, [2, 3])


# ---- diagonals and triangles --------------------------------------------------------------------

def test_diag_both_ways_and_its_gradient():
    v = _leaf([1.0, 2.0])
    m = ag.diag(v, 1)
    np.testing.assert_array_equal(m.data, [[0, 1, 0], [0, 0, 2], [0, 0, 0]])
    (m * np.arange(9.0).reshape(3, 3)).sum().backward()
    np.testing.assert_array_equal(v.grad.data, [1.0, 5.0])
    x = _leaf(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(ag.diag(x, -1).data, [3.0])
    with pytest.raises(ag.ShapeError, match="diag: expected a 1-d or 2-d tensor"):
        ag.diag(ag.zeros(2, 2, 2))


def test_trace_and_diagonal_gradients_fall_on_the_diagonal():
    x = _leaf(np.arange(9.0).reshape(3, 3))
    t = x.trace()
    assert t.item() == 12.0
    t.backward()
    np.testing.assert_array_equal(x.grad.data, np.eye(3))
    y = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(ag.diagonal(_leaf(y), 1, 2, 0).data, np.diagonal(y, 1, 2, 0))
    with pytest.raises(ag.ShapeError, match="diagonal: needs at least 2 dims"):
        ag.diagonal(ag.zeros(3))


def test_tril_triu_pass_no_gradient_to_the_zeroed_part():
    x = _leaf(np.ones((2, 3)))
    ag.triu(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(x.tril().data, [[1, 0, 0], [1, 1, 0]])
    with pytest.raises(ag.ShapeError, match="tril: needs at least 2 dims"):
        ag.tril(ag.zeros(3))


# ---- reordering ---------------------------------------------------------------------------------

def test_flip_roll_tile_repeat_moveaxis_values():
    a = np.arange(6.0).reshape(2, 3)
    x = _leaf(a)
    np.testing.assert_array_equal(x.flip(1).data, [[2, 1, 0], [5, 4, 3]])
    np.testing.assert_array_equal(x.roll(1).data, [[5, 0, 1], [2, 3, 4]])  # flattened
    np.testing.assert_array_equal(x.roll((1, 1), (1, 1)).data, np.roll(a, 2, 1))
    np.testing.assert_array_equal(x.tile(2).data, np.tile(a, 2))
    np.testing.assert_array_equal(ag.repeat(x, [0, 2], axis=0).data, [[3, 4, 5], [3, 4, 5]])
    assert x.moveaxis(0, -1).shape == (3, 2)


def test_repeat_and_tile_gradients_add_up_the_copies():
    x = _leaf([1.0, 2.0])
    (ag.repeat(x, [3, 1]) * np.array([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 4.0])
    y = _leaf([1.0, 2.0])
    ag.tile(y, (2, 3)).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [6.0, 6.0])


# ---- products -----------------------------------------------------------------------------------

def test_dot_follows_numpy_for_each_rank():
    rng = np.random.default_rng(0)
    for a_shape, b_shape in [((3,), (3,)), ((2, 3), (3, 4)), ((2, 3), (3,)), ((2, 2, 3), (4, 3, 2)),
                             ((), (2, 3))]:
        a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
        np.testing.assert_allclose(ag.dot(_leaf(a), _leaf(b)).data, np.dot(a, b), rtol=1e-12)
    with pytest.raises(ag.ShapeError, match=r"dot: shapes \(2, 3\) and \(2, 3\) do not fit"):
        ag.dot(ag.zeros(2, 3), ag.zeros(2, 3))


def test_tensordot_gradient_by_hand_and_errors():
    a, b = _leaf([[1.0, 2.0], [3.0, 4.0]]), _leaf([[5.0, 6.0], [7.0, 8.0]])
    out = ag.tensordot(a, b, ([0, 1], [1, 0]))  # sum_ij a[i, j] b[j, i]
    assert out.item() == 1 * 5 + 2 * 7 + 3 * 6 + 4 * 8
    out.backward()
    np.testing.assert_array_equal(a.grad.data, b.data.T)
    np.testing.assert_array_equal(b.grad.data, a.data.T)
    with pytest.raises(ag.ShapeError, match="tensordot: shapes .* axis 1 of the first"):
        ag.tensordot(ag.zeros(2, 3), ag.zeros(2, 3), 1)


def test_outer_flattens_its_operands():
    np.testing.assert_array_equal(ag.outer(_leaf([[1.0, 2.0]]), _leaf([3.0, 4.0])).data,
                                  [[3, 4], [6, 8]])


# ---- sorting and selection ----------------------------------------------------------------------

def test_sort_routes_the_gradient_through_the_permutation_ties_in_index_order():
    x = _leaf([3.0, 1.0, 3.0, 2.0])
    out = ag.sort(x)
    np.testing.assert_array_equal(out.data, [1, 2, 3, 3])
    out.backward(np.array([10.0, 20.0, 30.0, 40.0]))
    # the first 3 (index 0) is the first of the tied outputs (position 2)
    np.testing.assert_array_equal(x.grad.data, [30.0, 10.0, 40.0, 20.0])
    assert ag.sort(_leaf([[2.0, 1.0], [0.0, 3.0]]), axis=None).data.tolist() == [0, 1, 2, 3]


def test_topk_values_and_indices_ties_lower_index_first():
    x = _leaf([[1.0, 5.0, 5.0, 2.0], [0.0, -1.0, 4.0, 4.0]])
    values, indices = x.topk(3)
    np.testing.assert_array_equal(values.data, [[5, 5, 2], [4, 4, 0]])
    np.testing.assert_array_equal(indices.data, [[1, 2, 3], [2, 3, 0]])
    assert indices.dtype == np.int64 and not indices.requires_grad and values.requires_grad
    smallest = ag.topk(x, 1, axis=0, largest=False)
    np.testing.assert_array_equal(smallest.indices.data, [[1, 1, 1, 0]])
    values[:, 0].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 0, 0], [0, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 4\]"):
        x.topk(5)


def test_index_functions_give_integer_tensors_without_gradient():
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    for result, expected in [(x.argmax(axis=1), [1, 0]), (x.argmin(axis=1), [0, 1]),
                             (x.argmax(), 1), (x.argsort(axis=1), [[0, 1, 2], [1, 0, 2]])]:
        assert isinstance(result, ag.Tensor) and result.dtype == np.int64
        assert not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    assert x.argmax(axis=0, keepdims=True).shape == (1, 3)


# ---- creation helpers ---------------------------------------------------------------------------

def test_creation_helpers_dtypes_values_and_requires_grad():
    assert ag.arange(4).data.tolist() == [0, 1, 2, 3] and ag.arange(4).dtype == np.int64
    r = ag.arange(0.0, 1.0, 0.25)
    assert r.dtype == np.float32 and r.data.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert ag.arange(3, dtype=np.float64).dtype == np.float64
    s = ag.linspace(0, 1, 5, requires_grad=True)
    assert s.dtype == np.float32 and s.requires_grad and s.is_leaf
    assert s.data.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    e = ag.eye(2, 3, k=1)
    assert e.dtype == np.float32 and e.data.tolist() == [[0, 1, 0], [0, 0, 1]]
    f = ag.full_like(ag.zeros(2, 2, dtype=np.float64), 7)
    assert f.dtype == np.float64 and f.data.tolist() == [[7, 7], [7, 7]]
    assert ag.full_like(np.zeros(2, dtype=np.int64), 2.5).data.tolist() == [2, 2]
    with pytest.raises(ag.DTypeError):
        ag.arange(3, requires_grad=True)


# ---- declarations: methods and numpy routing ----------------------------------------------------

METHODS = ["prod", "std", "diag", "diagonal", "trace", "tril", "triu", "flip", "roll", "tile",
           "moveaxis", "outer", "dot", "argsort", "argmax", "argmin", "topk"]


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods(name):
    assert getattr(ag.Tensor, name) is getattr(ag, name)


@pytest.mark.parametrize("name", ["sort", "repeat", "split"])
def test_no_method_where_numpy_and_pytorch_disagree(name):
    # ndarray.sort sorts in place, Tensor.sort returns indices too; Tensor.repeat tiles;
    # Tensor.split takes chunk sizes: a method of either meaning would surprise the other camp
    assert not hasattr(ag.Tensor, name)


@pytest.mark.parametrize("name", [
    "prod", "std", "split", "array_split", "vstack", "hstack", "diag", "diagonal", "trace", "tril",
    "triu", "flip", "roll", "tile", "repeat", "moveaxis", "tensordot", "outer", "dot", "sort",
    "argsort", "argmax", "argmin"])
def test_numpy_functions_are_routed_to_the_op(name):
    assert registry.NUMPY[getattr(np, name)] is getattr(ag, name)
    assert getattr(np, name) in registry.OPS[name].numpy
