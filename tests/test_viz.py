"""Pictures: draw_graph (DOT structure, labels, clusters, node limit, rendering), the command
lines (python -m autograd_core, python -m nn) and their output path, and nn.draw_network.
Rendering needs Graphviz's `dot` (scripts/test.sh installs it)."""

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import graphviz
import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core import viz
from nn import cli as nn_cli
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


# ---- command lines -------------------------------------------------------------------------------
# python -m autograd_core draws the core's examples; python -m nn draws saved models and nn's
# example. In-process calls to main() where the entry point itself is not what is tested.

def run_cli(module, *args):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def saved_files(tmp_path):
    """The same 3-4-2 network saved as an .npz state dict and with nn.save."""
    model = mlp((3, 4, 2))
    npz = tmp_path / "model.npz"
    np.savez(npz, **model.state_dict())
    return npz, nn.save(model, tmp_path / "model.nn")


def exits_with_usage_error(main, args, capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in args])
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_core_cli_renders_its_examples(tmp_path, capsys):
    require_dot()
    done = run_cli("autograd_core", "--example", "expression", "-o", tmp_path / "expr.png")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "expr.png")
    assert (tmp_path / "expr.png").read_bytes().startswith(PNG)
    done = run_cli("autograd_core.viz", "--dot")  # the default example: micrograd's neuron
    assert done.returncode == 0, done.stderr
    nodes, _ = parse(graphviz.Source(done.stdout))
    assert ops(nodes) == ["Add", "Add", "Mul", "Mul", "Tanh"]
    assert viz.main(["--example", "neuron", "--dot", "--rankdir", "TB"]) == 0
    assert "rankdir=TB" in capsys.readouterr().out


def test_core_cli_sends_saved_models_and_the_mlp_example_to_nn(tmp_path, capsys):
    npz, saved = saved_files(tmp_path)
    for model in (npz, saved):
        error = exits_with_usage_error(viz.main, [model, "-o", tmp_path / "net.svg"], capsys)
        assert f"python -m nn {model}" in error and "draws only the core's" in error
    error = exits_with_usage_error(viz.main, ["--example", "mlp"], capsys)
    assert "python -m nn --example mlp" in error and "neuron, expression" in error
    assert sorted(tmp_path.iterdir()) == sorted([npz, saved])  # nothing written


def test_nn_cli_draws_saved_state_dicts_and_nn_save_files(tmp_path, capsys):
    require_dot()
    npz, saved = saved_files(tmp_path)
    done = run_cli("nn", npz, "-o", tmp_path / "net.svg")
    assert done.returncode == 0, done.stderr
    assert "layer 2 (2: Dense)" in (tmp_path / "net.svg").read_text()
    for model in (npz, saved):
        assert nn_cli.main([str(model), "--dot"]) == 0
        nodes, edges = parse(graphviz.Source(capsys.readouterr().out))
        assert len([n for n in nodes if re.fullmatch(r"a\d+_\d+", n)]) == 3 + 4 + 2
        assert len([line for _, _, line in edges if "label=<w<SUB>" in line]) == 3 * 4 + 4 * 2
        assert nn_cli.main([str(model), "--graph", "--dot", "--activation", "tanh"]) == 0
        graph = capsys.readouterr().out
        assert graph.count("label=<Linear>") == 2 and graph.count("label=<Tanh>") == 1
        assert graph.count("subgraph cluster_") == 3  # 0, 1, 2: one box per module
    done = run_cli("nn", saved, "--graph", "--dot")
    assert done.returncode == 0 and done.stdout.count("label=<Linear>") == 2
    assert done.stdout.count("label=<Relu>") == 1  # --activation's default
    assert "Warning" not in done.stderr


