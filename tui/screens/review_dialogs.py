"""The review's small dialogs: one line of text (a caption, a rename), a keyword with autocomplete ranked by use
in this library (TagGUI: ``ctrl+enter`` takes the first suggestion), the photo over the whole terminal, the
description in $EDITOR, and the words offering an edit refused as a conflict again."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from imageworks.review import edits as E

from ..keymap import keys_hint
from ..widgets.preview import ImagePreview

if TYPE_CHECKING:
    from imageworks.review.vocabulary import Suggestion

    from ..services.review import Refused

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 64; max-width: 95%; height: auto; border: thick $accent; padding: 0 1;
                    background: $surface; }}
{name} .dialog-keys {{ color: $text-muted; }}
"""


class TextEntryScreen(ModalScreen[str | None]):
    """One line of text, prefilled; enter keeps it, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="review.entry.cancel")]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"review.entry.cancel"})  # tui/typeahead.py
    DEFAULT_CSS = DIALOG_CSS.format(name="TextEntryScreen")

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(self.value, id="entry")
            keys = keys_hint(self.app, type(self), "review.entry.cancel")  # as remapped
            yield Static(f"enter: keep    {keys}", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(Input).focus()  # before the first frame: keys typed as soon as it shows land in it

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class KeywordEntryScreen(ModalScreen[str | None]):
    """A keyword: suggestions follow the typing (most used in this library first); ``enter`` keeps what is typed
    (or the suggestion picked with the arrows), ``ctrl+enter`` the first suggestion, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="review.entry.cancel"),
        Binding("ctrl+enter", "take_first", "First suggestion", id="review.entry.first", priority=True),
        Binding("down", "pick(1)", "Next suggestion", show=False, priority=True),
        Binding("up", "pick(-1)", "Previous suggestion", show=False, priority=True),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"review.entry.cancel"})  # tui/typeahead.py
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="KeywordEntryScreen")
        + """
    KeywordEntryScreen OptionList { height: auto; max-height: 8; border: none; padding: 0; }
    """
    )

    def __init__(self, title: str, complete: Callable[[str], Awaitable[list[Suggestion]]]) -> None:
        super().__init__()
        self.title_text = title
        self.complete = complete
        self.suggestions: list[Suggestion] = []
        self.picked: int | None = None
        """The suggestion chosen with the arrows (None: enter keeps what is typed)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(id="entry", placeholder="keyword (a|b for a hierarchy)")
            yield OptionList(id="suggestions", compact=True)
            keys = keys_hint(self.app, type(self), "review.entry.first", "review.entry.cancel")  # as remapped
            yield Static(f"enter: add    {keys}", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(Input).focus()  # before the first frame: keys typed as soon as it shows land in it
        self._suggest("")

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self._suggest(event.value)

    @work(exclusive=True, group="keyword-suggest", exit_on_error=False)
    async def _suggest(self, prefix: str) -> None:
        try:
            found = await self.complete(prefix.strip())
        except Exception as exc:  # autocomplete is a help, never a stop: say why and let the person type
            self.query_one(OptionList).clear_options()
            self.query_one(OptionList).add_option(Option(Text(f"no suggestions: {exc}", style="dim"), disabled=True))
            return
        self.suggestions, self.picked = found, None
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(Text.assemble(s.keyword, (f"  {s.count}", "dim"))) for s in found])
        options.highlighted = None

    def action_pick(self, step: int) -> None:
        if not self.suggestions:
            return
        at = self.picked
        self.picked = 0 if at is None else max(0, min(len(self.suggestions) - 1, at + step))
        self.query_one(OptionList).highlighted = self.picked

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if self.picked is not None:
            self.dismiss(self.suggestions[self.picked].keyword)
        else:
            self.dismiss(event.value.strip() or None)

    def action_take_first(self) -> None:
        if self.suggestions:
            self.dismiss(self.suggestions[0].keyword)
        else:
            self.dismiss(self.query_one(Input).value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PhotoScreen(ModalScreen[None]):
    """The photo over the whole terminal (kitty or sixel graphics where the terminal has them, half-cell blocks
    otherwise); ``z`` or ``escape`` goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,z", "close", "Back", id="review.photo.close")]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"review.photo.close"})  # tui/typeahead.py
    DEFAULT_CSS = """
    PhotoScreen { background: $background; }
    PhotoScreen > ImagePreview { width: 1fr; height: 1fr; }
    PhotoScreen > Label { dock: bottom; color: $text-muted; }
    """

    def __init__(self, path: str, caption: str) -> None:
        super().__init__()
        self.path = path
        self.caption = caption

    def compose(self) -> ComposeResult:
        yield ImagePreview(id="photo", group="photo")
        yield Label(self.caption)

    def on_mount(self) -> None:
        self.query_one(ImagePreview).show(self.path)

    def action_close(self) -> None:
        self.dismiss(None)


def editor_command() -> list[str]:
    """$VISUAL or $EDITOR (as a shell would split it), else vi."""
    import shlex

    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_in_editor(app: Any, text: str) -> str | None:
    """``text`` edited in $EDITOR (the terminal handed over while it runs: App.suspend); None when the editor
    failed. Raises OSError when it cannot be run."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        if app.is_headless:  # tests: no terminal to hand over
            finished = subprocess.run([*editor_command(), f.name], check=False).returncode == 0
        else:
            with app.suspend():
                finished = subprocess.run([*editor_command(), f.name], check=False).returncode == 0
        return Path(f.name).read_text(encoding="utf-8") if finished else None
    finally:
        Path(f.name).unlink(missing_ok=True)


def retry_text(refused: Refused) -> str:
    """What the conflict dialog says: who changed the draft, and the person's own edit, word for word."""
    edit = refused.edit
    mine = E.describe_edit(edit)
    if isinstance(edit, E.SetCaption):
        mine += f" {edit.caption!r}"
    elif isinstance(edit, E.SetDescription):
        mine += f" {edit.description[:200]!r}"
    return f"{refused.note}\n\nyour edit: {mine}\ny applies it to the draft as it is now; n drops it."
