"""The config the TUI edits: one value shared by every service, replaced on each valid change, of which only the
changed keys are written to the config file (what the person wrote there by hand, and what an ``IMAGEWORKS_*``
variable set for this run, are never written back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imageworks import config as iw_config


class Settings:
    def __init__(self, config: iw_config.Config, path: Path | None = None) -> None:
        self.config = config
        self.path = path

    def update(self, section: str, **values: Any) -> bool:
        """Validate and save one section's changes (raises ConfigError: the caller shows it inline); whether the
        config changed."""
        new = iw_config.replace(self.config, section, **values)
        if new == self.config:
            return False
        before, after = getattr(self.config, section), getattr(new, section)
        changed = {key: getattr(after, key) for key in values if getattr(after, key) != getattr(before, key)}
        iw_config.save_values(section, changed, self.path)
        self.config = new
        return True
