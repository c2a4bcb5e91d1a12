"""Mono: the competition desk. Is each photo of the library eligible for a monochrome category? The check key runs a
``mono`` job in the daemon (the only key that costs anything); the list shows each photo's verdict, reasons and
tone, filtered by verdict; the photo and its overlay (where the colour is, or what is off the toning curve) side by
side; for the failing ones, the narration (what the colour is on) once asked for; and the write key puts the
verdicts into the files, behind the confirmation modal."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from imageworks.jobs.records import MonoRecord
from imageworks.scan import display_path

from ..services.mono import MonoView
from ..widgets.preview import ImagePreview
from .base import ModeScreen
from .confirm import ConfirmScreen

VERDICT_STYLE = {
    "neutral_mono": ("neutral", "green"),
    "toned_mono": ("toned", "green"),
    "query": ("query", "yellow"),
    "not_mono": ("not mono", "bold red"),
}
OVERLAYS = ("residual", "chroma")


def shown_name(path: str, root: str) -> str:
    if root and path.startswith(root.rstrip(os.sep) + os.sep):
        path = path[len(root.rstrip(os.sep)) + 1 :]
    return display_path(path)


def verdict_text(record: MonoRecord) -> Text:
    if record.status != "ok":
        return Text("unreadable", style="dim red")
    label, style = VERDICT_STYLE.get(record.verdict, (record.verdict, ""))
    return Text(label, style=style)


def tone_text(record: MonoRecord) -> str:
    tone = record.tone
    return f"{tone.name} {tone.hue:.0f}°" if tone is not None else ""


def title_text(view: MonoView, check_key: str = "c", blocked: str = "") -> Text:
    """The mode's first line; ``blocked``: why the check key is dimmed by a setting (shown instead of its hint)."""
    text = Text()
    if blocked and not view.busy:
        text.append(f"{check_key} check: ", style="bold")
        text.append(blocked, style="yellow")
        text.append("   ")
    if not view.records and not blocked:
        text.append("nothing checked yet: ", style="dim")
        text.append(check_key, style="bold")
        text.append(" checks the library's photos against the rules", style="dim")
    elif view.records:
        counts = {v: sum(1 for r in view.records if r.verdict == v) for v in VERDICT_STYLE}
        text.append(f"{len(view.records):,} photos", style="bold")
        for verdict, (label, style) in VERDICT_STYLE.items():
            text.append(f"  {counts[verdict]} {label}", style=style)
    text.append(f"   filter {view.filter}  rules {view.rules.upper()}  narration → {view.field}", style="dim")
    return text


def status_text(view: MonoView) -> Text:
    """The job in progress, or how the last one ended (its own line: a narrow terminal still shows it whole)."""
    if view.busy:
        return Text(f"{view.state} {view.done:,}/{view.total:,}…", style="bold cyan")
    return Text(view.message, style="red" if view.state == "error" else "dim")


def detail_text(record: MonoRecord | None, view: MonoView, keys: tuple[str, str] = ("v", "n")) -> Text:
    """``keys``: the overlay and narrate keys, as the keymap has them."""
    if record is None:
        return Text(f"↑/↓ choose a photo; {keys[0]} switches the overlay; {keys[1]} narrates the failing ones", "dim")
    text = Text(shown_name(record.path, view.root), style="bold")
    if record.status != "ok":
        text.append(f"\n{record.error}", style="red")
        return text
    text.append(f"\n{record.summary}")
    if record.reasons:
        text.append(f"\nreasons: {', '.join(record.reasons)}", style="dim")
    narration = view.narrations.get(record.path)
    if narration is not None:
        for region in narration.regions:
            text.append(f"\n  {region.sentence}", style="italic")
        if narration.contradictions:
            text.append(f"\n  ({narration.contradictions} contradicting colour words dropped)", style="dim")
    elif record.verdict in ("not_mono", "query"):
        text.append("\n  n asks the model what the colour is on", style="dim")
    written = view.writes.get(record.path)
    if written is not None and written.write is not None:
        outcome = written.write
        what = outcome.error or ("written" if outcome.written else outcome.reason or "unchanged")
        text.append(f"\nmetadata: {written.keyword}: {what}", style="red" if outcome.error else "green")
    return text


