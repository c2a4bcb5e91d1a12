"""Keys typed right behind a key that moves the focus go where it moved to.

A terminal hands over in one read whatever was typed meanwhile (a busy app, an SSH hop), and the App routes each key
of that read to the widget focused as it takes the key off its queue. Textual runs an ordinary binding only once the
key has been to the focused widget and bubbled back up, and ``Widget.focus`` and a screen's mounting finish later
still, so ``/red`` in the review would send ``red`` to the list (its keys), not into the filter ``/`` focuses.

So a binding that moves the focus, opens a screen or leaves one (its id in its node's ``MOVES_FOCUS``) runs as the
App reads its key, chosen as Textual would choose it (``Screen.active_bindings``: the focused widget first, keys an
Input takes go to the Input). The keys read after it are held until the App has run what the action queued (a
``focus()``) and a screen it showed is mounted, then routed in order to where the focus is now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual import events
    from textual.app import App
    from textual.screen import Screen


class TypeAhead:
    """The App's key routing for typed-ahead keys (``ImageWorksApp.on_event`` asks it first)."""

    def __init__(self, app: App[object]) -> None:
        self._app = app
        self._held: list[events.Key] = []
        self._holds = 0
        """Focus changes on their way; keys are held while any is."""

    def take(self, key: events.Key) -> bool:
        """Hold ``key`` while a focus change is on its way (True: held, it is routed later)."""
        if self._holds:
            self._held.append(key)
            return True
        return False

    async def run_focus_binding(self, key: events.Key) -> bool:
        """Run the binding ``key`` reaches now if it moves the focus (True: it ran; the key is used up)."""
        active = self._app.screen.active_bindings.get(key.key)
        if active is None or not active.enabled or active.binding.priority:  # priority: Textual runs it as read
            return False
        if active.binding.id not in getattr(active.node, "MOVES_FOCUS", ()):
            return False
        self._holds += 1
        try:
            return await self._app.run_action(active.binding.action, active.node)
        finally:  # behind what the action queued (a focus() call): then the held keys go where the focus went
            self._app.call_later(self._release)

    def screen_shown(self, screen: Screen[object]) -> None:
        """(``App.screen_change_signal``) A screen pushed or shown for the first time takes keys once mounted: its
        focus is set as it composes (AUTO_FOCUS) or as it mounts."""
        if not screen.is_mounted:
            self._holds += 1
            # the screen's queue runs this after its compose and mount; the release runs in the App's own turn
            if not screen.call_later(self._app.call_later, self._release):
                self._app.call_later(self._release)  # a screen already closing takes no keys: hold none

    async def _release(self) -> None:
        self._holds -= 1
        if self._holds:
            return
        held, self._held = self._held, []
        for key in held:
            await self._app.on_event(key)  # a key that moves the focus again holds the rest behind it