def test_nn_cli_draws_its_mlp_example(tmp_path, capsys):
    require_dot()
    assert nn_cli.main(["--example", "mlp", "-o", str(tmp_path / "mlp.png")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mlp.png")
    assert (tmp_path / "mlp.png").read_bytes().startswith(PNG)
    assert nn_cli.main(["--example", "mlp", "--dot"]) == 0
    source = capsys.readouterr().out
    assert source.count("label=<Linear>") == 2 and "<B>0.weight</B>" in source


def test_nn_cli_errors_name_the_file_and_the_problem(tmp_path, capsys):
    npz, saved = saved_files(tmp_path)
    assert nn_cli.main([str(tmp_path / "missing.npz")]) == 1
    assert "missing.npz" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    assert nn_cli.main([str(text), "--dot"]) == 1
    assert "'" + str(text) + "' is not a readable nn save file" in capsys.readouterr().err
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 and then nothing")
    assert nn_cli.main([str(broken), "--dot"]) == 1
    assert "is not a readable .npz archive" in capsys.readouterr().err
    unchained = tmp_path / "unchained.npz"
    np.savez(unchained, **{"a.weight": np.ones((2, 3)), "b.weight": np.ones((4, 1))})
    assert nn_cli.main([str(unchained), "--dot"]) == 1
    assert "do not form a chain" in capsys.readouterr().err
    assert "nothing to draw" in exits_with_usage_error(nn_cli.main, [], capsys)
    error = exits_with_usage_error(nn_cli.main, [saved, "--example", "mlp"], capsys)
    assert "not both" in error
    assert sorted(tmp_path.iterdir()) == sorted([npz, saved, text, broken, unchained])


def test_console_scripts_run_the_two_command_lines():
    text = (ROOT / "pyproject.toml").read_text()
    scripts = text.split("[project.scripts]\n", 1)[1].split("\n\n", 1)[0]
    targets = dict(re.findall(r'^([\w-]+) = "([\w.]+:\w+)"$', scripts, re.M))
    assert targets == {"autograd-viz": "autograd_core.viz:main", "nn-viz": "nn.cli:main"}
    for target, main in zip(targets.values(), (viz.main, nn_cli.main)):
        module, name = target.split(":")
        assert getattr(importlib.import_module(module), name) is main


# ---- output path (shared by both command lines) --------------------------------------------------

@pytest.mark.parametrize("output, fmt, expected", [
    ("net.png", None, ("net.png", "png")),
    ("out/net.PDF", None, ("out/net.PDF", "pdf")),   # any case
    ("net.svg", "svg", ("net.svg", "svg")),          # --format may repeat the suffix
    ("net", "png", ("net.png", "png")),              # no suffix: the format's
    ("net", None, ("net.svg", "svg")),
    ("v1.2.pdf", None, ("v1.2.pdf", "pdf")),
    (None, "pdf", ("graph.pdf", "pdf")),             # no -o: the default name
    (None, None, ("graph.svg", "svg")),
])
def test_output_suffix_picks_the_format(output, fmt, expected):
    assert viz.output_path(output, fmt, "graph.svg") == (Path(expected[0]), expected[1])


def test_output_with_an_unknown_suffix_or_a_contradicting_format_is_refused():
    for fmt in (None, "svg"):  # never x.bmp.svg
        with pytest.raises(ValueError, match=r"'x\.bmp': unknown suffix '\.bmp'.*svg, png, pdf"):
            viz.output_path("x.bmp", fmt)
    with pytest.raises(ValueError, match=r"unknown suffix '\.2'"):
        viz.output_path("v1.2", None)
    with pytest.raises(ValueError, match=r"--format png contradicts the suffix '\.svg'.*'x\.png'"):
        viz.output_path("x.svg", "png")
    with pytest.raises(ValueError, match="unknown format 'bmp'"):
        viz.output_path("x", "bmp")


@pytest.mark.parametrize("cli", ["autograd_core", "nn"])
def test_cli_refuses_a_bad_output_and_writes_nothing(cli, tmp_path, capsys):
    npz, _ = saved_files(tmp_path)
    main, first = (viz.main, []) if cli == "autograd_core" else (nn_cli.main, [npz])
    before = sorted(tmp_path.iterdir())
    for args, expected in ((["-o", tmp_path / "x.bmp"], "unknown suffix '.bmp'"),
                           (["-o", tmp_path / "x.bmp", "--format", "svg"], "unknown suffix '.bmp'"),
                           (["-o", tmp_path / "x.svg", "--format", "png"],
                            "--format png contradicts the suffix '.svg'")):
        error = exits_with_usage_error(main, first + args, capsys)
        assert expected in error and ("svg, png, pdf" in error or "x.png" in error)
    assert sorted(tmp_path.iterdir()) == before
    done = run_cli(cli, *first, "-o", tmp_path / "x.bmp")
    assert done.returncode == 2 and "unknown suffix '.bmp'" in done.stderr
    assert sorted(tmp_path.iterdir()) == before


def test_cli_writes_the_file_named_in_the_format_its_suffix_names(tmp_path, capsys):
    require_dot()
    npz, _ = saved_files(tmp_path)
    assert viz.main(["-o", str(tmp_path / "g.PDF")]) == 0
    assert (tmp_path / "g.PDF").read_bytes().startswith(b"%PDF")
    assert nn_cli.main([str(npz), "-o", str(tmp_path / "net"), "--format", "png"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "g.PDF"), str(tmp_path / "net.png")]
    assert (tmp_path / "net.png").read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.PDF", "model.nn", "model.npz",
                                                          "net.png"]


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
