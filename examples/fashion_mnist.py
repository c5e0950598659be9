"""Classify Fashion-MNIST (70,000 28x28 clothing images, 10 classes) with an MLP.

    python -m examples.fashion_mnist     # 30 epochs: about 90% test accuracy in under a minute
    python -m examples.fashion_mnist --quick   # a smoke run on a slice of the data
    mpiexec -n 2 python -m examples.fashion_mnist --distributed   # data-parallel, 2 processes
    mpiexec -n 2 python -m examples.fashion_mnist --distributed --shard-optimizer  # Adam sharded

784-256-128-10 with ReLU, softmax cross-entropy, Adam with a cosine learning-rate decay, in
float32. 5,000 training images are held out to report validation accuracy after each epoch;
the test set is used once, at the end. The trained model is saved with ``nn.save`` and loaded
back into a fresh network, which is what gets evaluated. The images come from the Debian
package dataset-fashion-mnist (never downloaded).

With ``--distributed`` (under mpiexec, see nn.distributed) each of the N ranks trains on
128 / N examples per step, so that the global batch stays 128 and the run takes the same
steps as one process would (up to the order of floating-point sums); rank 0 prints and writes
the files.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/fashion_mnist.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nn
from examples import datasets
from examples.common import (
    Stopwatch,
    accuracy,
    parse_args,
    plot_confusion_matrix,
    plot_curves,
    predict_classes,
    report_written,
)

HIDDEN = (256, 128)


def make_model(seed: int) -> nn.Module:
    sizes = (784, *HIDDEN)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Dense(fan_in, fan_out, init="he_uniform", rng=seed + i), nn.ReLU()]
    return nn.Sequential(*layers, nn.Dense(sizes[-1], 10, rng=seed + len(HIDDEN)))


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, distributed=True)
    rank, ranks = 0, 1
    if args.distributed:
        from nn import distributed as dist
        rank, ranks = dist.init()
    main_rank = rank == 0
    with Stopwatch() as total:
        (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist(
            limit=3000 if args.quick else None)
        (x_fit, y_fit), (x_val, y_val) = datasets.split(
            x_train, y_train, test_fraction=500 / 3000 if args.quick else 5000 / 60000,
            rng=args.seed)
        epochs, global_batch = (2 if args.quick else 30), 128
        batch_size = global_batch // ranks  # per rank
        model = make_model(args.seed)
        steps = epochs * -(-len(x_fit) // (batch_size * ranks))
        optimizer = nn.Adam(model.parameters(),
                            lr=nn.CosineDecay(1e-3, total_steps=steps, min_lr=2e-5))
        if main_rank:
            print(f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU MLP ({model.num_parameters():,} "
                  f"parameters) on {len(x_fit):,} training images, {len(x_val):,} validation, "
                  f"{len(x_test):,} test" + (f"; {ranks} ranks x batch {batch_size}"
                                             if args.distributed else ""), flush=True)
        history = nn.fit(model, nn.cross_entropy, optimizer, (x_fit, y_fit), epochs=epochs,
                         batch_size=batch_size, val_data=(x_val, y_val), metrics=["accuracy"],
                         rng=args.seed, verbose=True, progress=False,
                         distributed=args.distributed, shard_optimizer=args.shard_optimizer)
        if not main_rank:  # the same weights as rank 0's: nothing more to do
            return {"training_seconds": history.wall_time}

        saved = nn.save(model, args.out / "fashion_mnist_mlp.nn")
        reloaded = make_model(args.seed + 100)  # different initial weights: all must come back
        nn.load(saved, model=reloaded)
        results = {"train_accuracy": accuracy(reloaded, x_fit, y_fit),
                   "validation_accuracy": accuracy(reloaded, x_val, y_val),
                   "test_accuracy": accuracy(reloaded, x_test, y_test),
                   "trained_model_test_accuracy": accuracy(model, x_test, y_test),
                   "training_seconds": history.wall_time}
    results["seconds"] = total.seconds
    print(f"reloaded from {saved.name}: train accuracy {results['train_accuracy']:.4f}  "
          f"validation accuracy {results['validation_accuracy']:.4f}  "
          f"test accuracy {results['test_accuracy']:.4f}")
    print(f"wall time {results['seconds']:.1f} s (training {results['training_seconds']:.1f} s, "
          f"{epochs} epochs)")
    report_written(
        saved,
        plot_confusion_matrix(y_test, predict_classes(reloaded, x_test),
                              datasets.FASHION_MNIST_CLASSES,
                              args.out / "fashion_mnist_confusion.png"),
        plot_curves({"fashion-mnist": history}, args.out / "fashion_mnist_loss.png"))
    return results


if __name__ == "__main__":
    main()
