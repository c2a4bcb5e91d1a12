"""How fast the loaded model does each job kind's items, for estimates that do not lie: timed from the moment the model
was ready in a run (a load, and the demo model's first-run training, never count: ``ModelState.load_seconds`` says
those apart) to each item's end. A new load starts the measure afresh (another model, or the same one after a
crash, is another speed)."""

from __future__ import annotations

import math
import time

from imageworks.protocol import ItemSpeed


class _Run:
    """One job run's items, timed from the moment the model was ready."""

    __slots__ = ("items", "last", "ready")

    def __init__(self, ready: float) -> None:
        self.ready = ready
        self.last = ready
        self.items = 0

    @property
    def seconds(self) -> float:
        return self.last - self.ready

    def speed(self) -> ItemSpeed:
        return ItemSpeed(items=self.items, seconds=self.seconds, runs=1)


class ItemSpeeds:
    def __init__(self) -> None:
        self._model: tuple[str, int] | None = None
        self._runs: dict[str, list[_Run]] = {}

    def start_run(self, kind: str, model: tuple[str, int]) -> _Run:
        """A job's run of ``kind`` starts on ``model`` (its name and load number), which is ready now."""
        if model != self._model:
            self._model, self._runs = model, {}
        run = _Run(time.monotonic())
        self._runs.setdefault(kind, []).append(run)
        return run

    @staticmethod
    def item_done(run: _Run) -> None:
        run.items += 1
        run.last = time.monotonic()

    def view(self, model: tuple[str, int]) -> dict[str, ItemSpeed]:
        """Per kind, what the runs on ``model`` measured (nothing for another model)."""
        if model != self._model:
            return {}
        out: dict[str, ItemSpeed] = {}
        for kind, runs in self._runs.items():
            timed = [r for r in runs if r.items and r.seconds > 0]
            if not timed:
                continue
            items, seconds = sum(r.items for r in timed), sum(r.seconds for r in timed)
            out[kind] = ItemSpeed(items=items, seconds=seconds, runs=len(timed), spread=_spread(timed))
        return out


def _spread(runs: list[_Run]) -> float:
    """The runs' speeds' relative standard deviation (0 for one run)."""
    if len(runs) < 2:
        return 0.0
    rates = [r.items / r.seconds for r in runs]
    mean = sum(rates) / len(rates)
    var = sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)
    return math.sqrt(var) / mean if mean > 0 else 0.0
