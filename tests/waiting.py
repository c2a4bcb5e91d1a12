"""Waiting on real state in tests: poll a condition until it holds or a deadline passes (never a fixed sleep).

Under load (a busy CI machine, a load average of 10) work takes several times as long as on a quiet one, so a wait
on work should not guess its length: ``progress=`` moves the deadline on each time the work moves (an item
finishes, a model's worker uses CPU: ``cpu_seconds``), and ``wait_model_loaded`` waits on the daemon's own verdict
on a model load. A stalled job or a hung load still fails, and a quiet run waits no longer than before."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from imageworks import protocol as P
    from imageworks.client import Client

T = TypeVar("T")

MODEL_LOAD_S = 240.0
"""The most a test waits for a model load to end. The daemon publishes the end of a load (loaded, failed, crashed)
as an event, so this bounds only a load that hangs, and costs a quiet run nothing."""


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 20.0,
    what: str = "condition",
    interval: float = 0.02,
    *,
    progress: Callable[[], object] | None = None,
) -> T:
    """Return the first truthy value of ``predicate()``; raise AssertionError naming ``what`` after ``timeout`` s.

    With ``progress``, the deadline is ``timeout`` s after the last change of ``progress()``'s value (e.g. a
    job's ``done``): the wait lasts as long as the work keeps moving, and fails once it stalls for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    seen = progress() if progress is not None else None
    while True:
        value = predicate()
        if value:
            return value
        if progress is not None and (now := progress()) != seen:
            seen, deadline = now, time.monotonic() + timeout
        if time.monotonic() >= deadline:
            stalled = " with no progress" if progress is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s{stalled} waiting for {what}")
        time.sleep(interval)  # ok-sleep: the poll interval of a condition wait, not a guess at how long work takes


def wait_model_loaded(client: Client, *, slot: str = "vlm", timeout: float = MODEL_LOAD_S) -> P.ModelState:
    """The slot's model once loaded, for a load that a submitted job starts (so the slot may still read ``none``
    for a moment); waits on the daemon's model events, so a failed or crashed load raises at once."""

    def slot_state() -> str:
        status = client.status()
        return status.slots.get(slot, status.model).state

    wait_for(lambda: slot_state() != "none", what=f"the {slot} model to start loading")
    return client.wait_model(timeout, slot=slot)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used, 0.0 once it is gone: a worker that computes moves it on,
    a hung one does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces; fields from the 3rd on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
