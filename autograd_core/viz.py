"""Pictures of computation graphs, drawn with graphviz; also ``python -m autograd_core``.

>>> import autograd_core as ag
>>> x = ag.Tensor([[1.0, 2.0]], requires_grad=True, name="x")
>>> w = ag.Tensor([[0.5], [-1.0]], requires_grad=True, name="w")
>>> y = (x @ w).tanh().sum()
>>> y.backward()
>>> picture = ag.draw_graph(y)               # a graphviz.Digraph: shows inline in Jupyter
>>> picture.render(outfile="graph.svg")      # writes the file with Graphviz's dot program
'graph.svg'

What a picture shows. A graph is made of Function nodes (one per recorded op) and leaves (values
created with ``requires_grad=True``). A node keeps its inputs but not its output, so:

* every op is an ellipse named by its op (``MatMul``, ``Tanh``, ...), with edges from its inputs;
* leaves are boxes with their name (or parameter name), shape and dtype (a Scalar: its data), and
  their grad once backward has run; blue for leaves that require grad, green for parameters;
* the root is an orange box, and an inner value is a grey box when it can still be reached: one on
  which ``retain_grad()`` was called (while your code still holds it; data and grad are shown), or
  the output of a module recorded with ``nn.record_modules`` (its shape and dtype);
* any other inner value is just the edge between two ops: the engine does not keep its shape.

Inputs that do not require grad (data, constants) are not part of the graph and are not drawn.
The walk is iterative, so graphs of any depth can be drawn; ``max_nodes`` keeps large ones legible.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import graphviz
import numpy as np

from .engine import Function, Variable, topological_order
from .errors import AutogradError
from .scalar import Scalar
from .tensor import Tensor

# Attributes that tag_nodes() sets on Function nodes (a Function has a __dict__ for such notes).
GROUP_ATTR = "_viz_module"   # dotted path of the innermost module whose forward made the node
KINDS_ATTR = "_viz_kinds"    # {dotted path: module type name} of every module around the node
OUTPUT_ATTR = "_viz_output"  # (dotted module path, shape, dtype) of the module output it made

RANKDIRS = ("LR", "RL", "TB", "BT")
FORMATS = ("svg", "png", "pdf")
_LEAF, _PARAM, _CONSTANT, _ROOT, _INNER = "#cfe2ff", "#d1f0d1", "#eeeeee", "#ffd9a8", "#f2f2f2"
_LEGEND = ("ellipses: ops   blue: leaves that require grad   green: parameters   "
           "orange: output   grey: inner values")


# ---- walking -----------------------------------------------------------------------------------

def _item(value: Variable):
    """The graph item a value stands for: its Function node, or the value itself for a leaf."""
    return value._grad_fn or value


def _variables(obj) -> list:
    """The Tensors/Scalars in ``obj``: one value, or (nested) lists, tuples and dict values."""
    found, stack = [], [obj]
    while stack:
        current = stack.pop()
        if isinstance(current, Variable):
            found.append(current)
        elif isinstance(current, (list, tuple)):
            stack.extend(reversed(current))
        elif isinstance(current, Mapping):
            stack.extend(reversed(list(current.values())))
    return found


def tag_nodes(outputs, inputs, path: str, kind: str | None = None) -> int:
    """Mark the nodes that lead from ``inputs`` to ``outputs`` as made by the module at ``path``.

    ``nn.record_modules`` calls this after each module's forward; ``draw_graph(...,
    cluster_by="module")`` then draws the nodes of one module in one box. The walk goes back
    from the outputs and stops at the inputs' nodes. A node keeps the first tag it gets: inner
    modules finish before the modules containing them, so each node ends up with its innermost
    module (and also notes the type of every module around it, for the cluster labels). A
    tensor that a forward uses without receiving it as an argument (one computed earlier and
    kept, say) is walked into as well. Returns the number of nodes newly tagged.
    """
    stop = {id(_item(value)) for value in _variables(inputs)}
    stack = []
    for value in _variables(outputs):
        node = value._grad_fn
        if node is None or id(node) in stop:  # a leaf, or an input passed through unchanged
            continue
        shape, dtype = _shape_dtype(value)
        node.__dict__.setdefault(OUTPUT_ATTR, (path, shape, dtype))
        stack.append(node)
    seen, tagged = set(), 0
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in stop:
            continue
        seen.add(id(node))
        notes = node.__dict__
        notes.setdefault(KINDS_ATTR, {}).setdefault(path, kind)
        if GROUP_ATTR not in notes:
            notes[GROUP_ATTR] = path
            tagged += 1
        stack.extend(parent for parent in node._next if isinstance(parent, Function))
    return tagged


def _nearest(starts: list, limit: int) -> set:
    """Ids of the ``limit`` graph items closest to ``starts`` (breadth-first from the root)."""
    kept, queue = set(), deque()
    for item in starts:
        if id(item) not in kept:
            kept.add(id(item))
            queue.append(item)
    while queue and len(kept) < limit:
        item = queue.popleft()
        for parent in getattr(item, "_next", ()):
            if parent is not None and id(parent) not in kept and len(kept) < limit:
                kept.add(id(parent))
                queue.append(parent)
    return kept


# ---- labels ------------------------------------------------------------------------------------

def _shape_dtype(value: Variable) -> tuple[tuple, str]:
    if isinstance(value.data, np.ndarray):
        return tuple(value.data.shape), str(value.data.dtype)
    return (), "scalar"


def _raw(value):
    return value.data if isinstance(value, Variable) else value


def _summary(raw, what: str) -> str:
    """A number (micrograd's four decimals), a small array, or the norm of a large one."""
    if not isinstance(raw, np.ndarray):
        return f"{what} {float(raw):.4f}"
    if raw.size <= 4:
        if raw.ndim == 0:
            return f"{what} {raw.item():.4f}"
        text = np.array2string(raw, precision=4, separator=", ", suppress_small=True)
        return f"{what} {' '.join(text.split())}"
    return f"‖{what}‖ {float(np.linalg.norm(raw.astype(np.float64))):.4g}"


def _table(cells: list[str], colour: str) -> str:
    """An HTML-like label: one row of cells, the first (the title) coloured. Cells are escaped."""
    first = f'<TD BGCOLOR="{colour}"><B>{html.escape(cells[0])}</B></TD>'
    rest = "".join(f"<TD>{html.escape(cell)}</TD>" for cell in cells[1:])
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4"><TR>{first}'
            f"{rest}</TR></TABLE>>")


