"""What every mode screen shares: the header, the debug panel, the footer, and the counters that prove a mode's
screen is built once (switching modes shows it again; it is not rebuilt)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from tui.access import AppAccess
from tui.widgets.debug import DebugPanel
from tui.widgets.header import AppHeader


class ModeScreen(AppAccess, Screen[None]):
    """The app's very first screen paints its header and footer first and builds its body right after that frame
    reaches the terminal (start-up paints about as soon as a minimal Textual app would; bench/tui.py); every later
    screen is built whole."""

    MODE: ClassVar[str] = ""
    _body_pending = False
    _body_building = False

    def __init__(self) -> None:
        super().__init__()
        # Textual re-parses every stylesheet and restyles every screen the first time a mode is shown, as a new
        # screen's CSS counter starts behind the App's; this screen is new: it is styled with the current stylesheet
        # when it mounts
        self._css_update_count = self.app._css_update_count

    def compose(self) -> ComposeResult:
        self.services.counters.screens_composed += 1
        self._body_pending = not self.iw_app.first_frame_painted
        yield AppHeader(self.MODE)
        with Horizontal(id="main"):
            if self._body_pending:
                yield Vertical(id="body", classes=f"body-{self.MODE}")
            else:
                with Vertical(id="body", classes=f"body-{self.MODE}"):
                    yield from self.compose_body()
            yield DebugPanel()
        yield Footer(compact=True)

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> None:
        if self._body_pending:
            # the App reads its own queue once its start-up batch is over: this paints the first frame then
            self.app.call_later(self._compositor_refresh)
        else:
            self.body_ready()

    async def _build_body(self) -> None:
        await self.query_one("#body", Vertical).mount_all(list(self.compose_body()))
        self._body_pending = False
        self.iw_app.first_frame_painted = True
        self.body_ready()
        if self.AUTO_FOCUS:
            self.query_one(self.AUTO_FOCUS).focus()

    def body_ready(self) -> None:
        """The body's widgets exist: watch the App's state, fill them in (what ``on_mount`` would do)."""

    # Textual runs the App's start-up in a batch, in which it renders frames and then drops them, and it runs
    # after-refresh callbacks at idle even then. Until the first frame is out, this screen renders nothing within
    # a batch (the frame waits for on_mount's call) and holds those callbacks (the footer's keys, the daemon
    # connection) for after it.

    def _on_idle(self, event: events.Idle) -> None:
        if self._body_pending and self.app._batch_count:
            event.prevent_default()  # skips Screen._on_idle, which would run the callbacks

    def _compositor_refresh(self) -> None:
        if self._body_pending and self.app._batch_count:
            return
        self.services.counters.frames += 1  # for the Debug panel
        super()._compositor_refresh()
        if self._body_pending and not self._body_building:
            self._body_building = True  # the first frame is out: build the body now
            self.call_next(self._build_body)
