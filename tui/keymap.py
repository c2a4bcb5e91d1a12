"""The keymap (``[tui] keymap``: binding id -> keys) checked against the bindings it remaps: an id that names no
binding, and a key that two actions of one screen would share, are each named in one line at start.

Textual applies a keymap silently: an unknown id does nothing, and a key remapped onto another action's key takes
that action's place (or loses to it) on the screens where both are bound. Every binding of ours lives in a class
attribute (``BINDINGS``) of the App, a screen or a widget under ``tui/``, so the check reads those classes; it runs
only when a keymap is set (it imports every screen module, which a start-up without a keymap never does)."""

from __future__ import annotations

import importlib
import pkgutil
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

if TYPE_CHECKING:
    from textual.app import App

PACKAGES = ("imageworks.tui.screens", "imageworks.tui.widgets")


def normal_key(key: str) -> str:
    """A key as Textual names it: ``?`` -> ``question_mark``, ``]`` -> ``right_square_bracket``."""
    key = key.strip()
    if len(key) == 1 and not key.isalnum():
        try:
            return unicodedata.name(key).lower().replace("-", "_").replace(" ", "_")
        except ValueError:
            return key
    return key


def keys_of(keys: str) -> list[str]:
    return [normal_key(k) for k in keys.split(",") if k.strip()]


def own_bindings(cls: type) -> list[Binding]:
    """The Binding objects a class declares and inherits (Textual merges BINDINGS along the MRO)."""
    found: list[Binding] = []
    for base in reversed(cls.__mro__):
        found += [b for b in vars(base).get("BINDINGS", ()) if isinstance(b, Binding)]
    return found


def keys_bound(binding_id: str, classes: Iterable[type], keymap: Mapping[str, str]) -> str | None:
    """The keys (comma-separated) of ``binding_id``: the keymap's, else the first of ``classes`` that declares it."""
    if binding_id in keymap:
        return keymap[binding_id]
    return next((b.key for cls in classes for b in own_bindings(cls) if b.id == binding_id), None)


def keys_hint(app: App[Any], cls: type, *binding_ids: str) -> str:
    """``y / enter: yes    n / escape: no``: each binding's keys (after the keymap) and what it does, for the line of
    keys a dialog shows (never written out by hand: a remapped key would show its old name)."""
    keymap = getattr(app, "keymap", {})
    parts = []
    for binding_id in binding_ids:
        binding = next((b for b in own_bindings(cls) if b.id == binding_id), None)
        keys = keys_bound(binding_id, [cls], keymap)
        if binding is None or keys is None:
            continue
        shown = " / ".join(app.get_key_display(Binding(k, "")) for k in keys_of(keys))
        parts.append(f"{shown}: {binding.description.lower()}")
    return "    ".join(parts)


def binding_classes() -> list[type]:
    """Every class under ``tui/screens`` and ``tui/widgets`` that declares bindings (imports their modules)."""
    classes: list[type] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            module = importlib.import_module(info.name)
            classes += [
                value
                for value in vars(module).values()
                if isinstance(value, type) and value.__module__ == module.__name__ and "BINDINGS" in vars(value)
            ]
    return classes


def keymap_problems(keymap: Mapping[str, str], app_class: type, classes: Iterable[type]) -> list[str]:
    """One line per unknown binding id and per key that two actions of one screen (or a screen and the App) share
    once the keymap is applied; only clashes the keymap made are named (the defaults are designed not to clash)."""
    classes = list(dict.fromkeys(classes))
    app_bindings = own_bindings(app_class)
    known = {b.id for cls in [app_class, *classes] for b in own_bindings(cls) if b.id}
    problems = [
        f"tui.keymap: {binding_id!r} is not a binding id (the help screen, ?, lists them)"
        for binding_id in keymap
        if binding_id not in known
    ]
    seen: set[tuple[str, frozenset[str]]] = set()
    for cls in [app_class, *classes]:
        scope = own_bindings(cls) + ([] if cls is app_class else app_bindings)
        holders: dict[str, dict[str, str]] = {}  # key -> binding id -> description
        for binding in scope:
            keys = keymap[binding.id] if binding.id is not None and binding.id in keymap else binding.key
            for key in keys_of(keys):
                holders.setdefault(key, {})[binding.id or binding.action] = binding.description or binding.action
        for key, ids in holders.items():
            remapped = [i for i in ids if i in keymap]
            if len(ids) < 2 or not remapped or (key, frozenset(ids)) in seen:
                continue
            seen.add((key, frozenset(ids)))
            where = "everywhere" if cls is app_class else f"in {cls.__name__.removesuffix('Screen')}"
            names = " and ".join(f"{i} ({d})" for i, d in ids.items())
            problems.append(f"tui.keymap: {key!r} is given to {names} {where}: one of them is lost; remap one")
    return problems


def check(keymap: Mapping[str, str], app_class: type) -> list[str]:
    """``keymap_problems`` over every binding class of the TUI (nothing to check without a keymap)."""
    if not keymap:
        return []
    return keymap_problems(keymap, app_class, binding_classes())
