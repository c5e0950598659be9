"""Learn XOR with a small sigmoid network, comparing Xavier and He initialisation.

    python -m examples.xor               # a few seconds; --quick for a smoke run

A 2-4-1 network with sigmoid hidden units and a sigmoid output (trained on its logit with
binary cross-entropy) is trained with plain full-batch gradient descent from several random
starts per initialiser. Sigmoid units saturate when the weights start large, so the initialiser
changes how often and how fast the network finds the XOR solution. Prints, per initialiser,
how many starts solved it and after how many epochs; writes both decision boundaries and the
loss curves to --out (default out/).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/xor.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import nn
from examples import datasets
from examples.common import (
    Stopwatch,
    parse_args,
    plot_curves,
    plot_decision_boundary,
    report_written,
)

INITS = ("xavier_uniform", "he_uniform")


def make_model(init: str, seed: int) -> nn.Module:
    return nn.Sequential(nn.Dense(2, 4, init=init, rng=seed), nn.Sigmoid(),
                         nn.Dense(4, 1, init=init, rng=seed + 1))


def bce(logits, targets):
    return nn.binary_cross_entropy_with_logits(logits, targets.reshape(logits.shape))


def epochs_to_solve(history: nn.History) -> int | None:
    """The first epoch after which every training point was classified right (None: never)."""
    return next((epoch for epoch, acc in zip(history.epoch, history.accuracy) if acc == 1.0),
                None)


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    starts = 3 if args.quick else 10
    epochs = 300 if args.quick else 1000
    x, y = datasets.xor(points=200, noise=0.15, rng=args.seed)
    x_test, y_test = datasets.xor(points=200, noise=0.15, rng=args.seed + 1)
    targets = y.astype(np.float32)[:, None]

    results, best_models, histories = {}, {}, {}
    for init in INITS:
        runs = []
        with Stopwatch() as watch:
            for start in range(starts):
                model = make_model(init, seed=args.seed * 1000 + 2 * start)
                history = nn.fit(model, bce, nn.SGD(model.parameters(), lr=2.0, momentum=0.9),
                                 (x, targets), epochs=epochs, batch_size=len(x), shuffle=False,
                                 metrics=["accuracy"], threshold=0.0, progress=False)
                test_acc = nn.accuracy(nn.predict(model, x_test), y_test, threshold=0.0)
                runs.append((history.loss[-1], test_acc, epochs_to_solve(history), model,
                             history))
        solved = [run for run in runs if run[2] is not None]
        loss, test_acc, _, model, history = min(runs, key=lambda run: run[0])
        best_models[f"{init}: best of {starts} (test accuracy {test_acc:.3f})"] = model
        histories[init] = history
        results[init] = {
            "solved": len(solved), "starts": starts,
            "median_epochs_to_solve": (float(np.median([run[2] for run in solved]))
                                       if solved else None),
            "mean_test_accuracy": float(np.mean([run[1] for run in runs])),
            "best_test_accuracy": test_acc, "seconds": watch.seconds}
        r = results[init]
        when = (f"median {r['median_epochs_to_solve']:.0f} epochs to solve"
                if solved else "never solved")
        print(f"{init:15s} solved {r['solved']}/{starts} starts ({when}); test accuracy mean "
              f"{r['mean_test_accuracy']:.3f}, best run {test_acc:.3f}  "
              f"({starts} x {epochs} epochs, {watch.seconds:.1f} s)")

    report_written(
        plot_decision_boundary(best_models, x, y, args.out / "xor_decision_boundary.png"),
        plot_curves(histories, args.out / "xor_loss.png", keys=("loss",)))
    return results


if __name__ == "__main__":
    main()
