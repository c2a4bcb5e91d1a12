"""The review's detail pane: the preview, the person's caption, keywords (each with its state: suggested, accepted,
rejected; mapped from the model's word; new to the library) and description, and beside them what the file holds
now, so the person sees what a write would change: what it adds and takes out, what the last write left out, and
what another program changed in the file since the model saw it or ImageWorks wrote it (Lightroom's "metadata was
changed externally"). ``zoomed``: the preview takes the whole pane."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from imageworks.file_state import changes_since
from imageworks.review.drafts import Draft, DraftKeyword, keyword_key
from imageworks.scan import display_path

from .preview import ImagePreview
from .review_table import STATUS_MARKS

if TYPE_CHECKING:
    from imageworks.metadata import Existing

KEYWORD_MARKS = {"suggested": "?", "accepted": "✓", "rejected": "✗"}


def keyword_label(keyword: DraftKeyword) -> Text:
    """``✓ dog ← puppy  new``: state, keyword, the model's own word when mapped, new to the library."""
    style = {"rejected": "dim strike", "accepted": "bold", "suggested": ""}[keyword.state]
    text = Text.assemble((f"{KEYWORD_MARKS[keyword.state]} ", style), (keyword.keyword, style))
    if keyword.mapped_from:
        text.append(f" ← {keyword.mapped_from}", style="dim italic")
    if keyword.new and keyword.state != "rejected":
        text.append("  new", style="yellow")
    return text


def heading(draft: Draft) -> Text:
    folder, name = os.path.split(display_path(draft.path))
    text = Text.assemble((name, "bold"), (f"  in {os.path.basename(folder)}/\n" if folder else "\n", "dim"))
    text.append(f"{STATUS_MARKS.get(draft.status, '')} {draft.status}", style="bold")
    if draft.stale_reason:
        text.append(f": {draft.stale_reason}", style="yellow")
    text.append(f"  v{draft.version}", style="dim")
    if draft.last_change:
        text.append(f"  last: {draft.last_change}", style="dim")
    if draft.proposal is not None:
        text.append("\na re-tag's new proposal waits beside your edits", style="yellow")
    return text


def field_text(title: str, key: str, value: str, before: str | None) -> Text:
    """A field as the person made it, and (dim) what the file holds there now when that differs."""
    text = Text.assemble((title, "bold underline"), (f"  {key}\n", "dim"))
    text.append(value or "—", style="" if value else "dim")
    if before is not None and before.strip() != value.strip():
        text.append("\nin the file: ", style="dim")
        text.append(before or "—", style="dim italic")
    return text


def existing_text(draft: Draft, existing: Existing | None, error: str) -> Text:
    """The file's keywords now, what a write adds to them and takes out of them (only keywords ImageWorks put in:
    merge keeps the rest), what the last write left out, and what another program changed since."""
    text = Text("In the file now\n", style="bold underline")
    if existing is None:
        text.append(error or "reading…", style="dim")
        return text
    have = {keyword_key(k) for k in existing.keywords}
    text.append("keywords: ", style="dim")
    text.append(", ".join(existing.keywords) or "none", style="" if existing.keywords else "dim")
    kept = draft.edited.kept_keywords
    adds = [k for k in kept if keyword_key(k.rsplit("|", 1)[-1]) not in have]
    if adds:
        text.append("\na write adds: ", style="dim")
        text.append(", ".join(adds), style="green")
    implied = {keyword_key(level) for k in kept for level in k.split("|")}
    ours = draft.written.added_flat if draft.written else []
    drops = [k for k in ours if keyword_key(k) in have and keyword_key(k) not in implied]
    if drops:
        text.append("\na write takes out: ", style="dim")
        text.append(", ".join(drops), style="red")
    for line in draft.not_written:
        text.append(f"\nthe last write left out: {line}", style="yellow")
    changed = changes_since(draft.file_meta, existing.meta)
    if changed:
        since = "ImageWorks wrote it" if draft.written else "tagging"
        text.append(f"\nthe file's metadata changed since {since}: {', '.join(changed)}", style="yellow")
    return text


