"""The Debug panel: counters proving that typing, switching modes or resizing runs nothing expensive."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from textual.widgets import Static

if TYPE_CHECKING:
    from ..app import ImageWorksApp


def counter_values(app: ImageWorksApp) -> dict[str, int]:
    """Every counter the panel shows, by name (tests read the same numbers)."""
    services = app.services
    scan = services.scan_counters()
    status = app.daemon.status
    feeds = {name: slot.feed for name, slot in status.slots.items() if slot.feed is not None} if status else {}
    return {
        "scans run": scan["scans_run"],
        "scan cache hits": scan["cache_hits"],
        "files probed": scan["files_probed"],
        "filter counts": services.counters.count_queries,
        "runs submitted": services.counters.runs_submitted,
        "daemon inferences": status.counters.inferences if status else 0,
        "model loads": status.counters.model_loads if status else 0,
        # per slot: the share of the model's time spent waiting for its images, and the images decoded
        **{f"{name} input wait %": round(feed.input_wait_share * 100) for name, feed in feeds.items()},
        **{f"{name} decodes": feed.decodes for name, feed in feeds.items()},
        "screens composed": services.counters.screens_composed,
        "switches held": services.counters.held_switches,
        "screen layouts": services.counters.layouts,
        "result rows held": services.store.rows_held(),
        **services.similar.counters(),
        **services.mono.counters(),
    }


class DebugPanel(Static):
    """Shown on every mode when the App has the ``-debug`` class; refreshed twice a second while shown."""

    DEFAULT_CSS = """
    DebugPanel { display: none; width: 30; height: 100%; border-left: solid $accent; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.5, self.update_counters, pause=True)
        self.watch(self.app, "show_debug", self._shown)

    def _shown(self, shown: bool) -> None:
        if shown:
            self.update_counters()
            self._timer.resume()
        else:
            self._timer.pause()

    def update_counters(self) -> None:
        if not self.is_attached:
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(ratio=1)
        table.add_column(justify="right")
        for name, value in counter_values(self.app).items():  # type: ignore[arg-type]
            table.add_row(name, f"{value:,}")
        table.add_row("", "")
        app = self.app
        table.add_row(f"[b]{app.key_for('app.clear_scan_cache')}[/] clear scan cache", "")  # type: ignore[attr-defined]
        table.add_row(f"[b]{app.key_for('app.clear_all_caches')}[/] clear all caches", "")  # type: ignore[attr-defined]
        self.update(table)
