"""The Similar mode's list of groups: one keyed row per group (verdict and score of its weakest member, size, its
images with the reference first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from .similar_images import shown_name

if TYPE_CHECKING:
    from imageworks.similarity import Group

VERDICT_STYLE = {"duplicate": "bold red", "similar": "yellow", "related": "dim"}


class GroupsTable(DataTable[Text]):
    """Row keys are the groups' positions. Left and right are left to the screen (they step through the images)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.groups: tuple[Group, ...] = ()

    def on_mount(self) -> None:
        self._add_columns(0)

    def _add_columns(self, images_width: int) -> None:
        self.add_column("verdict", key="verdict", width=9)
        self.add_column("min", key="weakest", width=5)
        self.add_column("n", key="n", width=3)
        # a fixed width, not auto: what fits beside the others (an auto column's header lags its rows by a frame)
        self.add_column("images", key="images", width=max(6, images_width))

    def set_groups(self, groups: tuple[Group, ...], root: str) -> None:
        """Show ``groups`` (the cursor stays on the same row number, so a re-group keeps the place)."""
        if groups == self.groups:
            return
        row = self.cursor_row
        self.groups = groups
        listed = [", ".join(shown_name(p, root) for p in g.paths) for g in groups]
        self.clear(columns=True)
        self._add_columns(min(max(map(len, listed), default=0), self.size.width - 9 - 5 - 3 - 2 * 4 - 1))
        for i, (g, images) in enumerate(zip(groups, listed, strict=True)):
            self.add_row(
                Text(g.verdict, style=VERDICT_STYLE.get(g.verdict, "")),
                Text(f"{g.weakest:.3f}"),
                Text(str(len(g.paths))),
                Text(images, overflow="ellipsis", no_wrap=True),
                key=str(i),
            )
        if groups:
            self.move_cursor(row=min(row, len(groups) - 1))

    @property
    def current(self) -> Group | None:
        if not self.groups or not 0 <= self.cursor_row < len(self.groups):
            return None
        return self.groups[self.cursor_row]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cursor_left", "cursor_right"):
            return False
        return super().check_action(action, parameters)
