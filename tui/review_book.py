"""The review list as this TUI holds it: the drafts of one library under one filter, in path order (the daemon's
order), kept current from pushed changes (the Clone pattern: a snapshot of pages, then every change with a higher
``seq``). Pure data: no Textual, no daemon; the review service fills it, the review screen paints it.

A draft that stops matching the filter after an edit (approve one under ``status:pending``) stays in the list
until the filter is applied again, so the cursor never jumps away from what the person is looking at.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from imageworks.review import query
from imageworks.review.drafts import Draft
from imageworks.review.history import HistoryState
from imageworks.scan import marked_path


@dataclass(slots=True)
class DraftLine:
    """What the list paints for one draft, made once per change: status, file name, keyword count, caption."""

    status: str
    name: str
    keywords: int
    caption: str

    @classmethod
    def of(cls, draft: Draft) -> DraftLine:
        kept = sum(1 for k in draft.edited.keywords if k.state != "rejected")
        caption = " ".join(draft.edited.caption.split())
        return cls(draft.status, marked_path(os.path.basename(draft.path) or draft.path), kept, caption)


@dataclass
class ReviewBook:
    root: str = ""
    """The library (a directory); "" = every library."""
    filter: str = ""
    """The filter language's text (``kw:beach status:pending``)."""
    drafts: dict[str, Draft] = field(default_factory=dict)
    lines: dict[str, DraftLine] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    """The paths on the list, in path order."""
    seq: int = 0
    """Changes up to this store sequence number are in the book."""
    total: int = 0
    """Drafts matching, as the daemon counted them (the list grows to it while pages arrive)."""
    loading: bool = False
    history: HistoryState | None = None
    version: int = 0
    """Bumped by every change, for painters that cache."""
    _node: query.Node | None = None

    def reset(self, root: str, filter: str) -> None:
        """Start over for ``root`` and ``filter`` (raises ``QueryError`` for a bad filter, changing nothing)."""
        node = query.parse(filter)
        self.root, self.filter, self._node = root, filter, node
        self.drafts, self.lines, self.order = {}, {}, []
        self.seq, self.total, self.loading = 0, 0, True
        self.version += 1

    def add_page(self, drafts: Iterable[Draft], *, total: int, seq: int, last: bool) -> None:
        """A page of the snapshot (pages come in path order, so they append)."""
        for draft in drafts:
            if draft.path not in self.drafts:
                self.order.append(draft.path)
            self._put(draft)
        self.total = total
        self.seq = max(self.seq, seq)
        self.loading = not last
        self.version += 1

    def apply(self, drafts: Iterable[Draft]) -> list[str]:
        """Changed drafts (an event, an edit's reply); returns the paths on the list that changed or arrived.
        A change the book already holds (its ``seq`` is not newer) is ignored."""
        changed: list[str] = []
        for draft in drafts:
            known = self.drafts.get(draft.path)
            if known is not None:
                if draft.seq <= known.seq:
                    continue
            elif not self._wanted(draft):
                continue
            else:
                at = bisect_left(self.order, draft.path)
                self.order.insert(at, draft.path)
                self.total += 1
            self._put(draft)
            self.seq = max(self.seq, draft.seq)
            changed.append(draft.path)
        if changed:
            self.version += 1
        return changed

    def _put(self, draft: Draft) -> None:
        self.drafts[draft.path] = draft
        self.lines[draft.path] = DraftLine.of(draft)

    def _wanted(self, draft: Draft) -> bool:
        """Whether a draft new to the book belongs on this list (under the root, matching the filter)."""
        if self.root and not draft.path.startswith(self.root.rstrip("/") + "/"):
            return False
        return query.matches(self._node, draft)

    def draft_at(self, index: int) -> Draft | None:
        if 0 <= index < len(self.order):
            return self.drafts[self.order[index]]
        return None

    def next_pending(self, after: int) -> int | None:
        """The first pending draft after ``after``, wrapping around; None when none is pending."""
        n = len(self.order)
        for step in range(1, n + 1):
            at = (after + step) % n
            if self.drafts[self.order[at]].status == "pending":
                return at
        return None

    def counts(self) -> dict[str, int]:
        """Drafts on the list by status."""
        out: dict[str, int] = {}
        for line in self.lines.values():
            out[line.status] = out.get(line.status, 0) + 1
        return out

    def approved_paths(self) -> list[str]:
        return [path for path in self.order if self.drafts[path].status == "approved"]
