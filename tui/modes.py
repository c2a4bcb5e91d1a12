"""The one table of modes: key, label, screen. ``App.MODES``, the mode bindings, the header's tabs and the help
screen all read it. Screens are named by import path and imported on a mode's first visit (start-up stays light)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from textual.screen import Screen


class Mode(NamedTuple):
    name: str
    keys: str
    """Comma-separated, as a Binding takes them; the first is the one the header shows."""
    label: str
    screen: str
    """``module:ClassName`` of the mode's screen."""

    @property
    def key(self) -> str:
        return self.keys.split(",")[0]

    @property
    def binding_id(self) -> str:
        return f"app.mode.{self.name}"

    def make_screen(self) -> Screen:
        module, name = self.screen.split(":")
        return getattr(importlib.import_module(module), name)()


MODES: tuple[Mode, ...] = (
    Mode("configure", "1,f2", "Configure", "tui.screens.configure:ConfigureScreen"),
    Mode("execute", "2,f3", "Execute", "tui.screens.execute:ExecuteScreen"),
    Mode("results", "3,f4", "Results", "tui.screens.results:ResultsScreen"),
    Mode("jobs", "4,f5", "Jobs", "tui.screens.jobs:JobsScreen"),
    Mode("daemon", "5,f6", "Daemon", "tui.screens.daemon:DaemonScreen"),
    Mode("similar", "6,f9", "Similar", "tui.screens.similar:SimilarScreen"),
)
BY_NAME = {mode.name: mode for mode in MODES}


def screen_factories() -> dict[str, Callable[[], Screen]]:
    """``App.MODES``: each mode's screen, built on its first visit."""
    return {mode.name: mode.make_screen for mode in MODES}


def mode_label(screen: Screen) -> str:
    """What the help screen calls a screen: its mode's label, else its class name less ``Screen``."""
    mode = BY_NAME.get(getattr(screen, "MODE", ""))
    return mode.label if mode is not None else type(screen).__name__.removesuffix("Screen")
