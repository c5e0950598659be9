"""Pictures: draw_graph (DOT structure, labels, clusters, node limit, rendering), the command
line, and nn.draw_network. Rendering needs Graphviz's `dot` (scripts/test.sh installs it)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import viz
from nn import viz as nn_viz

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def parse(graph):
    """Nodes (name -> (label line, enclosing cluster labels)) and the visible edges of a
    Digraph's DOT."""
    nodes, edges, clusters = {}, [], []
    for line in graph.source.splitlines():
        line = line.strip()
        if line.startswith("subgraph cluster_"):
            clusters.append(None)
        elif line == "}" and clusters:
            clusters.pop()
        elif line.startswith("graph [") and clusters:
            label = re.search(r'label=("[^"]*"|\S+)', line)[1]
            clusters[-1] = label.strip('"')
        elif (match := re.match(r"(\w+) -> (\w+)", line)) and "style=invis" not in line:
            edges.append((match[1], match[2], line))
        elif (match := re.match(r"(\w+) \[", line)) and match[1] not in ("graph", "node", "edge"):
            nodes[match[1]] = (line, tuple(clusters))
    return nodes, edges


def ops(nodes):
    return sorted(re.search(r"label=<(\w+)>", line)[1]
                  for name, (line, _) in nodes.items() if name.startswith("op"))


def require_dot():
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's `dot` program is missing, so pictures cannot be rendered: install "
                    "it (apt-get install -y graphviz; scripts/test.sh does this)")


def small_tensor_graph():
    x = ag.Tensor(np.arange(12).reshape(4, 3), dtype="float32", requires_grad=True, name="x")
    w = ag.Tensor(np.ones((3, 2)), dtype="float32", requires_grad=True, name="W")
    b = ag.Tensor(np.zeros(2), dtype="float32", requires_grad=True, name="b")
    return (x @ w + b).tanh().sum(), (x, w, b)


def mlp(sizes=(2, 3, 1)):
    parts = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        parts += [nn.Dense(n_in, n_out, rng=i), nn.Tanh()]
    return nn.Sequential(*parts[:-1])


# ---- draw_graph ----------------------------------------------------------------------------------

def test_tensor_expression_has_one_node_per_op_and_leaf_plus_the_output():
    y, (x, w, b) = small_tensor_graph()
    nodes, edges = parse(ag.draw_graph(y))
    assert len(nodes) == 3 + 4 + 1 and len(edges) == 7
    assert ops(nodes) == ["Add", "MatMul", "Sum", "Tanh"]
    leaves = {name: line for name, (line, _) in nodes.items() if name.startswith("leaf")}
    assert len(leaves) == 3 and all(viz._LEAF in line for line in leaves.values())
    assert f"leaf{id(x)}" in leaves and "<B>x</B>" in leaves[f"leaf{id(x)}"]
    assert "(4, 3) float32" in leaves[f"leaf{id(x)}"] and "(3, 2) float32" in leaves[f"leaf{id(w)}"]
    output = nodes[f"out{id(y.grad_fn)}"][0]
    assert "<B>output</B>" in output and "() float32" in output and viz._ROOT in output
    assert (f"leaf{id(b)}", f"op{id(y.grad_fn._next[0]._next[0])}") in {e[:2] for e in edges}


def test_labels_are_html_escaped():
    x = ag.Tensor([1.0], requires_grad=True, name='<x & "y">')
    source = ag.draw_graph((x * 2).sum()).source
    assert "&lt;x &amp; &quot;y&quot;&gt;" in source and '<x & "y">' not in source


def test_scalar_expression_shows_data_and_grad_after_backward():
    a, b = ag.Scalar(2.0, name="a"), ag.Scalar(-3.0, name="b")
    c = a * b
    c.name = "c"
    c.retain_grad()
    d = c + b ** 2
    nodes, edges = parse(ag.draw_graph(d))
    assert len(nodes) == 2 + 3 + 2 and len(edges) == 7  # leaves, ops, boxes of c and d
    assert ops(nodes) == ["Add", "Mul", "Pow"]
    assert "data 2.0000" in nodes[f"leaf{id(a)}"][0] and "grad" not in nodes[f"leaf{id(a)}"][0]
    d.backward()
    nodes, _ = parse(ag.draw_graph(d))  # the graph is still there after backward
    assert "data -3.0000" in nodes[f"leaf{id(b)}"][0]
    assert "grad -3.0000" in nodes[f"leaf{id(a)}"][0]
    assert "grad -4.0000" in nodes[f"leaf{id(b)}"][0]  # a + 2b
    assert "<B>c</B>" in nodes[f"out{id(c.grad_fn)}"][0]
    assert "data -6.0000" in nodes[f"out{id(c.grad_fn)}"][0]
    assert "grad 1.0000" in nodes[f"out{id(c.grad_fn)}"][0]
    assert "data 3.0000" in nodes[f"out{id(d.grad_fn)}"][0]
    quiet, _ = parse(ag.draw_graph(d, show_values=False, show_grads=False))
    assert "data" not in quiet[f"leaf{id(a)}"][0] and "grad" not in quiet[f"leaf{id(a)}"][0]


