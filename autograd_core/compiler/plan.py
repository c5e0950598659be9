"""From a trace to the list of steps a replay runs."""

from __future__ import annotations

from .replay import build_step


def lower(rec) -> list:
    """One step per entry of the trace."""
    return [build_step(entry) for entry in rec.entries]
