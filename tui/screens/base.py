"""What every mode screen shares: the header, the debug panel, the footer, and the counters that prove a mode's
screen is built once (switching modes shows it again; it is not rebuilt)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from tui.widgets.debug import DebugPanel
from tui.widgets.header import AppHeader

if TYPE_CHECKING:
    from tui.app import ImageWorksApp
    from tui.services import Services


class ModeScreen(Screen[None]):
    """The app's very first screen paints its header and footer first and builds its body right after that frame
    (start-up paints as soon as a minimal app would); every later screen is built whole."""

    MODE: ClassVar[str] = ""

    @property
    def iw_app(self) -> ImageWorksApp:
        return self.app  # type: ignore[return-value]

    @property
    def services(self) -> Services:
        return self.iw_app.services

    def compose(self) -> ComposeResult:
        self.services.counters.screens_composed += 1
        self._deferred = not self.iw_app.first_frame_painted
        yield AppHeader(self.MODE)
        with Horizontal(id="main"):
            if self._deferred:
                yield Vertical(id="body", classes=f"body-{self.MODE}")
            else:
                with Vertical(id="body", classes=f"body-{self.MODE}"):
                    yield from self.compose_body()
            yield DebugPanel()
        yield Footer(compact=True)

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> None:
        if self._deferred:
            self.call_after_refresh(self._build_body)
        else:
            self.body_ready()

    async def _build_body(self) -> None:
        await self.query_one("#body", Vertical).mount_all(list(self.compose_body()))
        self.iw_app.first_frame_painted = True
        self.body_ready()
        if self.AUTO_FOCUS:
            self.query_one(self.AUTO_FOCUS).focus()

    def body_ready(self) -> None:
        """The body's widgets exist: watch the App's state, fill them in (what ``on_mount`` would do)."""

    def _compositor_refresh(self) -> None:
        # Textual calls this once per frame it paints; counted for the Debug panel
        self.services.counters.frames += 1
        super()._compositor_refresh()