def _value_cells(title: str, value: Variable, show_values: bool, show_grads: bool) -> list[str]:
    cells = [title]
    if isinstance(value.data, np.ndarray):
        shape, dtype = _shape_dtype(value)
        cells.append(f"{shape} {dtype}")
    if show_values:
        cells.append(_summary(value.data, "data"))
    if show_grads and value.grad is not None:
        cells.append(_summary(_raw(value.grad), "grad"))
    return cells


def _param_names(params) -> dict:
    if params is None:
        return {}
    pairs = params.items() if isinstance(params, Mapping) else params
    names = {}
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], Variable)):
            raise TypeError("draw_graph: params must be (name, parameter) pairs, as "
                            "model.named_parameters() gives, or a dict of name -> parameter; "
                            f"got an item {pair!r:.60}")
        names.setdefault(id(pair[1]), str(pair[0]))
    return names


def _grouping(cluster_by, names: dict):
    """A function item -> (group path, {path: module type name}) or None, for ``cluster_by``."""
    if cluster_by is None:
        return lambda item: None
    if callable(cluster_by):
        def custom(item):
            group = cluster_by(item)
            return None if group is None else (str(group), {})
        return custom
    if cluster_by != "module":
        raise ValueError(f"draw_graph: cluster_by must be None, 'module' or a function of a graph "
                         f"item, got {cluster_by!r}")

    def by_module(item):
        if isinstance(item, Function):
            path = item.__dict__.get(GROUP_ATTR)
            return None if path is None else (path, item.__dict__.get(KINDS_ATTR, {}))
        module = names.get(id(item), "").rpartition(".")[0]  # "0.weight" belongs to module "0"
        return (module, {}) if module else None
    return by_module


# ---- drawing -----------------------------------------------------------------------------------

class _Picture:
    """Nodes sorted into (nested) clusters, assembled into one Digraph at the end."""

    def __init__(self, rankdir: str):
        self.graph = graphviz.Digraph(
            "autograd", graph_attr={"rankdir": rankdir, "label": _LEGEND, "labelloc": "b",
                                    "fontname": "Helvetica", "fontsize": "9"},
            node_attr={"fontname": "Helvetica", "fontsize": "10"},
            edge_attr={"arrowsize": "0.7"})
        self.members: dict[str, list] = {}  # cluster path -> its nodes, in drawing order
        self.kinds: dict[str, str] = {}

    def node(self, group, name: str, label: str, **attrs) -> None:
        if group is None:
            self.graph.node(name, label, **attrs)
            return
        path, kinds = group
        for module, kind in kinds.items():
            if kind is not None:
                self.kinds.setdefault(module, kind)
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):  # "a.b" lies inside "a"
            self.members.setdefault(".".join(parts[:depth]), [])
        self.members[path].append((name, label, attrs))

    def finish(self) -> graphviz.Digraph:
        clusters = {}
        for number, (path, nodes) in enumerate(self.members.items()):
            kind = self.kinds.get(path)
            cluster = graphviz.Digraph(f"cluster_{number}", graph_attr={
                "label": f"{path} ({kind})" if kind else path, "style": "rounded,dashed",
                "color": "#7f7f7f", "fontsize": "10", "labeljust": "l", "labelloc": "t"})
            for name, label, attrs in nodes:
                cluster.node(name, label, **attrs)
            clusters[path] = cluster
        # Children first: subgraph() copies a cluster's body as it is when it is attached.
        for path in sorted(clusters, key=lambda p: p.count("."), reverse=True):
            parent = path.rpartition(".")[0]
            (clusters[parent] if parent else self.graph).subgraph(clusters[path])
        return self.graph


