"""The state screens show, as immutable values: a new value per change, so App reactives compare them cheaply.

msgspec Structs rather than dataclasses: these classes are defined before the first paint, and a Struct class is
built in microseconds where a dataclass takes half a millisecond (it compiles its methods)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from imageworks import protocol as P

ACTIVE_STATES = frozenset({"queued", "running"})
RESUMABLE_STATES = frozenset({"interrupted", "failed", "cancelled"})


def short_id(job_id: str) -> str:
    """The random tail of a journal id (``20250101-120000-1a2b3c4d`` -> ``1a2b3c4d``): enough to tell jobs apart."""
    return job_id.rsplit("-", 1)[-1] if job_id.count("-") >= 2 else job_id[:12]


def model_activity(model: P.ModelState) -> str:
    """What a model not (yet) loaded is doing, for a person: the load's own words while it has some ("training the
    demo model (first run only)… 35%"), else its state."""
    if model.state == "loading" and model.message:
        return model.message
    return model.state


class DaemonView(msgspec.Struct, frozen=True):
    state: str = "connecting"
    """connecting, starting, up, down."""
    message: str = ""
    status: P.StatusReply | None = None

    @property
    def up(self) -> bool:
        return self.state == "up"

    @property
    def model(self) -> P.ModelState | None:
        return self.status.model if self.status else None


class ScanView(msgspec.Struct, frozen=True):
    state: str = "idle"
    """idle, scanning, done, error."""
    root: str = ""
    message: str = ""


class FilterCounts(msgspec.Struct, frozen=True):
    """What the Configure filters select from the cached listing (never a rescan)."""

    root: str = ""
    scanned: bool = False
    total: int = 0
    matched: int = 0
    unprobed: int = 0
    """Files not yet checked for existing tags (only counted with skip-tagged on)."""
    error: str = ""


class JobView(msgspec.Struct, frozen=True):
    job: P.JobInfo
    rate: float = 0.0
    """Items per second of this run, as the daemon measures it from the moment the model was ready (never its load)."""
    eta: float | None = None
    current: str = ""
    following: bool = False
    timed: int = 0
    """Items the rate is measured on."""

    @property
    def finished(self) -> int:
        return self.job.done + self.job.failed

    @property
    def active(self) -> bool:
        return self.job.state in ACTIVE_STATES


class Counters(msgspec.Struct):
    """What the Debug panel shows: proof that typing, switching modes or resizing runs nothing expensive."""

    runs_submitted: int = 0
    """Jobs this app asked the daemon to run (each one: inference requests for its images)."""
    screens_composed: int = 0
    """Screens built; the TUI's analogue of a Streamlit rerun: flat after each mode's first visit."""
    held_switches: int = 0
    """Mode switches that held frames for Textual's 50 ms: a first visit's, while its screen is built; none after."""
    layouts: int = 0
    """Layout passes of the mode screens (a resize or a new widget; typing alone runs none)."""
    count_queries: int = 0
    results_loaded: int = 0


class RunPlan(msgspec.Struct, frozen=True):
    root: str
    kind: str
    filters: Any
    skip_tagged: bool
    model: str
    batch_size: int
    params: dict[str, Any] = msgspec.field(default_factory=dict)
