"""Module, Parameter, Sequential, ModuleList: registration, traversal, state, display."""

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core.errors import DTypeError, StateDictError


class TwoLayer(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        self.hidden = nn.Dense(2, 4, rng=seed)
        self.out = nn.Dense(4, 3, rng=seed + 1)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        return self.out(nn.functional.relu(self.hidden(x))) * self.scale


def test_parameter_is_a_leaf_that_requires_grad_and_keeps_float32():
    p = nn.Parameter([1.0, 2.0])
    assert p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert repr(p).startswith("Parameter(")


def test_integer_parameter_is_refused():
    with pytest.raises(DTypeError, match="floating"):
        nn.Parameter(np.array([1, 2]))


def test_attributes_register_parameters_and_modules_with_dotted_names():
    model = TwoLayer()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert [type(c).__name__ for c in model.children()] == ["Dense", "Dense"]
    assert model.num_parameters() == 1 + 2 * 4 + 4 + 4 * 3 + 3


def test_lists_of_modules_are_registered():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Dense(2, 2, rng=i) for i in range(3)]

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Stack()
    assert [n for n, _ in model.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    assert len(list(model.parameters())) == 6
    assert model(ag.ones(5, 2)).shape == (5, 2)


def test_reassigning_an_attribute_replaces_its_registration():
    model = TwoLayer()
    model.out = nn.Identity()
    assert "out.weight" not in dict(model.named_parameters())
    del model.hidden
    assert [n for n, _ in model.named_parameters()] == ["scale"]


def test_shared_parameter_is_listed_once():
    layer = nn.Dense(3, 3, rng=0)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2


def test_forgetting_super_init_gives_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Dense(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\)\.__init__\(\) in __init__"):
        Broken()


def test_sequential_names_indexing_and_forward():
    model = nn.Sequential(nn.Dense(2, 5, rng=0), nn.Tanh(), nn.Dense(5, 1, rng=1))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(model[1], nn.Tanh) and len(model) == 3
    x = ag.Tensor(np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32))
    expected = np.tanh(x.data @ model[0].weight.data + model[0].bias.data)
    expected = expected @ model[2].weight.data + model[2].bias.data
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-6)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="part 1 is a ufunc, expected a Module"):
        nn.Sequential(nn.ReLU(), np.tanh)


def test_train_and_eval_reach_every_module():
    model = nn.Sequential(nn.Dense(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.1)))
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_clears_every_parameter():
    model = TwoLayer()
    model(ag.ones(3, 2)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_is_a_copy_and_load_restores_values():
    model = TwoLayer(seed=0)
    state = model.state_dict()
    assert list(state) == [n for n, _ in model.named_parameters()]
    state["hidden.weight"][...] = 0  # a copy: the model is not changed
    assert np.any(model.hidden.weight.data != 0)
    other = TwoLayer(seed=5)
    other.load_state_dict(model.state_dict())
    x = ag.ones(2, 2)
    np.testing.assert_array_equal(other(x).data, model(x).data)


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    model = TwoLayer()
    before = model.state_dict()
    state = model.state_dict()
    del state["scale"]
    state["hidden.weight"] = np.zeros((4, 2), dtype=np.float32)
    state["extra.weight"] = np.zeros(3)
    state["out.bias"] = np.zeros((3,), dtype=np.float32) + 7  # valid: must not be written either
    with pytest.raises(StateDictError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    for part in ("missing keys: ['scale']", "unexpected keys: ['extra.weight']",
                 "hidden.weight: shape (4, 2) in the state dict, (2, 4) in the model",
                 "not changed"):
        assert part in message
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_not_strict_ignores_missing_and_extra_keys():
    model = TwoLayer()
    model.load_state_dict({"scale": np.array([3.0], dtype=np.float32), "junk": np.zeros(1)},
                          strict=False)
    assert model.scale.data[0] == 3.0


def test_load_state_dict_refuses_integer_into_float_across_kinds():
    model = nn.Dense(1, 1)
    with pytest.raises(StateDictError, match="dtype complex128"):
        model.load_state_dict({"weight": np.zeros((1, 1), dtype=complex),
                               "bias": np.zeros(1, dtype=np.float32)})


def test_repr_shows_the_tree():
    model = nn.Sequential(nn.Dense(2, 3), nn.LeakyReLU(0.1))
    assert repr(model) == ("Sequential(\n  (0): Dense(in_features=2, out_features=3, bias=True)\n"
                           "  (1): LeakyReLU(slope=0.1)\n)")


def test_summary_lists_layers_output_shapes_and_counts():
    model = nn.Sequential(nn.Dense(2, 16), nn.ReLU(), nn.Dense(16, 3))
    text = model.summary(input_shape=(8, 2))
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "parameters"]
    assert lines[2].split() == ["0", "Dense", "(8,", "16)", "48"]
    assert lines[3].split() == ["1", "ReLU", "(8,", "16)", "0"]
    assert lines[4].split() == ["2", "Dense", "(8,", "3)", "51"]
    assert lines[-1] == "total parameters: 99 (trainable: 99)"
    assert model.training  # summary runs in eval mode and restores the mode


def test_summary_without_input_shape_lists_counts():
    text = nn.Sequential(nn.Dense(2, 16), nn.ReLU()).summary()
    assert "Dense" in text and " 48\n" in text and "total parameters: 48" in text


def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    layer = nn.Dense(2, 3)
    seen = []
    handle = layer.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    pre = layer.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape))
    layer(ag.ones(4, 2))
    assert seen == [(4, 2), (4, 3)]
    handle.remove()
    pre.remove()
    layer(ag.ones(4, 2))
    assert len(seen) == 2


def test_module_list_append_and_container_errors():
    layers = nn.ModuleList([nn.Dense(1, 1)])
    layers.append(nn.Dense(1, 2))
    assert len(layers) == 2 and layers[1].out_features == 2
    with pytest.raises(TypeError, match="expected a Module"):
        layers.append("dense")
    with pytest.raises(TypeError, match="container"):
        layers(ag.ones(1, 1))
