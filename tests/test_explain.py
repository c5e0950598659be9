"""The backward pass, shown: ag.explain (text), draw_graph(explain=True), draw_graph(expand=True),
the step-through page of `python -m autograd_core explain` (opened in headless Chromium), and
the explainer's numbers on random Scalar graphs (hypothesis)."""

import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_core as ag
from autograd_core import viz
from autograd_core.errors import BackwardError
from autograd_core.explainer import expand
from autograd_core.testing import scalars

ROOT = Path(__file__).resolve().parent.parent


def neuron():
    """micrograd's neuron: o = tanh(x1*w1 + x2*w2 + b), with n chosen so that o = 1/sqrt(2)."""
    x1, x2 = ag.Scalar(2.0, name="x1"), ag.Scalar(0.0, name="x2")
    w1, w2 = ag.Scalar(-3.0, name="w1"), ag.Scalar(1.0, name="w2")
    b = ag.Scalar(6.8813735870195432, name="b")
    n = x1 * w1 + x2 * w2 + b
    n.name = "n"
    n.retain_grad()
    o = n.tanh()
    o.name = "o"
    return o, n, (x1, x2, w1, w2, b)


# ---- text ---------------------------------------------------------------------------------------

def test_explain_text_of_the_neuron_matches_the_chain_rule_by_hand():
    o, n, (x1, x2, w1, w2, b) = neuron()
    explanation = ag.explain(o)
    lines = str(explanation).splitlines()
    # tanh'(n) = 1 - o^2 = 1 - 1/2 = 0.5; then x1.grad = w1 * 0.5, w1.grad = x1 * 0.5, ...
    assert lines[0] == "step 1: Tanh node o (grad 1): d o/d n = 0.5, grad n += 0.5 x 1 = 0.5"
    assert len(lines) == 10  # five ops (tanh, two adds, two muls), then the five leaves
    assert [line.split(":")[0] for line in lines] == [f"step {k}" for k in range(1, 11)]
    hand = {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5}
    for leaf in (x1, x2, w1, w2, b):
        assert explanation.grad_of(leaf) == pytest.approx(hand[leaf.name], abs=1e-12)
        assert any(line.endswith(f"leaf {leaf.name}: grad {hand[leaf.name]:.4g}")
                   for line in lines)
    assert "Mul node" in lines[3] and "grad x1 += -3 x 0.5 = -1.5" in "\n".join(lines)
    # nothing was changed: no .grad set, and backward still runs and agrees
    assert x1.grad is None and n.grad is None
    o.backward()
    assert x1.grad == explanation.grad_of(x1) and n.grad == explanation.grad_of(n)


def test_explain_shows_fan_out_as_a_sum():
    a = ag.Scalar(3.0, name="a")
    c = a * a + a  # a is used three times: grads 3 + 3 + 1 = 7 (d/da of a^2 + a = 2a + 1)
    c.name = "c"
    explanation = ag.explain(c)
    line = [line for line in str(explanation).splitlines() if "leaf a" in line][0]
    assert line.endswith("grad 1 + 3 + 3 = 7")
    step = explanation.step_of[a]
    assert [edge.product for edge in step.received] == [1.0, 3.0, 3.0]


def test_explain_refuses_freed_graphs_and_values_without_grad():
    o, _, _ = neuron()
    o.backward()
    with pytest.raises(BackwardError, match="retain_graph=True"):
        ag.explain(o)
    o, _, leaves = neuron()
    o.backward(retain_graph=True)
    assert ag.explain(o).grad_of(leaves[0]) == leaves[0].grad
    with pytest.raises(BackwardError, match="does not require grad"):
        ag.explain(ag.Scalar(1.0, requires_grad=False))
    with pytest.raises(TypeError, match="expected a Tensor or Scalar"):
        ag.explain(1.0)


def test_explain_warns_that_hooks_are_not_run():
    a = ag.Scalar(2.0, name="a")
    a.register_hook(lambda g: g * 2)
    with pytest.warns(UserWarning, match="a have gradient hooks"):
        ag.explain(a * 3.0)


