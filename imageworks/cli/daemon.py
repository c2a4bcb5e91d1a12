"""`imageworks daemon start|stop|status`."""

from __future__ import annotations

import click


@click.group("daemon")
def daemon_group() -> None:
    """Start, stop and inspect the daemon that holds the model."""
