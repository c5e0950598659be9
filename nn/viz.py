"""Pictures of networks, and module tags for pictures of computation graphs.

``draw_network(model)`` draws a stack of Dense layers as the seed tutorials do: a column of
neurons per layer, one edge labelled w_jk^(l) per weight, and a pre-activation box z_k^(l) in
front of every neuron. A network too wide for that is drawn as one box per layer.

``record_modules(model)`` tags the ops that each module's forward records, so that
``autograd_core.draw_graph(loss, params=model.named_parameters(), cluster_by="module")`` draws
them grouped in one box per module.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import graphviz
import numpy as np

from autograd_core import Tensor
from autograd_core.viz import RANKDIRS, tag_nodes

from .layers import (
    GELU,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .module import Module, Sequential

_ACTIVATIONS = {ReLU: "relu", Tanh: "tanh", Sigmoid: "sigmoid", LeakyReLU: "leaky_relu",
                Softmax: "softmax", Identity: "identity", GELU: "gelu", SiLU: "silu",
                Softplus: "softplus"}
_BY_NAME = {name: cls for cls, name in _ACTIVATIONS.items()}
# Modules whose place in a chain is all there is to them: a Sequential of these (and of Dense
# layers and activations) computes exactly the chain that draw_network draws.
_CHAIN_PARTS = (Sequential, Dropout, Flatten)
_POSITIVE, _NEGATIVE = "#1f77b4", "#d62728"
_HEADER = "#d1f0d1"


# ---- grouping a computation graph by module ----------------------------------------------------

@contextmanager
def record_modules(model: Module):
    """Within this block, tag the ops each submodule's forward records with its dotted path.

    >>> with record_modules(model):
    ...     loss = nn.mse_loss(model(x), y)
    >>> ag.draw_graph(loss, params=model.named_parameters(), cluster_by="module")
    <graphviz.graphs.Digraph object at 0x...>

    Uses forward hooks, removed on exit. Ops of the model's own forward (and of the loss) stay
    untagged and are drawn outside the boxes; a module's output box shows its shape and dtype.
    """
    handles = [module.register_forward_hook(partial(_tag, path))
               for path, module in model.named_modules() if path]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _tag(path: str, module: Module, args, output) -> None:
    # Returns None on purpose: a forward hook's non-None return would replace the output.
    tag_nodes(output, args, path, type(module).__name__)


# ---- the chain of Dense layers -----------------------------------------------------------------

@dataclass
class DenseLayer:
    """What the pictures need of one Dense layer (from a Module or from a state dict)."""

    path: str
    in_features: int
    out_features: int
    weight: np.ndarray
    bias: np.ndarray | None
    activation: str | None = None

    @property
    def num_parameters(self) -> int:
        return self.weight.size + (0 if self.bias is None else self.bias.size)


def _array(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _layers_of_module(model: Module) -> tuple[list[DenseLayer], int, list[str], list[str]]:
    """The Dense layers in registration order, each with the activation modules after it; the
    number of parameters outside Dense layers (not drawn), their names, and the modules whose
    own forward decides the wiring (so the chain drawn may not be what the model computes)."""
    layers, in_dense, custom = [], 0, []
    dense_params = set()
    for path, module in model.named_modules():
        if isinstance(module, Dense):
            bias = None if module.bias is None else module.bias.data
            layers.append(DenseLayer(path, module.in_features, module.out_features,
                                     module.weight.data, bias))
            in_dense += layers[-1].num_parameters
            dense_params.update(id(p) for p in module._parameters.values())
        elif type(module) in _ACTIVATIONS and layers:
            name = _ACTIVATIONS[type(module)]
            last = layers[-1]
            last.activation = name if last.activation is None else f"{last.activation}, {name}"
        elif type(module) not in _CHAIN_PARTS and type(module) not in _ACTIVATIONS:
            custom.append(f"{path or '(model)'} ({type(module).__name__})")
    undrawn = [f"{name} {tuple(p.shape)}" for name, p in model.named_parameters()
               if id(p) not in dense_params]
    return layers, model.num_parameters() - in_dense, undrawn, custom


def _layers_of_state(state: Mapping) -> list[DenseLayer]:
    """Dense layers from a state dict: every 2-d ``<prefix>weight`` (in, out), with its
    ``<prefix>bias`` when present, in the dict's order."""
    layers = []
    for key, value in state.items():
        if not (key == "weight" or key.endswith(".weight")):
            continue
        weight = _array(value)
        if weight.ndim != 2:
            continue
        prefix = key[:-len("weight")]
        bias = state.get(prefix + "bias")
        bias = None if bias is None else _array(bias)
        if bias is not None and bias.shape != (weight.shape[1],):
            raise ValueError(f"draw_network: {prefix}bias has shape {bias.shape}, but "
                             f"{key} of shape {weight.shape} needs ({weight.shape[1]},)")
        layers.append(DenseLayer(prefix.rstrip("."), weight.shape[0], weight.shape[1],
                                 weight, bias))
    return layers


