"""Keys typed right behind a key that moves the focus go where it moved to.

A terminal hands over in one read whatever was typed meanwhile (a busy app, an SSH hop), and the App routes each key
of that read to the widget focused as it takes the key off its queue. Textual runs an ordinary binding only once the
key has been to the focused widget and bubbled back up, and ``Widget.focus`` and a screen's mounting finish later
still, so ``/red`` in the review would send ``red`` to the list (its keys), not into the filter ``/`` focuses.

So a binding that moves the focus, opens a screen or leaves one (its id in its node's ``MOVES_FOCUS``) is taken by
the App as it reads its key, chosen as Textual would choose it (``Screen.active_bindings``: the focused widget
first, keys an Input takes go to the Input). It runs once the keys read before it are handled (``j j enter`` opens
the row two down, not this one), and the keys read after it are held until the App has run what the action queued
(a ``focus()``) and a screen it showed is mounted, then routed in order to where the focus is now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual import events
    from textual.app import App
    from textual.binding import ActiveBinding
    from textual.screen import Screen


class TypeAhead:
    """The App's key routing for typed-ahead keys (``ImageWorksApp.on_event`` asks it first)."""

    def __init__(self, app: App[Any]) -> None:
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
        """Take ``key`` when the binding it reaches moves the focus (True: the key is used up): the keys read before
        it are handled first, then its binding runs, and the keys read after it wait for the focus to move."""
        if self._focus_binding(key) is None:
            return False
        self._holds += 1
        self._after_earlier_keys(partial(self._run, key))
        return True

    def _focus_binding(self, key: events.Key) -> ActiveBinding | None:
        """The binding ``key`` reaches now, when it is one that moves the focus (and not a priority binding:
        Textual runs those as it reads them)."""
        active = self._app.screen.active_bindings.get(key.key)
        if active is None or not active.enabled or active.binding.priority:
            return None
        return active if active.binding.id in getattr(active.node, "MOVES_FOCUS", ()) else None

    def _after_earlier_keys(self, then: Callable[[], Awaitable[None]]) -> None:
        """Call ``then`` once every key read before now is handled. Such a key is queued at the focused widget or
        bubbling up from it to the App (where Textual checks bindings), so a callback hops the same way, from the
        focused widget up through each ancestor, behind whatever each one still has queued."""
        start = self._app.focused or self._app.screen
        nodes = list(start.ancestors_with_self)  # the focused widget, its parents, the screen, the App

        def hop(index: int) -> None:
            while index < len(nodes):
                step = partial(hop, index + 1) if index + 1 < len(nodes) else then
                if nodes[index].call_later(step):
                    return
                index += 1  # a node closing takes no callbacks: the next one up

        hop(0)

    async def _run(self, key: events.Key) -> None:
        try:  # chosen again: the keys before it may have moved the focus themselves
            active = self._focus_binding(key)
            if active is None:
                self._held.insert(0, key)  # no longer a focus move: it goes the usual way, first of the held keys
            else:
                await self._app.run_action(active.binding.action, active.node)
        finally:  # behind what the action queued (a focus() call): then the held keys go where the focus went
            self._app.call_later(self._release)

    def type_into_field(self, key: events.Key) -> bool:
        """A character no key takes, read while nothing is focused on a screen that names a field for it
        (``TYPE_INTO``), starts that field's text (True: the key is used up): the field takes the focus, then this
        key and the keys read behind it, in order (a digit too: it is part of the text by then)."""
        screen = self._app.screen
        selector = getattr(screen, "TYPE_INTO", "")
        if not selector or self._app.focused is not None or not key.is_printable:
            return False
        if key.key in screen.active_bindings:
            return False  # a mode key, ?, a key of the screen
        fields = screen.query(selector)
        if not fields:
            return False  # not built yet
        from textual import events

        self._holds += 1
        self._held.append(events.Key(key.key, key.character))  # a new event: this one ends here
        fields.first().focus()
        self._app.call_later(self._release)  # behind the focus() call, which is queued too
        return True

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
