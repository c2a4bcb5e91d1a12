"""The review list: every draft of the library under the filter (status, file, keyword count, caption), painted
from the review book on ``VirtualTable`` (20 000 drafts open as fast as 20)."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.message import Message

from imageworks.review.drafts import Draft

from ..review_book import ReviewBook
from .virtual_table import VirtualTable

STATUS_MARKS = {"pending": "·", "approved": "✓", "rejected": "✗", "committed": "◆", "stale": "!"}
"""One glyph per status, beside its word (the word stays: colour alone says nothing over a 16-colour SSH link)."""


class DraftTable(VirtualTable):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "draft-table--approved",
        "draft-table--rejected",
        "draft-table--committed",
        "draft-table--stale",
    }
    DEFAULT_CSS = """
    DraftTable > .draft-table--approved { color: $success; }
    DraftTable > .draft-table--rejected { color: $text-muted; }
    DraftTable > .draft-table--committed { color: $accent; }
    DraftTable > .draft-table--stale { color: $warning; }
    """

    class DraftHighlighted(Message):
        """The cursor moved to ``draft`` (None when the list is empty)."""

        def __init__(self, table: DraftTable, draft: Draft | None) -> None:
            super().__init__()
            self.table = table
            self.draft = draft

        @property
        def control(self) -> DraftTable:
            return self.table

    def __init__(self, book: ReviewBook, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.book = book

    @property
    def current(self) -> Draft | None:
        return self.book.draft_at(self.cursor)

    # ---- what VirtualTable paints ------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.book.order)

    def highlighted(self) -> None:
        self.post_message(self.DraftHighlighted(self, self.current))

    def header_cells(self) -> list[str]:
        return ["status", "file", "kw", "caption"]

    def column_widths(self, width: int) -> list[int]:
        rest = max(10, width - 12 - 4)
        file_w = max(12, min(28, rest * 2 // 5))
        return [12, file_w, 4, max(0, rest - file_w)]

    def row_key(self, at: int) -> object:
        path = self.book.order[at]
        return path, self.book.drafts[path].seq

    def row_cells(self, at: int) -> tuple[list[str], Style | None]:
        path = self.book.order[at]
        line = self.book.lines[path]
        style = None
        if line.status != "pending":
            style = self.get_component_rich_style(f"draft-table--{line.status}")
        status = f"{STATUS_MARKS.get(line.status, ' ')} {line.status}"
        return [status, line.name, str(line.keywords), line.caption], style


def list_title(book: ReviewBook) -> Text:
    """The line above the list: how many drafts, by status (the marks of the status column: their legend), and
    what ``u`` would undo, and whose step that is."""
    counts = book.counts()
    text = Text.assemble((f"{len(book.order):,}", "bold"), " drafts")
    if book.loading:
        text.append(f" of {book.total:,}…", style="dim")
    for status, mark in STATUS_MARKS.items():
        if counts.get(status):
            text.append(f"  {mark} {counts[status]:,}", style="dim")
    history = book.history
    if history is not None and history.undo_label:
        whose = f" ({history.undo_who})" if history.undo_who else ""
        text.append(f"  undo: {history.undo_label}{whose}", style="dim italic")
    return text
