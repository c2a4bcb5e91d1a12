"""The two-line header: the modes with their keys, then the daemon, model and job state (updated in place, from the
daemon's events: a model's load progress too)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..access import AppAccess
from ..modes import MODES
from ..state import DaemonView, JobView, model_activity, short_id


def daemon_text(view: DaemonView) -> Text:
    text = Text()
    style = {"up": "green", "down": "red", "connecting": "yellow", "starting": "yellow"}.get(view.state, "")
    text.append("daemon ", style="dim")
    text.append({"up": "up", "down": "not running"}.get(view.state, view.state + "…"), style=f"bold {style}")
    model = view.model
    if view.up and model is not None:
        text.append("  model ", style="dim")
        name = model.name or "none"
        text.append(name, style="bold")
        if model.state != "loaded":
            text.append(f" ({model_activity(model)})", style="yellow" if model.state == "loading" else "red")
        if model.demo:
            text.append(" ")
            text.append(" demo model ", style="reverse")
        if view.status is not None and view.status.queue_depth:
            text.append(f"  queue {view.status.queue_depth}", style="dim")
    return text


def job_text(view: JobView | None) -> Text:
    text = Text()
    if view is None:
        return text
    job = view.job
    style = {"running": "bold cyan", "queued": "cyan", "done": "green", "failed": "red"}.get(job.state, "yellow")
    text.append("  job ", style="dim")
    text.append(f"{short_id(job.job_id)} {job.state}", style=style)
    text.append(f" {view.finished:,}/{job.total:,}")
    return text


class AppHeader(AppAccess, Widget):
    """Reads the App's reactives; never asks the daemon anything itself."""

    DEFAULT_CSS = """
    AppHeader { dock: top; height: 2; background: $panel; }
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def on_mount(self) -> None:
        self.watch(self.app, "daemon", self._changed, init=False)
        self.watch(self.app, "job", self._changed, init=False)

    def _changed(self, _view: object) -> None:
        self.refresh()

    def render(self) -> Text:
        top = Text(" ImageWorks ", style="bold reverse")
        for mode in MODES:
            top.append(" ")
            if mode.name == self.mode:
                top.append(f" {mode.key} {mode.label} ", style="bold reverse")
            else:
                top.append(mode.key, style="bold")
                top.append(f" {mode.label}", style="dim")
        bottom = Text(" ")
        bottom.append_text(daemon_text(self.iw_app.daemon))
        bottom.append_text(job_text(self.iw_app.job))
        top.truncate(self.size.width or 200)
        bottom.truncate(self.size.width or 200)
        return Text("\n").join([top, bottom])
