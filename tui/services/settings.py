"""The config the TUI edits: one value shared by every service, replaced (and saved) on each valid change."""

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
        self.config = new
        iw_config.save(new, self.path)
        return True
