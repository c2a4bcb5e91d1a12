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
from tui.screens.base import ModeScreen
from tui.screens.confirm import ConfirmScreen
from tui.state import JobView, model_activity, short_id


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
        yield Log(max_lines=500, id="stream", auto_scroll=True)

    def body_ready(self) -> None:
        self._shown: dict[str, int] = {}
        for name in ("daemon", "counts", "job", "config_version", "jobs", "field_errors", "run_error"):
            self.watch(self.app, name, lambda _: self._refresh_plan(), init=False)
        self.watch(self.app, "job", self._job_changed)
        self.watch(self.app, "results_version", lambda _: self._stream(), init=False)
        self._refresh_plan()
        self._stream()

    # ---- the plan ----------------------------------------------------------------------------------------------

    def blocked(self) -> str:
        """Why the run key is dimmed, or '' when a run may start."""
        app = self.iw_app
        services = self.services
        if app.field_errors and any(app.field_errors.values()):
            return "fix the settings marked in Configure (1) first"
        if not services.config.tui.library_root.strip():
            return "choose a library folder in Configure (1)"
        counts = app.counts
        if counts is None or counts.root != services.config.tui.library_root.strip():
            return "counting the images…"
        if counts.error:
            return counts.error
        if not counts.scanned:
            return "scan the library first (ctrl+s in Configure)"
        if counts.matched == 0:
            return "no images match the filters"
        if not app.daemon.up:
            return "the daemon is not running (Daemon mode, 5)"
        if services.submitting:
            return "submitting the job…"
        job = app.job
        if job is not None and job.active:
            return f"job {short_id(job.job.job_id)} is still {job.job.state}"
        model = app.daemon.model
        wanted = services.config.model.name
        if wanted and model is not None and model.state in ("loaded", "loading") and model.name != wanted:
            return f"the daemon has {model.name!r} loaded, not {wanted!r}: switch models in Daemon (5)"
        return ""

    def _refresh_plan(self) -> None:
        services = self.services
        app = self.iw_app
        text = Text()
        try:
            plan = services.plan()
        except ImageWorksError as exc:
            text.append(str(exc), style="red")
            self.query_one("#summary", Static).update(text)
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
        if plan.model and model is not None and model.name == plan.model and model.state == "loading":
            text.append(f" ({model_activity(model)})")
        if model is not None and model.demo:
            text.append(" demo model", style="reverse")
        text.append("\nEstimate  ", style="bold")
        rate = services.throughput(plan.kind)
        if n is not None and rate is not None:
            per_s, runs = rate
            past = f"from {runs} past run{'s' * (runs > 1)}"
            text.append(f"~{format_duration(n / per_s)} at {per_s:.2f} images/s ({past})")
        else:
            text.append("no finished runs yet to estimate from", style="dim")
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
        self.query_one("#summary", Static).update(text)
        self._gate()

    def _gate(self) -> None:
        reason = self.blocked()
        gate = self.query_one("#gate", Static)
        key = self.iw_app.key_for("execute.run", self)
        if reason:
            text = Text.assemble(("run: ", "bold"), (reason, "yellow"))
        else:
            text = Text.assemble(("ready: press ", "bold green"), (key, "bold reverse"), (" to run", "bold green"))
        failed = self.iw_app.run_error
        if failed:
            text.append_text(Text.assemble(("\nthe last run did not start: ", "bold red"), (failed, "red")))
        gate.update(text)
        self.refresh_bindings()

    # ---- progress ----------------------------------------------------------------------------------------------

    def _job_changed(self, view: JobView | None) -> None:
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
        if view.current:
            text.append(f"\n{display_path(os.path.basename(view.current) or view.current)}", style="dim")
        if job.error:
            text.append(f"\n{job.error}", style="red")
        label.update(text)

    def _stream(self) -> None:
        view = self.iw_app.job
        if view is None:
            return
        job_id = view.job.job_id
        rows = self.services.store.get(job_id).rows
        start = self._shown.get(job_id, 0)
        if start >= len(rows):
            return
        fresh = rows[max(start, len(rows) - 500) :]
        self._shown[job_id] = len(rows)
        lines = []
        for r in fresh:
            what = ", ".join(r.keywords[:6]) or r.caption if r.status == "ok" else f"ERROR {r.error}"
            lines.append(f"{r.index:>6} {r.status:<5} {display_path(r.name)[:30]:<30} {what}"[:400])
        self.query_one("#stream", Log).write_lines(lines)

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
