"""Small process and logging helpers shared by the CLI, the TUI and the metadata writer."""

from __future__ import annotations

import os
import traceback
from datetime import datetime, timezone

from imageworks import paths


def pid_alive(pid: int) -> bool:
    """Whether a process runs under this pid (one of another user counts; a zombie does not: it has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def process_started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat): a pid reused by a later process has
    another; None when no such process runs (a zombie has exited) or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[19]) if len(fields) > 19 and fields[0] != "Z" else None


def log_traceback(exc: BaseException, log_name: str, context: str = "") -> str:
    """Append the traceback to ``<state dir>/logs/<log_name>`` (never on the screen); return the log's path for the
    one-line error."""
    try:
        log = paths.log_dir() / log_name
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(timezone.utc).isoformat()} {context}".rstrip() + "\n")
            fh.write("".join(traceback.format_exception(exc)))
        return str(log)
    except OSError:
        return "(log unavailable)"
