"""What a CPU job kind is: per-item work that runs in the daemon's process pool, beside whatever the model does.

A CPU kind (hashing photos, scanning a library, moving files, checking monochrome…) uses CPU cores, not the model,
so the daemon runs its jobs alongside a running VLM job: same journal, same job list, same ``jobs``/``attach``/
``resume``/``cancel``/``export``, its own runner (``daemon/cpu_runner.py``) and a pool of worker processes the
daemon starts once and reuses (``daemon.cpu_workers``, default: the CPUs the daemon may use).

Adding a kind is a class and one entry in ``imageworks.jobs.kinds.KINDS``. The least a kind defines::

    class MonoRecord(JobRecord, tag="mono"):        # imageworks/jobs/records.py, added to AnyRecord
        path: str = ""
        verdict: str = ""

    class MonoKind(CpuKind):
        name = "mono"
        record_type = MonoRecord

        def validate(self, items, params):          # at submit, on the daemon's loop: cheap checks only
            path_items(items, self.name)
            unknown_params(params, set(), self.name)
            return {}

        def run_item(self, item, plan, progress):   # in a pool worker process
            return MonoRecord(status="ok", path=item["path"], verdict=check(item["path"]))

What the runner does with it, and the hooks a kind may override (defaults in ``CpuKind``):

- ``validate(items, params) -> params`` at submit (raise ``BadJobParams``: the client gets ``bad_request``).
- ``share_key(params) -> str``: a non-empty key makes a second submit of the same work (two clients on one folder)
  return the job already queued or running, instead of computing it twice.
- ``prepare(params) -> plan``: once per job run, in the daemon and in every worker that runs one of its items (it
  must be cheap and pure; the plan never crosses a process boundary, the journaled params do).
- ``plan_items(plan) -> items``: for a job submitted without items (``similar DIR``), run once, on a daemon thread,
  when the job first starts; the items are journaled then (a resumed job keeps them).
- ``run_item(item, plan, progress) -> record``: the work, in a pool worker. It returns the kind's typed record (a
  ``JobRecord``: ``status="error"`` with a one-line ``error`` for a bad file); an exception it raises becomes that
  item's error, a worker that dies (a segfault in a decoder, SIGKILL) fails that item alone, named. ``progress(done,
  total, message)`` reports within a long item (a walk) and raises ``ItemCancelled`` once the job is cancelled.
- ``store(done, plan)``: on a daemon thread, with the finished ``(item, record)`` pairs in batches, before they are
  journaled: the daemon is the one writer of every store (the similarity cache, the marks), not the workers.
- ``conclude(plan, job_id, context) -> outcome``: once every item is done, on a daemon thread: a job-level step
  (the neighbour search after hashing); its typed outcome (``JobOutcome``) is kept on the job (``JobInfo.outcome``).

Records and items must encode with msgspec (the journal stores them as JSON, the pool's pipe as msgpack).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeGuard

from imageworks.errors import ImageWorksError
from imageworks.jobs.base import BadJobParams
from imageworks.jobs.records import JobOutcome, JobRecord

ItemProgress = Callable[[int, int, str], None]
"""``progress(done, total, message)`` from inside ``run_item``; raises ``ItemCancelled`` once the job is cancelled."""


class ItemCancelled(ImageWorksError):
    """Raised by ``progress`` inside ``run_item`` when the job was cancelled: the item stops where it is."""


class ConcludeContext(Protocol):
    """What the daemon lends ``conclude``: progress events, and the embed slot for kinds that need vectors."""

    def progress(self, done: int, total: int, message: str) -> None:
        """Published on the job's topic (rate-limited); raises ``ItemCancelled`` once the job is cancelled."""
        ...

    def embed(self, paths: list[str], model: str) -> tuple[str, list[tuple[bytes, str]]]:
        """Vectors from the daemon's embed slot for ``paths`` (its model loaded first when the slot is empty; another
        model there is refused): the model's revision and, per path, (float32 bytes, "") or (b"", the problem)."""
        ...


def no_progress(done: int, total: int, message: str) -> None:
    """For running an item outside the pool (tests, a one-off call)."""


class CpuKind:
    """Base of every CPU kind: the defaults of the optional hooks. A subclass sets ``name`` and ``record_type`` and
    defines ``validate`` and ``run_item``."""

    name: ClassVar[str] = ""
    record_type: ClassVar[type[JobRecord]] = JobRecord
    runs_on: ClassVar[str] = "cpu"
    """Which runner: the daemon's CPU runner (GPU kinds have no such attribute, or ``"model"``)."""
    uses_model: ClassVar[bool] = False

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def share_key(self, params: dict[str, Any]) -> str:
        return ""

    def prepare(self, params: dict[str, Any]) -> Any:
        return params

    def plan_items(self, plan: Any) -> list[dict[str, Any]] | None:
        """None: the job's items are those it was submitted with."""
        return None

    def run_item(self, item: dict[str, Any], plan: Any, progress: ItemProgress) -> JobRecord:
        raise NotImplementedError

    def store(self, done: list[tuple[dict[str, Any], JobRecord]], plan: Any) -> None:
        return None

    def conclude(self, plan: Any, job_id: str, context: ConcludeContext) -> JobOutcome | None:
        return None


def runs_on_cpu(kind: object) -> TypeGuard[CpuKind]:
    """Whether the daemon's CPU runner runs this kind's jobs (else the model's runner does)."""
    return getattr(kind, "runs_on", "model") == "cpu"


def path_items(items: list[dict[str, Any]], kind: str) -> None:
    """Check items of the form ``{"path": str, ...}`` (the shape most CPU kinds take); BadJobParams naming the first
    bad one."""
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
            raise BadJobParams(f"{kind} job: item {i}: expected {{'path': str}}")


def unknown_params(params: dict[str, Any], known: set[str], kind: str) -> None:
    unknown = set(params) - known
    if unknown:
        raise BadJobParams(f"{kind} job: unknown params {sorted(unknown)} (known: {', '.join(sorted(known))})")
