"""Interleaved timing: every contender runs in turn (A B A B ...) after a warm-up, so a slow
phase of the machine (another process, a frequency change) hits all of them alike."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                inner: int = 1, pause_gc: bool = False) -> dict[str, float]:
    """Median seconds per call of each contender.

    Each round calls every contender ``inner`` times in a row and divides by ``inner``; the
    order of contenders alternates between rounds, so neither always runs just after the other.
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
        for name in (names if round_ % 2 == 0 else names[::-1]):
            call = contenders[name]
            gc.collect()
            if pause_gc:
                gc.disable()
            try:
                start = time.perf_counter()
                for _ in range(inner):
                    call()
                samples[name].append((time.perf_counter() - start) / inner)
            finally:
                if pause_gc:
                    gc.enable()
    return {name: statistics.median(times) for name, times in samples.items()}


def once(call: Callable[[], object]) -> float:
    """Seconds for one call."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start