def test_explain_tensor_jacobians_and_products_against_numpy():
    xv = np.array([[1.0, -2.0], [0.5, 1.5]])
    wv = np.array([[0.3, -0.4], [0.2, 0.1]])
    x = ag.Tensor(xv, requires_grad=True, name="x")
    w = ag.Tensor(wv, requires_grad=True, name="w")
    loss = (x @ w).tanh().sum()
    explanation = ag.explain(loss)
    matmul = [s for s in explanation.steps if getattr(s.item, "name", None)
              and isinstance(s.item, ag.Function) and s.item.name() == "MatMul"][0]
    to_x = [e for e in matmul.sends if e.target is x][0]
    # d (x @ w)[i, k] / d x[i2, j] = w[j, k] if i == i2: rows are output elements, row-major
    expected = np.zeros((4, 4))
    for i in range(2):
        for k in range(2):
            for j in range(2):
                expected[i * 2 + k, i * 2 + j] = wv[j, k]
    np.testing.assert_allclose(to_x.local, expected)
    upstream = 1 - np.tanh(xv @ wv) ** 2
    np.testing.assert_allclose(to_x.upstream, upstream)
    np.testing.assert_allclose(to_x.product, upstream @ wv.T)
    np.testing.assert_allclose(explanation.grad_of(x), upstream @ wv.T)
    np.testing.assert_allclose(explanation.grad_of(w), xv.T @ upstream)
    text = str(explanation)
    assert "d n3/d x = J [[0.3, 0.2, 0, 0]" in text


# ---- random Scalar graphs: the labelled products add up to .grad --------------------------------

UNARY = {"tanh": math.tanh, "exp": math.exp, "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
         "neg": lambda v: -v}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}


@st.composite
def scalar_graphs(draw):
    """A random Scalar graph with fan-out: each new value applies a random op to earlier values
    (any of them, so values are reused). Returns (output, [(value, op, inputs)], leaves)."""
    leaves = [draw(scalars(-1.5, 1.5)) for _ in range(draw(st.integers(1, 3)))]
    for k, leaf in enumerate(leaves):
        leaf.name = f"x{k}"
    values, made = list(leaves), []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            inputs = (draw(st.sampled_from(values)),)
            value = getattr(inputs[0], name)() if name != "neg" else -inputs[0]
        else:
            name = draw(st.sampled_from(sorted(BINARY)))
            inputs = (draw(st.sampled_from(values)), draw(st.sampled_from(values)))
            value = BINARY[name](*inputs)  # the same Python operators on Scalars
        value.retain_grad()
        values.append(value)
        made.append((value, name, inputs))
    return values[-1], made, leaves


@given(scalar_graphs())
def test_products_summed_at_each_node_equal_its_grad(graph):
    out, made, leaves = graph
    if out.grad_fn is None:
        return  # drew no op on the way to the output (a leaf): nothing to explain
    explanation = ag.explain(out)
    out.backward()
    for step in explanation.steps:
        value = step.item if isinstance(step.item, ag.Scalar) else next(
            v for v, _, _ in made if v.grad_fn is step.item)
        if not step.received:  # the output: the seed
            assert value is out and step.grad == 1.0
            continue
        total = None
        for edge in step.received:  # in the order backward added them: bit for bit
            total = edge.product if total is None else total + edge.product
        assert total == value.grad == step.grad
    # Each local derivative is what a central difference of the op says, and each product is
    # local x upstream.
    for value, name, inputs in made:
        step = explanation.step_of.get(value.grad_fn)
        if step is None:
            continue
        function = UNARY.get(name) or BINARY[name]
        datas = [v.data for v in inputs]
        for edge in step.sends:
            assert edge.product == pytest.approx(edge.local * edge.upstream, rel=1e-12,
                                                 abs=1e-300)
        for position, source in enumerate(inputs):
            h = 1e-6
            up, down = list(datas), list(datas)
            up[position] += h
            down[position] -= h
            numeric = (function(*up) - function(*down)) / (2 * h)
            # the local derivative on the edge for this position (an input used twice by one
            # op has two edges, each its own position's derivative)
            sends = [e for e in step.sends if e.target is (source.grad_fn or source)]
            assert any(e.local == pytest.approx(numeric, rel=1e-5, abs=1e-6) for e in sends)


# ---- pictures -----------------------------------------------------------------------------------

