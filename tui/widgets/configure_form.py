"""The Configure form: library root, filters with live counts from the scan cache, model, profile, batch size,
keywords, metadata mode. Every valid change is saved to the config at once; an invalid one is shown inline and not
saved. Typing never scans: counts come from the cached listing (SQL), and a walk happens only on the scan keys.

Its own module, imported when the form is built (right after the first frame): the first paint does not wait for
Input, Checkbox and the rest."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static

from imageworks.errors import ImageWorksError

from ..access import AppAccess
from ..state import DaemonView, FilterCounts, ScanView
from .choice import Choice

WRITE_MODES = (
    ("none: review first", "none"),
    ("skip tagged files", "skip"),
    ("merge keywords", "merge"),
    ("overwrite", "overwrite"),
)


class FieldError(Static):
    """One inline validation message under a field; takes no room when there is none."""

    def on_mount(self) -> None:
        self.display = False

    def show(self, message: str) -> None:
        self.update(message)
        self.display = bool(message)


class PathSuggester(Suggester):
    """Completes the last component of a directory path (accept with → or end)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, prefix = os.path.split(expanded)
        try:
            names = sorted(
                e.name
                for e in os.scandir(folder or ".")
                if e.name.startswith(prefix) and not e.name.startswith(".") and e.is_dir()
            )
        except OSError:
            return None
        if not names or (prefix and names[0] == prefix and len(names) == 1):
            return None
        return value + names[0][len(prefix) :] + os.sep


def row(label: str, *widgets: Widget, id: str | None = None) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), *widgets, classes="field-row", id=id)


