"""What every subcommand shares: one-line errors (traceback to the log), JSON output, config loading."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from imageworks import jsonio, system
from imageworks.errors import ImageWorksError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def log_traceback(exc: BaseException) -> str:
    """Append the traceback to the state dir's cli.log; return the log path for the error line."""
    return system.log_traceback(exc, "cli.log", " ".join(sys.argv))


def handle_errors(func: F) -> F:
    """Turn our errors into one line on stderr and exit 1; anything unexpected also gets one line, plus a
    traceback in the log (never on the terminal)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ImageWorksError as exc:
            log_traceback(exc)
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            where = log_traceback(exc)
            click.echo(f"error: unexpected {type(exc).__name__}: {exc} (details in {where})", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    click.echo(jsonio.dumps(data, indent=2, sort_keys=True, default=str))
