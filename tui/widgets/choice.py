"""A one-line choice: ← / → (or space) step through a few options. Lighter than Select (no overlay list to build,
which matters for the first paint) and never opens anything over the form at 80x24."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget


class Choice(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "step(-1)", "Previous", show=False),
        Binding("right,l,space", "step(1)", "Next", show=False),
    ]
    DEFAULT_CSS = """
    Choice { height: 1; width: 40; background: $boost; padding: 0 1; }
    Choice:focus { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    """

    class Changed(Message):
        """The choice moved to ``value``."""

        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, options: list[tuple[str, str]], value: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.options = list(options)
        self.value = value

    def set_options(self, options: list[tuple[str, str]]) -> None:
        """New options; the value stays (it is kept as an option if it is not among them)."""
        self.options = list(options)
        if all(v != self.value for _, v in self.options):
            self.options.append((self.value, self.value))
        self.refresh()

    def label(self) -> str:
        return next((label for label, v in self.options if v == self.value), self.value)

    def render(self) -> Text:
        return Text.assemble(("◀ ", "dim"), self.label(), (" ▶", "dim"))

    def action_step(self, delta: int) -> None:
        if not self.options:
            return
        values = [v for _, v in self.options]
        at = values.index(self.value) if self.value in values else 0
        self.value = values[(at + delta) % len(values)]
        self.refresh()
        self.post_message(self.Changed(self, self.value))
