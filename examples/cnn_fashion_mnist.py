"""Classify Fashion-MNIST with a small convolutional network (LeNet-style, with batch norm).

    python -m examples.cnn_fashion_mnist           # about 0.92 test accuracy in a few minutes
    python -m examples.cnn_fashion_mnist --quick   # a smoke run on a slice of the data

conv 3x3 (16) - batch norm - ReLU - max pool 2 - conv 3x3 (32) - batch norm - ReLU - max pool 2 -
dense 128 - ReLU - dropout - dense 10, on 1x28x28 images in float32, trained with Adam and a
cosine learning-rate decay. 5,000 training images are held out to report validation accuracy
after each epoch; the test set is used once, at the end, on the model saved with ``nn.save`` and
loaded back into a fresh network (batch norm's running statistics come back with it). Writes the
learned first-layer filters and the test confusion matrix as pictures.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import nn
from examples import datasets
from examples.common import (
    Stopwatch,
    accuracy,
    parse_args,
    plot_confusion_matrix,
    plot_curves,
    predict_classes,
    pyplot,
    report_written,
    save_figure,
)

CHANNELS = (16, 32)
HIDDEN = 128
EPOCHS = 8


def make_model(seed: int) -> nn.Module:
    """28x28 -> 14x14 -> 7x7 feature maps, then a small dense head."""
    c1, c2 = CHANNELS
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, bias=False, rng=seed), nn.BatchNorm2d(c1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, bias=False, rng=seed + 1), nn.BatchNorm2d(c2),
        nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dense(c2 * 7 * 7, HIDDEN, init="he_uniform", rng=seed + 2), nn.ReLU(),
        nn.Dropout(0.25, rng=seed + 3),
        nn.Dense(HIDDEN, 10, rng=seed + 4),
    )


def as_images(x: np.ndarray) -> np.ndarray:
    """(N, 784) rows to (N, 1, 28, 28): the NCHW layout the conv layers take."""
    return x.reshape(len(x), 1, 28, 28)


def plot_filters(model: nn.Module, path: Path) -> Path:
    """The first conv layer's 3x3 kernels, one panel each, on one colour scale centred at 0."""
    plt = pyplot()
    weights = np.asarray(model[0].weight.data)[:, 0]  # (channels, 3, 3)
    limit = float(np.abs(weights).max())
    columns = 8
    rows = -(-len(weights) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.2))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < len(weights):
            ax.imshow(weights[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(i), fontsize=8)
    fig.suptitle("first-layer filters (red positive, blue negative)")
    return save_figure(fig, path)


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    with Stopwatch() as total:
        (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist(
            limit=2000 if args.quick else None)
        x_train, x_test = as_images(x_train), as_images(x_test)
        (x_fit, y_fit), (x_val, y_val) = datasets.split(
            x_train, y_train, test_fraction=400 / 2000 if args.quick else 5000 / 60000,
            rng=args.seed)
        epochs, batch_size = (1 if args.quick else EPOCHS), 128
        model = make_model(args.seed)
        steps = epochs * -(-len(x_fit) // batch_size)
        optimizer = nn.Adam(model.parameters(),
                            lr=nn.CosineDecay(2e-3, total_steps=steps, min_lr=2e-5))
        print(f"LeNet-style CNN ({model.num_parameters():,} parameters) on {len(x_fit):,} "
              f"training images, {len(x_val):,} validation, {len(x_test):,} test; "
              f"{epochs} epochs", flush=True)
        history = nn.fit(model, nn.cross_entropy, optimizer, (x_fit, y_fit), epochs=epochs,
                         batch_size=batch_size, val_data=(x_val, y_val), metrics=["accuracy"],
                         rng=args.seed, verbose=True, progress=False)

        saved = nn.save(model, args.out / "fashion_mnist_cnn.nn")
        reloaded = make_model(args.seed + 100)  # other initial weights: all must come back
        nn.load(saved, model=reloaded)
        results = {"validation_accuracy": accuracy(reloaded, x_val, y_val),
                   "test_accuracy": accuracy(reloaded, x_test, y_test),
                   "trained_model_test_accuracy": accuracy(model, x_test, y_test),
                   "training_seconds": history.wall_time}
    results["seconds"] = total.seconds
    print(f"reloaded from {saved.name}: validation accuracy "
          f"{results['validation_accuracy']:.4f}  test accuracy {results['test_accuracy']:.4f}")
    print(f"wall time {results['seconds']:.1f} s (training {results['training_seconds']:.1f} s, "
          f"{epochs} epochs)")
    report_written(
        saved,
        plot_filters(reloaded, args.out / "cnn_filters.png"),
        plot_confusion_matrix(y_test, predict_classes(reloaded, x_test),
                              datasets.FASHION_MNIST_CLASSES,
                              args.out / "cnn_fashion_mnist_confusion.png"),
        plot_curves({"cnn": history}, args.out / "cnn_fashion_mnist_loss.png"))
    return results


if __name__ == "__main__":
    main()
