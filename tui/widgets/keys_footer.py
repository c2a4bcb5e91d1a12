"""The footer of every mode screen: Textual's Footer, rebuilt only when the keys it shows change.

Textual rebuilds a Footer (a widget per key, removed and mounted again) whenever a screen's bindings may have changed:
each time a mode is shown again, and at each ``refresh_bindings``. The keys are mostly the same as before; rebuilding
them anyway was a large part of a mode switch's time (bench/tui.py), so this footer compares what it would show."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen) -> tuple[tuple[object, ...], ...]:
    """What a footer shows for ``screen`` now: each key, what it does, and whether it is dimmed."""
    return tuple(
        (key, active.binding.action, active.binding.description, active.binding.show, active.enabled, active.tooltip)
        for key, active in screen.active_bindings.items()
    )


class KeysFooter(Footer):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if screen is not screen.app.screen:
            return  # a mode being hidden: its keys are read again when it is shown
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        """Rebuilt only when what it shows changed (read when Footer would rebuild: after the screen's refresh, once
        the screen can answer for its keys)."""
        shown = (self.compact, shown_keys(self.screen))
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()
