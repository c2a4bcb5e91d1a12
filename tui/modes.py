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
        return load_screen(self.screen)


def screen_class(spec: str) -> type[Screen]:
    """The class ``module:ClassName`` names (imported on first use)."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def load_screen(spec: str) -> Screen:
    """A new screen of the class ``module:ClassName`` names (imported on first use)."""
    return screen_class(spec)()


MODES: tuple[Mode, ...] = (
    Mode("configure", "1,f2", "Configure", "imageworks.tui.screens.configure:ConfigureScreen"),
    Mode("execute", "2,f3", "Execute", "imageworks.tui.screens.execute:ExecuteScreen"),
    Mode("review", "3,f4", "Review", "imageworks.tui.screens.review:ReviewScreen"),
    Mode("jobs", "4,f5", "Jobs", "imageworks.tui.screens.jobs:JobsScreen"),
    Mode("daemon", "5,f6", "Daemon", "imageworks.tui.screens.daemon:DaemonScreen"),
    Mode("similar", "6,f9", "Similar", "imageworks.tui.screens.similar:SimilarScreen"),
    Mode("mono", "7,f10", "Mono", "imageworks.tui.screens.mono:MonoScreen"),
)
BY_NAME = {mode.name: mode for mode in MODES}
JOB_RESULTS = "imageworks.tui.screens.job_results:JobResultsScreen"
"""A job's results (enter in Jobs): pushed over the Jobs mode, not a mode of its own."""
JOB_RESULTS_ID = "job-results"


def screen_factories() -> dict[str, str | Callable[[], Screen]]:
    """``App.MODES``: each mode's screen, built on its first visit."""
    return {mode.name: mode.make_screen for mode in MODES}


def mode_label(screen: Screen) -> str:
    """What the help screen calls a screen: its mode's label, else its class name less ``Screen``."""
    mode = BY_NAME.get(getattr(screen, "MODE", ""))
    return mode.label if mode is not None else type(screen).__name__.removesuffix("Screen")
