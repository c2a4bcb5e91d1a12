"""Daemon: status, model load/unload/switch (each behind the confirmation modal), connected clients, queue. The
model and the queue follow the daemon's events; the clients and counters are read again each time the mode shows."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Static

from ..keymap import keys_hint
from ..state import DaemonView, model_activity, short_id
from .base import ModeScreen
from .confirm import ConfirmScreen

CLIENT_COLUMNS = ("client", "session", "connected", "last request")


class ModelNameScreen(ModalScreen[str | None]):
    """Asks which model to switch to (→ completes from the known names)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel", id="model_name.cancel")]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"model_name.cancel"})  # tui/typeahead.py
    DEFAULT_CSS = """
    ModelNameScreen { align: center middle; }
    ModelNameScreen > Vertical { width: 70; max-width: 95%; height: auto; border: thick $accent; padding: 1 2;
                                 background: $surface; }
    """

    def __init__(self, names: list[str], default: str) -> None:
        super().__init__()
        self.names = names
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            # a Static wraps (a Label stays one line, and the dialog cut it at "(a name from `imageworks model")
            yield Static(
                "Switch the daemon to which model? (a name from `imageworks models list`, or a path)", id="model-prompt"
            )
            yield Input(self.default, id="model-name", suggester=SuggestFromList(self.names, case_sensitive=False))
            yield Static(
                "enter: choose    " + keys_hint(self.app, type(self), "model_name.cancel"), classes="field-note"
            )

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def status_table(view: DaemonView) -> Table | Text:
    status = view.status
    if status is None:
        text = Text(view.message or "not connected", style="yellow")
        return text
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("daemon", f"version {status.version}, pid {status.pid}, up {status.uptime:.0f} s")
    model = status.model
    label = Text(model.name or "none")
    label.append(f"  {model_activity(model)}", style="green" if model.state == "loaded" else "yellow")
    if model.demo:
        label.append("  demo model", style="reverse")
    if model.error:
        label.append(f"\n{model.error}", style="red")
    table.add_row("model", label)
    table.add_row(
        "queue",
        f"{status.queue_depth} waiting" + (f", running {short_id(status.running_job)}" if status.running_job else ""),
    )
    c = status.counters
    table.add_row(
        "counters", f"{c.model_loads} model loads, {c.inferences:,} inferences, {c.jobs} jobs, {c.requests:,} requests"
    )
    return table


class DaemonScreen(ModeScreen):
    MODE = "daemon"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start daemon", id="daemon.start"),
        Binding("l", "load", "Load model", id="daemon.load"),
        Binding("u", "unload", "Unload", id="daemon.unload"),
        Binding("w", "switch", "Switch model", id="daemon.switch"),
        Binding("r", "refresh", "Refresh", id="daemon.refresh"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset(  # tui/typeahead.py
        {"daemon.load", "daemon.unload", "daemon.switch"}
    )

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="daemon-status")
        yield Label("Connected clients", classes="section-title")
        table: DataTable[str] = DataTable(id="clients", cursor_type="row")
        yield table

    def body_ready(self) -> None:
        table = self.query_one("#clients", DataTable)
        for name in CLIENT_COLUMNS:
            table.add_column(name, key=name)
        self.watch(self.app, "daemon", self._daemon_changed)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.services.read_status()  # the clients and counters as they are now (events move only the rest)

    def _daemon_changed(self, view: DaemonView) -> None:
        self.query_one("#daemon-status", Static).update(status_table(view))
        table = self.query_one("#clients", DataTable)
        table.clear()
        if view.status is not None:
            now = time.time()
            for client in view.status.clients:
                table.add_row(
                    f"{client.name} (pid {client.pid})",
                    client.session,
                    f"{now - client.first_seen:.0f} s ago",
                    f"{now - client.last_seen:.0f} s ago",
                    key=client.session,
                )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        view = self.iw_app.daemon
        model = view.model
        if action == "start":
            return True if view.state == "down" else False
        if action == "load":
            return True if view.up and model is not None and model.state in ("none", "failed", "crashed") else None
        if action == "unload":
            return True if view.up and model is not None and model.state in ("loaded", "loading") else None
        if action in ("switch", "refresh"):
            return True if view.up else None
        return True

    def action_start(self) -> None:
        if self.check_action("start", ()):
            self.services.start_daemon()

    def action_refresh(self) -> None:
        self.services.refresh_status()

    def _confirmed(self, title: str, detail: str, action: str, name: str = "") -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.services.model_action(action, name)

        self.app.push_screen(ConfirmScreen(title, detail), answered)

    def action_load(self) -> None:
        if self.check_action("load", ()):
            name = self.services.config.model.name
            self._confirmed(
                f"Load {name or 'the default model'}?", "Loading takes GPU memory and may take minutes.", "load", name
            )

    def action_unload(self) -> None:
        model = self.iw_app.daemon.model
        if self.check_action("unload", ()) and model is not None:
            self._confirmed(
                f"Unload {model.name}?", "Its memory is given back; the next run loads a model again.", "unload"
            )

    def action_switch(self) -> None:
        if not self.check_action("switch", ()):
            return
        names = list(dict.fromkeys([*self.services.models, self.services.config.model.name, "demo"]))
        names = [n for n in names if n]

        def chosen(name: str | None) -> None:
            if name:
                self._confirmed(f"Switch the daemon to {name}?", "The loaded model is unloaded first.", "switch", name)

        self.app.push_screen(ModelNameScreen(names, self.services.config.model.name), chosen)
