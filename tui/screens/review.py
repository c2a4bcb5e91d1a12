"""Review (mode 3): every draft of the library in a list, filterable with the filter language, and beside it
the preview, the person's caption, keywords and description, and what the file holds now.

Keys as photographers' hands know them (Lightroom, darktable, TagGUI): ``a`` approve and next, ``x`` reject and
next, ``u`` undo, ``ctrl+y`` redo, ``space``/``backspace`` next/previous, ``n`` next pending, ``enter`` the
caption, ``k`` add a keyword (autocomplete), ``l`` the keyword list (``delete`` removes the one selected there),
``e`` the description in $EDITOR, ``z`` the photo at the size of the pane, then of the terminal, ``w`` write the
approved drafts (after a confirmation that plans them). Every edit goes to the daemon with the version the person
saw; what comes back (and what other terminals change) repaints from the review book. An edit refused as a conflict
is offered again on the fresh version; approving a stale draft asks first."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Static

from imageworks.review import edits as E
from imageworks.review.drafts import Draft, ReviewError

from ..widgets.preview import ImagePreview
from ..widgets.review_detail import ReviewDetail
from ..widgets.review_table import DraftTable, list_title
from .base import ModeScreen
from .confirm import ConfirmScreen
from .review_dialogs import KeywordEntryScreen, PhotoScreen, TextEntryScreen, edit_in_editor, retry_text
from .review_keys import DAEMON_ACTIONS, DRAFT_ACTIONS, FOOTER_FIRST, REVIEW_BINDINGS, REVIEW_MOVES_FOCUS
from .review_write import WriteScreen

FILE_CHECK_S = 1.0
"""How often the file on show is looked at (one stat): nothing pushes a change another program makes to it."""

if TYPE_CHECKING:
    from textual.screen import ActiveBinding

    from imageworks import protocol as P


def library_root(configured: str) -> str:
    """The configured library as the daemon names its drafts' paths (absolute, resolved); "" = every library."""
    configured = configured.strip()
    return str(Path(configured).expanduser().resolve()) if configured else ""


