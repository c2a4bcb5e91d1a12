"""Where a running daemon can be found when its runtime files are gone: ``$XDG_STATE_HOME/imageworks/daemon.json``.

The runtime dir (sockets, lock, connection file) can vanish under a running daemon: systemd-logind removes
``/run/user/UID`` when a user's last session ends. The daemon makes its files again on its own (within
``daemon.runtime_check_s``, daemon/runtime_guard.py), but a client that comes first — ``ssh box imageworks tui``
right after the login — would start a second daemon. So the daemon also notes its pid, its start time and its
runtime dir in the state dir, which logind leaves alone, and a client that finds no daemon asks the one noted
there (SIGUSR1, as tmux's server takes it) to make its files again now, before it starts one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from imageworks import paths
from imageworks.system import process_started

WAKE_SIGNAL = signal.SIGUSR1
"""What the daemon takes as "look at your runtime files now"."""


def record_path() -> Path:
    return paths.state_dir() / "daemon.json"


def write_record(runtime: Path, boot_id: str) -> None:
    pid = os.getpid()
    record = {"pid": pid, "started": process_started(pid), "runtime": str(runtime), "boot_id": boot_id}
    paths.write_private(record_path(), json.dumps(record))


def remove_record(boot_id: str) -> None:
    """At shutdown: the record goes if it is still this daemon's."""
    record = read_record()
    if record is not None and record.get("boot_id") == boot_id:
        record_path().unlink(missing_ok=True)


def read_record() -> dict[str, Any] | None:
    try:
        record = json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def wake_noted_daemon() -> int | None:
    """Ask the daemon noted in the state dir to make its runtime files again (it runs, it is the process that
    wrote the record, and it serves the runtime dir this client uses); its pid, or None when there is none."""
    record = read_record()
    if record is None:
        return None
    pid, started = record.get("pid"), record.get("started")
    if not isinstance(pid, int) or started is None or process_started(pid) != started:
        return None  # gone, or its pid now names another process: never signal that one
    if record.get("runtime") != str(paths.runtime_dir(create=False)):
        return None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, WAKE_SIGNAL)
        return pid
    return None