def draw_graph(root, params=None, show_values: bool = True, show_grads: bool = True,
               rankdir: str = "LR", cluster_by=None, max_nodes: int | None = 500,
               explain: bool = False, expand: bool = False) -> graphviz.Digraph:
    """The computation graph behind ``root`` (a Tensor, a Scalar, or a list of them).

    ``params``: ``model.named_parameters()`` (or a dict name -> parameter) labels those leaves
    with their names. ``show_values``/``show_grads`` add data and gradients to the value boxes
    (a Scalar's number, a tensor's values up to four elements, else its norm ‖·‖); gradients
    appear once backward has run. ``rankdir``: "LR" (inputs on the left), "TB", "RL" or "BT".
    ``cluster_by="module"`` boxes the ops of each module recorded with ``nn.record_modules``
    (and each parameter with its module); a function of a graph item (a Function node or a
    leaf) returning a dotted path or None groups by anything else. At most ``max_nodes`` ops
    and leaves are drawn (those nearest the root); a note then says how many were left out
    and how to draw them (``max_nodes=None`` draws everything).

    ``explain=True`` draws the backward pass instead (see :func:`autograd_core.explain`, which
    computes it without changing any ``.grad``): every value is numbered by the step at which
    backward visits it ("#3"), every edge is labelled with the local derivative d out/d in and
    the product it sends back (local x upstream grad; for a Tensor, the vector-Jacobian
    product, with the Jacobian's size), and a value used more than once shows its grad as the
    sum of what each use sent. Explain before ``backward()``, or after
    ``backward(retain_graph=True)``: a plain backward frees what the steps need.

    ``expand=True`` (a tiny Tensor graph) draws the Scalar ops the tensor ops stand for: each
    op's forward is replayed on one Scalar per element (a 2x2 matmul becomes its eight
    multiplications and four additions; see :func:`autograd_core.explainer.expand`), and the
    Scalars' grads are those backward gives when every element of ``root`` is seeded with 1
    (``root.backward(ones)``, the gradients of ``root.sum()``). Combine with ``explain=True``
    for a single-element ``root``.

    Returns a ``graphviz.Digraph``: displayed inline by Jupyter; ``.render(outfile="g.png")``
    (or "g.svg", "g.pdf") writes a file with Graphviz's ``dot``; ``.source`` is the DOT text.

    >>> with nn.record_modules(model):
    ...     loss = nn.mse_loss(model(x), y)
    >>> draw_graph(loss, params=model.named_parameters(), cluster_by="module")
    <graphviz.graphs.Digraph object at 0x...>
    """
    roots = _variables(root)
    if not roots:
        raise TypeError(f"draw_graph: expected a Tensor or Scalar (or a list of them), "
                        f"got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1 (or None), got {max_nodes}")
    if expand:
        if len(roots) != 1:
            raise ValueError("draw_graph: expand=True takes one Tensor, got "
                             f"{len(roots)} values")
        roots, _ = _expanded(roots[0], retain=explain)
        if not explain:
            return draw_graph(roots, params, show_values, show_grads, rankdir, cluster_by,
                              max_nodes)
    if explain:
        if len(roots) != 1:
            raise ValueError("draw_graph: explain=True shows the backward pass from one value "
                             f"(a single-element one for expand=True), got {len(roots)}")
        from .explainer import explain as explain_graph

        explanation = explain_graph(roots[0])
        if max_nodes is not None and len(explanation.steps) > max_nodes:
            raise ValueError(f"draw_graph: the backward pass has {len(explanation.steps)} steps, "
                             f"more than max_nodes={max_nodes}: explain=True draws every one; "
                             "pass a larger max_nodes (or None), or print ag.explain(value)")
        return draw_explained(explanation, rankdir=rankdir, show_values=show_values)
    names = _param_names(params)
    group_of = _grouping(cluster_by, names)
    starts = [_item(value) for value in roots]
    items = topological_order(starts)
    left_out = 0
    if max_nodes is not None and len(items) > max_nodes:
        kept = _nearest(starts, max_nodes)
        left_out = len(items) - len(kept)
        items = [item for item in items if id(item) in kept]
    drawn = {id(item) for item in items}
    boxes = _value_boxes(roots, items)

    picture = _Picture(rankdir)
    for item in items:
        group = group_of(item)
        if isinstance(item, Function):
            picture.node(group, f"op{id(item)}", f"<{html.escape(item.name())}>",
                         shape="ellipse", style="filled", fillcolor="white")
            if id(item) in boxes:
                picture.node(group, f"out{id(item)}", boxes[id(item)](show_values, show_grads),
                             shape="plain")
        else:
            picture.node(group, f"leaf{id(item)}",
                         _leaf_label(item, names.get(id(item)), show_values, show_grads),
                         shape="plain")

    def source(item) -> str:
        if not isinstance(item, Function):
            return f"leaf{id(item)}"
        return f"out{id(item)}" if id(item) in boxes else f"op{id(item)}"

    graph = picture.finish()
    cut = {}  # nodes with inputs left out, in order (a dict: membership in O(1))
    for item in items:
        if not isinstance(item, Function):
            continue
        for parent in item._next:
            if parent is None:
                continue
            if id(parent) in drawn:
                graph.edge(source(parent), f"op{id(item)}")
            else:
                cut[f"op{id(item)}"] = None
        if id(item) in boxes:
            graph.edge(f"op{id(item)}", f"out{id(item)}")
    if left_out:
        graph.node("truncated", f"<{html.escape(_limit_message(left_out, max_nodes))}>",
                   shape="note", style="filled", fillcolor="#fff3b0", color="#b58900")
        for name in cut:
            graph.edge("truncated", name, style="dashed", color="#b58900")
    return graph