class ReviewScreen(ModeScreen):
    MODE = "review"
    AUTO_FOCUS = "#drafts"
    BINDINGS: ClassVar[list[BindingType]] = REVIEW_BINDINGS
    MOVES_FOCUS: ClassVar[frozenset[str]] = REVIEW_MOVES_FOCUS  # tui/typeahead.py

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """As Textual's, with the review's essential keys first (the footer shows them in this order)."""
        bindings = super().active_bindings
        first = [key for key, (_, binding, *_) in bindings.items() if binding.id in FOOTER_FIRST]
        first.sort(key=lambda key: FOOTER_FIRST.index(bindings[key][1].id or ""))
        return {key: bindings[key] for key in [*first, *(k for k in bindings if k not in first)]}

    def compose_body(self) -> Iterable[Widget]:
        book = self.services.review.book
        yield Horizontal(
            Static("", id="review-title"),
            Input(placeholder="/ filter: kw:beach status:pending -kw:people", id="review-filter", compact=True),
            id="review-bar",
        )
        yield Horizontal(DraftTable(book, id="drafts"), ReviewDetail(id="review-detail"), id="review-main")

    def body_ready(self) -> None:
        self._shown: Draft | None = None
        self._book_version = -1
        self._daemon_was_up = False
        self.watch(self.app, "review_version", lambda _: self.sync(), init=False)
        self.watch(self.app, "daemon", self._daemon_changed)
        self.watch(self.app, "config_version", lambda _: self._root_changed(), init=False)
        self.set_interval(FILE_CHECK_S, self._look_at_file)
        self.sync()

    def _look_at_file(self) -> None:
        """Read the file on show again when it changed on disk (another program set a Rating, a write landed)."""
        if self.app.screen is self and self._shown is not None:
            self.services.review.file_changed(self._shown.path)

    # ---- the list ----------------------------------------------------------------------------------------------

    @property
    def table(self) -> DraftTable:
        return self.query_one("#drafts", DraftTable)

    @property
    def detail(self) -> ReviewDetail:
        return self.query_one("#review-detail", ReviewDetail)

    def _daemon_changed(self, view: object) -> None:
        """Read the list when the daemon comes up (again: a restarted daemon publishes on a new socket)."""
        up = self.iw_app.daemon.up
        if up and not self._daemon_was_up:
            self.open_list(self.services.review.book.filter)
        self._daemon_was_up = up

    def _root_changed(self) -> None:
        root = library_root(self.services.config.tui.library_root)
        if self.services.review.opened and root != self.services.review.book.root:
            self.open_list(self.services.review.book.filter)

    def open_list(self, filter: str) -> bool:
        """Read the list again for the configured library and ``filter``; False (and a note) for a bad filter."""
        try:
            self.services.review.open(library_root(self.services.config.tui.library_root), filter)
        except ReviewError as exc:
            self.notify(str(exc), title="filter", severity="error")
            return False
        self.table.cursor = 0
        self.sync()
        return True

    def sync(self) -> None:
        """Repaint from the review book: the list's lines, the title, and the detail when its draft changed."""
        book = self.services.review.book
        if book.version != self._book_version:
            self._book_version = book.version
            self.table.rows_changed()
            self._title()
        draft = self.table.current
        if draft is not self._shown:
            self._show(draft)
        elif draft is not None:
            found = self.services.review.existing.get(draft.path)
            if found is not None and found is not (self.detail.existing or self.detail.existing_error or None):
                self.detail.show_existing(found, keys=self._keys())
        self._offer_refused()

    def _offer_refused(self) -> None:
        """An edit refused as a conflict: what was typed is not lost; apply it to the fresh version?"""
        if self.app.screen is not self:
            return
        refused = self.services.review.take_conflict()
        if refused is None:
            return

        def chosen(yes: bool | None) -> None:
            fresh = self.services.review.book.drafts.get(refused.edit.path)
            if yes and fresh is not None:
                self.services.review.edit(refused.edit, fresh.version)

        self.app.push_screen(ConfirmScreen("Apply your edit to the current version?", retry_text(refused)), chosen)

    def _title(self) -> None:
        review = self.services.review
        title = list_title(review.book) if review.opened else Text("review: waiting for the daemon", style="dim")
        self.query_one("#review-title", Static).update(title)

    def _keys(self) -> dict[str, str]:
        key = self.iw_app.key_for
        return {
            "caption": key("review.caption", self),
            "keywords": (
                f"{key('review.add_keyword', self)} add, {key('review.keyword_list', self)} list, "
                f"{key('review.remove_keyword', self)} remove"
            ),
            "description": key("review.description", self),
        }

    def _show(self, draft: Draft | None) -> None:
        self._shown = draft
        self.detail.show(draft, keys=self._keys())
        ahead = self.services.review.book.draft_at(self.table.cursor + 1)
        self.query_one(ImagePreview).prefetch(ahead.path if ahead else None)  # space: the next one is decoded
        if draft is not None:
            found = self.services.review.existing.get(draft.path)
            if found is not None:
                self.detail.show_existing(found, keys=self._keys())
            self.services.review.read_existing(draft.path)  # (again only if the file changed since it was read)

    @on(DraftTable.DraftHighlighted)
    def _highlighted(self, event: DraftTable.DraftHighlighted) -> None:
        if event.draft is not self._shown:
            self._show(event.draft)

    # ---- the filter --------------------------------------------------------------------------------------------

    @on(Input.Submitted, "#review-filter")
    def _filter(self, event: Input.Submitted) -> None:
        if self.open_list(event.value.strip()):
            self.table.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#review-filter", Input).focus()

    def action_focus_list(self) -> None:
        self.table.focus()

    def action_focus_keywords(self) -> None:
        """The keyword list: arrows pick one, ``delete`` removes it, ``escape`` goes back to the drafts."""
        if self.detail.keyword_list.option_count:
            self.detail.keyword_list.focus()

    def action_zoom(self) -> None:
        """The photo at the size of the detail pane; again: the whole terminal; again: back."""
        draft = self.table.current
        if self.detail.has_class("zoomed"):
            self.detail.remove_class("zoomed")
            if draft is not None:
                key = self.iw_app.key_for("review.zoom", self)
                self.app.push_screen(PhotoScreen(draft.path, f"{os.path.basename(draft.path)}   {key}/escape: back"))
        elif draft is not None:
            self.detail.add_class("zoomed")

    # ---- moving ------------------------------------------------------------------------------------------------

    def action_step(self, step: int) -> None:
        self.table.move_to(self.table.cursor + step)

    def action_next_pending(self) -> None:
        at = self.services.review.book.next_pending(self.table.cursor)
        if at is None:
            self.notify("no pending drafts on the list")
        else:
            self.table.move_to(at)

    # ---- what the person does to the draft on show -------------------------------------------------------------

    def _send(self, make: type[E.Approve] | type[E.Reject], *, advance: bool) -> None:
        draft = self.table.current
        if draft is None:
            return
        self.services.review.edit(make(path=draft.path), draft.version)
        if advance:
            self.table.move_to(self.table.cursor + 1)

    def action_approve_next(self) -> None:
        draft = self.table.current
        if draft is None or draft.status != "stale":
            self._send(E.Approve, advance=True)
            return
        at = self.table.cursor

        def chosen(yes: bool | None) -> None:  # the photo changed since the model saw it: the person decides
            if yes:
                self.services.review.edit(E.Approve(path=draft.path), draft.version)
                self.table.move_to(at + 1)

        name = os.path.basename(draft.path)
        detail = (
            f"{draft.stale_reason or 'the file changed'}.\nApproving writes these values into the photo as it is now."
        )
        self.app.push_screen(ConfirmScreen(f"Approve {name} as it is now?", detail), chosen)

    def action_reject_next(self) -> None:
        self._send(E.Reject, advance=True)

    def action_undo(self) -> None:
        self.services.review.undo()

    def action_redo(self) -> None:
        self.services.review.redo()

    def action_edit_caption(self) -> None:
        draft = self.table.current
        if draft is None:
            return

        def chosen(caption: str | None) -> None:
            if caption is not None and caption.strip() != draft.edited.caption:
                self.services.review.edit(E.SetCaption(path=draft.path, caption=caption), draft.version)

        self.app.push_screen(
            TextEntryScreen(f"Caption of {os.path.basename(draft.path)}", draft.edited.caption), chosen
        )

    def action_add_keyword(self) -> None:
        draft = self.table.current
        if draft is None:
            return

        def chosen(keyword: str | None) -> None:
            if keyword:
                self.services.review.edit(E.AddKeyword(path=draft.path, keyword=keyword), draft.version)

        title = f"Add a keyword to {os.path.basename(draft.path)}"
        self.app.push_screen(KeywordEntryScreen(title, self.services.review.complete), chosen)

    def action_remove_keyword(self) -> None:
        draft, keyword = self.table.current, self.detail.selected_keyword()
        if draft is not None and keyword is not None:
            self.services.review.edit(E.RemoveKeyword(path=draft.path, keyword=keyword), draft.version)

    def action_edit_description(self) -> None:
        """The description in $EDITOR (the terminal is handed over while it runs)."""
        draft = self.table.current
        if draft is None:
            return
        try:
            text = edit_in_editor(self.app, draft.edited.description)
        except OSError as exc:
            self.notify(f"cannot run the editor: {exc}", severity="error")
            return
        if text is not None and text.strip() != draft.edited.description:
            self.services.review.edit(E.SetDescription(path=draft.path, description=text), draft.version)

    def action_write(self) -> None:
        """Write the approved drafts on the list into their files, after a confirmation that says what changes."""
        book = self.services.review.book
        approved = [book.drafts[path] for path in book.approved_paths()]
        if not approved:
            self.notify("no approved drafts on the list: approve some with " + self.iw_app.key_for("review.approve"))
            return
        mode = self.services.config.metadata.mode

        def current() -> list[Draft]:  # as the book holds them when (re)planned
            return [book.drafts[path] for path in book.approved_paths()]

        def queued(reply: P.ReviewCommitReply) -> None:
            if reply.job is None:  # another client changed them since the list showed them approved
                self.notify("nothing to write: none of them is approved any more", severity="warning")
            else:
                self.notify(f"writing {reply.drafts:,} files: job {reply.job.job_id}")

        def chosen(yes: bool | None) -> None:
            if yes:
                self.services.review.commit([d.path for d in current()], mode, queued)

        self.app.push_screen(WriteScreen(current, mode), chosen)

    def action_batch(self, what: str) -> None:
        """Approve or reject every draft of the list's filter (one undo step)."""
        book = self.services.review.book
        selection = E.Selection(root=book.root, query=book.filter)
        edit: E.BatchEdit = E.ApproveAll(selection=selection) if what == "approve" else E.RejectAll(selection=selection)
        where = f"matching {book.filter!r}" if book.filter else "in this library"
        self.app.push_screen(
            ConfirmScreen(f"{what.capitalize()} every draft {where}?", f"{len(book.order):,} drafts; u undoes it."),
            lambda yes: self.services.review.batch(edit) if yes else None,
        )

    def action_keywords(self) -> None:
        from .review_keywords import KeywordsScreen

        self.app.push_screen(KeywordsScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Edits need the daemon up, and most a draft on show (dimmed in the footer otherwise)."""
        if action in DAEMON_ACTIONS and not self.iw_app.daemon.up:
            return None
        if action in DRAFT_ACTIONS:
            table = self._built_table()
            return True if table is not None and table.current is not None else None
        return True

    def _built_table(self) -> DraftTable | None:
        """The list once built (asked before the body is built, too); found once: every key's check asked the whole
        screen for it, and showing the mode checks every key (bench/tui.py: mode switches)."""
        found: DraftTable | None = getattr(self, "_found_table", None)
        if found is None:
            tables = self.query(DraftTable)
            found = self._found_table = tables.first() if tables else None
        return found
