"""The `?` help screen: every key of the current mode and of the app, with its binding id (for the keymap)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..modes import mode_label

KEYMAP_NOTE = (
    "Remap any key in the config file ([tui.keymap] in config.toml), by binding id, e.g.\n"
    '  [tui.keymap]\n  "execute.run" = "ctrl+x"\n'
    "or for one run: IMAGEWORKS_TUI_KEYMAP='execute.run=ctrl+x; app.help=f1'"
)


def bindings_table(screen: Screen) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    table.add_column("id", style="dim", no_wrap=True)
    seen: set[tuple[str, str]] = set()
    app = screen.app
    for _key, active in sorted(screen.active_bindings.items(), key=lambda kv: (kv[1].binding.id or "~", kv[0])):
        binding = active.binding
        if not binding.description or (binding.id or "", binding.description) in seen:
            continue
        seen.add((binding.id or "", binding.description))
        keys = ", ".join(app.get_key_display(Binding(k, "")) for k in binding.key.split(","))
        label = binding.description if active.enabled else f"{binding.description} [dim](not now)[/]"
        table.add_row(keys, label, binding.id or "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"help.close"})  # tui/typeahead.py
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: thick $accent; padding: 0 1;
                                  background: $surface; }
    HelpScreen .help-title { text-style: bold; margin-top: 1; }
    """

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(f"Keys in {mode_label(self.under)}", classes="help-title")
            yield Static(bindings_table(self.under))
            yield Static("Everything here is also in the command palette (ctrl+p).", classes="help-title")
            yield Static(KEYMAP_NOTE)
            problems = getattr(self.app, "keymap_problems", [])
            if problems:
                yield Static(Text("\n".join(problems), style="yellow"), classes="help-problems")

    def action_close(self) -> None:
        self.dismiss(None)