class ReviewDetail(VerticalScroll):
    """Filled by ``show(draft)``; ``show_existing`` when the file's metadata has been read."""

    DEFAULT_CSS = """
    ReviewDetail { padding: 0 1; }
    ReviewDetail > Static { height: auto; margin-bottom: 1; }
    ReviewDetail > #review-heading, ReviewDetail > #review-keywords-title { margin-bottom: 0; }
    ReviewDetail > ImagePreview { height: 7; }
    ReviewDetail > OptionList { height: auto; max-height: 10; margin-bottom: 1; border: none; padding: 0; }
    ReviewDetail.zoomed > * { display: none; }
    ReviewDetail.zoomed > #review-heading { display: block; }
    ReviewDetail.zoomed > ImagePreview { display: block; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.draft: Draft | None = None
        self.existing: Existing | None = None
        self.existing_error = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="review-heading")
        yield ImagePreview(id="review-preview")
        yield Static("", id="review-caption")
        yield Static("", id="review-keywords-title")
        yield OptionList(id="review-keywords", compact=True)
        yield Static("", id="review-description")
        yield Static("", id="review-existing")

    @property
    def keyword_list(self) -> OptionList:
        return self.query_one("#review-keywords", OptionList)

    def selected_keyword(self) -> str | None:
        """The keyword highlighted in the list (what ``delete`` removes)."""
        options = self.keyword_list
        if options.highlighted is None or self.draft is None:
            return None
        option = options.get_option_at_index(options.highlighted)
        return option.id

    def show(self, draft: Draft | None, *, keys: dict[str, str]) -> None:
        """Show ``draft`` (its preview only when the file changed); ``keys`` names the keys each field is edited by."""
        same_file = draft is not None and self.draft is not None and draft.path == self.draft.path
        if not same_file:
            self.existing, self.existing_error = None, ""
        self.draft = draft
        if draft is None:
            self.query_one("#review-heading", Static).update(Text("no drafts: tag a library (2) to review it", "dim"))
            for name in ("#review-caption", "#review-keywords-title", "#review-description", "#review-existing"):
                self.query_one(name, Static).update("")
            self.keyword_list.clear_options()
            self.query_one(ImagePreview).show(None)
            return
        self.query_one("#review-heading", Static).update(heading(draft))
        self.query_one(ImagePreview).show(draft.path)
        existing = self.existing
        self.query_one("#review-caption", Static).update(
            field_text("Caption", keys["caption"], draft.edited.caption, existing.caption if existing else None)
        )
        kept = len(draft.edited.kept_keywords)
        title = Text.assemble(("Keywords", "bold underline"), f" {kept}", (f"  {keys['keywords']}", "dim"))
        self.query_one("#review-keywords-title", Static).update(title)
        self._fill_keywords(draft, same_file=same_file)
        self.query_one("#review-description", Static).update(
            field_text(
                "Description",
                keys["description"],
                draft.edited.description,
                existing.description if existing else None,
            )
        )
        self.query_one("#review-existing", Static).update(existing_text(draft, existing, self.existing_error))

    def _fill_keywords(self, draft: Draft, *, same_file: bool) -> None:
        """The keywords, the selection kept on the same one (or, when it was removed, on the one after it)."""
        options = self.keyword_list
        at = options.highlighted if same_file and options.option_count else None
        highlighted = self.selected_keyword() if at is not None else None
        options.clear_options()
        options.add_options([Option(keyword_label(k), id=k.keyword) for k in draft.edited.keywords])
        if draft.edited.keywords:
            ids = [k.keyword for k in draft.edited.keywords]
            keep = ids.index(highlighted) if highlighted in ids else min(at or 0, len(ids) - 1)
            options.highlighted = keep

    def show_existing(self, found: Existing | str, *, keys: dict[str, str]) -> None:
        """The file's metadata as read (a string: why it could not be read) for the draft on show."""
        if isinstance(found, str):
            self.existing, self.existing_error = None, found
        else:
            self.existing, self.existing_error = found, ""
        self.show(self.draft, keys=keys)