class MonoScreen(ModeScreen):
    MODE = "mono"
    AUTO_FOCUS = "#mono-list"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "check", "Check", id="mono.check"),
        Binding("f", "cycle('filter')", "Filter", id="mono.filter"),
        Binding("r", "cycle('rules')", "Rules", id="mono.rules"),
        Binding("v", "overlay", "Overlay", id="mono.overlay"),
        Binding("n", "narrate", "Narrate", id="mono.narrate"),
        Binding("d", "cycle('field')", "Narration field", id="mono.field"),
        Binding("w", "write", "Write verdicts", id="mono.write"),
    ]

    def compose_body(self) -> Iterable[Widget]:
        table: DataTable[object] = DataTable(id="mono-list", cursor_type="row", zebra_stripes=True)
        yield Static("", id="mono-title")
        yield Static("", id="mono-status")
        yield Horizontal(table, id="mono-top")
        yield Horizontal(
            Vertical(ImagePreview(id="mono-photo", group="mono-photo"), Static("photo", id="mono-photo-label")),
            Vertical(ImagePreview(id="mono-overlay", group="mono-overlay"), Static("", id="mono-overlay-label")),
            id="mono-images",
        )
        yield Static("", id="mono-detail")

    def body_ready(self) -> None:
        self.overlay = OVERLAYS[0]
        self._rows: tuple[str, ...] = ()
        self._last_gates: tuple[bool | None, ...] = ()
        table = self.table
        table.add_column("verdict", key="verdict", width=10)
        table.add_column("reasons", key="reasons", width=28)
        table.add_column("tone", key="tone", width=14)
        table.add_column("photo", key="photo")
        self.watch(self.app, "mono", self._view_changed)
        self.watch(self.app, "field_errors", lambda _: self._view_changed(self.view), init=False)

    @property
    def view(self) -> MonoView:
        return self.iw_app.mono

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#mono-list", DataTable)

    @property
    def current(self) -> MonoRecord | None:
        table = self.table
        if not self._rows or table.cursor_row < 0 or table.cursor_row >= len(self._rows):
            return None
        path = self._rows[table.cursor_row]
        return next((r for r in self.view.records if r.path == path), None)

    def _view_changed(self, view: MonoView) -> None:
        blocked = self.iw_app.settings_blocked("root", "filters")  # what a check lists
        self.query_one("#mono-title", Static).update(title_text(view, self.iw_app.key_for("mono.check", self), blocked))
        self.query_one("#mono-status", Static).update(status_text(view))
        shown = view.shown
        rows = tuple(r.path for r in shown)
        table = self.table
        if rows != self._rows:
            keep = self.current.path if self.current is not None else None
            table.clear()
            for record in shown:
                table.add_row(
                    verdict_text(record),
                    ", ".join(record.reasons),
                    tone_text(record),
                    shown_name(record.path, view.root),
                    key=record.path,
                )
            self._rows = rows
            table.move_cursor(row=rows.index(keep) if keep in rows else 0)
        self._show_current()
        gates = tuple(self.check_action(a, ()) for a in ("check", "narrate", "write"))
        if gates != self._last_gates:  # the footer rebuilds its keys on every refresh: only when a gate moved
            self._last_gates = gates
            self.refresh_bindings()

    def _show_current(self) -> None:
        record = self.current
        self.query_one("#mono-photo", ImagePreview).show(record.path if record is not None else None)
        picture = None
        if record is not None and record.status == "ok":
            picture = record.overlays.residual if self.overlay == "residual" else record.overlays.chroma
        self.query_one("#mono-overlay", ImagePreview).show(picture or None)
        label = "residual: off the toning curve" if self.overlay == "residual" else "chroma heatmap"
        self.query_one("#mono-overlay-label", Static).update(Text(label, style="dim"))
        keys = (self.iw_app.key_for("mono.overlay", self), self.iw_app.key_for("mono.narrate", self))
        self.query_one("#mono-detail", Static).update(detail_text(record, self.view, keys))

    @on(DataTable.RowHighlighted, "#mono-list")
    def _row_highlighted(self) -> None:
        self._show_current()

    # ---- actions -------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        mono = self.services.mono
        if action == "check":
            return True if not mono.blocked() and not self.iw_app.settings_blocked("root", "filters") else None
        if action == "narrate":
            return True if mono.can_narrate() else None
        if action == "write":
            return True if mono.can_write() else None
        return True

    def action_check(self) -> None:
        if self.check_action("check", ()):
            self.services.mono.check()

    def action_cycle(self, what: str) -> None:
        self.services.mono.cycle(what)

    def action_overlay(self) -> None:
        self.overlay = OVERLAYS[(OVERLAYS.index(self.overlay) + 1) % len(OVERLAYS)]
        self._show_current()

    def action_narrate(self) -> None:
        self.services.mono.narrate()

    def action_write(self) -> None:
        view = self.view
        count = sum(1 for r in view.records if r.status == "ok")
        field = "" if view.field == "none" else f", and the narration into the {view.field} where it is empty"
        mono = self.services.mono

        def answered(yes: bool | None) -> None:
            if yes:
                mono.write()

        self.app.push_screen(
            ConfirmScreen(
                f"Write the verdicts of {count:,} photo{'s' * (count != 1)}?",
                f"Each file gets its mono:* keyword (replacing an earlier verdict's, keeping every other keyword)"
                f"{field}. A backup is taken first; `imageworks metadata restore` undoes it.",
            ),
            answered,
        )