def test_tensor_gradients_are_shown_after_backward():
    y, (x, w, b) = small_tensor_graph()
    y.backward()
    nodes, _ = parse(ag.draw_graph(y))
    np.testing.assert_allclose(b.grad.data, 0.0099, atol=5e-5)  # tanh saturates but in row 0
    assert "grad [0.0099, 0.0099]" in nodes[f"leaf{id(b)}"][0]
    norm = np.linalg.norm(x.grad.data.astype(np.float64))
    assert f"‖grad‖ {norm:.4g}" in nodes[f"leaf{id(x)}"][0]


def test_parameter_names_from_a_sequential():
    model = mlp()
    out = model(ag.ones(5, 2)).sum()
    nodes, edges = parse(ag.draw_graph(out, params=model.named_parameters()))
    assert len(nodes) == 4 + 4 + 1 and len(edges) == 8
    assert ops(nodes) == ["Linear", "Linear", "Sum", "Tanh"]
    for name, param in model.named_parameters():
        line = nodes[f"leaf{id(param)}"][0]
        assert f"<B>{name}</B>" in line and viz._PARAM in line
    with pytest.raises(TypeError, match="named_parameters"):
        ag.draw_graph(out, params=[model[0].weight])


def test_clusters_by_module_nest_and_hooks_are_removed():
    model = nn.Sequential(mlp(), nn.Tanh())
    with nn.record_modules(model):
        loss = nn.mse_loss(model(ag.ones(5, 2)), ag.zeros(5, 1))
    assert all(not m._forward_hooks for m in model.modules())
    graph = ag.draw_graph(loss, params=model.named_parameters(), cluster_by="module")
    assert graph.source.count("subgraph cluster_") == 5  # 0, 0.0, 0.1, 0.2, 1
    nodes, _ = parse(graph)
    inner = model[0][0]
    assert nodes[f"leaf{id(inner.weight)}"][1] == ("0 (Sequential)", "0.0 (Dense)")
    linears = [n for n, (line, _) in nodes.items() if "label=<Linear>" in line]
    assert sorted(nodes[n][1][-1] for n in linears) == ["0.0 (Dense)", "0.2 (Dense)"]
    assert nodes[f"op{id(loss.grad_fn)}"][1] == ()  # the loss belongs to no module
    first_output = [line for name, (line, where) in nodes.items()
                    if name.startswith("out") and where[-1:] == ("0.0 (Dense)",)]
    assert len(first_output) == 1 and "0.0 output" in first_output[0]
    assert "(5, 3) float32" in first_output[0]
    assert ag.draw_graph(loss, cluster_by=None).source.count("subgraph") == 0

    def ops_together(item):
        return "ops" if isinstance(item, ag.Function) else None

    assert ag.draw_graph(loss, cluster_by=ops_together).source.count("subgraph cluster_") == 1


def test_node_limit_draws_the_nodes_nearest_the_root_and_says_what_was_left_out():
    y = ag.Scalar(1.0, name="x")
    for _ in range(200):
        y = y * 1.001
    nodes, edges = parse(ag.draw_graph(y, max_nodes=20))
    assert len(nodes) == 20 + 1 + 1  # 20 ops, the output box, the note
    assert "181 more nodes not drawn (max_nodes=20)" in nodes["truncated"][0]
    assert sum(1 for tail, _, _ in edges if tail == "truncated") == 1
    everything, _ = parse(ag.draw_graph(y, max_nodes=None))
    assert len(everything) == 201 + 1 and "truncated" not in everything


def test_a_deep_graph_is_drawn_without_recursion():
    y = ag.Scalar(1.0)
    for _ in range(20_000):
        y = y + 1.0
    assert ag.draw_graph(y, max_nodes=None).source.count("label=<Add>") == 20_000


def test_bad_arguments_are_refused():
    y, _ = small_tensor_graph()
    with pytest.raises(ValueError, match="rankdir"):
        ag.draw_graph(y, rankdir="sideways")
    with pytest.raises(ValueError, match="cluster_by"):
        ag.draw_graph(y, cluster_by="layer")
    with pytest.raises(TypeError, match="Tensor or Scalar"):
        ag.draw_graph(3.0)


def test_render_svg_png_and_pdf_and_show_in_jupyter(tmp_path):
    require_dot()
    y, _ = small_tensor_graph()
    y.backward()
    graph = ag.draw_graph(y, rankdir="TB")
    svg = Path(graph.render(outfile=tmp_path / "graph.svg", cleanup=True))
    assert svg.exists() and "<svg" in svg.read_text()
    assert ">MatMul<" in svg.read_text()
    png = Path(graph.render(tmp_path / "graph", format="png", cleanup=True))
    assert png.suffix == ".png" and png.read_bytes().startswith(PNG)
    pdf = Path(graph.render(outfile=tmp_path / "graph.pdf", cleanup=True))
    assert pdf.read_bytes().startswith(b"%PDF")
    bundle = graph._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


