"""Training loop and evaluation: ``fit``, ``evaluate``, ``predict``, ``accuracy``.

``fit`` runs the loop every tutorial writes by hand (shuffle, batch, forward, loss, backward,
step), records a :class:`History`, evaluates on validation data under ``no_grad`` and can stop
early on the validation loss::

    (x, y), (x_val, y_val) = train_val_split(x, y, val_fraction=0.25, rng=0)
    history = fit(model, mse_loss, Adam(model.parameters(), lr=0.01), (x, y), epochs=20,
                  batch_size=32, val_data=(x_val, y_val), rng=0)
    history.val_loss[-1]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from autograd_core import Tensor, no_grad
from autograd_core.compiler import compile as _compile
from autograd_core.errors import DTypeError, ShapeError

from . import losses
from .data import as_arrays, batches, check_batch_size, num_batches
from .module import Module

METRICS = ("accuracy",)


def _batch_tensor(array: np.ndarray) -> Tensor:
    """A constant Tensor around a batch, without the copy ``Tensor(array)`` makes: batches are
    fresh arrays (or views nobody writes to), and the dtype is kept (float32 stays float32)."""
    return Tensor._from_op(array, None)


def _as_array(values) -> np.ndarray:
    return values.data if isinstance(values, Tensor) else np.asarray(values)


# ---- metrics ------------------------------------------------------------------------------------
#
# The accuracy rule, in one place (``accuracy``, ``evaluate`` and ``fit`` share it):
#
# - scores with several columns, (N, C) with C > 1 (logits, probabilities or log-probabilities
#   alike): the predicted class is the largest score;
# - one column, (N,) or (N, 1), is a binary classifier's score: class 1 where it is above
#   ``threshold``. Whether that is 0.0 (logits) or 0.5 (probabilities) depends on what the
#   model outputs, which the scores cannot tell, so it must be given; ``fit`` and ``evaluate``
#   take it from the loss when the loss says (``binary_cross_entropy_with_logits``: 0.0);
# - labels are integer classes, floats with whole-number values (2.0 is class 2), or one-hot /
#   soft rows of the scores' shape (their largest entry is the class); any other float label,
#   or a class outside the scores' range, is an error.

# The losses whose outputs are class scores: ``evaluate`` reports accuracy for them by default,
# mapped to the threshold their single-column outputs take (None: they have several columns).
_CLASSIFICATION_LOSSES = {
    losses.cross_entropy: None,
    losses.nll_loss: None,
    losses.categorical_cross_entropy: None,
    losses.binary_cross_entropy_with_logits: 0.0,
}


def _is_multiclass(scores: np.ndarray) -> bool:
    return scores.ndim >= 2 and scores.shape[-1] > 1


def _check_threshold(threshold, where: str):
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
            or not np.isfinite(threshold):
        raise ValueError(f"{where}: threshold must be a finite number (0.0 for logits, 0.5 for "
                         f"probabilities) or None, got {threshold!r}")
    return float(threshold)


def _predicted_classes(scores: np.ndarray, threshold) -> np.ndarray:
    if _is_multiclass(scores):
        if threshold is not None:
            raise ValueError(f"accuracy: threshold={threshold} applies to one-column (binary) "
                             f"scores, but the scores have shape {scores.shape}: their "
                             "largest column is the prediction; pass threshold=None")
        return np.argmax(scores, axis=-1)
    if threshold is None:
        raise ValueError(f"accuracy: scores of shape {scores.shape} are one binary score per "
                         "example: pass threshold=0.0 if they are logits or threshold=0.5 if "
                         "they are probabilities")
    binary = scores[..., 0] if scores.ndim >= 2 else scores  # (N, 1) and (N,) alike
    return (binary > threshold).astype(np.int64)


def _true_classes(labels: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    if labels.shape == scores.shape and _is_multiclass(scores):
        return np.argmax(labels, axis=-1)  # one-hot (or soft) targets
    if labels.shape != predicted.shape and labels.size == predicted.size \
            and labels.ndim == predicted.ndim + 1 and labels.shape[-1] == 1:
        labels = labels.reshape(predicted.shape)  # (N, 1) labels for (N,) predictions
    if labels.shape != predicted.shape:
        raise ShapeError(f"accuracy: labels of shape {labels.shape} do not fit scores of shape "
                         f"{scores.shape}: expected integer labels of shape {predicted.shape} "
                         + (f"or one-hot labels of shape {scores.shape}"
                            if _is_multiclass(scores) else "(or one column)"))
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            raise ValueError(f"accuracy: float labels must be whole numbers (class labels such "
                             f"as 0.0, 1.0, 2.0), got {labels[~whole][:5].tolist()}; soft "
                             "targets need one column per class")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iub":
        raise DTypeError(f"accuracy: labels must be class numbers, got dtype {labels.dtype}")
    classes = scores.shape[-1] if _is_multiclass(scores) else 2
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)]
        raise ValueError(f"accuracy: labels must be in [0, {classes - 1}] for scores of shape "
                         f"{scores.shape}, got {bad[:5].tolist()}")
    return labels


def accuracy(scores, labels, threshold: float | None = None) -> float:
    """Fraction of examples whose predicted class is the true one.

    ``scores`` of shape (N, C), C > 1, are logits or probabilities: the prediction is the
    largest. A single column, (N,) or (N, 1), is a binary classifier's score: class 1 where it
    is above ``threshold``, which must then be given (0.0 for logits, 0.5 for probabilities;
    it is an error with several columns). ``labels`` are integer classes (N,), floats with
    whole-number values (read as classes), or one-hot rows (N, C).

    >>> accuracy(np.array([[2.0, 0.1], [0.3, 0.9]]), np.array([0, 0]))
    0.5
    >>> accuracy(np.array([0.9, 0.2, 0.7]), np.array([1.0, 0.0, 0.0]), threshold=0.5)
    0.6666666666666666
    """
    threshold = _check_threshold(threshold, "accuracy")
    correct, total = _count_correct(_as_array(scores), _as_array(labels), threshold)
    if total == 0:
        raise ValueError("accuracy: no examples (empty scores and labels)")
    return correct / total


def _count_correct(scores: np.ndarray, labels: np.ndarray, threshold=None):
    """(number of right predictions, number of examples)."""
    predicted = _predicted_classes(scores, threshold)
    truth = _true_classes(labels, scores, predicted)
    return int(np.count_nonzero(predicted == truth)), predicted.size


def _check_metrics(metrics, where: str) -> tuple:
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics or ())
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"{where}: unknown metrics {unknown}; available: {list(METRICS)}")
    return metrics


def _metric_settings(loss_fn, metrics, threshold, where: str) -> tuple[tuple, float | None]:
    """The metrics to compute and the threshold for one-column scores. ``metrics=None`` means
    accuracy for a classification loss (see ``_CLASSIFICATION_LOSSES``) and nothing else, so a
    regression model gets no accuracy unless asked; ``threshold=None`` takes the loss's."""
    classification = _hashable(loss_fn) and loss_fn in _CLASSIFICATION_LOSSES
    if metrics is None:
        metrics = ("accuracy",) if classification else ()
    threshold = _check_threshold(threshold, where)
    if threshold is None and classification:
        threshold = _CLASSIFICATION_LOSSES[loss_fn]
    return _check_metrics(metrics, where), threshold


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# ---- evaluation ---------------------------------------------------------------------------------

