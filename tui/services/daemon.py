"""The one place that talks to the daemon: find or start it, its status and job list, model load/unload/switch, and
the clients every other service borrows for its own requests.

Today each request opens a short-lived client; holding one long-lived client that pushed events update is a change
to this class alone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from imageworks.errors import DaemonError
from tui.services.messages import DaemonChanged, ModelsListed
from tui.services.settings import Settings
from tui.services.workers import Workers
from tui.state import DaemonView

if TYPE_CHECKING:
    from imageworks import protocol as P

NOT_RUNNING = "no daemon is running: press s in the Daemon mode (5)"


def iw_client() -> Any:
    """``imageworks.client`` (pyzmq), imported on first use: after the first paint, not before it."""
    import imageworks.client

    return imageworks.client


class DaemonLink:
    """``autostart`` starts a daemon when none answers (off in tests). ``jobs_listed(jobs, reattach)`` receives each
    job listing."""

    def __init__(
        self,
        workers: Workers,
        settings: Settings,
        *,
        jobs_listed: Callable[[list[P.JobInfo], bool], None],
        autostart: bool = True,
        client_timeout: float | None = None,
    ) -> None:
        self.workers = workers
        self.settings = settings
        self.jobs_listed = jobs_listed
        self.autostart = autostart
        self.client_timeout = client_timeout
        self.view = DaemonView()
        self.models: list[str] = []

    # ---- clients -----------------------------------------------------------------------------------------------

    @property
    def timeout(self) -> float:
        return self.client_timeout or self.settings.config.daemon.request_timeout_s

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[Any]:
        """An ``AsyncClient`` for one worker's requests, closed when it is done."""
        c = iw_client().AsyncClient("tui", timeout=self.timeout, retries=1)
        try:
            yield c
        finally:
            c.close()

    def blocking_client(self, *, min_timeout: float = 0.0) -> Any:
        """A blocking ``Client`` (a context manager) for a thread worker."""
        return iw_client().Client("tui", timeout=max(self.timeout, min_timeout), retries=1)

    # ---- the daemon's state ------------------------------------------------------------------------------------

    def _set(self, view: DaemonView) -> None:
        self.view = view
        self.workers.post(DaemonChanged(view))

    def connect(self) -> None:
        """After the first paint: find (or start) the daemon, then re-attach to a job still running."""

        def work() -> None:
            if iw_client().daemon_alive(timeout=1.0) is None:
                if not self.autostart:
                    self._set(DaemonView("down", NOT_RUNNING))
                    return
                self._ensure()
            else:
                self.workers.from_thread(self.refresh_status, True)

        self._set(DaemonView("connecting", "connecting to the daemon…"))
        self.workers.thread(work, group="connect", where="daemon")

    def start(self) -> None:
        self.workers.thread(self._ensure, group="connect", where="daemon")

    def _ensure(self) -> None:
        """Start the daemon (in a thread worker), then ask its status."""
        self._set(DaemonView("starting", "starting the daemon…"))
        try:
            iw_client().ensure_daemon(model=self.settings.config.model.name or None)
        except DaemonError as exc:
            self._set(DaemonView("down", str(exc)))
            return
        self.workers.from_thread(self.refresh_status, True)

    def refresh_status(self, reattach: bool = False) -> None:
        """The daemon's status and job list; with ``reattach``, the job listing says to follow a running job."""

        async def work() -> None:
            from imageworks import protocol as P

            if iw_client().read_connection() is None:
                self._set(DaemonView("down", NOT_RUNNING))
                return
            try:
                async with self.client() as c:
                    status = await c.status()
                    jobs = await c.call("job.list", P.JobList(limit=200))
            except DaemonError as exc:
                self._set(DaemonView("down", str(exc)))
                return
            self._set(DaemonView("up", "", status))
            self.jobs_listed(jobs.jobs, reattach)

        self.workers.task(work, group="status", where="daemon")

    def list_jobs(self) -> None:
        async def work() -> None:
            from imageworks import protocol as P

            async with self.client() as c:
                reply = await c.call("job.list", P.JobList(limit=200))
            self.jobs_listed(reply.jobs, False)

        self.workers.task(work, group="jobs", where="jobs")

    # ---- models ------------------------------------------------------------------------------------------------

    def model_action(self, action: str, name: str = "") -> None:
        """load / unload / switch (the screen asked for confirmation first)."""

        async def work() -> None:
            from imageworks import protocol as P

            async with self.client() as c:
                if action == "load":
                    await c.call("model.load", P.ModelLoad(name=name))
                elif action == "unload":
                    await c.call("model.unload", P.ModelUnload(), timeout=max(c.timeout, 15))
                elif action == "switch":
                    await c.call("model.switch", P.ModelSwitch(name=name), timeout=max(c.timeout, 15))
                else:
                    raise ValueError(action)
            self.refresh_status()

        self.workers.task(work, group="model", where="model")

    def list_models(self) -> None:
        """Model names for the Configure select: what `imageworks models list` finds (files only, no daemon)."""

        def work() -> None:
            from imageworks.models import find_built_tiny, find_hf_cache

            names = [e["name"] for e in find_built_tiny() + find_hf_cache()]
            self.models = list(dict.fromkeys(names))
            self.workers.post(ModelsListed(self.models))

        self.workers.thread(work, group="models", where="models")
