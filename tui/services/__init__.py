"""The App's services: what screens ask for (scan, count, run, follow, load a model…), each started in a worker the
App owns (switching modes never cancels or restarts it) and reported back as a message that the App turns into
reactive state every screen watches.

``Services`` is the one object screens talk to; it is composed of small parts, each in its own module:
``DaemonLink`` (daemon.py: the one place that talks to the daemon, through the App's one multiplexing client, kept
current by the daemon's events), ``ScanService`` (scan.py: the library listing), ``JobService`` (jobs.py: runs,
follows, results), ``SimilarService`` (similar.py: the Similar mode; screens reach it as ``services.similar``),
``MonoService`` (mono.py: the Mono mode, ``services.mono``), over
``Workers`` (workers.py) and ``Settings`` (settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from textual.app import App

from imageworks import config as iw_config

from ..state import Counters, JobView, RunPlan
from . import messages
from .daemon import DaemonLink
from .jobs import JobService
from .mono import MonoService
from .review import ExistingRead, ReviewChanged, ReviewService
from .scan import ScanService
from .settings import Settings
from .similar import SimilarService
from .workers import Workers

if TYPE_CHECKING:
    from ..store import ResultStore


class Services:
    """One per App. ``autostart_daemon`` starts a daemon when none answers (off in tests)."""

    DaemonChanged: TypeAlias = messages.DaemonChanged
    ScanChanged: TypeAlias = messages.ScanChanged
    FiltersCounted: TypeAlias = messages.FiltersCounted
    JobChanged: TypeAlias = messages.JobChanged
    ResultsArrived: TypeAlias = messages.ResultsArrived
    JobsListed: TypeAlias = messages.JobsListed
    ModelsListed: TypeAlias = messages.ModelsListed
    Failed: TypeAlias = messages.Failed
    ReviewChanged: TypeAlias = ReviewChanged
    ExistingRead: TypeAlias = ExistingRead

    def __init__(
        self,
        app: App[Any],
        config: iw_config.Config,
        *,
        autostart_daemon: bool = True,
        config_path: Path | None = None,
        scan_db: Path | None = None,
        client_timeout: float | None = None,
    ) -> None:
        workers = Workers(app)
        self.settings = Settings(config, config_path)
        self.counters = Counters()
        self.daemon = DaemonLink(
            workers,
            self.settings,
            jobs_listed=lambda jobs, reattach: self.jobs.jobs_listed(jobs, reattach),
            job_changed=lambda job: self.jobs.job_changed(job),
            library_changed=lambda event: self.scanning.library_changed(event),
            autostart=autostart_daemon,
            client_timeout=client_timeout,
        )
        self.scanning = ScanService(workers, self.settings, self.counters, self.daemon, scan_db)
        self.jobs = JobService(workers, self.settings, self.counters, self.daemon, self.scanning)
        self.similar = SimilarService(workers, self.settings, self.scanning, self.daemon)
        self.mono = MonoService(workers, self.scanning, self.daemon)
        self.review = ReviewService(workers, self.daemon)

    # ---- config ------------------------------------------------------------------------------------------------

    @property
    def config(self) -> iw_config.Config:
        return self.settings.config

    def update_config(self, section: str, **values: Any) -> iw_config.Config:
        """Validate and save one section's changes; raises ConfigError (the caller shows it inline)."""
        if self.settings.update(section, **values) and section == "scan":
            self.scanning.config_changed()
        return self.config

    def clear_caches(self, *, everything: bool = False) -> None:
        """The scan cache's listings (every root); with ``everything`` also the results of jobs not on screen and the
        model list. Behind the confirmation modal (the caller asks)."""

        def forget_the_rest() -> str:
            current = self.jobs.current
            rows = self.store.clear(keep=current.job.job_id if current else None)
            self.daemon.models = []
            return f"; {rows:,} result rows and the model list dropped"

        self.scanning.clear(also=forget_the_rest if everything else None)

    # ---- the daemon (DaemonLink) -------------------------------------------------------------------------------

    def connect(self) -> None:
        self.daemon.connect()

    def close(self) -> None:
        self.daemon.close()

    def start_daemon(self) -> None:
        self.daemon.start()

    def refresh_status(self, reattach: bool = False) -> None:
        self.daemon.refresh_status(reattach)

    def read_status(self) -> None:
        self.daemon.read_status()

    def heartbeat(self) -> None:
        self.daemon.heartbeat()

    def list_jobs(self) -> None:
        self.daemon.list_jobs()

    def model_action(self, action: str, name: str = "") -> None:
        self.daemon.model_action(action, name)

    def list_models(self) -> None:
        self.daemon.list_models()

    @property
    def models(self) -> list[str]:
        return self.daemon.models

    # ---- the library listing (ScanService) ---------------------------------------------------------------------

    def scan(self, *, refresh: bool = False) -> None:
        self.scanning.scan(refresh=refresh)

    def count(self) -> None:
        self.scanning.count()

    def scan_counters(self) -> dict[str, int]:
        return self.scanning.cache_counters()

    # ---- jobs (JobService) -------------------------------------------------------------------------------------

    @property
    def store(self) -> ResultStore:
        return self.jobs.store

    @property
    def current_job(self) -> JobView | None:
        return self.jobs.current

    @current_job.setter
    def current_job(self, view: JobView | None) -> None:
        self.jobs.current = view

    @property
    def submitting(self) -> bool:
        return self.jobs.submitting

    def job_kind(self) -> str:
        return self.jobs.job_kind()

    def plan(self) -> RunPlan:
        return self.jobs.plan()

    def run(self, plan: RunPlan) -> None:
        self.jobs.run(plan)

    def follow(self, job_id: str, *, announce: str = "") -> None:
        self.jobs.follow(job_id, announce=announce)

    def cancel(self, job_id: str) -> None:
        self.jobs.cancel(job_id)

    def resume(self, job_id: str) -> None:
        self.jobs.resume(job_id)

    def load_results(self, job_id: str) -> None:
        self.jobs.load_results(job_id)
