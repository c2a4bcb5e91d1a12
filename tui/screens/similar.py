"""Similar: groups of near-duplicate and similar photos with their images side by side, a threshold that re-groups at
once, keep/reject marks, and moving the rejects to a folder (behind the confirmation modal), and back (undo).

Only the compute key costs anything (it runs in the similar service's worker, which switching modes never stops);
the threshold keys re-group from the groups found, which the Debug panel's counters show (hashes stay flat)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Static

from ..services.similar import METHODS, SimilarView
from ..widgets.similar_groups import GroupsTable
from ..widgets.similar_images import GroupImages, shown_name
from ..widgets.similar_threshold import ThresholdBar
from .base import ModeScreen
from .confirm import ConfirmScreen


def title_text(view: SimilarView, compute_key: str = "c", blocked: str = "") -> Text:
    """The mode's first line; ``blocked``: why the compute key is dimmed by a setting (shown instead of its hint)."""
    text = Text()
    if blocked and view.state != "computing":
        text.append(f"{compute_key} compute: ", style="bold")
        text.append(blocked, style="yellow")
    elif view.floor is None and view.state != "computing":
        text.append("no groups yet: ", style="dim")
        text.append(compute_key, style="bold")
        text.append(f" compares the library's images ({view.method})", style="dim")
    else:
        text.append(f"{len(view.groups):,} groups", style="bold")
        text.append(f" among {view.images:,} images")
        if view.skipped:
            text.append(f", {len(view.skipped):,} skipped", style="red")
    text.append(f"   method {view.method}", style="dim")
    if view.message:
        style = {"error": "red", "computing": "cyan"}.get(view.state, "dim")
        text.append(f"   {view.message}", style=style)
    text.append(f"   reference {view.reference}", style="dim")  # last: a narrow screen cuts it, not the message
    return text


