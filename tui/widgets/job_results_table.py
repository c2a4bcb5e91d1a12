"""The job results table: one row per result, sorted and filtered in memory on a list of row indices; the rows
themselves are shared with the result store and never copied. Painting and the cursor are ``VirtualTable``'s."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual.binding import Binding, BindingType
from textual.message import Message

from ..store import ResultRow
from .virtual_table import VirtualTable

SORT_KEYS = {
    "index": lambda r: r.index,
    "status": lambda r: (r.status, r.index),
    "file": lambda r: (r.name.lower(), r.index),
    "keywords": lambda r: (len(r.keywords), r.index),
    "caption": lambda r: (r.caption.lower(), r.index),
}
SORT_ORDER = tuple(SORT_KEYS)


class ResultsTable(VirtualTable):
    """Columns: #, status, file, keyword count, caption (what fits). The cursor row is the one in the detail pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("g", "first", "First row", show=False),
        Binding("G", "last", "Last row", show=False),
        Binding("s", "cycle_sort", "Sort", id="results.sort"),
        Binding("S", "reverse_sort", "Reverse", id="results.reverse"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"results-table--error"}
    DEFAULT_CSS = """
    ResultsTable > .results-table--error { color: $error; }
    """

    class RowHighlighted(Message):
        """The cursor moved to ``row`` (None when the table is empty)."""

        def __init__(self, table: ResultsTable, row: ResultRow | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> ResultsTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[ResultRow] = []
        self.order: list[int] = []
        self.sort_key = "index"
        self.sort_reverse = False
        self.filter_text = ""
        self._seen = 0

    # ---- data --------------------------------------------------------------------------------------------------

    def set_rows(self, rows: list[ResultRow]) -> None:
        """Show ``rows`` (the store's own list; later appends are picked up by ``sync``)."""
        self.rows = rows
        self._seen = 0
        self.order = []
        self.cursor = 0
        self.sync()

    def sync(self) -> None:
        """Take in rows appended since the last call (streaming results); cheap when nothing changed."""
        fresh = range(self._seen, len(self.rows))
        if not fresh and self.order:
            return
        self._seen = len(self.rows)
        needle = self.filter_text
        new = [i for i in fresh if not needle or needle in self.rows[i].haystack]
        if self.sort_key == "index" and not self.sort_reverse and (not self.order or new[:1] > self.order[-1:]):
            self.order.extend(new)
        else:
            self.order.extend(new)
            self._sort()
        self.rows_changed()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        needle = self.filter_text
        rows = self.rows
        self._seen = len(rows)
        self.order = [i for i in range(len(rows)) if not needle or needle in rows[i].haystack]
        self._sort()
        self.cursor = 0
        self.rows_changed()

    def set_sort(self, key: str, reverse: bool = False) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self._sort()
        self.rows_changed()

    def _sort(self) -> None:
        key = SORT_KEYS[self.sort_key]
        rows = self.rows
        self.order.sort(key=lambda i: key(rows[i]), reverse=self.sort_reverse)

    @property
    def current(self) -> ResultRow | None:
        if 0 <= self.cursor < len(self.order):
            return self.rows[self.order[self.cursor]]
        return None

    def visible_rows(self) -> list[ResultRow]:
        """The rows in the current filter and sort order (what an export writes)."""
        return [self.rows[i] for i in self.order]

    def action_cycle_sort(self) -> None:
        at = SORT_ORDER.index(self.sort_key)
        self.set_sort(SORT_ORDER[(at + 1) % len(SORT_ORDER)], self.sort_reverse)

    def action_reverse_sort(self) -> None:
        self.set_sort(self.sort_key, not self.sort_reverse)

    # ---- what VirtualTable paints ------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.order)

    def highlighted(self) -> None:
        self.post_message(self.RowHighlighted(self, self.current))

    def header_cells(self) -> list[str]:
        arrow = "↓" if self.sort_reverse else "↑"
        names = ["#", "status", "file", "kw", "caption"]
        keys = ["index", "status", "file", "keywords", "caption"]
        return [n + (arrow if k == self.sort_key else "") for n, k in zip(names, keys, strict=True)]

    def column_widths(self, width: int) -> list[int]:
        rest = max(10, width - 6 - 7 - 3 - 1)
        file_w = max(8, min(32, rest * 2 // 5))
        return [6, 7, file_w, 3, max(0, rest - file_w)]

    def row_key(self, at: int) -> object:
        return self.order[at]

    def row_cells(self, at: int) -> tuple[list[str], Style | None]:
        row = self.rows[self.order[at]]
        style = None if row.status == "ok" else self.get_component_rich_style("results-table--error")
        text = row.caption if row.status == "ok" else (row.error or row.caption)
        return [str(row.index), row.status, row.name, str(len(row.keywords)), text], style
