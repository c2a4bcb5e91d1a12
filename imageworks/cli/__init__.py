"""The ``imageworks`` command: the one composition root. It may import ``tui`` and ``daemon`` lazily, inside the
subcommand that runs them; every other module of the core imports neither (tests/test_layers.py)."""

from __future__ import annotations

import click

from imageworks import __version__
from imageworks.cli.daemon import daemon_group
from imageworks.cli.jobs import jobs_group


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imageworks")
@click.pass_context
def main(ctx: click.Context) -> None:
    """ImageWorks: tag, review and write photo metadata with a vision-language model held by a daemon.

    With no subcommand, starts the TUI (same as `imageworks tui`)."""
    if ctx.invoked_subcommand is None:
        tui_cmd = main.get_command(ctx, "tui")
        if tui_cmd is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(tui_cmd)


main.add_command(daemon_group)
main.add_command(jobs_group)
