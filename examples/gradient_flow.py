"""Vanishing gradients, seen: a deep sigmoid network with Xavier init against ReLU with He init.

    python -m examples.gradient_flow     # a few seconds; --quick for a smoke run

Two networks of the same depth (DEPTH hidden layers of WIDTH units) learn the 8x8 digits with
the same optimizer, each watched by ``nn.GradientFlow``. The sigmoid's derivative is at most
1/4, so each layer the gradient passes on its way back shrinks it: with Xavier's weights the
first layer's gradient ends up orders of magnitude below the last layer's, and the first layers
barely learn. ReLU passes the gradient of its active half unchanged and He's weights keep the
signal's size from layer to layer, so every layer gets a gradient of similar size.

Prints, per network, the first layer's gradient norm over the last layer's (mean over epochs)
and the test accuracy; writes the gradient norms and update/weight ratios over epochs, and
histograms of the gradients, to --out (default out/).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/gradient_flow.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import nn
from examples import datasets
from examples.common import Stopwatch, parse_args, pyplot, report_written

DEPTH, WIDTH = 8, 32
NETWORKS = {"sigmoid_xavier": (nn.Sigmoid, "xavier_uniform"), "relu_he": (nn.ReLU, "he_uniform")}


def make_model(activation, init: str, inputs: int, classes: int, seed: int,
               depth: int = DEPTH, width: int = WIDTH) -> nn.Sequential:
    """``depth`` hidden Dense layers with ``activation``, then a Dense output of logits."""
    layers, size = [], inputs
    for k in range(depth):
        layers += [nn.Dense(size, width, init=init, rng=seed + k), activation()]
        size = width
    return nn.Sequential(*layers, nn.Dense(size, classes, init=init, rng=seed + depth))


def train(name: str, x, y, epochs: int, seed: int, depth: int = DEPTH, width: int = WIDTH):
    """Train one network with a GradientFlow monitor; returns (model, monitor, history)."""
    activation, init = NETWORKS[name]
    model = make_model(activation, init, x.shape[1], int(y.max()) + 1, seed, depth, width)
    flow = nn.GradientFlow(model)
    with flow:  # the hooks come off the parameters at the end
        history = nn.fit(model, nn.cross_entropy, nn.SGD(model.parameters(), lr=0.05,
                                                         momentum=0.9),
                         (x, y), epochs=epochs, batch_size=64, rng=seed, callbacks=[flow],
                         metrics=["accuracy"], progress=False)
    return model, flow, history


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    epochs = 3 if args.quick else 30
    x, y = datasets.digits()
    (x, y), (x_test, y_test) = datasets.split(x, y, rng=args.seed)
    if args.quick:
        x, y = x[:512], y[:512]

    results, written = {}, []
    for name in NETWORKS:
        with Stopwatch() as watch:
            model, flow, history = train(name, x, y, epochs, args.seed)
        ratio = float(np.mean(flow.first_to_last()))
        test_acc = nn.accuracy(nn.predict(model, x_test), y_test)
        results[name] = {"first_to_last": ratio, "test_accuracy": test_acc,
                         "train_loss": history.loss[-1], "grad_norm": flow.grad_norm,
                         "update_ratio": flow.update_ratio, "seconds": watch.seconds}
        first, last = flow.names[0], flow.names[-1]
        print(f"{name:15s} gradient norm {first} / {last}: {ratio:.2e} (mean over {epochs} "
              f"epochs); update/weight {flow.update_ratio[first][-1]:.1e} (first layer), "
              f"{flow.update_ratio[last][-1]:.1e} (last); test accuracy {test_acc:.3f} "
              f"({watch.seconds:.1f} s)")
        title = f"{name.replace('_', ' + ')}: {DEPTH} hidden layers of {WIDTH}"
        for plot, stem in ((flow.plot, "gradient_flow"),
                           (flow.plot_histograms, "gradient_histograms")):
            path = args.out / f"{stem}_{name}.png"
            pyplot().close(plot(path, title=title))  # pyplot keeps open figures alive
            written.append(path)
    report_written(*written)
    return results


if __name__ == "__main__":
    main()
