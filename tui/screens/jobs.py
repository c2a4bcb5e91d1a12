"""Jobs: the journal's history, newest first (keyed rows, each cell updated in place as the daemon's job events
come: a running job's counts move in every client, whoever started it); open a job's results, re-attach to a running
one (from this terminal or another), resume an interrupted one, cancel one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from imageworks import protocol as P

from ..state import ACTIVE_STATES, RESUMABLE_STATES, JobView, short_id
from .base import ModeScreen
from .confirm import ConfirmScreen

COLUMNS = ("job", "kind", "state", "done", "failed", "total", "took")


def job_cells(job: P.JobInfo) -> tuple[str, ...]:
    """The id holds the creation date and time (``20250101-120000-1a2b3c4d``), so no separate column for it."""
    took = ""
    if job.started:
        took = f"{(job.finished or job.updated) - job.started:.1f} s"
    return (job.job_id, job.kind, job.state, f"{job.done:,}", f"{job.failed:,}", f"{job.total:,}", took)


class JobsScreen(ModeScreen):
    MODE = "jobs"
    AUTO_FOCUS = "#jobs-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_results", "Results", id="jobs.open"),
        Binding("a", "attach", "Attach", id="jobs.attach"),
        Binding("m", "resume", "Resume", id="jobs.resume"),
        Binding("c", "cancel_job", "Cancel", id="jobs.cancel"),
        Binding("r", "refresh", "Refresh", id="jobs.refresh"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset(  # tui/typeahead.py
        {"jobs.open", "jobs.attach", "jobs.resume", "jobs.cancel"}
    )

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="jobs-note")
        table: DataTable[str] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        yield table

    def body_ready(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self._order: list[str] = []
        self._cells: dict[str, tuple[str, ...]] = {}
        """What each row shows now: a job event rewrites only the cells that changed."""
        self._note = ""
        self._gate: tuple[str, str] | None = None
        self.watch(self.app, "jobs", self._jobs_changed)
        self.watch(self.app, "job", self._followed_job_changed, init=False)
        self.watch(self.app, "daemon", lambda _: self.refresh_bindings(), init=False)

    def _jobs_changed(self, jobs: tuple[P.JobInfo, ...]) -> None:
        table = self.query_one("#jobs-table", DataTable)
        newest_first = sorted(jobs, key=lambda j: (j.created, j.job_id), reverse=True)
        order = [j.job_id for j in newest_first]
        if order != self._order:  # a job came or went: rows in order again, the cursor on the job it was on
            selected = self.selected()
            table.clear()
            self._cells = {}
            for job in newest_first:
                self._cells[job.job_id] = job_cells(job)
                table.add_row(*self._cells[job.job_id], key=job.job_id)
            self._order = order
            if selected is not None and selected.job_id in self._cells:
                table.move_cursor(row=table.get_row_index(selected.job_id))
        else:
            for job in newest_first:
                self._show(table, job)
        note = f"{len(jobs)} jobs in the journal" if jobs else "no jobs yet"
        if note != self._note:
            self._note = note
            self.query_one("#jobs-note", Static).update(note)
        self._gates_may_have_moved()

    def _gates_may_have_moved(self) -> None:
        """The keys depend on the selected job's state: the footer is rebuilt when that moves, not on progress."""
        job = self.selected()
        gate = (job.job_id, job.state) if job is not None else None
        if gate != self._gate:
            self._gate = gate
            self.refresh_bindings()

    def _followed_job_changed(self, view: JobView | None) -> None:
        """The followed job's progress as its results come (between the daemon's progress events)."""
        table = self.query_one("#jobs-table", DataTable)
        listed = next((j for j in self.iw_app.jobs if view is not None and j.job_id == view.job.job_id), None)
        # the listing may be ahead of the follow (a progress event came first): counts never move back
        if view is not None and listed is not None and view.job.seq >= listed.seq:
            self._show(table, view.job)

    def _show(self, table: DataTable[str], job: P.JobInfo) -> None:
        """Rewrite the cells of ``job``'s row that changed; a column grows to fit its widest value ("1,200" in
        full, "running" after "queued")."""
        cells, before = job_cells(job), self._cells.get(job.job_id)
        if before is None or cells == before:
            return
        self._cells[job.job_id] = cells
        for name, value, old in zip(COLUMNS, cells, before, strict=True):
            if value != old:
                table.update_cell(job.job_id, name, value, update_width=True)

    def selected(self) -> P.JobInfo | None:
        table = self.query_one("#jobs-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((j for j in self.iw_app.jobs if j.job_id == key), None)

    def on_data_table_row_highlighted(self) -> None:
        self._gates_may_have_moved()

    def on_data_table_row_selected(self) -> None:
        # the table takes enter itself (and says so with this message): same action as the screen's binding
        self.action_open_results()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        job = self.selected() if self.is_mounted else None
        up = self.iw_app.daemon.up
        if action == "open_results":
            return True if job is not None and up else None
        if action == "attach":
            return True if job is not None and up and job.state in ACTIVE_STATES else None
        if action == "resume":
            return True if job is not None and up and job.state in RESUMABLE_STATES else None
        if action == "cancel_job":
            return True if job is not None and up and job.state in ACTIVE_STATES else None
        if action == "refresh":
            return True if up else None
        return True

    def action_open_results(self) -> None:
        job = self.selected()
        if job is not None and self.check_action("open_results", ()):
            self.iw_app.open_results(job.job_id)

    def action_attach(self) -> None:
        job = self.selected()
        if job is not None and self.check_action("attach", ()):
            self.services.follow(job.job_id, announce=f"attached to job {short_id(job.job_id)}")
            self.app.switch_mode("execute")

    def action_resume(self) -> None:
        job = self.selected()
        if job is not None and self.check_action("resume", ()):
            self.services.resume(job.job_id)
            self.app.switch_mode("execute")

    def action_cancel_job(self) -> None:
        job = self.selected()
        if job is None or not self.check_action("cancel_job", ()):
            return
        job_id = job.job_id

        def answered(yes: bool | None) -> None:
            if yes:
                self.services.cancel(job_id)

        self.app.push_screen(ConfirmScreen(f"Cancel job {short_id(job_id)}?", "Results so far are kept."), answered)

    def action_refresh(self) -> None:
        self.services.list_jobs()
