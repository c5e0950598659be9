"""``python -m nn``: draw a saved model, or nn's built-in example, to a file.

This command line lives in nn because reading saved models and rebuilding networks is nn's
business; the core's own command line (``python -m autograd_core``) draws only core examples and
must not import nn. Both share the output options and the rendering in
:mod:`autograd_core.viz` (nn may import the core, never the reverse).
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

from autograd_core import Tensor
from autograd_core.viz import add_output_arguments, draw_graph, finish_command

from . import viz
from .layers import Dense, Tanh
from .losses import mse_loss
from .module import Sequential
from .serialization import load

PROG = "python -m nn"


def _example_mlp(**options):
    """A 2-4-1 network's loss on a batch, clustered by module, after backward."""
    model = Sequential(Dense(2, 4, rng=0), Tanh(), Dense(4, 1, rng=1))
    x = Tensor(np.random.default_rng(0).normal(size=(8, 2)), dtype="float32")
    with viz.record_modules(model):
        loss = mse_loss(model(x), Tensor(np.ones((8, 1), dtype=np.float32)))
    loss.name = "loss"
    loss.backward()
    return draw_graph(loss, params=model.named_parameters(), cluster_by="module", **options)


EXAMPLES = {"mlp": _example_mlp}


def load_state_file(path) -> dict:
    """A saved state dict: an ``.npz`` of arrays (read with ``allow_pickle=False``), or a file
    written by ``nn.save``, told apart by their first bytes rather than by the file's name."""
    path = Path(path)
    with open(path, "rb") as file:
        start = file.read(8)
    if start.startswith(b"PK"):  # a zip archive: numpy's .npz
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except zipfile.BadZipFile as error:
            raise ValueError(f"{str(path)!r} is not a readable .npz archive: {error}") from None
    return load(path)  # anything else must be nn.save's format; load says what is wrong if not


def _saved_model_picture(args):
    """The network of neurons/layers of a saved model or, with ``--graph``, the computation
    graph of one forward pass of the model rebuilt from it."""
    state = load_state_file(args.model)
    if not args.graph:
        return viz.draw_network(state, detail=args.detail, rankdir=args.rankdir)
    model = viz.model_from_state_dict(state, activation=args.activation)
    first = model[0]
    with viz.record_modules(model):
        out = model(Tensor(np.zeros((1, first.in_features), dtype=first.weight.dtype)))
    out.name = "output"
    return draw_graph(out, params=model.named_parameters(), cluster_by="module",
                      rankdir=args.rankdir, max_nodes=args.max_nodes)


def main(argv=None) -> int:
    """Command line: render a saved model's picture, or nn's built-in example, to a file.

    ``python -m nn MODEL [-o net.svg] [--graph] [--detail ...] [--activation ...] [--dot]`` or
    ``python -m nn --example mlp``; the ``nn-viz`` console script runs the same. Returns the exit
    status.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Render the network of a saved model (an .npz state dict or a file written "
                    "by nn.save) or the computation graph of nn's built-in example to a file. "
                    "The core's examples: `python -m autograd_core`.")
    parser.add_argument("model", nargs="?", help="saved state dict to draw")
    parser.add_argument("--example", choices=sorted(EXAMPLES),
                        help="draw a built-in example instead of a saved model")
    parser.add_argument("--graph", action="store_true", help="draw the computation graph of one "
                        "forward pass instead of the network of neurons/layers")
    parser.add_argument("--activation", default="relu",
                        choices=("relu", "tanh", "sigmoid", "leaky_relu", "identity"),
                        help="with --graph: activation between Dense layers (a state dict does "
                             "not record it; default relu)")
    parser.add_argument("--detail", choices=("auto", "neurons", "layers"), default="auto",
                        help="neurons and weights, one box per layer, or auto (by width)")
    add_output_arguments(parser, "net.svg")
    args = parser.parse_args(argv)
    if args.model is not None and args.example is not None:
        parser.error(f"give a saved model ({args.model!r}) or --example {args.example}, not both")
    if args.model is None and args.example is None:
        parser.error("nothing to draw: give a saved model (MODEL: an .npz state dict or a file "
                     "written by nn.save) or --example")
    if args.example:
        example = EXAMPLES[args.example]
        return finish_command(parser, args, lambda: example(rankdir=args.rankdir,
                                                            max_nodes=args.max_nodes))
    return finish_command(parser, args, lambda: _saved_model_picture(args))