def _expanded(out, retain: bool) -> tuple[list, list]:
    """The Scalars ``out``'s elements stand for (see explain.expand), after the backward pass
    that seeds each with 1, and the leaf Scalars (kept alive with the picture's inputs)."""
    from .engine import grad as grad_of
    from .explainer import expand

    outputs, leaves = expand(out)
    label = out.name or "out"
    scalars = []
    for index in np.ndindex(outputs.shape):
        value = outputs[index]
        if isinstance(value, Variable) and value.requires_grad:
            value.name = f"{label}[{','.join(map(str, index))}]" if index else label
            scalars.append(value)
    inputs = [cell for cells in leaves.values() for cell in cells.flat]
    if not retain:  # the explanation runs its own backward pass, over intact saved values
        grads = grad_of(scalars, inputs, grad_outputs=[1.0] * len(scalars), allow_unused=True)
        for cell, value in zip(inputs, grads):
            cell.grad = value
    return scalars, inputs


# ---- the backward pass, explained ---------------------------------------------------------------

_VISITED, _CURRENT, _PENDING = "#c9efc9", "#ffe08a", "#ffffff"


def _explained_parts(explanation) -> dict:
    """{item: (node attributes, header, data text or None)} for the explained picture."""
    from .explainer import _number

    root = explanation.root._grad_fn or explanation.root
    nodes = {}
    for step in explanation.steps:
        item = step.item
        name = explanation.names[item]
        kind = item.name() if isinstance(item, Function) else "leaf"
        header = f"#{step.number}  {kind}  {name}"
        data = explanation.data.get(item)
        data_text = None if data is None else f"data {_number(data)}"
        colour = _ROOT if item is root else (_LEAF if not isinstance(item, Function) else "white")
        nodes[item] = ({"shape": "box", "style": "rounded,filled", "fillcolor": colour,
                        "id": f"v{step.number}"}, header, data_text)
    return nodes


def _grad_text(step) -> str:
    from .explainer import _number

    text = _number(step.grad)
    if len(step.received) > 1:  # fan-out: the sum of what each use sent
        text = " + ".join(_number(edge.product) for edge in step.received) + " = " + text
    return f"grad {text}"


def _edge_label(explanation, edge) -> str:
    from .explainer import _local, _number, _product

    source, target = explanation.names[edge.source], explanation.names[edge.target]
    if isinstance(edge.product, np.ndarray) and edge.product.ndim > 0:
        size = f"{np.size(edge.upstream)}x{np.size(edge.product)}"
        local = (_local(edge.local, edge.upstream, edge.product)
                 if edge.local is not None and edge.local.size <= 4 else f"{size} Jacobian")
        lines = [f"∂{source}/∂{target}: {local}", f"grad·J = {_number(edge.product)}"]
    else:
        lines = [f"∂{source}/∂{target} = {_number(edge.local)}",
                 _product(edge.local, edge.upstream, edge.product).replace(" x ", " × ")]
    return "<" + "<BR/>".join(html.escape(line) for line in lines) + ">"


