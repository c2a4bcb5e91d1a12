"""Jobs: the journal's history (keyed rows, updated in place as the daemon's job events come, the followed job's
row as its results come); open a job's results, re-attach to a running one (from this terminal or another), resume
an interrupted one, cancel one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowDoesNotExist

from imageworks import protocol as P
from tui.screens.base import ModeScreen
from tui.screens.confirm import ConfirmScreen
from tui.state import ACTIVE_STATES, RESUMABLE_STATES, JobView, short_id

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
        self.watch(self.app, "jobs", self._jobs_changed)
        self.watch(self.app, "job", self._followed_job_changed, init=False)
        self.watch(self.app, "daemon", lambda _: self.refresh_bindings(), init=False)

    def _jobs_changed(self, jobs: tuple[P.JobInfo, ...]) -> None:
        table = self.query_one("#jobs-table", DataTable)
        wanted = {j.job_id: j for j in jobs}
        for key in [k.value for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        for job in jobs:
            self._show(table, job)
        note = self.query_one("#jobs-note", Static)
        note.update(f"{len(jobs)} jobs in the journal" if jobs else "no jobs yet")
        self.refresh_bindings()

    def _followed_job_changed(self, view: JobView | None) -> None:
        """The followed job's progress (the daemon's events carry state changes only): its row alone."""
        table = self.query_one("#jobs-table", DataTable)
        if view is not None and view.job.job_id in table.rows:
            self._show(table, view.job)

    @staticmethod
    def _show(table: DataTable[str], job: P.JobInfo) -> None:
        cells = job_cells(job)
        try:
            table.get_row_index(job.job_id)
        except RowDoesNotExist:
            table.add_row(*cells, key=job.job_id)
            return
        for name, value in zip(COLUMNS, cells, strict=True):
            table.update_cell(job.job_id, name, value)

    def selected(self) -> P.JobInfo | None:
        table = self.query_one("#jobs-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((j for j in self.iw_app.jobs if j.job_id == key), None)

    def on_data_table_row_highlighted(self) -> None:
        self.refresh_bindings()

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
