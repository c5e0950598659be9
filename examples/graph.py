"""Draw the computation graph of one training step of a small network, and the network itself.

    python -m examples.graph             # a few seconds (Graphviz's `dot` draws the pictures)

A 2-3-1 tanh network takes one batch of four XOR points through a forward pass and MSE, then
backward. The graph shows every op that recorded (grouped in one box per layer), the
parameters by name with their values and gradients, and the loss at the end. The network
picture shows each neuron and each weight w_jk^(l), blue for positive and red for negative.
Writes SVG and PNG of both to --out (default out/).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/graph.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import nn
from examples.common import parse_args, render_training_step_graph, report_written

FORMATS = ("svg", "png")


def make_model(seed: int) -> nn.Module:
    return nn.Sequential(nn.Dense(2, 3, rng=seed), nn.Tanh(), nn.Dense(3, 1, rng=seed + 1))


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = make_model(args.seed)
    step = render_training_step_graph(model, nn.mse_loss, x, y, args.out / "graph_training_step",
                                      FORMATS, rankdir="TB")
    picture = nn.draw_network(model)
    network = [Path(picture.render(outfile=args.out / f"graph_network.{fmt}", cleanup=True))
               for fmt in FORMATS]
    grads = {name: float(np.linalg.norm(p.grad.data)) for name, p in model.named_parameters()}
    print("one training step of a 2-3-1 tanh network on 4 XOR points, MSE loss; gradient norms: "
          + ", ".join(f"{name} {norm:.3f}" for name, norm in grads.items()))
    report_written(*step, *network)
    return {"training_step": step, "network": network, "grad_norms": grads}


if __name__ == "__main__":
    main()
