"""What every subcommand shares: one-line errors (traceback to the log), JSON output, config loading."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from imageworks import jsonio, system
from imageworks.errors import ImageWorksError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a reader closing the pipe (`imageworks … | head`) gives any Unix tool."""

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
            result = func(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, not as a warning at interpreter exit
            return result
        except BrokenPipeError:
            _quiet_broken_pipe()
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


def _quiet_broken_pipe() -> None:
    """The reader went away (`| head`): exit without a word. stdout is pointed at /dev/null so that Python's final
    flush of what is still buffered does not fail a second time (the recipe in Python's signal docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(EXIT_BROKEN_PIPE)


def open_tunnel(ctx: click.Context, host: str) -> None:
    """`imageworks --ssh HOST …`: the daemon on HOST for this command (and what it starts), until it ends; a
    failure is one line."""
    from imageworks import config
    from imageworks.client.tunnel import SshTunnel

    try:
        ctx.with_resource(SshTunnel(host, config.load().daemon.ssh_command))
    except ImageWorksError as exc:
        log_traceback(exc)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def ensure_daemon(model: str | None = None) -> None:
    """Start a daemon if none answers, and say so on stderr: a background process nobody asked for by name should
    not appear silently."""
    from imageworks import client

    if client.daemon_alive() is not None:
        return
    client.ensure_daemon(model=model)
    pid = (client.read_connection() or {}).get("pid", "?")
    click.echo(f"started the daemon (pid {pid})", err=True)


def emit_json(data: Any) -> None:
    click.echo(jsonio.dumps(data, indent=2, sort_keys=True, default=str))


def write_jsonl_text(jsonl: Path, text: str, *, force: bool) -> bool:
    """JSON lines to ``jsonl`` atomically (temp file + rename), or to stdout for ``-`` (then False: nothing more to
    say). An existing file is kept unless ``force``; a write error is one line."""
    if str(jsonl) == "-":
        click.echo(text, nl=False)
        return False
    if jsonl.exists() and not force:
        raise ImageWorksError(f"{jsonl} exists; pass --force to overwrite it")
    tmp = jsonl.with_name(jsonl.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(jsonl)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ImageWorksError(f"cannot write {jsonl}: {exc.strerror or exc}") from exc
    return True
