"""A job's results, opened from Jobs (enter): every item in a virtual table (sort and filter in memory), a detail
pane with the image preview, and JSONL/CSV export of the rows as filtered and sorted. Pushed over the Jobs mode
(escape goes back); the Results mode itself is the review (tui/screens/review.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from imageworks.scan import display_path

from ..keymap import keys_hint
from ..modes import JOB_RESULTS_ID
from ..state import short_id
from ..store import ResultRow, export_csv, export_jsonl
from ..widgets.job_results_table import ResultsTable
from ..widgets.preview import ImagePreview
from .base import ModeScreen


class ExportScreen(ModalScreen[str | None]):
    """Asks where to write the export (prefilled); enter writes, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel", id="export.cancel")]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"export.cancel"})  # tui/typeahead.py
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 70; max-width: 95%; height: auto; border: thick $accent; padding: 1 2;
                              background: $surface; }
    """

    def __init__(self, title: str, default: str) -> None:
        super().__init__()
        self.title_text = title
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(self.default, id="export-path")
            yield Static("enter: write    " + keys_hint(self.app, type(self), "export.cancel"), classes="field-note")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def detail_text(row: ResultRow | None) -> Text:
    if row is None:
        return Text("no result selected", style="dim")
    text = Text()
    text.append(display_path(row.path) + "\n", style="bold")
    text.append(f"#{row.index}  {row.status}\n", style="green" if row.status == "ok" else "red")
    if row.error:
        text.append(row.error + "\n", style="red")
    if row.caption:
        text.append("Caption\n", style="bold underline")
        text.append(row.caption + "\n")
    if row.keywords:
        text.append("Keywords\n", style="bold underline")
        text.append(", ".join(row.keywords) + "\n")
    if row.description:
        text.append("Description\n", style="bold underline")
        text.append(row.description + "\n")
    if row.notes:
        text.append("Notes\n", style="bold underline")
        text.append("\n".join(row.notes) + "\n", style="dim")
    return text


class JobResultsScreen(ModeScreen):
    MODE = "jobs"
    AUTO_FOCUS = "#table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="results.filter"),
        Binding("escape", "back", "Back", id="results.back"),
        Binding("p", "toggle_detail", "Detail", id="results.detail"),
        Binding("e", "export('jsonl')", "Export JSONL", id="results.export_jsonl"),
        Binding("E", "export('csv')", "Export CSV", id="results.export_csv"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset(  # tui/typeahead.py
        {"results.filter", "results.back", "results.export_jsonl", "results.export_csv"}
    )

    def __init__(self) -> None:
        super().__init__(id=JOB_RESULTS_ID)  # the App pushes one at a time

    def compose_body(self) -> Iterable[Widget]:
        yield Horizontal(
            Static("", id="results-title"),
            Input(placeholder="/ filter", id="filter", compact=True),
            id="results-bar",
        )
        yield Horizontal(
            ResultsTable(id="table"),
            VerticalScroll(ImagePreview(id="preview"), Static("", id="detail-text"), id="detail"),
            id="results-main",
        )

    def body_ready(self) -> None:
        self._job_id: str | None = None
        self.watch(self.app, "results_job", self._job_switched)
        self.watch(self.app, "results_version", lambda _: self._sync(), init=False)

    @property
    def table(self) -> ResultsTable:
        return self.query_one("#table", ResultsTable)

    def _job_switched(self, job_id: str | None) -> None:
        self._job_id = job_id
        if job_id is None:
            self.table.set_rows([])
        else:
            self.table.set_rows(self.services.store.get(job_id).rows)
        self._title()

    def _sync(self) -> None:
        if self._job_id is not None:
            self.table.sync()
            self._title()

    def _title(self) -> None:
        title = self.query_one("#results-title", Static)
        if self._job_id is None:
            key = self.iw_app.key_for
            hint = f"no job: run one ({key('app.mode.execute')}) or open one from Jobs ({key('app.mode.jobs')})"
            title.update(Text(hint, style="dim"))
            return
        results = self.services.store.get(self._job_id)
        shown = len(self.table.order)
        errors = len(results.rows) - results.ok
        text = Text.assemble(("job ", "dim"), (short_id(self._job_id), "bold"), f"  {shown:,}")
        if shown != len(results.rows):
            text.append(f" of {len(results.rows):,}")
        text.append(" rows")
        if errors:
            text.append(f", {errors:,} error{'s' * (errors != 1)}", style="red")
        title.update(text)

    @on(ResultsTable.RowHighlighted)
    def _highlighted(self, event: ResultsTable.RowHighlighted) -> None:
        self.query_one("#detail-text", Static).update(detail_text(event.row))
        if self.query_one("#detail").display:
            self.query_one("#preview", ImagePreview).show(event.row.image_path() if event.row else None)

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._title()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_back(self) -> None:
        """From the filter: back to the table; from the table: back to Jobs."""
        if self.table.has_focus:
            self.dismiss()
        else:
            self.table.focus()

    def action_toggle_detail(self) -> None:
        detail = self.query_one("#detail")
        detail.display = not detail.display
        if detail.display:
            row = self.table.current
            self.query_one("#preview", ImagePreview).show(row.image_path() if row else None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "export":
            return True if self._job_id is not None and self.table.order else None
        return True

    def action_export(self, fmt: str) -> None:
        if self._job_id is None or not self.table.order:
            return
        job_id = self._job_id
        default = str(Path.cwd() / f"imageworks-{short_id(job_id)}.{fmt}")

        def chosen(path: str | None) -> None:
            if not path:
                return
            rows = self.table.visible_rows()
            try:
                if fmt == "csv":
                    n = export_csv(rows, Path(path))
                else:
                    n = export_jsonl(rows, Path(path), kind=self.services.store.get(job_id).kind)
            except OSError as exc:
                self.notify(f"export failed: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"wrote {n:,} rows to {path}")

        self.app.push_screen(
            ExportScreen(f"Export {len(self.table.order):,} rows as {fmt.upper()} to:", default), chosen
        )