def test_draw_graph_explain_labels_edges_numbers_nodes_and_sums_fan_out():
    a = ag.Scalar(3.0, name="a")
    c = a * a + a
    c.name = "c"
    source = ag.draw_graph(c, explain=True).source
    # nodes numbered in backward order: the Add first, then the Mul, then the leaf
    assert re.search(r"v1 \[label=<<B>#1  Add  c</B>", source)
    assert re.search(r"v2 \[label=<<B>#2  Mul  n\d</B>", source)
    assert "#3  leaf  a" in source and "grad 1 + 3 + 3 = 7" in source
    edges = re.findall(r"(v\d+) -> (v\d+) \[label=<(.*)> id=", source)
    assert sorted(edges) == sorted([  # drawn input -> op; each arrow is a contribution sent back
        ("v2", "v1", "∂c/∂n2 = 1<BR/>1 × 1 = 1"), ("v3", "v1", "∂c/∂a = 1<BR/>1 × 1 = 1"),
        ("v3", "v2", "∂n2/∂a = 3<BR/>3 × 1 = 3"), ("v3", "v2", "∂n2/∂a = 3<BR/>3 × 1 = 3")])
    with pytest.raises(ValueError, match="more than max_nodes=2"):
        ag.draw_graph(c, explain=True, max_nodes=2)


def test_draw_graph_explain_on_a_tensor_shows_elements_or_shapes():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    small = (x[0, :2] * 2.0).sum()  # [0, 1] * 2: d out/d in is 2 on the diagonal
    source = ag.draw_graph(small, explain=True).source
    assert "J [[2, 0], [0, 2]]<BR/>grad·J = [2, 2]" in source
    big = (x * x).sum()  # 6 elements: a 6x6 Jacobian is too big to write; its size is shown
    source = ag.draw_graph(big, explain=True).source
    assert "6x6 Jacobian<BR/>grad·J = &lt;2x3 array, norm" in source
    assert "grad [0, 2, 4]" not in source and "leaf  x" in source


def test_draw_graph_expand_draws_matmul_as_scalar_ops_with_matching_grads():
    xv = np.array([[1.0, 2.0], [3.0, 4.0]])
    wv = np.array([[0.5, -1.0], [2.0, 0.25]])
    x = ag.Tensor(xv, requires_grad=True, name="x")
    w = ag.Tensor(wv, requires_grad=True, name="w")
    y = x @ w
    outputs, leaves = expand(y)
    assert sorted(_op_names(outputs)) == ["Add"] * 4 + ["Mul"] * 8  # 2x2x2 products, 2x2 sums
    np.testing.assert_allclose([[s.data for s in row] for row in outputs], xv @ wv)
    picture = ag.draw_graph(y, expand=True).source
    y.backward(np.ones((2, 2)))  # the seed expand uses: every element 1
    np.testing.assert_allclose(x.grad.data, np.ones((2, 2)) @ wv.T)  # by hand
    shown = dict(re.findall(r"<B>([xw]\[\d,\d\])</B></TD><TD>data [-\d.]+</TD><TD>grad ([-\d.]+)",
                            picture))
    assert len(shown) == 8
    for name, tensor in (("x", x), ("w", w)):
        for i in range(2):
            for j in range(2):
                assert float(shown[f"{name}[{i},{j}]"]) == pytest.approx(
                    tensor.grad.data[i, j], abs=1e-4)
    assert picture.count("label=<Mul>") == 8 and picture.count("label=<Add>") == 4


def test_expand_explained_single_output_and_refusals():
    x = ag.Tensor([[1.0, -1.0]], dtype="float64", requires_grad=True, name="x")
    w = ag.Tensor([[0.5], [2.0]], dtype="float64", requires_grad=True, name="w")
    loss = (x @ w).tanh().sum()
    source = ag.draw_graph(loss, expand=True, explain=True).source
    loss.backward()
    grad_x = (1 - np.tanh(-1.5) ** 2) * np.array([0.5, 2.0])
    np.testing.assert_allclose(x.grad.data[0], grad_x)
    assert f"leaf  x[0,0]</B><BR/>data 1<BR/>grad {grad_x[0]:.4g}" in source
    with pytest.raises(ValueError, match="one value"):
        ag.draw_graph(x * 2.0, expand=True, explain=True)
    with pytest.raises(ValueError, match="did not give the tensor's values"):
        expand((x * 1.0).sum(axis=1))  # axis= is not kept in the graph
    with pytest.raises(TypeError, match="expected a Tensor"):
        expand(ag.Scalar(1.0))
    big = ag.Tensor(np.ones((10, 10)), requires_grad=True)
    with pytest.raises(ValueError, match="64 at most"):
        expand(big * 2.0)


