"""Interleaved timing: every contender runs in turn (A B A B ...) after a warm-up, so a slow
phase of the machine (another process, a frequency change) hits all of them alike."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple


class Median(NamedTuple):
    """Median seconds per call: wall clock, and CPU time of this process (which other
    processes on a shared machine do not inflate, so it separates their noise from ours)."""

    wall: float
    cpu: float


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                inner: int = 1, pause_gc: bool = False) -> dict[str, Median]:
    """Median seconds per call of each contender, wall clock and CPU time.

    Each round calls every contender ``inner`` times in a row and divides by ``inner``. The
    order rotates from round to round (A B C, B C A, C A B), so that no contender always runs
    just after the same other one, and none runs twice in a row across a round's end (which
    reversing the order would do, handing the first and last contenders a warm cache); two
    contenders simply take turns.
    A full garbage collection runs (untimed) before each contender's turn, so that garbage one
    left behind is never collected on another's time; with ``pause_gc`` the collector stays off
    while the contender is timed.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples = {name: [] for name in names}
    for round_ in range(rounds):
        for name in round_order(names, round_):
            samples[name].append(timed_round(contenders[name], inner, pause_gc))
    return medians(samples)


def timed_round(call: Callable[[], object], inner: int, pause_gc: bool) -> tuple[float, float]:
    """(wall, CPU) seconds per call over ``inner`` calls in a row, after a full (untimed)
    collection; with ``pause_gc`` the collector stays off while they run."""
    gc.collect()
    if pause_gc:
        gc.disable()
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(inner):
            call()
        return (time.perf_counter() - start) / inner, (time.process_time() - cpu_start) / inner
    finally:
        if pause_gc:
            gc.enable()


def round_order(names: list, round_: int) -> list:
    """The contenders' order in round ``round_`` (see interleaved)."""
    shift = round_ % len(names) if len(names) > 2 else 0
    return names[shift:] + names[:shift]


def medians(samples: dict) -> dict[str, Median]:
    """Median of each contender's (wall, CPU) samples."""
    return {name: Median(statistics.median(w for w, _ in pairs),
                         statistics.median(c for _, c in pairs))
            for name, pairs in samples.items()}


def once(call: Callable[[], object]) -> float:
    """Seconds for one call."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start
