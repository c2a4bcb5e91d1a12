"""A group's images side by side, the reference first: one card per image (preview, name, keep/reject mark, its score
to the reference); one card is selected."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import HorizontalScroll, Vertical
from textual.widgets import Static

from imageworks.scan import display_path

from .preview import ImagePreview

if TYPE_CHECKING:
    from imageworks.similarity import Group

MARK_STYLE = {"keep": "bold green", "reject": "bold red"}


def shown_name(path: str, root: str) -> str:
    """``path`` relative to the library root when it lies under it (short, and the same on every machine)."""
    if root and path.startswith(root.rstrip(os.sep) + os.sep):
        path = path[len(root.rstrip(os.sep)) + 1 :]
    return display_path(path)


def reference_scores(group: Group) -> dict[str, float]:
    """Each member's score to the group's reference (the reference itself has none)."""
    return {pair.b: pair.score for pair in group.pairs}


def card_text(name: str, score: float | None, mark: str | None) -> Text:
    """The card's label; ``score`` None: the reference."""
    text = Text(name, style="bold", overflow="ellipsis", no_wrap=True, end="")
    text.append("\n")
    if mark:
        text.append(f" {mark} ", style=f"reverse {MARK_STYLE[mark]}")
        text.append(" ")
    text.append(f"{score:.3f}" if score is not None else "reference", style="dim")
    return text


class ImageCard(Vertical):
    """One image of the group: its preview over its name, mark and score to the reference."""

    def __init__(self, path: str, position: int) -> None:
        super().__init__(classes="image-card")
        self.path = path
        self.position = position

    def compose(self) -> ComposeResult:
        yield ImagePreview(group=f"similar-preview-{self.position}")
        yield Static("", classes="card-label")

    def on_mount(self) -> None:
        self.call_after_refresh(self.query_one(ImagePreview).show, self.path)  # sized to the card once laid out

    def label(self, text: Text) -> None:
        self.query_one(".card-label", Static).update(text)


class GroupImages(HorizontalScroll):
    """``show(group, marks, root)`` lays out the group's cards; ``selected`` is the card the keys act on."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.group: Group | None = None
        self.selected = 0

    @property
    def selected_path(self) -> str | None:
        return self.group.paths[self.selected] if self.group is not None and self.group.paths else None

    async def show(self, group: Group | None, marks: dict[str, str], root: str) -> None:
        if group is None or self.group is None or group.paths != self.group.paths:
            await self.remove_children()
            self.selected = 0
            if group is not None:
                await self.mount_all([ImageCard(p, i) for i, p in enumerate(group.paths)])
        self.group = group
        self.relabel(marks, root)

    def relabel(self, marks: dict[str, str], root: str) -> None:
        if self.group is None:
            return
        scores = reference_scores(self.group)
        for i, card in enumerate(self.query(ImageCard)):
            card.set_class(i == self.selected, "-selected")
            card.label(card_text(shown_name(card.path, root), scores.get(card.path), marks.get(card.path)))

    def step(self, by: int, marks: dict[str, str], root: str) -> None:
        if self.group is None or not self.group.paths:
            return
        self.selected = (self.selected + by) % len(self.group.paths)
        self.relabel(marks, root)
        cards = list(self.query(ImageCard))
        self.scroll_to_widget(cards[self.selected], animate=False)
