"""Classify the 8x8 handwritten digits with a regularised tanh MLP.

    python -m examples.digits            # about ten seconds; --quick for a smoke run

The seed tutorials' classifier: 64 inputs, a tanh hidden layer with dropout, 10 logits with
softmax cross-entropy plus an L2 penalty on the weights, trained with SGD (momentum 0.9) and an
inverse-time learning-rate decay, with early stopping on a validation split. Prints train, test
and validation accuracy; writes the confusion matrix of the test set and the loss curves to
--out (default out/).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/digits.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nn
from examples import datasets
from examples.common import (
    accuracy,
    parse_args,
    plot_confusion_matrix,
    plot_curves,
    predict_classes,
    report_written,
)

L2 = 1e-4


def make_model(seed: int, hidden: int = 64) -> nn.Module:
    return nn.Sequential(nn.Dense(64, hidden, init="xavier_uniform", rng=seed), nn.Tanh(),
                         nn.Dropout(0.1, rng=seed + 1),
                         nn.Dense(hidden, 10, init="xavier_uniform", rng=seed + 2))


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    x, y = datasets.digits()
    if args.quick:
        x, y = x[:600], y[:600]
    (x_train, y_train), (x_test, y_test) = datasets.split(x, y, test_fraction=0.2, rng=args.seed)
    (x_fit, y_fit), (x_val, y_val) = datasets.split(x_train, y_train, test_fraction=0.15,
                                                    rng=args.seed + 1)

    model = make_model(args.seed)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]

    def loss_fn(logits, labels):
        return nn.cross_entropy(logits, labels) + nn.l2_penalty(weights, L2)

    optimizer = nn.SGD(model.parameters(), lr=nn.InverseTimeDecay(0.1, decay=1e-3),
                       momentum=0.9)
    history = nn.fit(model, loss_fn, optimizer, (x_fit, y_fit), epochs=15 if args.quick else 100,
                     batch_size=32, val_data=(x_val, y_val), metrics=["accuracy"],
                     rng=args.seed, patience=15, restore_best=True, progress=False)
    results = {"train_accuracy": accuracy(model, x_fit, y_fit),
               "validation_accuracy": accuracy(model, x_val, y_val),
               "test_accuracy": accuracy(model, x_test, y_test),
               "epochs": len(history), "best_epoch": history.best_epoch,
               "seconds": history.wall_time}
    print(f"64-{model[0].out_features}-10 tanh MLP, {len(x_fit)} training digits: "
          f"{results['epochs']} epochs (best {results['best_epoch']}), "
          f"{results['seconds']:.1f} s")
    print(f"train accuracy {results['train_accuracy']:.3f}  "
          f"validation accuracy {results['validation_accuracy']:.3f}  "
          f"test accuracy {results['test_accuracy']:.3f}")

    report_written(
        plot_confusion_matrix(y_test, predict_classes(model, x_test), [str(d) for d in range(10)],
                              args.out / "digits_confusion.png"),
        plot_curves({"digits": history}, args.out / "digits_loss.png"))
    return results


if __name__ == "__main__":
    main()
