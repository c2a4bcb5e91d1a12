"""The App-owned service object: the daemon connection, scans and counts, job submit/follow, results, counters.

Screens never run long work themselves: they call a method here, which starts a worker on the App (so switching
modes never cancels or restarts it) and reports back with a message named in the past tense. The App turns those
messages into reactive state that every screen watches.

The scan half lives in ``tui.scanning``, the job half in ``tui.jobs`` (mixins of ``Services``).

Blocking work (the scan cache's SQLite, starting the daemon) runs in thread workers; daemon calls run in async
workers with ``AsyncClient``, so quitting cancels them at once and a follow never holds the process open.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from imageworks import config as iw_config
from imageworks import system
from imageworks.errors import DaemonError, ImageWorksError
from tui.jobs import JobServices
from tui.scanning import ScanServices
from tui.state import (
    ACTIVE_STATES,
    Counters,
    DaemonView,
    FilterCounts,
    JobView,
    ScanView,
    short_id,
)

if TYPE_CHECKING:
    from imageworks import protocol as P
    from imageworks.scan import ScanCache
    from tui.app import ImageWorksApp
    from tui.store import ResultStore


class Services(ScanServices, JobServices):
    """One per App. ``autostart_daemon`` starts a daemon when none answers (off in tests)."""

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

    def __init__(
        self,
        app: ImageWorksApp,
        config: iw_config.Config,
        *,
        autostart_daemon: bool = True,
        config_path: Path | None = None,
        scan_db: Path | None = None,
        status_interval: float | None = 2.0,
        client_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.autostart_daemon = autostart_daemon
        self.config_path = config_path
        self.scan_db = scan_db
        self.status_interval = status_interval
        self.client_timeout = client_timeout
        self.counters = Counters()
        self._store: ResultStore | None = None
        self.daemon = DaemonView()
        self.current_job: JobView | None = None
        self.jobs: list[P.JobInfo] = []
        self.models: list[str] = []
        self._scan_cache: ScanCache | None = None
        self._throughput: dict[str, tuple[float, int]] | None = None
        self._count_seq = 0
        self._count_lock = threading.Lock()
        self.submitting = False
        """True from the run key until the daemon has answered the submit (a second press is refused)."""

    @property
    def store(self) -> ResultStore:
        """Results held for the Results mode; ``tui.store`` is imported when the first results come (after the first
        paint)."""
        if self._store is None:
            from tui.store import ResultStore

            self._store = ResultStore()
        return self._store

    # ---- plumbing ----------------------------------------------------------------------------------------------

    def _post(self, message: Message) -> None:
        self.app.post_message(message)

    def _fail(self, exc: BaseException, where: str) -> None:
        if isinstance(exc, ImageWorksError):
            text = str(exc)
        else:
            text = f"unexpected {type(exc).__name__}: {exc} (details in {system.log_traceback(exc, 'tui.log')})"
        self._post(self.Failed(text, where=where))

    def _thread(self, fn: Callable[[], None], *, group: str, exclusive: bool = True, where: str = "") -> None:
        def guarded() -> None:
            try:
                fn()
            except Exception as exc:
                self._fail(exc, where or group)

        self.app.run_worker(guarded, thread=True, group=group, exclusive=exclusive, exit_on_error=False)

    def _task(self, coro_fn: Callable[[], Any], *, group: str, exclusive: bool = True, where: str = "") -> None:
        async def guarded() -> None:
            try:
                await coro_fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fail(exc, where or group)

        self.app.run_worker(guarded, group=group, exclusive=exclusive, exit_on_error=False)

    def _client(self) -> Any:
        timeout = self.client_timeout or self.config.daemon.request_timeout_s
        return iw_client().AsyncClient("tui", timeout=timeout, retries=1)

    # ---- config ------------------------------------------------------------------------------------------------

    def update_config(self, section: str, **values: Any) -> iw_config.Config:
        """Validate and save one section's changes; raises ConfigError (the caller shows it inline)."""
        new = iw_config.replace(self.config, section, **values)
        if new != self.config:
            self.config = new
            iw_config.save(new, self.config_path)
            if section == "scan" and self._scan_cache is not None:
                self._scan_cache.config = new.scan
        return self.config

    # ---- daemon ------------------------------------------------------------------------------------------------

    def _set_daemon(self, view: DaemonView) -> None:
        self.daemon = view
        self._post(self.DaemonChanged(view))

    def connect(self) -> None:
        """After the first paint: find (or start) the daemon, then re-attach to a job still running."""

        def work() -> None:
            if iw_client().daemon_alive(timeout=1.0) is None:
                if not self.autostart_daemon:
                    self._set_daemon(DaemonView("down", "no daemon is running: press s in the Daemon mode (5)"))
                    return
                self._set_daemon(DaemonView("starting", "starting the daemon…"))
                try:
                    iw_client().ensure_daemon(model=self.config.model.name or None)
                except DaemonError as exc:
                    self._set_daemon(DaemonView("down", str(exc)))
                    return
            self.app.call_from_thread(self.refresh_status, True)

        self._set_daemon(DaemonView("connecting", "connecting to the daemon…"))
        self._thread(work, group="connect", where="daemon")

    def start_daemon(self) -> None:
        def work() -> None:
            self._set_daemon(DaemonView("starting", "starting the daemon…"))
            try:
                iw_client().ensure_daemon(model=self.config.model.name or None)
            except DaemonError as exc:
                self._set_daemon(DaemonView("down", str(exc)))
                return
            self.app.call_from_thread(self.refresh_status, True)

        self._thread(work, group="connect", where="daemon")

    def refresh_status(self, reattach: bool = False) -> None:
        async def work() -> None:
            from imageworks import protocol as P

            if iw_client().read_connection() is None:
                self._set_daemon(DaemonView("down", "no daemon is running: press s in the Daemon mode (5)"))
                return
            c = self._client()
            try:
                status = await c.status()
                jobs = await c.call("job.list", P.JobList(limit=200))
            except DaemonError as exc:
                self._set_daemon(DaemonView("down", str(exc)))
                return
            finally:
                c.close()
            self._set_daemon(DaemonView("up", "", status))
            self._set_jobs(jobs.jobs)
            if reattach:
                self._reattach()

        self._task(work, group="status", where="daemon")

    def _reattach(self) -> None:
        """A job still running in the daemon (started from here before, or from another terminal): follow it."""
        if self.current_job is not None and self.current_job.following:
            return
        running = [j for j in self.jobs if j.state in ACTIVE_STATES]
        if running:
            job = max(running, key=lambda j: j.created)
            self.follow(job.job_id, announce=f"re-attached to job {short_id(job.job_id)} ({job.state})")

    def model_action(self, action: str, name: str = "") -> None:
        """load / unload / switch (the screen asked for confirmation first)."""

        async def work() -> None:
            from imageworks import protocol as P

            c = self._client()
            try:
                if action == "load":
                    await c.call("model.load", P.ModelLoad(name=name))
                elif action == "unload":
                    await c.call("model.unload", P.ModelUnload(), timeout=max(c.timeout, 15))
                elif action == "switch":
                    await c.call("model.switch", P.ModelSwitch(name=name), timeout=max(c.timeout, 15))
                else:
                    raise ValueError(action)
            finally:
                c.close()
            self.refresh_status()

        self._task(work, group="model", where="model")

    def list_models(self) -> None:
        """Model names for the Configure select: what `imageworks models list` finds (files only, no daemon)."""

        def work() -> None:
            from imageworks.models import find_built_tiny, find_hf_cache

            names = [e["name"] for e in find_built_tiny() + find_hf_cache()]
            self.models = list(dict.fromkeys(names))
            self._post(self.ModelsListed(self.models))

        self._thread(work, group="models", where="models")


def iw_client() -> Any:
    """``imageworks.client`` (pyzmq), imported on first use: after the first paint, not before it."""
    import imageworks.client

    return imageworks.client


def current_worker_cancelled() -> Callable[[], bool]:
    from textual.worker import get_current_worker

    try:
        worker = get_current_worker()
    except Exception:
        return lambda: False
    return lambda: worker.is_cancelled