# ---- command line --------------------------------------------------------------------------------

def run_cli(*args, module="autograd_core"):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_renders_an_example_and_a_saved_state_dict(tmp_path):
    require_dot()
    done = run_cli("--example", "mlp", "-o", tmp_path / "mlp.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mlp.png").read_bytes().startswith(PNG)
    saved = tmp_path / "model.npz"
    np.savez(saved, **mlp((3, 4, 2)).state_dict())
    done = run_cli(saved, "-o", tmp_path / "net.svg")
    assert done.returncode == 0, done.stderr
    assert "layer 2 (2: Dense)" in (tmp_path / "net.svg").read_text()
    done = run_cli(saved, "--graph", "--dot", module="autograd_core.viz")
    assert done.returncode == 0 and done.stdout.count("label=<Linear>") == 2
    assert "Warning" not in done.stderr
    done = run_cli(tmp_path / "missing.npz")
    assert done.returncode == 1 and "missing.npz" in done.stderr


# ---- nn.draw_network -----------------------------------------------------------------------------

def test_small_network_draws_neurons_preactivations_and_weight_labels():
    nodes, edges = parse(nn.draw_network(mlp((2, 3, 1))))
    neurons = [n for n in nodes if re.fullmatch(r"a\d+_\d+", n)]
    assert len(neurons) == 2 + 3 + 1
    assert len([n for n in nodes if re.fullmatch(r"z\d+_\d+", n)]) == 3 + 1
    assert "layer 1 (0: Dense): 2 → 3, tanh" in nodes["header_z1_1"][0]
    weights = [line for _, _, line in edges if "label=<w<SUB>" in line]
    assert len(weights) == 2 * 3 + 3 * 1 and len(edges) == 9 + 4
    assert any("label=<w<SUB>12</SUB><SUP>(1)</SUP>>" in line for line in weights)
    assert any("label=<w<SUB>31</SUB><SUP>(2)</SUP>>" in line for line in weights)
    assert "tanh" in nodes["a1_1"][0] and "tanh" not in nodes["a2_1"][0]
    assert "b<SUB>1</SUB><SUP>(2)</SUP>" in nodes["z2_1"][0]


def test_network_weight_values_and_colours():
    model = mlp((2, 2, 1))
    _, edges = parse(nn.draw_network(model, show_values=True))
    w = float(model[0].weight.data[0, 1])
    line = next(line for _, _, line in edges if "w<SUB>12</SUB><SUP>(1)</SUP>" in line)
    assert f"= {w:.3g}" in line and (nn_viz._POSITIVE if w >= 0 else nn_viz._NEGATIVE) in line


def test_large_network_falls_back_to_one_box_per_layer():
    model = nn.Sequential(nn.Dense(64, 32, rng=0), nn.ReLU(), nn.Dense(32, 10, rng=1))
    nodes, edges = parse(nn.draw_network(model))
    assert sorted(nodes) == ["layer0", "layer1", "layer2"] and len(edges) == 2
    assert "2,080 parameters" in nodes["layer1"][0] and "then relu" in nodes["layer1"][0]
    assert "weight (32, 10), bias (10,)" in nodes["layer2"][0]
    assert "64 features" in nodes["layer0"][0]
    from_state, _ = parse(nn.draw_network(model.state_dict()))
    assert sorted(from_state) == ["layer0", "layer1", "layer2"]
    neurons = parse(nn.draw_network(model, detail="neurons"))[0]
    assert len([n for n in neurons if not n.startswith("header")]) == 64 + 2 * (32 + 10)


def test_network_of_any_module_whose_dense_layers_chain():
    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Dense(2, 4, rng=0)
            self.out = nn.Dense(4, 3, rng=1)
            self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

        def forward(self, x):
            return self.out(nn.functional.relu(self.hidden(x))) * self.scale

    with pytest.warns(UserWarning) as caught:
        graph = nn.draw_network(TwoLayer())
    message = str(caught[0].message)
    assert "(model) (TwoLayer) is decided by its own forward()" in message
    assert "parameters outside Dense layers are not drawn: scale (1,)" in message
    assert "(and 1 more outside Dense layers, not drawn)" in graph.source
    assert "layer 2 (out: Dense)" in graph.source
    broken = {"a.weight": np.ones((2, 3)), "b.weight": np.ones((4, 1))}
    with pytest.raises(ValueError, match="do not form a chain"):
        nn.draw_network(broken)


def test_model_from_state_dict_computes_what_the_saved_model_did():
    model = nn.Sequential(nn.Dense(3, 4, rng=0), nn.ReLU(), nn.Dense(4, 2, rng=1))
    rebuilt = nn_viz.model_from_state_dict(model.state_dict(), activation="relu")
    x = ag.Tensor(np.random.default_rng(0).normal(size=(5, 3)), dtype="float32")
    np.testing.assert_allclose(rebuilt(x).data, model(x).data, rtol=1e-6)
