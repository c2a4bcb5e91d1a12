"""What every subcommand shares: one-line errors (traceback to the log), JSON output, config loading."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import click

from imageworks import jsonio, paths
from imageworks.errors import ImageWorksError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def log_traceback(exc: BaseException) -> str:
    """Append the traceback to the state dir's log; return the log path for the error line."""
    try:
        log = paths.log_dir() / "cli.log"
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(timezone.utc).isoformat()} {' '.join(sys.argv)}\n")
            fh.write("".join(traceback.format_exception(exc)))
        return str(log)
    except OSError:
        return "(log unavailable)"


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