def dense_layers(model) -> list[DenseLayer]:
    """The Dense layers of ``model`` (a Module or a state dict) as a checked chain."""
    if isinstance(model, Module):
        layers = _layers_of_module(model)[0]
    elif isinstance(model, Mapping):
        layers = _layers_of_state(model)
    else:
        raise TypeError(f"draw_network: expected a Module or a state dict, got "
                        f"{type(model).__name__}")
    if not layers:
        raise ValueError("draw_network: found no Dense layers (2-d 'weight' arrays) to draw")
    for before, after in zip(layers, layers[1:]):
        if before.out_features != after.in_features:
            raise ValueError(
                f"draw_network: the Dense layers do not form a chain: {before.path or 'weight'} "
                f"gives {before.out_features} features but {after.path or 'weight'} takes "
                f"{after.in_features}")
    return layers


def model_from_state_dict(state: Mapping, activation: str | None = "relu") -> Sequential:
    """A Sequential of Dense layers (with ``activation`` between them) holding ``state``'s
    weights: a saved state dict does not record activations or the model's class, so they are
    chosen here. ``activation``: relu, tanh, sigmoid, leaky_relu, identity or None."""
    if activation is not None and activation not in _BY_NAME:
        raise ValueError(f"model_from_state_dict: unknown activation {activation!r}; choose "
                         f"one of {sorted(_BY_NAME)} or None")
    parts = []
    layers = dense_layers(state)
    for i, layer in enumerate(layers):
        dtype = layer.weight.dtype if layer.weight.dtype.kind == "f" else np.float32
        dense = Dense(layer.in_features, layer.out_features, bias=layer.bias is not None,
                      dtype=dtype)
        dense.weight.data[...] = layer.weight
        if layer.bias is not None:
            dense.bias.data[...] = layer.bias
        parts.append(dense)
        if i < len(layers) - 1 and activation not in (None, "identity"):
            parts.append(_BY_NAME[activation]())
    return Sequential(*parts)


# ---- pictures ----------------------------------------------------------------------------------

def _indexed(symbol: str, sub, layer: int | None = None) -> str:
    """HTML for symbol_sub^(layer), e.g. w<SUB>12</SUB><SUP>(1)</SUP>."""
    sup = "" if layer is None else f"<SUP>({layer})</SUP>"
    return f"{symbol}<SUB>{sub}</SUB>{sup}"


def _pair(j: int, k: int) -> str:
    return f"{j}{k}" if j < 10 and k < 10 else f"{j},{k}"


