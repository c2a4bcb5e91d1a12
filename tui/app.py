"""The ImageWorks TUI: its modes (Configure, Execute, Review, Jobs, Daemon, Similar, Mono), global bindings, services.

Start-up paints the first mode before anything touches the daemon: connecting (or starting it) runs in a worker
once the first screen is built, and its state shows in the header. From then on the daemon's pushed events keep
the state current (services/daemon.py); a slow heartbeat only notices a dead or restarted daemon. Mode screens are
built lazily, once each; switching modes shows them again without rebuilding them or restarting any work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import Screen

from imageworks import config as iw_config

from . import modes
from .services import Services
from .services.daemon import HEARTBEAT_S
from .services.mono import MonoService, MonoView
from .services.similar import SimilarService, SimilarView
from .state import DaemonView, FilterCounts, JobView, ScanView, short_id
from .typeahead import TypeAhead

if TYPE_CHECKING:
    from textual.widget import AwaitMount

    from imageworks import protocol as P

CONFIGURE = modes.BY_NAME["configure"].binding_id
FIELD_LABELS = {"root": "Library", "filters": "Min size / Exts", "numbers": "Batch size / Max keywords"}
"""What Configure calls each field that can be in error (``set_field_error``)."""


class ImageWorksApp(App[str | None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "ImageWorks"
    ENABLE_COMMAND_PALETTE = True
    MODES: ClassVar[dict[str, str | Callable[[], Screen]]] = modes.screen_factories()
    DEFAULT_MODE = modes.MODES[0].name
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(m.keys, f"mode({m.name!r})", m.label, id=m.binding_id, show=False) for m in modes.MODES),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("ctrl+g", "toggle_debug", "Debug", id="app.debug"),
        Binding("f7", "clear_scan_cache", "Clear scan cache", id="app.clear_scan_cache"),
        Binding("f8", "clear_all_caches", "Clear all caches", id="app.clear_all_caches"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset(
        {*(m.binding_id for m in modes.MODES), "app.help", "app.clear_scan_cache", "app.clear_all_caches"}
    )
    """Bindings that show another screen: the keys typed behind them go to it (tui/typeahead.py)."""

    daemon: var[DaemonView] = var(DaemonView())
    scan_view: var[ScanView] = var(ScanView())
    counts: var[FilterCounts | None] = var(None)
    job: var[JobView | None] = var(None)
    jobs: var[tuple[P.JobInfo, ...]] = var(())
    models: var[tuple[str, ...]] = var(())
    results_job: var[str | None] = var(None)
    results_version: var[int] = var(0)
    review_version: var[int] = var(0)
    """Bumped when the review book or a file's read metadata changed (the review screen repaints from them)."""
    config_version: var[int] = var(0)
    field_errors: var[dict[str, str]] = var(dict)
    """Configure's fields in error (``root``, ``filters``, ``numbers``) -> the message shown under the field."""
    show_debug: var[bool] = var(False)
    similar: var[SimilarView] = var(SimilarView())
    mono: var[MonoView] = var(MonoView())
    run_error: var[str] = var("")
    """Why the last press of the run key started nothing (shown on Execute until the next press; a toast fades)."""

    def __init__(
        self,
        config: iw_config.Config | None = None,
        *,
        autostart_daemon: bool = True,
        config_path: Path | None = None,
        scan_db: Path | None = None,
        heartbeat_s: float | None = HEARTBEAT_S,
        connect: bool = True,
        client_timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.iw_config = config if config is not None else iw_config.load(path=config_path)
        self.services = Services(
            self,
            self.iw_config,
            autostart_daemon=autostart_daemon,
            config_path=config_path,
            scan_db=scan_db,
            client_timeout=client_timeout,
        )
        self.heartbeat_s = heartbeat_s
        """Seconds between pings that notice a dead or restarted daemon (None: never). Nothing else is polled: the
        daemon's events keep the App's state current."""
        self._connect_on_start = connect
        self.first_screen_ready = False
        self._modes_built = {self.DEFAULT_MODE}  # Textual builds it at start-up
        self._hold_frames = True
        """Set once the first screen has painted and built its body (later screens are built whole)."""
        self.keymap = dict(self.iw_config.tui.keymap)
        self.set_keymap(self.keymap)
        self.keymap_problems: list[str] = []
        """What is wrong with the keymap (tui/keymap.py), checked after the first paint when one is set."""
        self.typeahead = TypeAhead(self)

    # ---- start-up ----------------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, self.typeahead.screen_shown, immediate=True)
        if self.heartbeat_s:
            self.set_interval(self.heartbeat_s, self.services.heartbeat)

    def on_unmount(self) -> None:
        self.services.close()  # the client says bye: the daemon stops listing this App at once

    def first_screen_built(self) -> None:
        """The first screen's body is built (after the first frame): only now reach for the daemon, so importing the
        client and connecting never delay the first paint or the form."""
        self.first_screen_ready = True
        if self._connect_on_start:
            self.call_after_refresh(self.services.connect)
        if self.keymap:
            self.call_after_refresh(self._check_keymap)

    def _check_keymap(self) -> None:
        """Each unknown binding id and each key the keymap gives to two actions, one line each (a toast, and on the
        help screen for as long as the app runs)."""
        from .keymap import check

        self.keymap_problems = check(self.keymap, type(self))
        for line in self.keymap_problems:
            self.notify(line, title="keymap", severity="warning", timeout=20)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:  # a key read from the terminal
            if self.typeahead.take(event):
                return
            if not self.app_focus:  # a key says the terminal has the focus (as Textual's own routing does)
                self.app_focus = True
            if await self.typeahead.run_focus_binding(event) or self.typeahead.type_into_field(event):
                return
        await super().on_event(event)

    def _keys_changed(self) -> None:
        """Refresh the bindings the footer shows; a service's message can still arrive while the App closes, after
        its last screen is gone (Textual then raises ScreenStackError), when there is nothing to refresh."""
        if self.screen_stack:
            self.refresh_bindings()

    # ---- service messages -> reactive state --------------------------------------------------------------------

    @on(Services.DaemonChanged)
    def _daemon_changed(self, message: Services.DaemonChanged) -> None:
        was = self.daemon
        self.daemon = message.view
        if message.view.state == "down" and was.up:
            self.notify(f"lost the daemon: {message.view.message}", severity="warning")
        if message.view.state != was.state or message.view.model != was.model:
            self._keys_changed()  # what the keys depend on (a status re-read after a job event changes neither)

    @on(Services.ScanChanged)
    def _scan_changed(self, message: Services.ScanChanged) -> None:
        self.scan_view = message.view
        if message.view.state == "error":
            self.notify(message.view.message, severity="error")
        self._keys_changed()

    @on(Services.FiltersCounted)
    def _counted(self, message: Services.FiltersCounted) -> None:
        self.counts = message.counts

    @on(Services.JobChanged)
    def _job_changed(self, message: Services.JobChanged) -> None:
        previous = self.job
        self.job = message.view
        job = message.view.job
        if previous is None or previous.job.job_id != job.job_id:
            self.results_job = job.job_id
        if previous is not None and previous.active and not message.view.active:
            severity: SeverityLevel = "information" if job.state == "done" else "warning"
            detail = f": {job.error}" if job.error else ""
            self.notify(f"job {short_id(job.job_id)} {job.state}{detail}", severity=severity)
        # the keys depend on which job and whether it runs, not on its progress (a footer rebuild per result
        # batch cost most of the CPU the TUI took while following a job)
        if previous is None or previous.job.job_id != job.job_id or previous.job.state != job.state:
            self._keys_changed()

    @on(Services.ResultsArrived)
    def _results(self, message: Services.ResultsArrived) -> None:
        self.services.store.get(message.job_id).add(message.results)
        self.results_version += 1

    @on(Services.ReviewChanged)
    @on(Services.ExistingRead)
    def _review_changed(self, message: Services.ReviewChanged | Services.ExistingRead) -> None:
        if isinstance(message, Services.ReviewChanged) and message.note:
            self.notify(message.note, title="review", severity=message.severity)
        self.review_version += 1

    @on(Services.JobsListed)
    def _jobs(self, message: Services.JobsListed) -> None:
        self.jobs = tuple(message.jobs)

    @on(Services.ModelsListed)
    def _models(self, message: Services.ModelsListed) -> None:
        self.models = tuple(message.names)

    @on(SimilarService.Changed)
    def _similar_changed(self, message: SimilarService.Changed) -> None:
        self.similar = message.view

    @on(MonoService.Changed)
    def _mono_changed(self, message: MonoService.Changed) -> None:
        self.mono = message.view

    @on(Services.Failed)
    def _failed(self, message: Services.Failed) -> None:
        self.notify(message.message, title=message.where, severity="error", timeout=8)  # "": no title
        if message.where == "run":
            self.run_error = message.message
            # the daemon may be gone, the listing cleared by another program: let the gate say so
            self.services.refresh_status()
            self.services.count()

    # ---- helpers for screens -----------------------------------------------------------------------------------

    def config_changed(self) -> None:
        self.iw_config = self.services.config
        self.config_version += 1

    def set_field_error(self, field: str, problem: str | bool) -> None:
        """A Configure field's problem (its message; "" or False: none). Actions that use the field are gated on it."""
        message = problem if isinstance(problem, str) else ("invalid" if problem else "")
        if self.field_errors.get(field, "") != message:
            self.field_errors = {**self.field_errors, field: message}

    def settings_blocked(self, *fields: str) -> str:
        """Why an action that uses these Configure fields (every field, when none is named) cannot run now: the
        first one in error, with where to fix it; "" when none is."""
        for field in fields or tuple(self.field_errors):
            problem = self.field_errors.get(field)
            if problem:
                return f"{FIELD_LABELS.get(field, field)}: {problem} (fix it in Configure, {self.key_for(CONFIGURE)})"
        return ""

    def key_for(self, binding_id: str, screen: Screen | None = None) -> str:
        """The key shown for a binding id, after the keymap: looked up on ``screen``, the App, then the mode screen
        the id names (``configure.scan``: the Configure screen's class)."""
        from .keymap import keys_bound

        classes: list[type] = [type(screen or self.screen), type(self)]
        mode = modes.BY_NAME.get(binding_id.split(".", 1)[0])
        if mode is not None and binding_id not in self.keymap:
            classes.append(modes.screen_class(mode.screen))
        keys = keys_bound(binding_id, classes, self.keymap)
        return self.get_key_display(Binding((keys or "?").split(",")[0].strip(), ""))

    def remote_thumbnail(self, path: str, max_px: int) -> bytes | None:
        """For a preview's thread worker: ``path`` as a JPEG from the daemon when the photos are on its machine
        (`imageworks --ssh HOST`), else None (the preview reads the file itself)."""
        return self.services.daemon.remote_thumbnail(path, max_px)

    def open_results(self, job_id: str) -> None:
        """A job's results, over the Jobs mode (escape goes back to it) (the Review mode is the drafts)."""
        self.results_job = job_id
        if not self.services.store.get(job_id).rows or (self.job is None or self.job.job.job_id != job_id):
            self.services.load_results(job_id)
        if self.current_mode != "jobs":
            self.switch_mode("jobs")
        if self.screen.id != modes.JOB_RESULTS_ID:
            self.push_screen(modes.load_screen(modes.JOB_RESULTS))

    def detach_and_quit(self) -> None:
        self.exit(self.goodbye())

    def goodbye(self) -> str | None:
        job = self.job
        if job is not None and job.active:
            job_id = job.job.job_id
            return (
                f"job {job_id} keeps running in the daemon; re-attach with `imageworks tui` "
                f"or `imageworks jobs attach {job_id}`"
            )
        return None

    # ---- mode switches --------------------------------------------------------------------------------------------

    def switch_mode(self, mode: str) -> AwaitMount:
        """Textual holds every frame for 50 ms when a mode shows (``delay_update``), which masks a first visit's
        screen being built. A mode built before needs no mask: its screen is whole, and it paints only once it
        has handled its ``ScreenResume`` (posted ahead of its idle, where Textual paints). That hold was most of
        a switch's time: 61 ms from key to painted tab, 20 ms of it CPU (bench/tui.py --live). (Not a shorter
        hold: Textual's timers divide by their delay, and skip a tick that starts late.)"""
        self._hold_frames = mode not in self._modes_built
        try:
            return super().switch_mode(mode)
        finally:
            self._hold_frames = True
            self._modes_built.add(mode)

    def delay_update(self, delay: float = 0.05) -> None:
        if self._hold_frames:
            self.services.counters.held_switches += 1
            super().delay_update(delay)

    # ---- actions -----------------------------------------------------------------------------------------------

    def action_mode(self, mode: str) -> None:
        if mode in modes.BY_NAME and mode != self.current_mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_debug(self) -> None:
        self.show_debug = not self.show_debug

    def watch_show_debug(self, shown: bool) -> None:
        self.set_class(shown, "-debug")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("clear_scan_cache", "clear_all_caches"):
            return self.show_debug
        return True

    def _confirm(self, title: str, detail: str, then: Callable[[], None]) -> None:
        from .screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.push_screen(ConfirmScreen(title, detail), answered)

    def action_clear_scan_cache(self) -> None:
        self._confirm(
            "Clear the scan cache?",
            "Every library's cached listing and tag checks are forgotten; the next scan walks the folders again.",
            lambda: self.services.clear_caches(),
        )

    def action_clear_all_caches(self) -> None:
        self._confirm(
            "Clear all caches?",
            "The scan cache, results held for jobs not on screen and the model list.",
            lambda: self.services.clear_caches(everything=True),
        )

    async def action_quit(self) -> None:
        self.exit(self.goodbye())

    # ---- command palette: every active binding, by its description ---------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen: set[str] = {"Quit"}
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or not active.enabled or binding.description in seen:
                continue
            seen.add(binding.description)
            keys = self.get_key_display(Binding(binding.key.split(",")[0], ""))
            yield SystemCommand(
                binding.description,
                f"{keys}  ({binding.id})" if binding.id else keys,
                _runner(self, active.node, binding.action),
            )


def _runner(app: App[Any], node: Any, action: str) -> Callable[[], Any]:
    async def run() -> None:
        await app.run_action(action, node)

    return run