def draw_explained(explanation, rankdir: str = "LR", show_values: bool = True,
                   grad_texts: dict | None = None) -> graphviz.Digraph:
    """The picture of an :class:`autograd_core.explainer.Explanation` (what ``draw_graph(value,
    explain=True)`` returns). ``grad_texts`` replaces the grad line of chosen steps
    ({step number: text}): the step-through page lays out its frames with it."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_explained: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    graph = graphviz.Digraph(
        "backward", graph_attr={"rankdir": rankdir, "label": _EXPLAIN_LEGEND, "labelloc": "b",
                                "fontname": "Helvetica", "fontsize": "9"},
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "arrowsize": "0.7",
                   "color": "#b22222", "fontcolor": "#b22222", "dir": "back"})
    nodes = _explained_parts(explanation)
    texts = grad_texts or {}
    for step in explanation.steps:
        attrs, header, data_text = nodes[step.item]
        lines = [f"<B>{html.escape(header)}</B>"]
        if show_values and data_text is not None:
            lines.append(html.escape(data_text))
        lines.append(html.escape(texts.get(step.number, _grad_text(step))))
        graph.node(f"v{step.number}", "<" + "<BR/>".join(lines) + ">", **attrs)
    number = {step.item: step.number for step in explanation.steps}
    for step in explanation.steps:
        for k, edge in enumerate(step.sends):
            # Drawn input -> op, as the forward pass runs; the arrow (dir=back) points the way
            # the gradient goes.
            graph.edge(f"v{number[edge.target]}", f"v{step.number}",
                       label=_edge_label(explanation, edge), id=f"e{step.number}_{k}")
    return graph


_EXPLAIN_LEGEND = ("#k: step k of the backward pass   red arrows: gradient flow, labelled "
                   "∂out/∂in and what it sends back (local × upstream grad)   "
                   "a grad written as a sum: the value was used more than once")


def _limit_message(left_out: int, max_nodes: int) -> str:
    return (f"{left_out} more nodes not drawn (max_nodes={max_nodes}): "
            "pass a larger max_nodes, or max_nodes=None to draw everything")


def _leaf_label(leaf: Variable, param_name, show_values: bool, show_grads: bool) -> str:
    title = param_name or leaf.name or ("leaf" if leaf.requires_grad else "constant")
    colour = _PARAM if param_name else (_LEAF if leaf.requires_grad else _CONSTANT)
    return _table(_value_cells(title, leaf, show_values, show_grads), colour)


def _value_boxes(roots: list, items: list) -> dict:
    """id(node) -> a function (show_values, show_grads) -> label, for the inner values drawn."""
    boxes = {}
    for item in items:
        if not isinstance(item, Function):
            continue
        kept = item._retained() if item._retained is not None else None
        if kept is not None:
            boxes[id(item)] = _boxer(kept.name or "retained", kept, _INNER)
        elif OUTPUT_ATTR in item.__dict__:
            path, shape, dtype = item.__dict__[OUTPUT_ATTR]
            cells = [f"{path} output"] + ([] if dtype == "scalar" else [f"{shape} {dtype}"])
            boxes[id(item)] = lambda values, grads, cells=cells: _table(cells, _INNER)
    for value in roots:  # last: the root's own box wins
        if value._grad_fn is not None:
            boxes[id(value._grad_fn)] = _boxer(value.name or "output", value, _ROOT)
    return boxes


def _boxer(title: str, value: Variable, colour: str):
    return lambda values, grads: _table(_value_cells(title, value, values, grads), colour)


# ---- the backward pass as a page to step through -------------------------------------------------

def _exact(value):
    """A gradient as JSON: a float, or nested lists (the page's data-grad, for tests)."""
    return value.tolist() if isinstance(value, np.ndarray) else float(value)


def explain_frames(explanation) -> list[dict]:
    """One frame per state of the backward pass: frame 0 has only the seed gradient of the
    output, frame k the state after step k. A frame: ``step``, ``line`` (the step's text),
    ``grads`` {step number: (text, exact value, done)} for every value that has received
    something (partial sums until its own step; the sums are the engine's, in its order), and
    ``edges`` (the ids of the edges drawn at this step)."""
    from .explainer import _number

    steps = explanation.steps
    number = {step.item: step.number for step in steps}
    partial = {steps[0].number: steps[0].grad}
    sums = {steps[0].number: []}

    def snapshot(k: int) -> dict:
        grads = {}
        for n, value in partial.items():
            done = n <= k
            text = _number(value)
            if len(sums[n]) > 1:
                text = " + ".join(sums[n]) + " = " + text
            grads[n] = (f"grad {text}" + ("" if done else " (so far)"), _exact(value), done)
        return grads

    seed = _number(steps[0].grad)
    frames = [{"step": 0, "line": f"start: the output {explanation.names[steps[0].item]} "
               f"gets the seed gradient {seed}", "grads": snapshot(0), "edges": []}]
    for step in steps:
        for edge in step.sends:
            target = number[edge.target]
            previous = partial.get(target)
            partial[target] = edge.product if previous is None else previous + edge.product
            sums.setdefault(target, []).append(_number(edge.product))
        frames.append({"step": step.number, "line": explanation.line(step),
                       "grads": snapshot(step.number),
                       "edges": [f"e{step.number}_{k}" for k in range(len(step.sends))]})
    return frames


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
#controls {{ margin: 0.5em 0; }} #controls button {{ font-size: 1em; margin-right: 0.5em; }}
#step {{ font-weight: bold; margin-left: 1em; }}
#line {{ font-family: monospace; white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; }}
#graph svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; font-family: monospace; }}
tr.done td {{ background: {visited}; }} tr.current td {{ background: {current}; }}
.edge {{ transition: opacity 0.2s; }}
</style></head><body>
<h2>{title}</h2>
<div id="controls"><button id="prev">&#9664; previous</button><button id="next">next &#9654;
</button><span id="step"></span> (left/right arrow keys step too)</div>
<div id="line"></div>
<div id="graph">{svg}</div>
<table><thead><tr><th>step</th><th>value</th><th>op</th><th>grad</th></tr></thead><tbody>
{rows}
</tbody></table>
<script>
const frames = {frames};
const last = frames.length - 1;
let k = 0;
function gradText(node) {{
  for (const t of node.querySelectorAll("text")) {{
    if (t.textContent.startsWith("grad ") || t.dataset.grad) {{ t.dataset.grad = "1"; return t; }}
  }}
  return null;
}}
function show(i) {{
  k = Math.max(0, Math.min(last, i));
  const f = frames[k];
  document.getElementById("step").textContent = "Step " + k + " of " + last;
  document.getElementById("line").textContent = f.line;
  for (let n = 1; n <= last; n++) {{
    const g = f.grads[n];
    const node = document.getElementById("v" + n);
    const shape = node.querySelector("path, polygon, ellipse");
    shape.style.fill = n < k ? "{visited}" : n === k ? "{current}"
      : g ? "{pending}" : "{unreached}";
    gradText(node).textContent = g ? g[0].replace(" (so far)", "") : "grad —";
    const cell = document.getElementById("grad-v" + n);
    cell.textContent = g ? g[0] : "—";
    cell.dataset.grad = g ? JSON.stringify(g[1]) : "";
    const row = document.getElementById("row-v" + n);
    row.className = n < k ? "done" : n === k ? "current" : "";
  }}
  for (const e of document.querySelectorAll("g.edge")) {{
    const sent = Number(e.id.slice(1).split("_")[0]);
    e.style.opacity = sent <= k ? 1 : 0.12;
    for (const p of e.querySelectorAll("path")) p.style.strokeWidth = sent === k ? 3 : 1;
  }}
}}
document.getElementById("prev").addEventListener("click", () => show(k - 1));
document.getElementById("next").addEventListener("click", () => show(k + 1));
document.addEventListener("keydown", (event) => {{
  if (event.key === "ArrowRight") show(k + 1);
  if (event.key === "ArrowLeft") show(k - 1);
}});
show(0);
</script></body></html>
"""


def explain_html(explanation, title: str = "The backward pass, step by step",
                 rankdir: str = "LR") -> str:
    """A self-contained HTML page (no network: the SVG, styles and script are inline) that steps
    through the backward pass of ``explanation``: one frame per step, visited values coloured,
    the grads as they stand, previous/next buttons and the left/right arrow keys. The graph is
    laid out once (by Graphviz's ``dot``), so it does not move between frames."""
    svg = draw_explained(explanation, rankdir=rankdir).pipe(format="svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # without the XML prologue and its DTD address
    rows = []
    for step in explanation.steps:
        kind = step.item.name() if isinstance(step.item, Function) else "leaf"
        rows.append(f'<tr id="row-v{step.number}"><td>#{step.number}</td>'
                    f"<td>{html.escape(explanation.names[step.item])}</td>"
                    f'<td>{html.escape(kind)}</td><td id="grad-v{step.number}"></td></tr>')
    frames = [{**frame, "grads": {str(n): list(g) for n, g in frame["grads"].items()}}
              for frame in explain_frames(explanation)]
    return _PAGE.format(title=html.escape(title), svg=svg, rows="\n".join(rows),
                        frames=json.dumps(frames).replace("</", "<\\/"),
                        visited=_VISITED, current=_CURRENT, pending="#eef6ff",
                        unreached=_PENDING)


# ---- command line ------------------------------------------------------------------------------

def _example_neuron(**options):
    """micrograd's neuron, tanh(x1*w1 + x2*w2 + b), on Scalars, after backward."""
    x1, x2 = Scalar(2.0, name="x1"), Scalar(0.0, name="x2")
    w1, w2 = Scalar(-3.0, name="w1"), Scalar(1.0, name="w2")
    b = Scalar(6.8813735870195432, name="b")
    x1w1, x2w2 = x1 * w1, x2 * w2
    n = x1w1 + x2w2 + b
    for value, name in ((x1w1, "x1*w1"), (x2w2, "x2*w2"), (n, "n")):
        value.name = name
        value.retain_grad()  # keeps its box (data and grad) in the picture
    o = n.tanh()
    o.name = "o"
    o.retain_grad()
    o.backward()
    # The retained values must stay alive until drawn: the picture is made here.
    return draw_graph(o, **options)


def _example_expression(**options):
    """A small Tensor expression, after backward."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(4, 3)), dtype="float32", requires_grad=True, name="x")
    w = Tensor(rng.normal(size=(3, 2)), dtype="float32", requires_grad=True, name="w")
    b = Tensor(np.zeros(2), dtype="float32", requires_grad=True, name="b")
    loss = ((x @ w + b).tanh() ** 2).mean()
    loss.name = "loss"
    loss.backward()
    return draw_graph(loss, **options)


EXAMPLES = {"neuron": _example_neuron, "expression": _example_expression}


# Shared by this command line and nn's (``python -m nn``, which draws saved models): nn may
# import the core, never the reverse, so the pieces both need live here.

def add_output_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """Add the options every picture command line has: -o, --format, --rankdir, --max-nodes,
    --dot. ``default`` is the file written when -o is left out."""
    parser.add_argument("-o", "--output", help=f"file to write; its suffix ({', '.join(FORMATS)}) "
                        f"picks the format (default: {default})")
    parser.add_argument("--format", choices=FORMATS,
                        help="output format: names the suffix when -o has none, must match it "
                             "when it has one")
    parser.add_argument("--rankdir", choices=RANKDIRS, default="LR")
    parser.add_argument("--max-nodes", type=int, default=500)
    parser.add_argument("--dot", action="store_true",
                        help="print the DOT source instead of rendering (no Graphviz needed)")
    parser.set_defaults(default_output=default)


def output_path(output: str | None, fmt: str | None, default: str = "graph.svg"
                ) -> tuple[Path, str]:
    """The file to write and its format, from ``-o`` and ``--format``.

    The suffix picks the format (any case: ``net.PNG`` is a png). A name without a suffix gets
    the format's (``--format``, else svg). An unknown suffix, or a ``--format`` that differs from
    the suffix, raises ValueError: the file written is always the file named, in the format its
    name says.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: the formats are {', '.join(FORMATS)}")
    path = Path(output or Path(default).with_suffix("." + (fmt or "svg")))
    suffix = path.suffix.lstrip(".").lower()
    if not suffix:
        fmt = fmt or "svg"
        return path.with_name(f"{path.name}.{fmt}"), fmt
    if suffix not in FORMATS:
        raise ValueError(f"cannot write {str(path)!r}: unknown suffix {path.suffix!r}; the suffix "
                         f"picks the format, one of {', '.join(FORMATS)}")
    if fmt is not None and fmt != suffix:
        renamed = str(path.with_suffix("." + fmt))
        raise ValueError(f"cannot write {str(path)!r} as {fmt}: --format {fmt} contradicts the "
                         f"suffix {path.suffix!r}; name the file {renamed!r}, or leave out "
                         "--format")
    return path, suffix


def finish_command(parser: argparse.ArgumentParser, args: argparse.Namespace,
                   make_picture) -> int:
    """The end both picture command lines share: refuse a bad ``-o``/``--format`` before anything
    is drawn or written, call ``make_picture()``, then print its DOT source (``--dot``) or render
    it to the file :func:`output_path` names. Returns the exit status."""
    try:
        path, fmt = output_path(args.output, args.format, args.default_output)
    except ValueError as error:
        parser.error(str(error))  # exits with status 2, as for any other bad argument
    try:
        picture = make_picture()
    except (OSError, ValueError, AutogradError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    if args.dot:
        print(picture.source)
        return 0
    try:
        picture.render(outfile=path, format=fmt, cleanup=True)
    except graphviz.ExecutableNotFound:
        print(f"{parser.prog}: error: Graphviz's `dot` program was not found: install Graphviz "
              "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or pass "
              "--dot to print the DOT source", file=sys.stderr)
        return 1
    print(path)
    return 0


def _explain_neuron():
    """micrograd's neuron, before backward (the explainer runs its own backward pass)."""
    x1, x2 = Scalar(2.0, name="x1"), Scalar(0.0, name="x2")
    w1, w2 = Scalar(-3.0, name="w1"), Scalar(1.0, name="w2")
    b = Scalar(6.8813735870195432, name="b")
    x1w1, x2w2 = x1 * w1, x2 * w2
    n = x1w1 + x2w2 + b
    o = n.tanh()
    kept = []
    for value, name in ((x1w1, "x1*w1"), (x2w2, "x2*w2"), (n, "n"), (o, "o")):
        value.name = name
        value.retain_grad()  # names (and data) of the inner values, while they are alive
        kept.append(value)
    return o, kept


def _explain_fanout():
    """A value used twice: its grad is the sum of two contributions."""
    a, b = Scalar(1.5, name="a"), Scalar(-0.8, name="b")
    c = a * b
    d = c + a
    dc = d * c
    e = dc.tanh()
    kept = []
    for value, name in ((c, "c"), (d, "d"), (dc, "dc"), (e, "e")):
        value.name = name
        value.retain_grad()
        kept.append(value)
    return e, kept


def _explain_expression():
    """A tiny Tensor expression: 2x2 matmul, tanh, sum."""
    x = Tensor([[1.0, -2.0], [0.5, 1.5]], dtype="float64", requires_grad=True, name="x")
    w = Tensor([[0.3, -0.4], [0.2, 0.1]], dtype="float64", requires_grad=True, name="w")
    loss = (x @ w).tanh().sum()
    loss.name = "loss"
    return loss, []


EXPLAIN_EXAMPLES = {"neuron": _explain_neuron, "fanout": _explain_fanout,
                    "expression": _explain_expression}


def _explain_source(source: str):
    """The value named ``out`` by a Python file or code (run with ag, Scalar, Tensor and np
    defined), and what must stay alive with it."""
    path = Path(source)
    code = path.read_text() if source.endswith(".py") and path.is_file() else source
    import autograd_core

    namespace = {"ag": autograd_core, "Scalar": Scalar, "Tensor": Tensor, "np": np,
                 "__name__": "__explain__"}
    exec(compile(code, str(path) if code is not source else "<explain>", "exec"), namespace)
    out = namespace.get("out")
    if not isinstance(out, Variable):
        got = type(out).__name__ if "out" in namespace else "no variable out"
        raise ValueError("the code must assign the value to explain (a Scalar or Tensor) to a "
                         f"variable named out; got {got}")
    return out, list(namespace.values())


def explain_main(argv) -> int:
    """``python -m autograd_core explain``: the backward pass of an example or your own code,
    as a page to step through (``-o backward.html``), a picture (.svg, .png, .pdf) or text."""
    prog = "python -m autograd_core explain"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show the backward pass step by step: an HTML page with previous/next "
                    "buttons (-o NAME.html, the default), a picture (-o NAME.svg/.png/.pdf) or "
                    "text (--text). SOURCE is a Python file or code that assigns the value to "
                    "explain to `out` (with ag, Scalar, Tensor and np defined), e.g. "
                    "\"a = Scalar(2.0, name='a'); out = (a * a).tanh()\".")
    parser.add_argument("source", nargs="?", help="a .py file or Python code defining out")
    parser.add_argument("--example", choices=sorted(EXPLAIN_EXAMPLES), default="neuron",
                        help="built-in example when no SOURCE is given (default: neuron)")
    parser.add_argument("-o", "--output", default="backward.html",
                        help="file to write: .html (step-through page), .svg, .png or .pdf")
    parser.add_argument("--rankdir", choices=RANKDIRS, default="LR")
    parser.add_argument("--text", action="store_true",
                        help="print the steps as text instead of writing a file")
    args = parser.parse_args(argv)
    path = Path(args.output)
    suffix = path.suffix.lstrip(".").lower()
    if not args.text and suffix not in ("html", *FORMATS):
        parser.error(f"cannot write {args.output!r}: the suffix picks what is written: .html "
                     f"(a page to step through) or {', '.join('.' + f for f in FORMATS)}")
    from .explainer import explain

    try:
        out, kept = (_explain_source(args.source) if args.source is not None
                     else EXPLAIN_EXAMPLES[args.example]())
        explanation = explain(out)
        if args.text:
            print(explanation)
            return 0
        if suffix == "html":
            path.write_text(explain_html(explanation, rankdir=args.rankdir), encoding="utf-8")
        else:
            draw_explained(explanation, rankdir=args.rankdir).render(
                outfile=path, format=suffix, cleanup=True)
    except graphviz.ExecutableNotFound:
        print(f"{prog}: error: Graphviz's `dot` program was not found: install Graphviz "
              "(Debian/Ubuntu: apt-get install graphviz), or pass --text", file=sys.stderr)
        return 1
    except (OSError, ValueError, SyntaxError, NameError, TypeError, AutogradError) as error:
        print(f"{prog}: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    del kept
    print(path)
    return 0


def main(argv=None) -> int:
    """Command line: render one of the core's built-in examples to a file; ``explain ...``
    shows a backward pass step by step (see :func:`explain_main`).

    ``python -m autograd_core [--example neuron|expression] [-o graph.png] [--dot]``;
    ``python -m autograd_core.viz`` and the ``autograd-viz`` console script run the same. Saved
    models are drawn by nn's command line, ``python -m nn MODEL``: the core does not know nn.
    Returns the exit status.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["explain"]:
        return explain_main(argv[1:])
    prog = "python -m autograd_core"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Render the computation graph of a built-in example to a file. To draw a "
                    "saved model, use `python -m nn MODEL` (--help there).")
    # Accepted only to point to `python -m nn`: the core cannot read nn's files.
    parser.add_argument("model", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--example", default="neuron", metavar="{" + ",".join(EXAMPLES) + "}",
                        help="built-in example to draw (default: neuron, micrograd's)")
    add_output_arguments(parser, "graph.svg")
    args = parser.parse_args(argv)
    if args.model is not None:
        parser.error(f"{args.model!r}: this command draws only the core's built-in examples; to "
                     f"draw a saved model (an .npz state dict or a file written by nn.save), run "
                     f"`python -m nn {args.model}` (same -o, --format and --dot options)")
    if args.example not in EXAMPLES:
        moved = "; mlp is nn's example: `python -m nn --example mlp`" * (args.example == "mlp")
        parser.error(f"--example: unknown example {args.example!r}, choose from "
                     f"{', '.join(EXAMPLES)}{moved}")
    example = EXAMPLES[args.example]
    return finish_command(parser, args, lambda: example(rankdir=args.rankdir,
                                                        max_nodes=args.max_nodes))


if __name__ == "__main__":
    sys.exit(main())