def draw_network(model, detail: str = "auto", max_neurons: int = 10, show_values: bool = False,
                 rankdir: str = "LR") -> graphviz.Digraph:
    """A picture of ``model``'s chain of Dense layers (a Module, or a state dict of arrays).

    ``detail="neurons"`` draws every neuron: inputs x_j, then for each layer l and neuron k a
    pre-activation box z_k^(l) = sum_j w_jk^(l) a_j^(l-1) + b_k^(l) and the neuron a_k^(l) with
    its activation. The edge from neuron j to box k is labelled w_jk^(l), which is
    ``weight[j-1, k-1]`` of layer l (weights are (in, out)); blue for positive values, red
    for negative, thicker for larger ones. ``detail="layers"`` draws one box per layer with its
    shapes and parameter count; ``"auto"`` (the default) picks neurons when no layer is wider
    than ``max_neurons``. ``show_values`` adds weight and bias values to the neuron picture.

    Dense layers are taken in the order they are registered and must chain (each one's
    out_features is the next one's in_features); an activation module (ReLU, Tanh, ...)
    registered after a Dense layer is its activation. That is exactly what a Sequential of
    Dense layers, activations, Dropout and Flatten computes. A layer of this library that the
    picture cannot show (Embedding, LayerNorm, MultiHeadAttention, Residual, convolutions, ...)
    raises a ValueError naming it; for a module of your own (its forward may add skip
    connections) or parameters outside Dense layers, a UserWarning names what the picture
    cannot show. Returns a ``graphviz.Digraph``.

    >>> draw_network(Sequential(Dense(2, 3), Tanh(), Dense(3, 1)))
    <graphviz.graphs.Digraph object at 0x...>
    """
    if detail not in ("auto", "neurons", "layers"):
        raise ValueError(f"draw_network: detail must be 'auto', 'neurons' or 'layers', "
                         f"got {detail!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_network: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if isinstance(model, Module):
        _refuse_undrawable(model)
    layers = dense_layers(model)
    other = 0
    if isinstance(model, Module):
        _, other, undrawn, custom = _layers_of_module(model)
        problems = []
        if custom:
            problems.append("the wiring of " + ", ".join(custom) + " is decided by its own "
                            "forward(), which a picture of the structure cannot read: skip "
                            "connections or reuse are not shown")
        if undrawn:
            problems.append("parameters outside Dense layers are not drawn: "
                            + ", ".join(undrawn))
        if problems:
            warnings.warn(f"draw_network: the Dense layers of {type(model).__name__} are drawn "
                          "as a chain in registration order; " + "; ".join(problems)
                          + ". For what the model computes, draw a forward pass with "
                          "autograd_core.draw_graph.", UserWarning, stacklevel=2)
    widest = max([layers[0].in_features] + [layer.out_features for layer in layers])
    if detail == "auto":
        detail = "neurons" if widest <= max_neurons else "layers"
    total = sum(layer.num_parameters for layer in layers)
    what = type(model).__name__ if isinstance(model, Module) else "state dict"
    title = f"{what}: {len(layers)} Dense layers, {total:,} parameters"
    if other:
        title += f" (and {other:,} more outside Dense layers, not drawn)"
    graph = graphviz.Digraph(
        "network", graph_attr={"rankdir": rankdir, "label": title, "labelloc": "t",
                               "fontname": "Helvetica", "fontsize": "11", "ranksep": "1.0"},
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "arrowsize": "0.5"})
    if detail == "neurons":
        _draw_neurons(graph, layers, show_values)
    else:
        _draw_layers(graph, layers)
    return graph


def _refuse_undrawable(model: Module) -> None:
    """Raise for layers of this library that the picture has no way to show (embeddings,
    normalisation, attention, skip connections, convolutions, ...): a chain of Dense layers
    without them would be a picture of another model. (A user's own module is drawn with a
    warning instead: its forward may well be the chain.)"""
    undrawable = [f"{type(module).__name__} ({path or '(model)'})"
                  for path, module in model.named_modules()
                  if type(module).__module__.split(".")[0] == "nn"
                  and not isinstance(module, (Dense, *_CHAIN_PARTS))
                  and type(module) not in _ACTIVATIONS]
    if undrawable:
        raise ValueError("draw_network: draws chains of Dense layers and activations only, and "
                         f"{type(model).__name__} holds layers it cannot draw: "
                         + ", ".join(undrawable[:8])
                         + (f" and {len(undrawable) - 8} more" if len(undrawable) > 8 else "")
                         + ". Draw a forward pass instead: with nn.record_modules(model): "
                         "out = model(x); then autograd_core.draw_graph(out, "
                         "params=model.named_parameters(), cluster_by='module')")


def _layer_title(number: int, layer: DenseLayer) -> str:
    return f"layer {number} ({layer.path}: Dense)" if layer.path else f"layer {number} (Dense)"