class ConfigureForm(AppAccess, Vertical):
    """The fields of the Configure mode; the screen around it holds the scan keys."""

    def compose(self) -> ComposeResult:
        tui = self.services.config.tui
        cfg = self.services.config
        yield row(
            "Library",
            Input(tui.library_root, placeholder="/path/to/photos", id="root", suggester=PathSuggester(), compact=True),
        )
        yield FieldError("", id="root-error", classes="field-error")
        yield Static(f"not scanned yet: {self._scan_key()} scans", id="scan-status", classes="field-note")
        yield row(
            "Min size",
            Input(tui.min_size, placeholder="e.g. 500k", id="min-size", compact=True),
            Label("Exts", classes="field-label-inline"),
            Input(tui.extensions, placeholder="jpg, png, raw", id="extensions", compact=True),
        )
        yield FieldError("", id="filter-error", classes="field-error")
        yield row("", Checkbox("skip files already tagged", tui.skip_tagged, id="skip-tagged", compact=True))
        yield Static("", id="counts", classes="field-note")
        yield row("Model", Choice(self._model_options(), cfg.model.name, id="model"))
        yield row("Profile", Choice(self._profile_options(), cfg.tagger.profile, id="profile"))
        yield row(
            "Batch size",
            Input(str(cfg.model.batch_size), id="batch-size", type="integer", compact=True),
            Label("Max keywords", classes="field-label-inline"),
            Input(str(cfg.tagger.max_keywords), id="max-keywords", type="integer", compact=True),
        )
        yield FieldError("", id="number-error", classes="field-error")
        yield row("Metadata", Choice(list(WRITE_MODES), tui.write_metadata, id="write-metadata"))

    def _scan_key(self) -> str:
        return self.iw_app.key_for("configure.scan")

    def on_mount(self) -> None:
        self.watch(self.app, "scan_view", self._scan_changed)
        self.watch(self.app, "counts", self._counts_changed)
        self.watch(self.app, "models", lambda _: self._refresh_models(), init=False)
        self.watch(self.app, "daemon", self._daemon_changed, init=False)
        self._chosen = {group: self._saved(group) for group in self.GROUPS}
        """Per field group, its values when last chosen: what the config goes back to while the group is in error."""
        self._problem("root", self._root_problem(self.services.config.tui.library_root))
        self.services.count()
        self.services.list_models()

    # ---- options -----------------------------------------------------------------------------------------------

    def _model_options(self) -> list[tuple[str, str]]:
        names: list[str] = []
        daemon: DaemonView = self.iw_app.daemon
        loaded = daemon.model
        if loaded is not None and loaded.name:
            names.append(loaded.name)
        names += self.services.models
        if self.services.config.model.name:
            names.append(self.services.config.model.name)
        options = [("daemon default", "")]
        for name in dict.fromkeys(names):
            label = name
            if loaded is not None and loaded.name == name:
                label += f" ({loaded.state}{', demo model' if loaded.demo else ''})"
            elif name == "demo":
                label += " (demo model)"
            options.append((label, name))
        return options

    def _profile_options(self) -> list[tuple[str, str]]:
        try:
            from imageworks.tagging.profiles import list_profiles

            names = [p.name for p in list_profiles()]
        except ImageWorksError as exc:
            self.notify(str(exc), severity="warning")
            names = []
        current = self.services.config.tagger.profile
        return [(n, n) for n in dict.fromkeys([*names, current])]

    def _refresh_models(self) -> None:
        options = self._model_options()
        if options != getattr(self, "_shown_models", None):
            self._shown_models = options
            self.query_one("#model", Choice).set_options(options)

    def _daemon_changed(self, view: DaemonView) -> None:
        self._refresh_models()

    # ---- reactions ---------------------------------------------------------------------------------------------

    def _scan_changed(self, view: ScanView) -> None:
        if view.state == "idle" and not view.message:
            return
        status = self.query_one("#scan-status", Static)
        status.update(view.message)
        status.set_class(view.state == "error", "-error")

    def _counts_changed(self, counts: FilterCounts | None) -> None:
        label = self.query_one("#counts", Static)
        if counts is None:
            return
        if counts.error:
            label.update(counts.error)
        elif not counts.scanned:
            label.update(f"no cached listing for this folder: {self._scan_key()} scans it")
        else:
            text = f"{counts.matched:,} of {counts.total:,} images match"
            if counts.unprobed:
                text += f" ({counts.unprobed:,} not yet checked for tags: {self._scan_key()} checks)"
            label.update(text)

    def _save(self, section: str, error_id: str, **values: object) -> bool:
        error = self.query_one(f"#{error_id}", FieldError)
        try:
            self.services.update_config(section, **values)
        except ImageWorksError as exc:
            error.show(str(exc))
            return False
        error.show("")
        self.iw_app.config_changed()
        return True

    # A field in error is never saved, and the config goes back to what the field held when it was last chosen (left
    # with a valid value): a valid prefix typed on the way to a mistyped value (``…/al`` of ``…/alx``, ``12`` of
    # ``12 parsecs``) is never what stays saved. Every action that would use the field is gated meanwhile
    # (``set_field_error``: Execute's run, Configure's scan, Similar's compute and move).

    GROUPS: ClassVar[dict[str, dict[str, tuple[str, ...]]]] = {
        "root": {"tui": ("library_root",)},
        "filters": {"tui": ("min_size", "extensions")},
        "numbers": {"model": ("batch_size",), "tagger": ("max_keywords",)},
    }
    ERROR_IDS: ClassVar[dict[str, str]] = {"root": "root-error", "filters": "filter-error", "numbers": "number-error"}
    FIELDS: ClassVar[dict[str, str]] = {
        "root": "root",
        "min-size": "filters",
        "extensions": "filters",
        "batch-size": "numbers",
        "max-keywords": "numbers",
    }

    def _saved(self, group: str) -> dict[str, dict[str, Any]]:
        cfg = self.services.config
        return {s: {k: getattr(getattr(cfg, s), k) for k in keys} for s, keys in self.GROUPS[group].items()}

    def _problem(self, group: str, problem: str) -> bool:
        """Show (or clear) a group's problem and gate on it; whether the group is valid. In error, the config goes
        back to the group's chosen values."""
        error = self.query_one(f"#{self.ERROR_IDS[group]}", FieldError)
        error.show(problem)
        self.iw_app.set_field_error(group, problem)
        if problem and self._saved(group) != self._chosen[group]:
            try:
                for section, values in self._chosen[group].items():
                    self.services.update_config(section, **values)  # values it held before: valid
            except ImageWorksError as exc:  # the config file cannot be read: nothing is written
                error.show(f"{problem}; {exc}")
            self.iw_app.config_changed()
            if group != "numbers":
                self.services.count()
        return not problem

    @on(Input.Blurred)
    @on(Input.Submitted)
    def _chosen_now(self, event: Input.Blurred | Input.Submitted) -> None:
        """Leaving a field (or enter) chooses what its group holds, when valid."""
        group = self.FIELDS.get(event.input.id or "")
        if group is not None and not self.iw_app.field_errors.get(group):
            self._chosen[group] = self._saved(group)

    def _root_problem(self, value: str) -> str:
        """Why ``value`` is no library folder ("" when it is one, or empty)."""
        path = os.path.expanduser(value.strip())
        if not path:
            return ""
        if not os.path.exists(path):
            return f"{value.strip()}: no such folder"
        if not os.path.isdir(path):
            return f"{value.strip()}: not a folder"
        return ""

    # An Input posts Changed for the value it starts with, too: a value equal to the saved one is no change (no save,
    # no count: the form's mount asked for the counts once already).

    @on(Input.Changed, "#root")
    def _root_changed(self, event: Input.Changed) -> None:
        root = event.value.strip()
        if not self._problem("root", self._root_problem(event.value)):
            return
        if root != self.services.config.tui.library_root and self._save("tui", "root-error", library_root=root):
            self.services.count()  # the cached listing only: never a scan

    @on(Input.Submitted, "#root")
    async def _root_submitted(self) -> None:
        await self.run_action("screen.scan")

    @on(Input.Changed, "#min-size, #extensions")
    def _filters_changed(self) -> None:
        from imageworks.scan import parse_extensions, parse_size

        min_size = self.query_one("#min-size", Input).value.strip()
        extensions = self.query_one("#extensions", Input).value.strip()
        problem = ""
        try:
            if min_size:
                parse_size(min_size)
            if extensions:
                parse_extensions(extensions)
        except ImageWorksError as exc:
            problem = str(exc)
        if not self._problem("filters", problem):
            return
        tui = self.services.config.tui
        if (min_size, extensions) == (tui.min_size, tui.extensions):
            return
        if self._save("tui", "filter-error", min_size=min_size, extensions=extensions):
            self.services.count()

    @on(Checkbox.Changed, "#skip-tagged")
    def _skip_changed(self, event: Checkbox.Changed) -> None:
        if self._save("tui", "filter-error", skip_tagged=event.value):
            self.services.count()

    @on(Choice.Changed, "#model")
    def _model_changed(self, event: Choice.Changed) -> None:
        self._save("model", "number-error", name=event.value)

    @on(Choice.Changed, "#profile")
    def _profile_changed(self, event: Choice.Changed) -> None:
        self._save("tagger", "number-error", profile=event.value)

    @on(Choice.Changed, "#write-metadata")
    def _write_changed(self, event: Choice.Changed) -> None:
        self._save("tui", "number-error", write_metadata=event.value)

    @on(Input.Changed, "#batch-size, #max-keywords")
    def _numbers_changed(self, event: Input.Changed) -> None:
        batch = self.query_one("#batch-size", Input).value.strip()
        keywords = self.query_one("#max-keywords", Input).value.strip()
        problems = []
        if not batch.isdigit() or not 1 <= int(batch) <= 1024:
            problems.append("batch size: a whole number from 1 to 1024")
        if not keywords.isdigit() or not 1 <= int(keywords) <= 200:
            problems.append("max keywords: a whole number from 1 to 200")
        if not self._problem("numbers", "; ".join(problems)):
            return
        if self._save("model", "number-error", batch_size=int(batch)):
            self._save("tagger", "number-error", max_keywords=int(keywords))
