"""What every example shares: its command line, where outputs go, and the plots."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

import autograd_core as ag
import nn


def parse_args(description: str, argv=None, distributed: bool = False) -> argparse.Namespace:
    """The examples' shared flags; ``distributed=True`` adds ``--distributed`` (for the examples
    that can train data-parallel under mpiexec)."""
    parser = argparse.ArgumentParser(description=description)
    if distributed:
        parser.add_argument("--distributed", action="store_true",
                            help="data-parallel over MPI: mpiexec -n 2 python -m examples.NAME "
                                 "--distributed (needs the distributed extra)")
        parser.add_argument("--shard-optimizer", action="store_true",
                            help="with --distributed: each rank updates and keeps the optimizer "
                                 "state of its share of the parameters (nn.distributed."
                                 "ShardedOptimizer)")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds on a small slice of the data (used by the tests)")
    parser.add_argument("--out", default="out", help="folder for plots and models (default: out)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, weights and shuffling")
    args = parser.parse_args(argv)
    if getattr(args, "shard_optimizer", False) and not args.distributed:
        parser.error("--shard-optimizer shards across MPI ranks: add --distributed")
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def pyplot():
    """matplotlib's pyplot on a file-only backend (no screen needed), or a clear error."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("the examples draw plots with matplotlib: "
                         "pip install -e '.[examples]'") from None
    return plt


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` and free it (pyplot keeps every open figure alive)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def predict_classes(model, x: np.ndarray) -> np.ndarray:
    """The class ``model`` picks for each row: the largest of several scores, or for a single
    logit column (a binary classifier) class 1 where the logit is positive."""
    scores = nn.predict(model, x, batch_size=4096)
    if scores.ndim == 2 and scores.shape[1] == 1:
        return (scores[:, 0] > 0).astype(np.int64)
    return np.argmax(scores, axis=-1)


def plot_decision_boundary(models: dict, x: np.ndarray, y: np.ndarray, path: Path) -> Path:
    """One panel per model: its predicted class over the plane, with the data on top."""
    plt = pyplot()
    low, high = x.min(axis=0) - 0.25, x.max(axis=0) + 0.25
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], 300),
                                 np.linspace(low[1], high[1], 300))
    grid = np.c_[grid_x.ravel(), grid_y.ravel()].astype(np.float32)
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4.6), squeeze=False)
    for ax, (title, model) in zip(axes[0], models.items()):
        classes = predict_classes(model, grid).reshape(grid_x.shape)
        # The same vmin/vmax for regions and points, so that a class has one colour in both.
        ax.contourf(grid_x, grid_y, classes, alpha=0.35, cmap="brg", vmin=0, vmax=y.max(),
                    levels=np.arange(y.max() + 2) - 0.5)
        ax.scatter(x[:, 0], x[:, 1], c=y, s=12, cmap="brg", vmin=0, vmax=y.max(),
                   edgecolors="k", linewidths=0.3)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)


def plot_curves(histories: dict, path: Path, keys=("loss", "val_loss")) -> Path:
    """Training curves per run (one line per run and key) against the epoch."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, history in histories.items():
        for key in keys:
            values = getattr(history, key, None) or []
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, label=f"{name} {key}")
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.legend()
    return save_figure(fig, path)


def plot_confusion_matrix(y_true, y_pred, labels, path: Path) -> Path:
    plt = pyplot()
    k = len(labels)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return save_figure(fig, path)


def accuracy(model, x, y) -> float:
    return float(np.mean(predict_classes(model, x) == y))


def render_training_step_graph(model, loss_fn, x, y, path_stem, formats=("svg",),
                               rankdir: str = "LR") -> list[Path]:
    """Run one forward and backward pass of ``loss_fn(model(x), y)`` and render its computation
    graph (ops boxed by module, parameters named, gradients shown) once per format."""
    model.train()
    with nn.record_modules(model):
        loss = loss_fn(model(ag.Tensor(x)), y)
    loss.backward()
    graph = ag.draw_graph(loss, params=model.named_parameters(), show_grads=True,
                          cluster_by="module", rankdir=rankdir)
    return [Path(graph.render(outfile=f"{path_stem}.{fmt}", cleanup=True)) for fmt in formats]


def report_written(*paths) -> None:
    """Say where each output went (as an absolute path, so it can be opened from anywhere)."""
    for path in paths:
        print(f"wrote {Path(path).resolve()}")


class Stopwatch:
    """Wall time of a ``with`` block, in ``seconds``."""

    def __enter__(self):
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc_info):
        self.seconds = time.perf_counter() - self.started


__all__ = ["Stopwatch", "accuracy", "parse_args", "plot_confusion_matrix", "plot_curves",
           "plot_decision_boundary", "predict_classes", "pyplot", "render_training_step_graph",
           "report_written", "save_figure"]
