"""What the services tell the App, named in the past tense; the App turns each into reactive state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from imageworks import protocol as P

    from ..state import DaemonView, FilterCounts, JobView, ScanView


class DaemonChanged(Message):
    def __init__(self, view: DaemonView) -> None:
        super().__init__()
        self.view = view


class ScanChanged(Message):
    def __init__(self, view: ScanView) -> None:
        super().__init__()
        self.view = view


class FiltersCounted(Message):
    def __init__(self, counts: FilterCounts) -> None:
        super().__init__()
        self.counts = counts


class JobChanged(Message):
    def __init__(self, view: JobView) -> None:
        super().__init__()
        self.view = view


class ResultsArrived(Message):
    def __init__(self, job_id: str, results: list[P.ResultRecord]) -> None:
        super().__init__()
        self.job_id = job_id
        self.results = results


class JobsListed(Message):
    def __init__(self, jobs: list[P.JobInfo]) -> None:
        super().__init__()
        self.jobs = jobs


class ModelsListed(Message):
    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names


class Failed(Message):
    """A worker's error, already one line for a person; the traceback (if any) is in the log."""

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__()
        self.message = message
        self.where = where
