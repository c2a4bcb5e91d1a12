"""Widgets of the TUI: one file per non-trivial widget."""
