"""The all-keywords pane: every kept keyword of the drafts on the review list, with counts, most used first. A
rename applies to every draft of the list that has the keyword (TagGUI's find-and-replace), a removal likewise, and
a keyword can be added to every draft of the list; each is one undo step."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from imageworks.review import edits as E

from ..access import AppAccess
from .review_dialogs import DIALOG_CSS, KeywordEntryScreen, TextEntryScreen


class KeywordsScreen(AppAccess, ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,K", "close", "Close", id="review.keywords.close"),
        Binding("a", "add", "Add everywhere", id="review.keywords.add"),
        Binding("r", "rename", "Rename everywhere", id="review.keywords.rename"),
        Binding("delete", "remove", "Remove everywhere", id="review.keywords.remove"),
    ]
    MOVES_FOCUS: ClassVar[frozenset[str]] = frozenset(  # tui/typeahead.py
        {"review.keywords.close", "review.keywords.add", "review.keywords.rename"}
    )
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="KeywordsScreen")
        + """
    KeywordsScreen OptionList { height: auto; max-height: 20; border: none; padding: 0; }
    """
    )

    def compose(self) -> ComposeResult:
        book = self.services.review.book
        where = f"drafts matching {book.filter!r}" if book.filter else "every draft on the list"
        with Vertical():
            yield Label(f"Keywords of {where}")
            yield OptionList(id="all-keywords", compact=True)
            yield Static(
                "a: add to every draft   r: rename everywhere   delete: remove everywhere   escape: close",
                classes="dialog-keys",
            )

    def on_mount(self) -> None:
        self.load()
        self.watch(self.app, "review_version", self._reload, init=False)  # a rename landed: count again

    def _reload(self, _version: int) -> None:
        self.load()

    @work(exclusive=True, group="review-keywords", exit_on_error=False)
    async def load(self) -> None:
        options = self.query_one(OptionList)
        try:
            found = await self.services.review.keyword_counts()
        except Exception as exc:  # the pane says why; the review goes on
            options.clear_options()
            options.add_option(Option(Text(f"cannot list keywords: {exc}", style="dim"), disabled=True))
            return
        at = options.highlighted
        options.clear_options()
        options.add_options(
            [Option(Text.assemble(f"{k.count:>6,}  ", (k.keyword, "bold")), id=k.keyword) for k in found.keywords]
        )
        if found.keywords:
            options.highlighted = min(at or 0, len(found.keywords) - 1)
        options.focus()

    def _selected(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        return options.get_option_at_index(options.highlighted).id

    def _selection(self) -> E.Selection:
        book = self.services.review.book
        return E.Selection(root=book.root, query=book.filter)

    def action_add(self) -> None:
        def chosen(keyword: str | None) -> None:
            if keyword:
                self.services.review.batch(E.AddKeywordEverywhere(selection=self._selection(), keyword=keyword))

        self.app.push_screen(
            KeywordEntryScreen("Add a keyword to every draft of the list", self.services.review.complete), chosen
        )

    def action_rename(self) -> None:
        old = self._selected()
        if old is None:
            return

        def chosen(new: str | None) -> None:
            if new and new.strip() and new.strip() != old:
                self.services.review.batch(E.RenameKeywordEverywhere(selection=self._selection(), old=old, new=new))

        self.app.push_screen(TextEntryScreen(f"Rename {old!r} on every draft of the list to:", old), chosen)

    def action_remove(self) -> None:
        keyword = self._selected()
        if keyword is not None:
            self.services.review.batch(E.RemoveKeywordEverywhere(selection=self._selection(), keyword=keyword))

    def action_close(self) -> None:
        self.dismiss(None)
