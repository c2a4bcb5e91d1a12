"""Configure: the form (``tui.widgets.configure_form``) and the scan keys. Typing never scans: counts come from the
cached listing (SQL), and a walk happens only on the scan keys.

The form is built right after the first frame (see ``ModeScreen``) and imported then too, so this module stays
light: starting the app paints its header and footer without waiting for Input, Checkbox and the rest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widget import Widget

from .base import ModeScreen


class ConfigureScreen(ModeScreen):
    """The Library field has the focus at start while it holds no folder (a first start: a path typed at once lands
    in it); with a folder chosen, nothing is focused, so the mode keys (1-6) and ? work at once, and a character no
    key takes (``/``, ``~``, a letter) starts a new path in the Library field instead of being lost."""

    MODE = "configure"
    AUTO_FOCUS = ""  # set in body_ready: on the Library field or on nothing, as above
    TYPE_INTO: ClassVar[str] = "#root"
    """Where a character typed with nothing focused goes (tui/typeahead.py)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "scan", "Scan", id="configure.scan"),
        Binding("ctrl+r", "rescan", "Rescan", id="configure.rescan"),
        Binding("escape", "leave_form", "Leave the form", show=False, id="configure.leave"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"configure.leave"})  # tui/typeahead.py

    def compose_body(self) -> Iterable[Widget]:
        from ..widgets.configure_form import ConfigureForm

        yield ConfigureForm(id="form")

    def body_ready(self) -> None:
        if not self.services.config.tui.library_root.strip() or self.iw_app.field_errors.get("root"):
            self.query_one("#root").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("scan", "rescan"):
            ok = bool(self.services.config.tui.library_root.strip()) and not self.iw_app.settings_blocked("root")
            return True if ok and self.iw_app.scan_view.state != "scanning" else None
        return True

    def action_leave_form(self) -> None:
        self.set_focus(None)

    def action_scan(self) -> None:
        if self.check_action("scan", ()):
            self.services.scan()

    def action_rescan(self) -> None:
        if self.check_action("rescan", ()):
            self.services.scan(refresh=True)
