"""The one place that talks to the daemon: find or start it, hold the App's one client, keep the daemon's state
(status, models, jobs) current from the events it pushes, model load/unload/switch.

Clone pattern: subscribe to the daemon's events first, then read its state (status and the job list), then apply
the events as they come. Nothing polls: a slow heartbeat notices a dead daemon (the header says so) and a restarted
one (a new boot id: subscribe and read the state again)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from imageworks.errors import DaemonError

from ..state import DaemonView
from .messages import DaemonChanged, ModelsListed
from .settings import Settings
from .workers import Workers

if TYPE_CHECKING:
    from imageworks import protocol as P
    from imageworks.client import AsyncClient, BlockingClient, Subscription

NOT_RUNNING = "no daemon is running: press {daemon.start} in the Daemon mode ({app.mode.daemon})"
"""With the keys filled in (``keys_in``): the keymap may have moved them."""
HEARTBEAT_S = 10.0
"""How often an idle App pings the daemon (well inside its client expiry, 30 s by default)."""
HEARTBEAT_TIMEOUT_S = 3.0
"""A heartbeat unanswered this long (twice) means the daemon is gone."""
JOBS_LISTED = 200
LISTENER_GROUP = "events"
"""The worker group of the event listener, which runs for the App's life (tests that wait for the App's work to
finish leave it out)."""


def iw_client() -> Any:
    """``imageworks.client`` (pyzmq), imported on first use: after the first paint, not before it."""
    import imageworks.client

    return imageworks.client


def keys_in(text: str, app: Any) -> str:
    """``text`` with each ``{binding.id}`` replaced by the key the App shows for it."""
    return re.sub(r"\{([a-z_.]+)\}", lambda m: app.key_for(m.group(1)), text)


class DaemonLink:
    """``autostart`` starts a daemon when none answers (off in tests). ``jobs_listed(jobs, reattach)`` receives each
    job listing, ``job_changed(job)`` each pushed job state, ``library_changed(event)`` each change a library watcher
    of the daemon applied to the scan cache."""

    def __init__(
        self,
        workers: Workers,
        settings: Settings,
        *,
        jobs_listed: Callable[[list[P.JobInfo], bool], None],
        job_changed: Callable[[P.JobInfo], None],
        library_changed: Callable[[P.LibraryChanged], None] = lambda event: None,
        autostart: bool = True,
        client_timeout: float | None = None,
    ) -> None:
        self.workers = workers
        self.settings = settings
        self.jobs_listed = jobs_listed
        self.job_changed = job_changed
        self.library_changed = library_changed
        self.autostart = autostart
        self.client_timeout = client_timeout
        self.view = DaemonView()
        self.models: list[str] = []
        self.boot_id = ""
        """The daemon boot whose state the view holds (another one answering means it restarted)."""
        self.remote = ""
        """The host the daemon runs on when it is reached through ssh (`imageworks --ssh HOST`): its photos are
        there, so previews come from it."""
        self._client: AsyncClient | None = None
        self._model_events = 0

    # ---- the client --------------------------------------------------------------------------------------------

    @property
    def client(self) -> AsyncClient:
        """The App's one client, made on first use (after the first paint) and closed with the App. Every task of
        the App sends on it at once (it multiplexes: no turns, no lock)."""
        if self._client is None:
            timeout = self.client_timeout or self.settings.config.daemon.request_timeout_s
            self._client = iw_client().AsyncClient("tui", timeout=timeout, retries=1)
        return self._client

    @contextlib.asynccontextmanager
    async def using(self) -> AsyncIterator[AsyncClient]:
        """The App's one client for a block of requests (it stays open: the App closes it)."""
        yield self.client

    def from_thread(self) -> BlockingClient:
        """The App's one client for blocking code on a thread worker (the similarity search asks for embeddings as
        it goes): each call runs on the App's loop and the thread waits for it; the UI does not. Its ``close`` leaves
        the client open: the App closes it."""
        return iw_client().BlockingClient(lambda: self.client, self.workers.from_thread)

    def close(self) -> None:
        """The App is closing: the client says bye, so the daemon stops listing it at once."""
        if self._client is not None:
            self._client.close()

    def remote_thumbnail(self, path: str, max_px: int) -> bytes | None:
        """For a thread worker: ``path``'s JPEG from the daemon when its photos are on another machine, else None
        (the photo is here: read it)."""
        if not self.remote:
            return None
        return bytes(self.from_thread().thumbnail(path, max_px).jpeg)

    # ---- connecting --------------------------------------------------------------------------------------------

    def _down(self, exc: DaemonError) -> DaemonView:
        message = keys_in(NOT_RUNNING, self.workers.app) if exc.code == "not_running" else str(exc)
        return DaemonView("down", message)

    def _set(self, view: DaemonView) -> None:
        self.view = view
        self.workers.post(DaemonChanged(view))

    def connect(self) -> None:
        """After the first paint: find (or start) the daemon, then follow its state and re-attach to a running job."""

        def work() -> None:
            if iw_client().daemon_alive(timeout=1.0) is None:
                if not self.autostart:
                    self._set(DaemonView("down", keys_in(NOT_RUNNING, self.workers.app)))
                    return
                self._ensure()
            else:
                self.workers.from_thread(self.refresh_status, True)

        self._set(DaemonView("connecting", "connecting to the daemon…"))
        self.workers.thread(work, group="connect", where="daemon")

    def start(self) -> None:
        self.workers.thread(self._ensure, group="connect", where="daemon")

    def _ensure(self) -> None:
        """Start the daemon (in a thread worker), then follow its state."""
        self._set(DaemonView("starting", "starting the daemon…"))
        try:
            iw_client().ensure_daemon(model=self.settings.config.model.name or None)
        except DaemonError as exc:
            self._set(DaemonView("down", str(exc)))
            return
        self.workers.from_thread(self.refresh_status, True)

    def refresh_status(self, reattach: bool = False) -> None:
        """Subscribe to the daemon's events, read its status and job list, then hand the subscription to the
        listener. At connect, on a new daemon boot and on the refresh keys; with ``reattach``, the listing says to
        follow a job still running."""

        async def work() -> None:
            client = self.client
            try:
                events = client.events()  # first: no event falls between the state read and the stream
                library = client.library_events()
            except DaemonError as exc:
                self._set(self._down(exc))
                return
            listening = False
            try:
                status = await client.status()
                jobs = await client.jobs(limit=JOBS_LISTED)
                self.boot_id = status.boot_id
                self.remote = client.remote
                self._set(DaemonView("up", "", status))
                self.jobs_listed(jobs, reattach)
                # the stream follows the client to a daemon that replaces this one; the heartbeat re-reads the state
                self.workers.task(partial(self._listen, events), group=LISTENER_GROUP, where="daemon")
                # beside it (not exclusive): the listener just started ended the last subscription's pair
                self.workers.task(partial(self._listen_library, library), group=LISTENER_GROUP, exclusive=False)
                listening = True
            except DaemonError as exc:
                self._set(self._down(exc))
            finally:
                if not listening:
                    await events.aclose()
                    await library.aclose()

        self.workers.task(work, group="status", where="daemon")

    async def _listen(self, events: Subscription[Any]) -> None:
        """Apply the daemon's events for as long as the App runs (a later subscription replaces this one)."""
        from imageworks import protocol as P

        try:
            async for event in events:
                if isinstance(event, P.ModelEvent):
                    self._model_changed(event.model)
                elif isinstance(event, P.JobStateEvent):
                    self.job_changed(event.job)
                    self.read_status()  # the queue, the counters and the model's speed moved with it
                elif isinstance(event, P.JobProgressEvent):
                    self.job_changed(event.job)  # counts only: nothing else of the daemon moved
        finally:
            await events.aclose()

    async def _listen_library(self, events: Subscription[P.LibraryChanged]) -> None:
        try:
            async for event in events:
                self.library_changed(event)
        finally:
            await events.aclose()

    def _model_changed(self, model: P.ModelState) -> None:
        import msgspec

        status = self.view.status
        if status is None or not self.view.up:
            return
        before = status.slots.get(model.slot, status.model if model.slot == "vlm" else None)
        changes: dict[str, Any] = {"slots": {**status.slots, model.slot: model}}
        if model.slot == "vlm":
            changes["model"] = model
        self._model_events += 1
        self._set(DaemonView("up", "", msgspec.structs.replace(status, **changes)))
        if before is None or before.state != model.state:
            self.read_status()  # a load or unload moved the daemon's counters (load progress moves nothing)

    def read_status(self) -> None:
        """Read the daemon's status again (queue, counters, clients): after an event that moved them, or for the
        Daemon mode."""
        self.workers.task(self._read_status, group="status-read", where="daemon")

    async def _read_status(self) -> None:
        """A model event that arrives while asking is newer than the reply's model, and is kept."""
        import msgspec

        if not self.view.up:
            return
        seen = self._model_events
        try:
            status = await self.client.status()
        except DaemonError as exc:
            self._set(self._down(exc))
            return
        if status.boot_id != self.boot_id:
            self.refresh_status(reattach=True)
            return
        current = self.view.status
        if seen != self._model_events and current is not None:
            status = msgspec.structs.replace(status, model=current.model, slots=current.slots)
        self._set(DaemonView("up", "", status))

    def heartbeat(self) -> None:
        """Every ``HEARTBEAT_S``: the only request an idle App sends. Notices a dead daemon (the header says so) and
        a new one (a restart: subscribe and read its state again)."""
        if self.view.state == "up":
            self.workers.task(self._ping, group="heartbeat", where="daemon")
        elif self.view.state == "down":
            self.workers.thread(self._probe, group="heartbeat", where="daemon")

    async def _ping(self) -> None:
        try:
            pong = await self.client.ping(timeout=HEARTBEAT_TIMEOUT_S)
        except DaemonError as exc:
            self._set(self._down(exc))
            return
        if pong.boot_id != self.boot_id:
            self.refresh_status(reattach=True)

    def _probe(self) -> None:
        """While down: has a daemon come (back)? A probe, which the daemon never lists as a client."""
        if iw_client().daemon_alive(timeout=1.0) is not None:
            self.workers.from_thread(self.refresh_status, True)

    def list_jobs(self) -> None:
        """The job list again (the refresh key; events keep it current otherwise)."""

        async def work() -> None:
            self.jobs_listed(await self.client.jobs(limit=JOBS_LISTED), False)

        self.workers.task(work, group="jobs", where="jobs")

    # ---- models ------------------------------------------------------------------------------------------------

    def model_action(self, action: str, name: str = "") -> None:
        """load / unload / switch (the screen asked for confirmation first); the model's events show how it goes."""

        async def work() -> None:
            client = self.client
            if action == "load":
                await client.load_model(name)
            elif action == "unload":
                await client.unload_model()
            elif action == "switch":
                await client.switch_model(name)
            else:
                raise ValueError(action)
            await self._read_status()  # its outcome at once, and the load counters; events show what follows

        self.workers.task(work, group="model", where="model")

    def list_models(self) -> None:
        """Model names for the Configure select: what `imageworks models list` finds (files only, no daemon)."""

        def work() -> None:
            from imageworks.checkpoints import find_built_tiny, find_hf_cache

            names = [e["name"] for e in find_built_tiny() + find_hf_cache()]
            self.models = list(dict.fromkeys(names))
            self.workers.post(ModelsListed(self.models))

        self.workers.thread(work, group="models", where="models")
