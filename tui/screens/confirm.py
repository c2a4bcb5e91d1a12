"""The one confirmation modal for destructive acts (cancel a job, clear caches, load/unload/switch a model,
overwrite metadata). y or enter confirms; n or escape declines."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..keymap import keys_hint


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"confirm.yes", "confirm.no"})  # tui/typeahead.py
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 90%; height: auto; border: thick $warning; padding: 1 2;
                               background: $surface; }
    ConfirmScreen #confirm-title { text-style: bold; }
    ConfirmScreen #confirm-keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="confirm-title")
            if self.detail:
                yield Static(self.detail, id="confirm-detail")
            yield Static(keys_hint(self.app, type(self), "confirm.yes", "confirm.no"), id="confirm-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
