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
               rankdir: str = "LR", cluster_by=None, max_nodes: int | None = 500
               ) -> graphviz.Digraph:
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


def main(argv=None) -> int:
    """Command line: render one of the core's built-in examples to a file.

    ``python -m autograd_core [--example neuron|expression] [-o graph.png] [--dot]``;
    ``python -m autograd_core.viz`` and the ``autograd-viz`` console script run the same. Saved
    models are drawn by nn's command line, ``python -m nn MODEL``: the core does not know nn.
    Returns the exit status.
    """
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