@contextmanager
def _eval_mode(model: Module):
    """Eval mode (dropout off) and no graph recording inside; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def predict(model: Module, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for every row of ``x``, as a numpy array, computed in batches in eval
    mode (dropout off) without recording a graph. The model's mode is restored afterwards.

    >>> predict(Dense(2, 3, rng=0), np.zeros((5, 2), dtype=np.float32)).shape
    (5, 3)
    """
    (x,) = as_arrays((x,), "predict")
    batch_size = check_batch_size(batch_size, "predict")
    with _eval_mode(model):
        outputs = [_as_array(model(_batch_tensor(xb)))
                   for xb in batches(x, batch_size=batch_size)]
    if not outputs:
        raise ValueError("predict: x holds no examples")
    return outputs[0].copy() if len(outputs) == 1 else np.concatenate(outputs)


def evaluate(model: Module, loss_fn: Callable, x, y, batch_size: int = 256,
             metrics: Iterable[str] | None = None, threshold: float | None = None) -> dict:
    """Mean loss (and each metric) over all of ``(x, y)``, in batches, in eval mode and without
    recording a graph. ``loss_fn(outputs, targets)`` must average over its batch (the losses'
    default ``reduction='mean'``).

    ``metrics=None`` (default) reports the accuracy for the classification losses
    (``cross_entropy``, ``nll_loss``, ``categorical_cross_entropy``,
    ``binary_cross_entropy_with_logits``) and nothing more for any other loss (regression);
    ``metrics=['accuracy']`` asks for it, ``metrics=()`` for none. One-column outputs need a
    ``threshold`` (see :func:`accuracy`): 0.0 is taken for
    ``binary_cross_entropy_with_logits``, any other loss needs ``threshold=`` (0.5 for
    probabilities).

    Returns ``{'loss': ...}`` or ``{'loss': ..., 'accuracy': ...}`` (Python floats).
    """
    x, y = as_arrays((x, y), "evaluate")
    batch_size = check_batch_size(batch_size, "evaluate")
    metrics, threshold = _metric_settings(loss_fn, metrics, threshold, "evaluate")
    return _evaluate(model, loss_fn, x, y, batch_size, metrics, threshold)


