"""The Similar threshold's grid: what one key moves it by for a method (one hash bit for hashes), and the
arithmetic of moving on that grid."""

from __future__ import annotations

import math


def method_step(method: str, hash_size: int) -> float:
    """What a threshold key moves by before a compute says (``similarity.jobs.threshold_step``)."""
    from imageworks.similarity.jobs import threshold_step

    return threshold_step(method, hash_size)


def on_grid(threshold: float, step: float) -> float:
    """``threshold`` moved up onto the step's grid (0.82 -> 0.828125 = 53/64 for 64-bit hashes): the threshold the
    scores can actually be compared with."""
    return round(math.ceil(threshold / step - 1e-6) * step, 6)


def next_threshold(threshold: float, steps: int, step: float) -> float:
    """``steps`` grid steps from ``threshold`` (off the grid, the first step lands on the grid point beyond it)."""
    at = threshold / step
    base = math.floor(at + 1e-6) if steps > 0 else math.ceil(at - 1e-6)
    return round((base + steps) * step, 6)