def _op_names(outputs) -> list:
    """The op of every node behind the Scalars in ``outputs`` (each node once)."""
    stack, seen, names = [s.grad_fn for s in outputs.flat], set(), []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(node.name())
        stack.extend(p for p in node._next if isinstance(p, ag.Function))
    return names


# ---- the command line and the page --------------------------------------------------------------

def run_cli(*args, cwd):
    """``python -m autograd_core explain ARGS`` in ``cwd``, in this process (one subprocess
    below checks the module entry point itself)."""
    here = os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = viz.main(["explain", *args])
            except SystemExit as exit_:
                code = exit_.code
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_cli_explain_text_code_and_errors(tmp_path):
    done = run_cli("a = Scalar(3.0, name='a'); out = a * a + a", "--text", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "step 3: leaf a: grad 1 + 3 + 3 = 7"
    script = tmp_path / "f.py"
    script.write_text("x = Scalar(0.5, name='x')\nout = x.exp()\n")
    done = run_cli(str(script), "-o", "f.svg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f.svg").read_text().count("#2 &#160;leaf &#160;x") == 1
    assert run_cli("y = 1", cwd=tmp_path).stderr.endswith(
        "variable named out; got no variable out\n")
    bad = run_cli("-o", "page.txt", cwd=tmp_path)
    assert bad.returncode == 2 and "the suffix picks what is written" in bad.stderr
    entry = subprocess.run([sys.executable, "-m", "autograd_core", "explain", "--example",
                            "expression", "--text"], cwd=tmp_path, capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert entry.returncode == 0, entry.stderr
    assert entry.stdout.startswith("step 1: Sum node loss (grad 1)")


CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]


def test_step_through_page_in_headless_chromium(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing (apt-get install -y chromium; "
                    "scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    done = run_cli("--example", "fanout", "-o", "backward.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page_file = tmp_path / "backward.html"
    text = page_file.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    assert "<script src" not in text and "<link" not in text
    # The same example, run here: the engine's own grads for every value
    out, kept = viz.EXPLAIN_EXAMPLES["fanout"]()
    explanation = ag.explain(out)
    out.backward()
    expected = {step.number: (step.item if isinstance(step.item, ag.Scalar)
                              else next(v for v in kept if v.grad_fn is step.item)).grad
                for step in explanation.steps}
    last = len(expected)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())

            def shown():
                grads = {}
                for n in range(1, last + 1):
                    raw = page.get_attribute(f"#grad-v{n}", "data-grad")
                    grads[n] = json.loads(raw) if raw else None
                return page.text_content("#step"), grads

            assert shown() == (f"Step 0 of {last}", {1: 1.0, **{n: None for n in
                                                                 range(2, last + 1)}})
            for k in range(1, last + 1):
                if k % 2:
                    page.keyboard.press("ArrowRight")
                else:
                    page.click("#next")
                step, grads = shown()
                assert step == f"Step {k} of {last}"
                for n in range(1, k + 1):  # visited: complete, the engine's .grad exactly
                    assert grads[n] == expected[n]
                    assert page.get_attribute(f"#row-v{n}", "class") in ("done", "current")
                assert page.text_content(f"#grad-v{k}") == f"grad {expected[k]:.4g}" or \
                    page.text_content(f"#grad-v{k}").endswith(f"= {expected[k]:.4g}")
            page.keyboard.press("ArrowRight")  # past the end: stays
            assert shown()[0] == f"Step {last} of {last}"
            page.keyboard.press("ArrowLeft")
            page.click("#prev")
            step, grads = shown()
            assert step == f"Step {last - 2} of {last}"
            assert grads[last] is None or page.get_attribute(f"#row-v{last}", "class") == ""
            # the graph's own boxes follow: the visited ones coloured, the grad lines updated
            fill = page.eval_on_selector("#v1 path, #v1 polygon", "e => e.style.fill")
            assert fill == "rgb(201, 239, 201)"
            assert page.eval_on_selector(f"#v{last}", "g => g.textContent").count("grad") == 1
        finally:
            browser.close()
