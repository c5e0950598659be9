"""Watch the gradient flow through a network while it trains.

``GradientFlow(model)`` puts a gradient hook on each parameter. Every backward pass then
records, per parameter, the norm of its gradient and the size of the step the optimizer took
(the update), relative to the weights; ``fit`` calls the monitor after each epoch, which turns
the epoch's records into one number per parameter::

    flow = GradientFlow(model)
    nn.fit(model, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), (x, y), epochs=3,
           callbacks=[flow])
    flow.grad_norm["0.weight"]          # mean gradient norm of the first weight, per epoch
    flow.plot("flow.png")               # lines over epochs; flow.plot_histograms() for values

Vanishing gradients show as a first layer whose gradient norm is orders of magnitude below the
last layer's; an update/weight ratio far below 1e-3 is a layer that barely learns, far above
is one that jumps around. The plots use matplotlib, imported only when a plot is asked for.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .module import Module

_WHICH = ("weights", "all")


class GradientFlow:
    """Per-parameter gradient norms and update/weight ratios over training, by gradient hooks.

    ``which='weights'`` (default) watches the parameters with two or more dimensions (the
    weight matrices and kernels, one per layer); ``'all'`` adds biases and norms' scales.

    After each backward pass the hook of parameter ``p`` records ``||grad||`` (Frobenius norm,
    in float64) and ``||p_now - p_before|| / ||p_before||``, where ``p_before`` is ``p`` at the
    previous backward pass of the epoch: with one optimizer step per backward pass, as ``fit``
    takes, that is the step's update over the weights' norm. ``end_epoch()`` (called by the
    monitor when ``fit`` calls it as a callback) closes the epoch's last update and appends the
    epoch's means to:

    - ``grad_norm[name]``: mean gradient norm per epoch (nan for an epoch with no backward),
    - ``update_ratio[name]``: mean update/weight ratio per epoch (0 where the weights did not
      move; nan for an epoch with no backward),
    - ``epochs``: the epoch numbers,
    - ``grad_values[name]``: the gradient of the epoch's last backward pass, flattened (at most
      ``histogram_size`` evenly spaced elements, for :meth:`plot_histograms`), per epoch.

    Use it as a ``fit`` callback (it never stops training), or in a loop of your own: call
    ``end_epoch()`` after each epoch. ``remove()`` (or leaving a ``with`` block) takes the hooks
    off the parameters. A monitor watches the parameters the model has when it is made.

    Cost per backward pass: a norm and a float64 copy of each watched parameter (to measure the
    next update). Under ``fit(distributed=True)`` each rank records its own gradients, before
    they are averaged over the ranks.
    """

    def __init__(self, model: Module, which: str = "weights", histogram_size: int = 10_000):
        if not isinstance(model, Module):
            raise TypeError(f"GradientFlow: expected an nn.Module, got {type(model).__name__}")
        if which not in _WHICH:
            raise ValueError(f"GradientFlow: which must be one of {_WHICH}, got {which!r}")
        if isinstance(histogram_size, bool) or not isinstance(histogram_size, (int, np.integer)) \
                or histogram_size < 1:
            raise ValueError(f"GradientFlow: histogram_size must be a positive int, got "
                             f"{histogram_size!r}")
        watched = [(name, p) for name, p in model.named_parameters()
                   if which == "all" or p.ndim >= 2]
        if not watched:
            raise ValueError(f"GradientFlow: the model has no parameters to watch (which="
                             f"{which!r} watches "
                             f"{'every parameter' if which == 'all' else 'weights of 2+ dims'})")
        self.names = [name for name, _ in watched]
        self.histogram_size = int(histogram_size)
        self.epochs: list[int] = []
        self.grad_norm: dict[str, list[float]] = {name: [] for name in self.names}
        self.update_ratio: dict[str, list[float]] = {name: [] for name in self.names}
        self.grad_values: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        # This epoch's records, per parameter: gradient norms, update ratios, last gradient.
        self._norms = {name: [] for name in self.names}
        self._ratios = {name: [] for name in self.names}
        self._last_grad = dict.fromkeys(self.names)
        self._before = dict.fromkeys(self.names)  # the weights at the previous backward pass
        self._params = dict(watched)
        self._handles = [param.register_hook(self._hook(name)) for name, param in watched]

    # ---- recording ------------------------------------------------------------------------------
    def _hook(self, name: str):
        def record(grad) -> None:  # returns None: the gradient goes on unchanged
            values = np.asarray(grad.data).ravel()
            self._norms[name].append(float(np.linalg.norm(values.astype(np.float64))))
            # A thinned copy: the gradient array itself may still change (clip_grad_norm_ and
            # accumulation into .grad work in place).
            if values.size > self.histogram_size:
                values = values[np.linspace(0, values.size - 1, self.histogram_size)
                                .astype(np.int64)]
            self._last_grad[name] = np.array(values, dtype=np.float64)
            self._close_update(name)
            self._before[name] = np.array(self._params[name].data, dtype=np.float64)
        return record

    def _close_update(self, name: str) -> None:
        """Record the update since the weights were last seen (if they were this epoch)."""
        before = self._before[name]
        if before is None:
            return
        now = np.asarray(self._params[name].data, dtype=np.float64)
        if now.shape != before.shape:  # the parameter was replaced by one of another shape
            return
        weight = np.linalg.norm(before.ravel())
        step = np.linalg.norm((now - before).ravel())
        self._ratios[name].append(step / weight if weight > 0 else math.inf if step else 0.0)

    def end_epoch(self, epoch: int | None = None) -> None:
        """Close the epoch: append each parameter's means over its backward passes (and steps)
        to ``grad_norm`` and ``update_ratio``, and its last gradient to ``grad_values``."""
        self.epochs.append(int(epoch) if epoch is not None else len(self.epochs) + 1)
        for name in self.names:
            self._close_update(name)  # the epoch's last step, taken after its last backward
            self._before[name] = None
            norms, ratios = self._norms[name], self._ratios[name]
            self.grad_norm[name].append(float(np.mean(norms)) if norms else math.nan)
            self.update_ratio[name].append(float(np.mean(ratios)) if ratios else math.nan)
            last = self._last_grad[name]
            self.grad_values[name].append(np.empty(0) if last is None else last)
            norms.clear()
            ratios.clear()
            self._last_grad[name] = None

    def __call__(self, history) -> None:
        """The ``fit`` callback: ends the epoch ``history`` just recorded; never stops."""
        self.end_epoch(history.epoch[-1] if getattr(history, "epoch", None) else None)

    def first_to_last(self) -> list[float]:
        """Per epoch, the first watched parameter's gradient norm over the last one's: far
        below 1 when the gradient vanishes on its way back to the input."""
        first, last = self.grad_norm[self.names[0]], self.grad_norm[self.names[-1]]
        return [a / b if b > 0 else math.nan for a, b in zip(first, last)]

    def remove(self) -> None:
        """Take the hooks off the parameters (the records stay)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> GradientFlow:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return (f"GradientFlow({len(self.names)} parameters, {len(self.epochs)} epochs"
                f"{'' if self._handles else ', removed'})")

    # ---- plots ----------------------------------------------------------------------------------
    def plot(self, path=None, title: str | None = None):
        """Two panels over epochs, one line per parameter (first layer darkest): the mean
        gradient norm and the mean update/weight ratio, both on log scales. Saved to ``path``
        when given; returns the matplotlib Figure."""
        plt = _pyplot()
        self._need_epochs("plot")
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
        colors = _layer_colors(plt, len(self.names))
        for name, color in zip(self.names, colors):
            left.plot(self.epochs, self.grad_norm[name], color=color, label=name)
            right.plot(self.epochs, self.update_ratio[name], color=color, label=name)
        left.set(yscale="log", xlabel="epoch", ylabel="gradient norm (mean over steps)",
                 title="gradient norm per layer")
        right.set(yscale="log", xlabel="epoch", ylabel="||update|| / ||weight||",
                  title="update/weight ratio per layer")
        right.axhline(1e-3, color="gray", linestyle=":", linewidth=1)  # the usual rule of thumb
        right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
        if title:
            fig.suptitle(title)
        return _finish(plt, fig, path)

    def plot_histograms(self, path=None, epoch: int = -1, title: str | None = None):
        """Histograms of log10 |gradient| per parameter (the gradient of the last backward pass
        of ``epoch``, an index into ``epochs``, the last by default): each layer's orders of
        magnitude side by side. Exact zeros are left out (their count is in the legend)."""
        plt = _pyplot()
        self._need_epochs("plot_histograms")
        fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
        colors = _layer_colors(plt, len(self.names))
        for name, color in zip(self.names, colors):
            values = np.abs(self.grad_values[name][epoch])
            nonzero = values[values > 0]
            zeros = values.size - nonzero.size
            label = name + (f" ({zeros} zeros)" if zeros else "")
            if nonzero.size:
                ax.hist(np.log10(nonzero), bins=50, histtype="step", color=color, label=label,
                        density=True)
        ax.set(xlabel="log10 |gradient|", ylabel="density",
               title=f"gradients at epoch {self.epochs[epoch]}")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
        if title:
            fig.suptitle(title)
        return _finish(plt, fig, path)

    def _need_epochs(self, where: str) -> None:
        if not self.epochs:
            raise ValueError(f"GradientFlow.{where}: no epoch recorded yet: pass the monitor to "
                             "fit(callbacks=[...]) or call end_epoch() after each epoch")


def _pyplot():
    # Imported here so that the library works without matplotlib; with no screen, matplotlib
    # picks its file-only backend by itself (and a notebook keeps its inline one).
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("GradientFlow's plots need matplotlib: pip install matplotlib (or the "
                          "examples extra)") from None
    return plt


def _layer_colors(plt, count: int) -> list:
    cmap = plt.get_cmap("viridis")
    return [cmap(k / max(count - 1, 1) * 0.9) for k in range(count)]


def _finish(plt, fig, path):
    if path is not None:
        fig.savefig(Path(path), dpi=110)
    return fig


__all__ = ["GradientFlow"]
