"""The write confirmation: what writing the approved drafts would change, planned against the files as they are
now (the commit's own planning: ``review.commit.plan_commit``), so it never announces a caption that merge will
keep out. It plans again on every review change while it is open (a commit landed, another terminal approved one)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from textual import work
from textual.widgets import Static

from imageworks.review.drafts import Draft

from .confirm import ConfirmScreen

PLANNED_AT_MOST = 200
"""Files planned for the dialog (each is read): beyond that, the rest is counted, not planned."""
MODES = {
    "merge": "adds to what the files hold; replaces what ImageWorks wrote there last",
    "skip": "leaves files that already have keywords or text alone",
    "overwrite": "replaces what the files hold",
}


def write_title(n: int) -> str:
    return f"Write {n:,} approved draft{'s' * (n != 1)} into {'its file' if n == 1 else 'their files'}?"


def summarize(plans: list, total: int, mode: str) -> str:
    """The dialog's lines for the commit plans of the first drafts (``total`` in all)."""
    from imageworks.metadata import fields as F

    actions: Counter[str] = Counter()
    captions = descriptions = added = taken = 0
    notes: list[str] = []
    for planned in plans:
        actions[planned.action] += 1
        name = os.path.basename(planned.path)
        if planned.action == "stale" or planned.action == "error":
            notes.append(f"{planned.action}: {name} ({planned.reason})")
        notes.extend(f"not written: {name}: {line}" for line in planned.not_written)
        if planned.action != "write" or planned.plan is None:
            continue
        for change in planned.plan.changes:
            captions += change.field == F.XMP_TITLE
            descriptions += change.field == F.XMP_DESCRIPTION
            if change.field == F.XMP_SUBJECT:
                old, new = set(change.old or []), set(change.new or [])
                added, taken = added + len(new - old), taken + len(old - new)
    what = f"{captions:,} caption{'s' * (captions != 1)}, {descriptions:,} description{'s' * (descriptions != 1)}"
    keywords = f"{added:,} keyword{'s' * (added != 1)} added" + (f", {taken:,} taken out" if taken else "")
    lines = [f"mode {mode}: {MODES.get(mode, mode)}", f"{actions['write']:,} to write: {what}, {keywords}"]
    rest = [f"{n:,} {a}" for a, n in sorted(actions.items()) if a != "write"]
    if rest:
        lines.append(", ".join(rest))
    lines += notes[:6] + ([f"… and {len(notes) - 6} more"] if len(notes) > 6 else [])
    if total > len(plans):
        lines.append(f"(the first {len(plans):,} of {total:,} files planned)")
    lines.append("a backup of each file is kept (metadata restore)")
    return "\n".join(lines)


class WriteScreen(ConfirmScreen):
    """``current()`` gives the drafts to write as the review book holds them now."""

    def __init__(self, current: Callable[[], list[Draft]], mode: str) -> None:
        self.current = current
        self.mode = mode
        super().__init__(write_title(len(current())), f"mode {mode}: planning the files…")

    def on_mount(self) -> None:
        self.plan()
        self.watch(self.app, "review_version", self._replan, init=False)

    def _replan(self, _version: int) -> None:
        self.plan()

    @work(thread=True, exclusive=True, group="review-write-plan", exit_on_error=False)
    def plan(self) -> None:
        from imageworks.review.commit import plan_commit

        drafts = self.current()
        plans = [plan_commit(d, self.mode) for d in drafts[:PLANNED_AT_MOST]]  # type: ignore[arg-type]
        text = summarize(plans, len(drafts), self.mode)
        self.app.call_from_thread(self._planned, write_title(len(drafts)), text)

    def _planned(self, title: str, text: str) -> None:
        self.query_one("#confirm-title", Static).update(title)
        self.query_one("#confirm-detail", Static).update(text)
