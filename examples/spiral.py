"""Classify the 3-arm spiral with Dense-ReLU-Dense and softmax cross-entropy, trained once with
SGD (momentum and inverse-time decay) and once with Adam, as in "Neural Networks from Scratch".

    python -m examples.spiral            # a few seconds; --quick for a smoke run

Prints train/test accuracy of both runs and writes to --out (default out/): the decision
boundaries, the loss curves, and the computation graph of one training step.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/spiral.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nn
from examples import datasets
from examples.common import (
    Stopwatch,
    parse_args,
    plot_curves,
    plot_decision_boundary,
    render_training_step_graph,
    report_written,
)


def make_model(seed: int) -> nn.Module:
    return nn.Sequential(nn.Dense(2, 64, init="he_uniform", rng=seed), nn.ReLU(),
                         nn.Dense(64, 3, rng=seed + 1))


OPTIMIZERS = {
    "SGD (momentum 0.9, lr 1/(1 + 1e-3 t))":
        lambda params: nn.SGD(params, lr=nn.InverseTimeDecay(1.0, decay=1e-3), momentum=0.9),
    "Adam (lr 0.02/(1 + 1e-5 t))":
        lambda params: nn.Adam(params, lr=nn.InverseTimeDecay(0.02, decay=1e-5)),
}


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    points = 40 if args.quick else 100
    epochs = 200 if args.quick else 3000
    x, y = datasets.spiral(points_per_class=points, rng=args.seed)
    x_test, y_test = datasets.spiral(points_per_class=points, rng=args.seed + 1)

    models, histories, results = {}, {}, {}
    for name, make_optimizer in OPTIMIZERS.items():
        model = make_model(args.seed)
        with Stopwatch() as watch:
            histories[name] = nn.fit(model, nn.cross_entropy, make_optimizer(model.parameters()),
                                     (x, y), epochs=epochs, batch_size=len(x), shuffle=False,
                                     metrics=["accuracy"], progress=False)
        train_acc = nn.accuracy(nn.predict(model, x), y)
        test_acc = nn.accuracy(nn.predict(model, x_test), y_test)
        models[name], results[name] = model, {"train_accuracy": train_acc,
                                              "test_accuracy": test_acc, "seconds": watch.seconds}
        print(f"{name:40s} train accuracy {train_acc:.3f}  test accuracy {test_acc:.3f}  "
              f"({epochs} epochs, {watch.seconds:.1f} s)")

    report_written(
        plot_decision_boundary(models, x, y, args.out / "spiral_decision_boundary.png"),
        plot_curves(histories, args.out / "spiral_loss.png", keys=("loss",)),
        # The graph of one step on a small batch: the full batch draws the same ops.
        *render_training_step_graph(make_model(args.seed), nn.cross_entropy, x[::40], y[::40],
                                    args.out / "spiral_graph"))
    return results


if __name__ == "__main__":
    main()