def _column(graph: graphviz.Digraph, header: str, names: list[str],
            nodes: list[tuple[str, dict]]) -> None:
    """One rank of nodes under a header, kept in order by invisible edges: dot would otherwise
    reorder the neurons (and does so even then inside clusters, hence headers, not clusters)."""
    with graph.subgraph() as column:
        column.attr(rank="same")
        names = [f"header_{names[0]}"] + names
        if header:
            column.node(names[0], f"<<B>{html.escape(header)}</B>>", shape="plaintext")
        else:  # a spacer, so that this column lines up with its neighbour's header
            column.node(names[0], "", shape="plaintext", style="invis")
        for name, (label, attrs) in zip(names[1:], nodes):
            column.node(name, label, **attrs)
        for above, below in zip(names, names[1:]):
            column.edge(above, below, style="invis")


def _draw_neurons(graph: graphviz.Digraph, layers: list[DenseLayer], show_values: bool) -> None:
    n_inputs = layers[0].in_features
    _column(graph, f"input ({n_inputs})", [f"a0_{j}" for j in range(1, n_inputs + 1)],
            [(f"<{_indexed('x', j)}>", {"shape": "circle", "style": "filled",
                                        "fillcolor": "#cfe2ff"})
             for j in range(1, n_inputs + 1)])
    for l, layer in enumerate(layers, start=1):
        activation = layer.activation
        header = _layer_title(l, layer) + f": {layer.in_features} → {layer.out_features}"
        if activation:
            header += f", {activation}"
        neurons = range(1, layer.out_features + 1)
        sums, outputs = [], []
        for k in neurons:
            z = f"<{_indexed('z', k, l)}"
            if layer.bias is not None:
                z += f'<BR/><FONT POINT-SIZE="8">Σ + {_indexed("b", k, l)}'
                if show_values:
                    z += f" = {layer.bias[k - 1]:.3g}"
                z += "</FONT>"
            sums.append((z + ">", {"shape": "box", "style": "rounded"}))
            a = f"<{_indexed('a', k, l)}"
            if activation:
                a += f'<BR/><FONT POINT-SIZE="8">{html.escape(activation)}</FONT>'
            outputs.append((a + ">", {"shape": "circle", "style": "filled",
                                      "fillcolor": "#ffd9a8" if l == len(layers) else "#f2f2f2"}))
        _column(graph, header, [f"z{l}_{k}" for k in neurons], sums)
        _column(graph, "", [f"a{l}_{k}" for k in neurons], outputs)
        for k in neurons:
            graph.edge(f"z{l}_{k}", f"a{l}_{k}")
        largest = float(np.abs(layer.weight).max()) or 1.0
        for j in range(1, layer.in_features + 1):
            for k in neurons:
                w = float(layer.weight[j - 1, k - 1])
                label = _indexed("w", _pair(j, k), l) + (f" = {w:.3g}" if show_values else "")
                graph.edge(f"a{l - 1}_{j}", f"z{l}_{k}", label=f"<{label}>",
                           color=_POSITIVE if w >= 0 else _NEGATIVE,
                           penwidth=f"{0.4 + 2.0 * abs(w) / largest:.2f}")


def _rows(rows: list[str]) -> str:
    first = f'<TR><TD BGCOLOR="{_HEADER}"><B>{html.escape(rows[0])}</B></TD></TR>'
    rest = "".join(f"<TR><TD>{html.escape(row)}</TD></TR>" for row in rows[1:])
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{first}{rest}'
            "</TABLE>>")


def _draw_layers(graph: graphviz.Digraph, layers: list[DenseLayer]) -> None:
    graph.node("layer0", _rows(["input", f"{layers[0].in_features} features"]), shape="plain")
    for l, layer in enumerate(layers, start=1):
        shapes = f"weight {layer.weight.shape}"
        if layer.bias is not None:
            shapes += f", bias {layer.bias.shape}"
        rows = [_layer_title(l, layer),
                f"{layer.in_features} → {layer.out_features}", shapes,
                f"{layer.num_parameters:,} parameters"]
        if layer.activation:
            rows.append(f"then {layer.activation}")
        graph.node(f"layer{l}", _rows(rows), shape="plain")
        graph.edge(f"layer{l - 1}", f"layer{l}", label=str(layer.in_features))
