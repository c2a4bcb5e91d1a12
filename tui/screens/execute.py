"""Execute: what a run will do, the gated run key, live progress, streaming per-image results, cancel, detach.

Nothing starts a job but the run key, and the run key is dimmed until the plan holds: a valid config, a scanned
library with matching images, the daemon up with a usable model, and no job of ours still running."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Log, ProgressBar, Static

from imageworks.errors import ImageWorksError
from imageworks.scan import display_path, format_duration

from ..state import DaemonView, JobView, model_activity, short_id
from .base import ModeScreen
from .confirm import ConfirmScreen

STREAM_LINES = 500
"""Rows of the followed job the stream keeps (all of them are in its results, enter in Jobs)."""


def estimate_text(images: int | None, kind: str, daemon: DaemonView) -> Text:
    """How long a run of ``images`` would take on the loaded model, from its measured per-image time (a load and the
    demo model's training never count: the load is said apart), and how sure that is."""
    status = daemon.status
    speed = status.speeds.get(kind) if status is not None else None
    model = daemon.model
    if images is None:
        return Text("scan the library to estimate", style="dim")
    if speed is None or speed.per_second <= 0:
        return Text("none yet: the loaded model's speed is measured on its first images", style="dim")
    text = Text(f"~{format_duration(images / speed.per_second)} at {speed.per_second:.2f} images/s")
    sure = f"timed on {speed.items:,} image{'s' * (speed.items != 1)} of this model"
    if speed.runs > 1:
        sure += f" in {speed.runs} runs, ±{speed.spread * 100:.0f} %"
    if speed.items < ROUGH_BELOW:
        sure = f"rough: {sure}"
    text.append(f" ({sure})", style="dim" if speed.items >= ROUGH_BELOW else "yellow")
    if model is not None and model.state != "loaded" and model.load_seconds:
        text.append(f" + model load ~{model.load_seconds:.1f} s", style="dim")
    return text


ROUGH_BELOW = 50
"""Images timed below which an estimate says it is rough (a few batches: the pipeline's ramp-up weighs in)."""


class ExecuteScreen(ModeScreen):
    MODE = "execute"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run", id="execute.run"),
        Binding("c", "cancel_job", "Cancel job", id="execute.cancel"),
        Binding("d", "detach", "Detach & quit", id="execute.detach"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"execute.run", "execute.cancel"})  # tui/typeahead.py

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="summary")
        yield Static("", id="gate")
        yield ProgressBar(total=1, show_eta=False, id="progress")
        yield Static("", id="progress-text")
        yield Log(max_lines=STREAM_LINES, id="stream", auto_scroll=True)

    def body_ready(self) -> None:
        self._streamed = ("", 0)
        """(job id, rows of it written to the stream): the stream shows the followed job's rows, and only its."""
        self._plan_due = False
        self._shown_job: tuple[str, str] | None = None
        self._texts: dict[str, Text] = {}
        for name in ("daemon", "counts", "config_version", "field_errors", "run_error"):
            self.watch(self.app, name, lambda _: self._plan_changed(), init=False)
        self.watch(self.app, "job", self._job_changed)
        self.watch(self.app, "results_version", lambda _: self._stream(), init=False)
        self._refresh_plan()
        self._stream()

    def _plan_changed(self) -> None:
        """Several changes in one turn (a status read moves the daemon, the job and the counts) render the plan once."""
        if not self._plan_due:
            self._plan_due = True
            self.call_later(self._refresh_plan)

    # ---- the plan ----------------------------------------------------------------------------------------------

    def blocked(self) -> str:
        """Why the run key is dimmed, or '' when a run may start."""
        app = self.iw_app
        services = self.services
        key = app.key_for
        if settings := app.settings_blocked():
            return settings
        if not services.config.tui.library_root.strip():
            return f"choose a library folder in Configure ({key('app.mode.configure')})"
        counts = app.counts
        if counts is None or counts.root != services.config.tui.library_root.strip():
            return "counting the images…"
        if counts.error:
            return counts.error
        if not counts.scanned:
            return f"scan the library first ({key('configure.scan')} in Configure)"
        if counts.matched == 0:
            return "no images match the filters"
        if not app.daemon.up:
            return f"the daemon is not running (Daemon mode, {key('app.mode.daemon')})"
        if services.submitting:
            return "submitting the job…"
        job = app.job
        if job is not None and job.active:
            return f"job {short_id(job.job.job_id)} is still {job.job.state}"
        model = app.daemon.model
        wanted = services.config.model.name
        if wanted and model is not None and model.state in ("loaded", "loading") and model.name != wanted:
            daemon_key = key("app.mode.daemon")
            return f"the daemon has {model.name!r} loaded, not {wanted!r}: switch models in Daemon ({daemon_key})"
        asked, limit = services.config.model.batch_size, model.batch_size if model is not None else 0
        if limit and asked > limit:  # the daemon would refuse it: its model's batch size is fixed at its start
            configure_key = key("app.mode.configure")
            return (
                f"batch size {asked} is more than the daemon's model takes ({limit}): "
                f"lower it in Configure ({configure_key})"
            )
        return ""

    def _refresh_plan(self) -> None:
        self._plan_due = False
        services = self.services
        app = self.iw_app
        text = Text()
        try:
            plan = services.plan()
        except ImageWorksError as exc:
            text.append(str(exc), style="red")
            self._show("#summary", text)
            self._gate()
            return
        counts = app.counts
        n = counts.matched if counts is not None and counts.scanned and counts.root == plan.root else None
        text.append("Library   ", style="bold")
        text.append(display_path(plan.root) or "(none)")
        text.append(f"  {n:,} images\n" if n is not None else "  (not scanned)\n")
        text.append("Job       ", style="bold")
        text.append(f"{plan.kind}")
        if plan.kind == "tag":
            text.append(f", profile {services.config.tagger.profile}, max {services.config.tagger.max_keywords} kw")
        text.append(f", batch {plan.batch_size}\n")
        text.append("Model     ", style="bold")
        model = app.daemon.model
        if plan.model:
            text.append(plan.model)
        elif model is not None and model.name:
            text.append(f"{model.name} ({model_activity(model)})")
        else:
            text.append("daemon default")
            if not services.config.model.name:  # the daemon reads the same config: no model there = the demo
                text.append(": the demo model (no model configured)")
        if plan.model and model is not None and model.name == plan.model and model.state == "loading":
            text.append(f" ({model_activity(model)})")
        if model is not None and model.demo:
            text.append(" demo model", style="reverse")
        text.append("\nEstimate  ", style="bold")
        text.append_text(estimate_text(n, plan.kind, app.daemon))
        text.append("\nMetadata  ", style="bold")
        mode = services.config.tui.write_metadata
        if mode == "none":
            text.append("not written during the run (review first)")
        elif plan.params.get("write") == mode:
            text.append(
                f"written into the photos during the run ({mode})", style="yellow" if mode == "overwrite" else ""
            )
        else:
            text.append(f"{mode}: this job kind cannot write yet; use `imageworks metadata write`", style="yellow")
        self._show("#summary", text)
        self._gate()

    def _gate(self) -> None:
        reason = self.blocked()
        key = self.iw_app.key_for("execute.run", self)
        if reason:
            text = Text.assemble(("run: ", "bold"), (reason, "yellow"))
        else:
            text = Text.assemble(("ready: press ", "bold green"), (key, "bold reverse"), (" to run", "bold green"))
        failed = self.iw_app.run_error
        if failed:
            text.append_text(Text.assemble(("\nthe last run did not start: ", "bold red"), (failed, "red")))
        if self._show("#gate", text):
            self.refresh_bindings()

    def _show(self, selector: str, text: Text) -> bool:
        """Update a Static when what it shows changed (each update lays the screen out again); whether it did."""
        if self._texts.get(selector) == text:
            return False
        self._texts[selector] = text
        self.query_one(selector, Static).update(text)
        return True

    # ---- progress ----------------------------------------------------------------------------------------------

    def _job_changed(self, view: JobView | None) -> None:
        shown = self._shown_job
        self._shown_job = (view.job.job_id, view.job.state) if view is not None else None
        if self._shown_job != shown:
            self._plan_changed()  # the gate depends on which job runs, not on its progress
        bar = self.query_one("#progress", ProgressBar)
        label = self.query_one("#progress-text", Static)
        if view is None:
            label.update(Text("no job yet", style="dim"))
            return
        job = view.job
        bar.update(total=max(1, job.total), progress=view.finished)
        text = Text()
        text.append(f"job {short_id(job.job_id)} {job.state}  ", style="bold")
        text.append(f"{view.finished:,}/{job.total:,}")
        if job.failed:
            text.append(f" ({job.failed:,} failed)", style="red")
        if view.rate:
            text.append(f"  {view.rate:.2f} images/s")
        if view.eta is not None and view.job.state == "running":
            text.append(f"  ETA {format_duration(view.eta)}")
            if view.timed:
                text.append(f" (timed on {view.timed:,} images)", style="dim")
        model = self.iw_app.daemon.model
        if model is not None and model.load_seconds and job.model in ("", model.name):
            text.append(f"  model load {model.load_seconds:.1f} s", style="dim")  # apart: never in the speed
        if view.current:
            text.append(f"\n{display_path(os.path.basename(view.current) or view.current)}", style="dim")
        if job.error:
            text.append(f"\n{job.error}", style="red")
        label.update(text, layout=False)  # its height is fixed (app.tcss): a layout per update cost most of a frame

    def _stream(self) -> None:
        """The followed job's new rows: a job followed after another starts the stream afresh."""
        view = self.iw_app.job
        if view is None:
            return
        job_id = view.job.job_id
        log = self.query_one("#stream", Log)
        streamed_id, start = self._streamed
        if job_id != streamed_id:
            log.clear()
            start = 0
        rows = self.services.store.get(job_id).rows
        self._streamed = (job_id, max(start, len(rows)))
        if start >= len(rows):
            return
        lines = []
        for r in rows[max(start, len(rows) - STREAM_LINES) :]:
            what = ", ".join(r.keywords[:6]) or r.caption if r.status == "ok" else f"ERROR {r.error}"
            lines.append(f"{r.index:>6} {r.status:<5} {display_path(r.name)[:30]:<30} {what}"[:400])
        log.write_lines(lines)

    # ---- actions -----------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run":
            return True if not self.blocked() else None
        if action == "cancel_job":
            job = self.iw_app.job
            return True if job is not None and job.active else None
        return True

    def action_run(self) -> None:
        self.iw_app.run_error = ""
        if self.blocked():
            self.notify(f"not running: {self.blocked()}", severity="warning")
            return
        plan = self.services.plan()
        if plan.params.get("write") == "overwrite":

            def answered(yes: bool | None) -> None:
                if yes and not self.blocked():
                    self.services.run(plan)

            self.app.push_screen(
                ConfirmScreen("Overwrite metadata in the photos?", "The run replaces existing captions/keywords."),
                answered,
            )
            return
        self.services.run(plan)

    def action_cancel_job(self) -> None:
        job = self.iw_app.job
        if job is None or not job.active:
            return
        job_id = job.job.job_id

        def answered(yes: bool | None) -> None:
            if yes:
                self.services.cancel(job_id)

        self.app.push_screen(
            ConfirmScreen(f"Cancel job {short_id(job_id)}?", f"{job.finished:,} of {job.job.total:,} done are kept."),
            answered,
        )

    def action_detach(self) -> None:
        self.iw_app.detach_and_quit()
