"""The review screen's keys: its bindings (each with an id, remappable from config), those that move the focus, the
ones the footer shows first, and the actions a key check dims without the daemon or a draft on show."""

from __future__ import annotations

from textual.binding import Binding, BindingType

FOOTER_FIRST = ("review.approve", "review.reject", "review.undo", "review.write", "review.filter", "app.help")
"""The review's keys the footer shows first, so a narrow terminal (80 columns) keeps them; the rest follow."""
REVIEW_BINDINGS: list[BindingType] = [
    Binding("a", "approve_next", "Approve", id="review.approve"),
    Binding("x", "reject_next", "Reject", id="review.reject"),
    Binding("u", "undo", "Undo", id="review.undo"),
    Binding("ctrl+y", "redo", "Redo", id="review.redo"),
    Binding("space", "step(1)", "Next", show=False, id="review.next"),
    Binding("backspace", "step(-1)", "Previous", show=False, id="review.previous"),
    Binding("n", "next_pending", "Next pending", id="review.next_pending"),
    Binding("enter", "edit_caption", "Caption", id="review.caption"),
    Binding("k,ctrl+k", "add_keyword", "Keyword", id="review.add_keyword"),
    Binding("l", "focus_keywords", "Keyword list", id="review.keyword_list"),
    Binding("delete", "remove_keyword", "Remove kw", show=False, id="review.remove_keyword"),
    Binding("e", "edit_description", "Description", show=False, id="review.description"),
    Binding("z", "zoom", "Zoom", id="review.zoom"),
    Binding("w", "write", "Write", id="review.write"),
    Binding("slash", "focus_filter", "Filter", id="review.filter"),
    Binding("escape", "focus_list", "List", show=False, id="review.list"),
    Binding("K", "keywords", "All keywords", show=False, id="review.keywords"),
    Binding("A", "batch('approve')", "Approve all", show=False, id="review.approve_all"),
    Binding("X", "batch('reject')", "Reject all", show=False, id="review.reject_all"),
]
REVIEW_MOVES_FOCUS: frozenset[str] = frozenset(  # tui/typeahead.py
    {
        "review.caption",
        "review.add_keyword",
        "review.write",
        "review.filter",
        "review.list",
        "review.keywords",
        "review.approve_all",
        "review.reject_all",
        "review.keyword_list",
    }
)
"""Bindings that move the focus or open a screen (tui/typeahead.py)."""

DRAFT_ACTIONS = frozenset(
    {"approve_next", "reject_next", "edit_caption", "add_keyword", "remove_keyword", "edit_description"}
)
DAEMON_ACTIONS = DRAFT_ACTIONS | {"undo", "redo", "write", "keywords", "batch"}
"""Actions that need a draft on show, and those that need the daemon up."""