class SimilarScreen(ModeScreen):
    MODE = "similar"
    AUTO_FOCUS = "#groups"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "compute", "Compute", id="similar.compute"),
        Binding("left_square_bracket", "threshold(-1)", "Threshold -", id="similar.threshold_down"),
        Binding("right_square_bracket", "threshold(1)", "Threshold +", id="similar.threshold_up"),
        Binding("m", "cycle_method", "Method", id="similar.method"),
        Binding("r", "cycle_reference", "Reference", id="similar.reference"),
        Binding("left", "step(-1)", "Previous image", show=False, id="similar.previous_image"),
        Binding("right", "step(1)", "Next image", show=False, id="similar.next_image"),
        Binding("k", "mark('keep')", "Keep", id="similar.keep"),
        Binding("x", "mark('reject')", "Reject", id="similar.reject"),
        Binding("o", "keep_only", "Keep only this", id="similar.keep_only"),
        Binding("M", "move_rejects", "Move rejects", id="similar.move_rejects"),
        Binding("u", "undo_move", "Undo move", id="similar.undo_move"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset({"similar.move_rejects"})  # tui/typeahead.py

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="similar-title")
        yield ThresholdBar("", id="threshold")
        yield Horizontal(GroupsTable(id="groups"), id="similar-top")
        yield GroupImages(id="group-images")
        yield Static("", id="similar-detail")

    def body_ready(self) -> None:
        self._last_gates: tuple[bool | None, ...] = ()
        self.watch(self.app, "similar", self._view_changed)
        self.watch(self.app, "field_errors", lambda _: self._view_changed(self.view), init=False)

    @property
    def view(self) -> SimilarView:
        return self.iw_app.similar

    @property
    def table(self) -> GroupsTable:
        return self.query_one("#groups", GroupsTable)

    @property
    def images(self) -> GroupImages:
        return self.query_one("#group-images", GroupImages)

    async def _view_changed(self, view: SimilarView) -> None:
        blocked = self.iw_app.settings_blocked("root", "filters")
        key = self.iw_app.key_for("similar.compute", self)
        self.query_one("#similar-title", Static).update(title_text(view, key, blocked))
        self.query_one("#threshold", ThresholdBar).show(view.threshold, view.floor, view.step, view.hash_bits)
        self.table.set_groups(view.groups, view.root)
        await self._show_group()
        gates = self._gates()
        if gates != self._last_gates:  # the footer rebuilds its keys on every refresh: only when a gate moved
            self._last_gates = gates
            self.refresh_bindings()

    def _gates(self) -> tuple[bool | None, ...]:
        return tuple(self.check_action(action, ()) for action in ("compute", "move_rejects", "mark"))

    async def _show_group(self) -> None:
        await self.images.show(self.table.current, self.view.marks, self.view.root)
        self._detail()

    def _detail(self) -> None:
        group, path = self.table.current, self.images.selected_path
        detail = self.query_one("#similar-detail", Static)
        if group is None or path is None:
            key = self.iw_app.key_for
            keys = [key(f"similar.{name}", self) for name in ("previous_image", "next_image", "keep", "reject")]
            hint = f"{keys[0]}/{keys[1]} choose an image, {keys[2]} keep, {keys[3]} reject, "
            detail.update(
                Text(hint + f"{key('similar.keep_only', self)} keep only this (nothing is ever deleted)", "dim")
            )
            return
        root = self.view.root
        text = Text(shown_name(path, root), style="bold")
        width, height = group.dimensions[group.paths.index(path)] if group.dimensions else (0, 0)
        if width:
            text.append(f"  {width}×{height}", style="dim")
        if path == group.reference:
            rule = f" ({self.view.reference_rule})" if self.view.reference_rule else ""
            text.append(f"   the reference{rule}: every other photo is scored against it", style="dim")
        else:
            pair = next((p for p in group.pairs if p.b == path), None)
            if pair is not None:
                text.append(f"   {pair.score:.3f} {pair.verdict} to the reference ", style="dim")
                text.append(shown_name(group.reference, root))
        detail.update(text)

    @on(DataTable.RowHighlighted, "#groups")
    async def _group_highlighted(self) -> None:
        await self._show_group()

    # ---- actions -----------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        settings = self.iw_app.settings_blocked("root", "filters")  # what compute lists, and where moves go
        if action == "compute":
            return True if not settings and not self.services.similar.blocked() else None
        if action == "move_rejects":
            return True if not settings and self.view.rejects and self.view.state != "computing" else None
        if action == "undo_move":  # the daemon knows what the last move was (and says when there is none)
            return True if self.view.state != "computing" else None
        if action in ("mark", "step", "keep_only"):
            return True if self.images.selected_path is not None else None
        return True

    def action_compute(self) -> None:
        if self.check_action("compute", ()):
            self.services.similar.compute()

    # Keys read together (over SSH, a held key) run before the App's copy of the view catches up: each step starts
    # from the service's own view, which every step has already moved.

    def action_threshold(self, direction: int) -> None:
        self.services.similar.step_threshold(direction)

    def action_cycle_method(self) -> None:
        similar = self.services.similar
        similar.set_method(METHODS[(METHODS.index(similar.view.method) + 1) % len(METHODS)])

    def action_cycle_reference(self) -> None:
        self.services.similar.cycle_reference()

    def action_step(self, by: int) -> None:
        self.images.step(by, self.view.marks, self.view.root)
        self._detail()

    def action_mark(self, mark: str) -> None:
        path = self.images.selected_path
        if path is not None:
            self.services.similar.mark(path, mark)

    def action_keep_only(self) -> None:
        path, group = self.images.selected_path, self.table.current
        if path is not None and group is not None:
            self.services.similar.keep_only(path, group)

    def action_undo_move(self) -> None:
        if self.check_action("undo_move", ()):
            self.services.similar.undo_move()

    def action_move_rejects(self) -> None:
        rejects = self.view.rejects
        if not rejects or not self.check_action("move_rejects", ()):
            return
        similar = self.services.similar
        folder = similar.reject_folder()
        count = f"{len(rejects):,} photo{'s' * (len(rejects) != 1)}"

        def answered(yes: bool | None) -> None:
            if yes:
                similar.move_rejects()

        self.app.push_screen(
            ConfirmScreen(
                f"Move {count} marked reject?",
                f"They move (with their .xmp sidecars) to {folder}; nothing is deleted, and a name already there "
                "gets a -2 suffix.",
            ),
            answered,
        )
