"""The ``imageworks`` command: the one composition root. It may import ``tui`` and ``daemon`` lazily, inside the
subcommand that runs them; every other module of the core imports neither (tests/test_layers.py).

Subcommands are imported only when named (``LazyGroup``): `imageworks tui` does not pay for pyexiv2, the scan
cache or the daemon CLI before its first paint.
"""

from __future__ import annotations

import importlib

import click

from imageworks import __version__

SUBCOMMANDS: dict[str, str] = {
    "tui": "imageworks.cli.tui:tui_cmd",
    "daemon": "imageworks.cli.daemon:daemon_group",
    "models": "imageworks.cli.models:models_group",
    "scan": "imageworks.cli.scan:scan_cmd",
    "cache": "imageworks.cli.scan:cache_group",
    "tag": "imageworks.cli.tag:tag_cmd",
    "jobs": "imageworks.cli.jobs:jobs_group",
    "metadata": "imageworks.cli.metadata:metadata_group",
    "review": "imageworks.cli.review:review_group",
    "similar": "imageworks.cli.similar:similar_group",
    "mono": "imageworks.cli.mono:mono_cmd",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS and cmd_name not in self.commands:
            module_name, attr = SUBCOMMANDS[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module_name), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imageworks")
@click.option(
    "--ssh",
    "ssh_host",
    metavar="HOST",
    default=None,
    help="Use the daemon on HOST: its sockets are forwarded over ssh (daemon.ssh_command); the photos stay there.",
)
@click.pass_context
def main(ctx: click.Context, ssh_host: str | None) -> None:
    """ImageWorks: tag, review and write photo metadata with a vision-language model held by a daemon.

    With no subcommand, starts the TUI (same as `imageworks tui`)."""
    if ssh_host:
        from imageworks.cli.common import open_tunnel

        open_tunnel(ctx, ssh_host)
    if ctx.invoked_subcommand is None:
        tui_cmd = main.get_command(ctx, "tui")
        assert tui_cmd is not None
        ctx.invoke(tui_cmd)