def _evaluate(model, loss_fn, x, y, batch_size: int, metrics: tuple, threshold,
              dist=None) -> dict:
    if len(x) == 0:
        raise ValueError("evaluate: no examples to evaluate")
    if dist is not None:  # each rank its part; the sums over the ranks make the whole set's
        part = dist.shard(len(x))
        total_loss, correct = _evaluation_sums(model, loss_fn, x[part], y[part], batch_size,
                                               metrics, threshold)
        total_loss, correct = dist.sum([total_loss, correct])
    else:
        total_loss, correct = _evaluation_sums(model, loss_fn, x, y, batch_size, metrics,
                                               threshold)
    result = {"loss": total_loss / len(x)}
    if "accuracy" in metrics:
        result["accuracy"] = correct / len(x)
    return result


def _evaluation_sums(model, loss_fn, x, y, batch_size: int, metrics: tuple, threshold):
    """(sum of the per-example losses, number of right predictions) over ``(x, y)``."""
    total_loss, correct = 0.0, 0
    with _eval_mode(model):
        for xb, yb in batches(x, y, batch_size=batch_size):
            out = model(_batch_tensor(xb))
            total_loss += float(_as_array(loss_fn(out, _batch_tensor(yb)))) * len(xb)
            if metrics:
                correct += _count_correct(_as_array(out), yb, threshold)[0]
    return total_loss, correct


# ---- history ------------------------------------------------------------------------------------

@dataclass
class History:
    """What ``fit`` recorded, one entry per epoch run (lists stay empty when not tracked:
    ``accuracy`` needs ``metrics=['accuracy']``, ``val_*`` need ``val_data``, ``lr`` an
    optimizer with a numeric ``current_lr`` or ``lr`` attribute)."""

    epoch: list = field(default_factory=list)        # epoch numbers, counted from 1
    loss: list = field(default_factory=list)         # mean training loss over the epoch
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)           # learning rate of the epoch's first step
    epoch_time: list = field(default_factory=list)   # seconds per epoch, evaluation included
    wall_time: float = 0.0                           # seconds for the whole fit
    best_epoch: int | None = None                    # epoch with the lowest val_loss
    stopped_early: bool = False                      # by patience or by a callback
    restored_best: bool = False                      # weights of best_epoch were put back

    PER_EPOCH = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time")

    def as_dict(self) -> dict:
        """The per-epoch lists that were recorded, by name (Keras' ``history.history``)."""
        return {name: list(getattr(self, name)) for name in self.PER_EPOCH if getattr(self, name)}

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        last = ", ".join(f"{name}={values[-1]:.4g}" for name, values in self.as_dict().items()
                         if name not in ("epoch", "epoch_time"))
        return f"History({len(self)} epochs, {self.wall_time:.2f} s; last: {last})"


# ---- fit ----------------------------------------------------------------------------------------

