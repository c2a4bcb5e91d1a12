"""What every mode screen shares: the header, the debug panel, the footer, and the counters that prove a mode's
screen is built once (switching modes shows it again; it is not rebuilt)."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget

from ..access import AppAccess
from ..widgets.debug import DebugPanel
from ..widgets.header import AppHeader
from ..widgets.keys_footer import KeysFooter


def keep_out_of_collections() -> None:
    """A built screen's objects live as long as the app: ``gc.freeze`` moves everything allocated so far out of the
    cycle collector's reach, so its full collections scan only what came since. Without it, a full collection
    over the built modes' widgets and styles took 60-100 ms: a mode switch in every twenty took that much longer
    (bench/tui.py --live). What is freed later by reference counting is freed as before."""
    gc.freeze()


class ModeScreen(AppAccess, Screen[None]):
    """The app's very first screen paints its header and footer first and builds its body right after that frame
    (start-up paints about as soon as a minimal Textual app would; bench/tui.py); every later screen is built whole.

    Textual composes the first screen inside its start-up batch, which renders frames only to drop them, and the App
    reads its own message queue once that batch is over (tests/test_tui_startup.py names both assumptions). So the
    first screen composes nothing in the batch; from the App's queue it mounts its frame, and it builds its body
    after that frame is painted. Public calls only: ``call_later``, ``batch_update``, ``call_after_refresh``."""

    MODE: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        # Textual's own tab (on Screen) moves the focus only once the key has been to the focused widget and back,
        # and keys read meanwhile go where the focus was: lost when nothing is focused (Configure starts so), typed
        # into the previous field otherwise. A terminal hands over tab and the text typed behind it in one read when
        # the app is busy or over SSH. A priority binding runs as the App reads the key, before the next is routed
        # (it also wins over a focused widget's own tab: none of ours takes tab).
        Binding("tab", "app.focus_next", "Focus Next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Focus Previous", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        self.services.counters.screens_composed += 1
        if self.iw_app.first_screen_ready:
            yield from self._frame(self.compose_body())

    def _frame(self, body: Iterable[Widget]) -> list[Widget]:
        """The header, the body (the widgets given), the debug panel and the footer."""
        return [
            AppHeader(self.MODE),
            Horizontal(Vertical(*body, id="body", classes=f"body-{self.MODE}"), DebugPanel(), id="main"),
            KeysFooter(compact=True),
        ]

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> None:
        self.screen_layout_refresh_signal.subscribe(self, self._count_layout)
        if self.iw_app.first_screen_ready:
            self.body_ready()
            self.call_after_refresh(keep_out_of_collections)
        else:
            self.app.call_later(self._paint_frame)

    # Textual restyles every node of a screen each time a mode shows it again (``ScreenResume.refresh_styles``), for
    # what may have changed meanwhile outside it: the App's classes (``-debug``), theme and focus. Nothing else of
    # a hidden mode screen changes its styles unapplied (a widget's own class change restyles it at once), so when
    # those are as they were at the last visit, the restyle is skipped: it was most of a mode switch's time
    # (bench/tui.py).

    def _app_style_state(self) -> tuple[object, ...]:
        app = self.app
        return (frozenset(app.classes), app.theme, app.app_focus, app.ansi_color)

    def on_screen_suspend(self) -> None:
        self._styled_for = self._app_style_state()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        if getattr(self, "_styled_for", None) == self._app_style_state():
            event.refresh_styles = False

    def _count_layout(self, _screen: Screen) -> None:
        self.services.counters.layouts += 1  # for the Debug panel

    async def _paint_frame(self) -> None:
        with self.app.batch_update():  # one layout and one frame for the whole of it
            await self.mount_all(self._frame(()))
        self.call_after_refresh(self._build_body)

    async def _build_body(self) -> None:
        await self.query_one("#body", Vertical).mount_all(list(self.compose_body()))
        self.body_ready()
        if self.AUTO_FOCUS:
            self.query_one(self.AUTO_FOCUS).focus()
        self.refresh_bindings()  # the footer came after the screen: it shows its keys from the next bindings update
        self.iw_app.first_screen_built()
        self.call_after_refresh(keep_out_of_collections)

    def body_ready(self) -> None:
        """The body's widgets exist: watch the App's state, fill them in (what ``on_mount`` would do)."""