def _epoch_rng(rng, epoch: int):
    """The shuffling randomness of one epoch. A seed gives each epoch its own stream derived
    from (seed, epoch), so training resumed at epoch k shuffles as an unbroken run would."""
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng([int(rng), epoch])
    raise TypeError(f"fit: rng must be a seed (int), a numpy.random.Generator or None, "
                    f"got {type(rng).__name__}")


def _learning_rate(optimizer) -> float | None:
    """The learning rate the next step uses: ``current_lr`` (nn.optim's optimizers, schedules
    included), else a numeric ``lr`` attribute, else None (not recorded)."""
    for name in ("current_lr", "lr"):
        lr = getattr(optimizer, name, None)
        if isinstance(lr, (int, float, np.number)) and not isinstance(lr, bool):
            return float(lr)
    return None


def _stdout_is_terminal() -> bool:
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def _progress_bar(progress, total: int):
    """A tqdm bar on stdout, or None for silence (``progress=None``: only on a terminal)."""
    if progress is False or (progress is None and not _stdout_is_terminal()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        if progress is None:
            return None
        raise ModuleNotFoundError("fit(progress=True) draws its progress bar with tqdm, which "
                                  "is not installed: pip install tqdm") from None
    return tqdm(total=total, file=sys.stdout, unit="batch", dynamic_ncols=True)


def _check_data(data, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"fit: {name} must be an (x, y) pair of arrays, "
                        f"got {type(data).__name__}")
    x, y = as_arrays(data, f"fit ({name})")
    if len(x) == 0:
        raise ValueError(f"fit: {name} holds no examples")
    return x, y


def _format_epoch(history: History, total_epochs: int) -> str:
    parts = [f"epoch {history.epoch[-1]}/{total_epochs}"]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        values = getattr(history, name)
        if values:
            parts.append(f"{name} {values[-1]:.4f}")
    parts.append(f"({history.epoch_time[-1]:.2f} s)")
    return "  ".join(parts)


def _train_step(model, loss_fn, optimizer, xb, yb, dp=None, contribution=None):
    """One eager step, as ``_train_epoch`` takes it: what ``fit(compile=True)`` compiles.
    Distributed, ``dp.finish`` sums the ranks' gradients, this rank's weighted by its
    ``contribution`` (its share of the global batch)."""
    out = model(xb)
    loss = loss_fn(out, yb)
    optimizer.zero_grad()
    loss.backward()
    if dp is not None:
        dp.finish(contribution)
    optimizer.step()
    return out, loss


def _train_epoch(model, loss_fn, optimizer, x, y, batch_size, shuffle, rng, drop_last, metrics,
                 threshold, bar, dist=None, epoch: int = 0,
                 step=None) -> tuple[float, float | None]:
    """One pass of gradient steps; returns the mean loss (and accuracy) over the examples seen
    (by every rank, when distributed)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    if dist is None:
        steps = ((xb, yb, None) for xb, yb in batches(
            x, y, batch_size=batch_size, shuffle=shuffle, rng=rng, drop_last=drop_last))
    else:
        steps = dist.batches(x, y, batch_size, shuffle, epoch, drop_last)
    for xb, yb, global_count in steps:
        if dist is not None and len(xb) == 0:
            # This rank got none of the last, small global batch: it still joins the
            # gradient sum (with nothing) and steps, so every copy of the model stays equal.
            optimizer.zero_grad()
            dist.dp.finish(contribution=0.0)
            optimizer.step()
            if bar is not None:
                bar.update(1)
            continue
        if step is not None:  # ag.compile'd _train_step: the same arithmetic, replayed
            shared = () if dist is None else (dist.dp, len(xb) / global_count)
            out, loss = step(model, loss_fn, optimizer, _batch_tensor(xb), _batch_tensor(yb),
                             *shared)
            if metrics:
                correct += _count_correct(out.data, yb, threshold)[0]
            total_loss += float(loss.data) * len(xb)
            seen += len(xb)
            if bar is not None:
                bar.update(1)
            continue
        out = model(_batch_tensor(xb))
        loss = loss_fn(out, _batch_tensor(yb))
        if metrics:  # before the step: a metric that fails must not leave a half-done step
            correct += _count_correct(out.data, yb, threshold)[0]
        optimizer.zero_grad()
        if dist is not None:  # weights this rank's mean gradient by its share of the batch
            dist.dp.contribution = len(xb) / global_count
        loss.backward()
        if dist is not None:
            dist.dp.finish()  # the global batch's gradient, on every rank
        optimizer.step()
        total_loss += float(loss.data) * len(xb)
        seen += len(xb)
        if bar is not None:
            bar.update(1)
    if dist is not None:
        total_loss, correct, seen = dist.sum([total_loss, correct, seen])
    return total_loss / seen, (correct / seen if "accuracy" in metrics else None)


def fit(model: Module, loss_fn: Callable, optimizer, train_data, epochs: int = 10,
        batch_size: int = 32, val_data=None, *, metrics: Iterable[str] = (),
        shuffle: bool = True, rng=None, drop_last: bool = False, patience: int | None = None,
        min_delta: float = 0.0, restore_best: bool = False, progress: bool | None = None,
        verbose: bool = False, callbacks: Iterable[Callable] = (), initial_epoch: int = 0,
        eval_batch_size: int | None = None, threshold: float | None = None,
        checkpoint=None, distributed: bool = False, shard_optimizer: bool = False,
        compile: bool = False) -> History:  # noqa: A002
    """Train ``model`` on ``train_data = (x, y)`` for ``epochs`` epochs of minibatch steps.

    Each step: ``optimizer.zero_grad()``, ``loss_fn(model(xb), yb).backward()``,
    ``optimizer.step()``, with the model in training mode. Batches are Tensors around the numpy
    rows (no copy, dtype kept). ``loss_fn`` must average over its batch (the default reduction).

    - ``metrics=['accuracy']`` also records the training (and validation) accuracy (none by
      default, for classification as for regression). One-column outputs are compared with
      ``threshold`` (see :func:`accuracy`): 0.0 for ``binary_cross_entropy_with_logits``,
      else it must be given (0.0 for logits, 0.5 for probabilities).
    - ``val_data=(x_val, y_val)`` is evaluated after every epoch, in eval mode under
      ``no_grad``, in batches of ``eval_batch_size`` (default: max(batch_size, 256)).
    - ``shuffle`` reorders the examples every epoch; ``rng`` (a seed) makes the order
      reproducible, epoch by epoch, so ``initial_epoch=k`` continues a run saved after k epochs
      exactly as an unbroken run (restore the model and optimizer with ``load_checkpoint``).
    - ``patience=p`` stops when ``val_loss`` has not improved by more than ``min_delta`` for
      ``p`` epochs; ``restore_best=True`` puts back the weights of the epoch with the lowest
      ``val_loss`` at the end (both need ``val_data``).
    - ``progress``: a tqdm bar on stdout; None (default) shows it only when tqdm is installed
      and stdout is a terminal. ``verbose=True`` prints one line per epoch.
    - ``callbacks``: functions called as ``callback(history)`` after each epoch; one that
      returns a true value stops training.
    - ``checkpoint=path``: after each epoch, ``save_checkpoint(path, model, optimizer,
      epoch=...)`` (atomic); resume with ``load_checkpoint`` and ``initial_epoch=epoch``.
    - ``distributed=True``: data-parallel training over MPI (see ``nn.distributed``; run under
      ``mpiexec``). Rank 0's weights are broadcast first; ``batch_size`` is per rank, and each
      step is the step one process would take on the global batch of ``batch_size * ranks``
      examples (the same order for ``rng=seed``; ``rng`` must be a seed or None). Metrics are
      over all ranks' examples; the validation set is split between the ranks; progress,
      ``verbose`` lines and the checkpoint come from rank 0 only; callbacks run on every rank
      and any one stopping stops all. A checkpoint resumes on any number of ranks.
      ``shard_optimizer=True`` also shards the optimizer's step and state across the ranks
      (:class:`nn.distributed.ShardedOptimizer`: each rank updates its own slice of the
      parameters; the same results); the full state is gathered for each checkpoint and back
      into ``optimizer`` at the end.
    - ``compile=True``: the training step goes through ``ag.compile`` (traced, then replayed
      without building a graph); the results are exactly those of ``compile=False``, with
      ``distributed=True`` too (the gradient sum and the sharded step run on every call).

    Before the first step, everything that can be checked is: the arguments, that the optimizer
    updates some of the model's parameters, and every label of ``train_data`` and ``val_data``
    (``loss_fn`` and the accuracy are run on all of them, with the model's output for the first
    example standing in for each example's), so that a bad label in a late batch raises before
    the model or the optimizer has changed.

    Returns the :class:`History`. The model is left in the mode (train/eval) it had.
    """
    if shard_optimizer and not distributed:
        raise ValueError("fit: shard_optimizer=True shards the optimizer across MPI ranks: it "
                         "needs distributed=True")
    if distributed:  # first: from here on, an error on any rank aborts every rank
        from .distributed import init
        init()
    x, y = _check_data(train_data, "train_data")
    val = None if val_data is None else _check_data(val_data, "val_data")
    batch_size = check_batch_size(batch_size, "fit")
    eval_batch_size = check_batch_size(eval_batch_size or max(batch_size, 256), "fit")
    metrics, threshold = _metric_settings(loss_fn, metrics, threshold, "fit")
    callbacks = list(callbacks)
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"fit: {name} must be a non-negative int, got {value!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(
            patience, (int, np.integer)) or patience < 1):
        raise ValueError(f"fit: patience must be a positive int or None, got {patience!r}")
    if val is None and (patience is not None or restore_best):
        raise ValueError("fit: early stopping (patience=) and restore_best=True watch the "
                         "validation loss: pass val_data=(x_val, y_val)")
    steps = num_batches(len(x), batch_size, drop_last)
    if steps == 0:
        raise ValueError(f"fit: drop_last=True with {len(x)} examples and batch_size="
                         f"{batch_size} leaves no batch to train on")
    _epoch_rng(rng, 0)  # a bad rng fails before any training
    _check_optimizer(model, optimizer)
    _check_labels_before_training(model, loss_fn, {"train_data": (x, y), "val_data": val},
                                  eval_batch_size, metrics, threshold)
    shared_rng = np.random.default_rng() if rng is None else rng
    dist = None
    if distributed:
        from .distributed import FitRun  # imports mpi4py: only when asked for
        dist = FitRun(model, rng, optimizer=optimizer, shard_optimizer=shard_optimizer)
        optimizer = dist.optimizer  # the ShardedOptimizer when sharding
        if compile:  # its hooks only catch a second backward before finish(), which the
            dist.dp.close()  # step below never runs, and a compiled step takes no leaf hooks
        steps = dist.steps(len(x), batch_size, drop_last)
        if not dist.is_main:  # (every rank takes part in a checkpoint: see FitRun)
            progress, verbose = False, False

    history = History()
    step = _compile(_train_step) if compile else None
    best_loss, best_state, waited = np.inf, None, 0
    was_training = model.training
    started = time.perf_counter()
    bar = _progress_bar(progress, total=steps * max(epochs - initial_epoch, 0))
    ended = False
    try:
        for epoch in range(initial_epoch, epochs):
            epoch_started = time.perf_counter()
            if bar is not None:
                bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
            lr = _learning_rate(optimizer)
            loss, acc = _train_epoch(model, loss_fn, optimizer, x, y, batch_size, shuffle,
                                     _epoch_rng(shared_rng, epoch), drop_last, metrics,
                                     threshold, bar, dist, epoch, step)
            history.epoch.append(epoch + 1)
            history.loss.append(loss)
            if acc is not None:
                history.accuracy.append(acc)
            if lr is not None:
                history.lr.append(lr)
            if val is not None:
                result = _evaluate(model, loss_fn, *val, eval_batch_size, metrics, threshold,
                                   dist)
                history.val_loss.append(result["loss"])
                if "accuracy" in result:
                    history.val_accuracy.append(result["accuracy"])
            history.epoch_time.append(time.perf_counter() - epoch_started)
            history.wall_time = time.perf_counter() - started
            _report(history, epochs, bar, verbose)
            if checkpoint is not None and dist is not None:
                dist.save_checkpoint(checkpoint, model, epoch + 1)
            elif checkpoint is not None:
                _save_checkpoint(checkpoint, model, optimizer, epoch + 1)

            stop = False
            if val is not None:
                if history.val_loss[-1] < best_loss - min_delta:
                    best_loss, waited = history.val_loss[-1], 0
                    history.best_epoch = epoch + 1
                    if restore_best:
                        best_state = model.state_dict()
                else:
                    waited += 1
                    stop = patience is not None and waited >= patience
            for callback in callbacks:
                stop = bool(callback(history)) or stop
            if dist is not None:
                stop = dist.any(stop)
            if stop:
                history.stopped_early = epoch + 1 < epochs
                break
        if best_state is not None and history.best_epoch != history.epoch[-1]:
            model.load_state_dict(best_state)
            history.restored_best = True
        ended = True
    finally:
        if bar is not None:
            bar.close()
        if dist is not None:  # a collective only if every rank got here without an error
            dist.close(ok=ended)
        model.train(was_training)
    history.wall_time = time.perf_counter() - started
    return history


def _save_checkpoint(path, model, optimizer, epoch: int) -> None:
    from .serialization import save_checkpoint
    has_state = callable(getattr(optimizer, "state_dict", None))
    save_checkpoint(path, model, optimizer if has_state else None, epoch=epoch)


def _optimizer_parameters(optimizer) -> list | None:
    """The Tensors an optimizer updates (``params``, or its ``param_groups``), or None when it
    does not say."""
    params = getattr(optimizer, "params", None)
    if params is None and getattr(optimizer, "param_groups", None) is not None:
        params = [p for group in optimizer.param_groups for p in group.get("params", ())]
    if params is None or isinstance(params, (str, bytes)):
        return None
    try:
        return list(params)
    except TypeError:
        return None


def _check_optimizer(model: Module, optimizer) -> None:
    """An optimizer built for another model (or an old copy of this one) would step parameters
    the model does not use: the loss never changes and nothing says why."""
    if not callable(getattr(optimizer, "step", None)) or \
            not callable(getattr(optimizer, "zero_grad", None)):
        raise TypeError(f"fit: optimizer must have step() and zero_grad() methods, got "
                        f"{type(optimizer).__name__}")
    updated = _optimizer_parameters(optimizer)
    own = list(model.parameters())
    if updated is None or not own:
        return
    own_ids = {id(p) for p in own}
    if not any(id(p) in own_ids for p in updated):
        raise ValueError(f"fit: the optimizer updates none of the model's parameters (its "
                         f"{len(updated)} parameters are not among the model's {len(own)}), so "
                         "training would change nothing: build it from this model, e.g. "
                         f"{type(optimizer).__name__}(model.parameters(), ...)")


def _check_labels_before_training(model, loss_fn, data: dict, batch_size: int, metrics: tuple,
                                  threshold) -> None:
    """Run ``loss_fn`` (and the accuracy) on every label of every data set before any step.

    The model's output for the first example, repeated, stands in for every example's output:
    the labels meet the same checks (dtype, range, shape against the outputs) as in training,
    at the cost of one loss evaluation per example and a forward pass of one example, so an
    error in the last batch or in the validation set comes before anything has changed. A model
    whose output does not have one row per example is left to the checks of each step."""
    first_set = data["train_data"][0]
    with _eval_mode(model):
        first = _as_array(model(_batch_tensor(first_set[:1])))
    if first.ndim == 0 or first.shape[0] != 1:
        return
    with no_grad():
        for name, pair in data.items():
            if pair is None:
                continue
            start = 0
            for yb in batches(pair[1], batch_size=batch_size):
                out = np.broadcast_to(first, (len(yb),) + first.shape[1:])
                try:
                    loss_fn(_batch_tensor(out), _batch_tensor(yb))
                    if metrics:
                        _count_correct(out, yb, threshold)
                except Exception as error:
                    error.add_note(f"fit: raised by the labels of {name} (rows {start} to "
                                   f"{start + len(yb) - 1}), checked before the first step; "
                                   "nothing was changed")
                    raise
                start += len(yb)


def _report(history: History, epochs: int, bar, verbose: bool) -> None:
    if bar is not None:
        bar.set_postfix_str(_format_epoch(history, epochs).split("  ", 1)[1], refresh=True)
    if verbose:
        line = _format_epoch(history, epochs)
        if bar is not None:
            bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)


__all__ = ["History", "accuracy", "evaluate", "fit", "predict"]
