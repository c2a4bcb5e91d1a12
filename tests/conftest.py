"""Shared fixtures. Every test runs under its own temp XDG dirs, so no test sees a user's config, cache,
journal or running daemon."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for

# session-wide tiny model checkpoints (built once per recipe, cached by pytest between runs)
pytest_plugins = ["tests.fixtures_models"]


@pytest.fixture(autouse=True)
def xdg(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    # ipc socket paths must stay under ~107 bytes, so the runtime dir lives in a short /tmp path
    root = Path(tempfile.mkdtemp(prefix="iw-"))
    dirs = {}
    for name in ("RUNTIME", "CACHE", "STATE", "CONFIG"):
        path = root / name.lower()
        path.mkdir(mode=0o700)
        monkeypatch.setenv(f"XDG_{name}_HOME" if name != "RUNTIME" else "XDG_RUNTIME_DIR", str(path))
        dirs[name.lower()] = path
    for key in list(os.environ):
        if key.startswith("IMAGEWORKS_"):
            monkeypatch.delenv(key)
    yield dirs
    stop_leftover_daemon(dirs["runtime"] / "imageworks" / "daemon.lock")
    shutil.rmtree(root, ignore_errors=True)


def stop_leftover_daemon(lock: Path, wait_s: float = 10.0) -> None:
    """Stop a daemon that a CLI command of the test started by itself (as a user's first command does) and that
    still runs: with its XDG dirs removed it would live on, unreachable, for the rest of the machine's day."""
    import signal

    from imageworks.daemon.runtime_guard import held_by_another  # the daemon's flock goes with its process

    def free() -> bool:
        return not held_by_another(lock)

    if free():
        return
    pid = int(lock.read_text() or 0)
    if pid <= 0:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(free, timeout=wait_s, what=f"the daemon (pid {pid}) a CLI command started to stop")
        except AssertionError:
            os.kill(pid, signal.SIGKILL)


class DaemonProcess:
    """A real daemon in a subprocess (`imageworks daemon start --foreground`) under the test's XDG dirs."""

    def __init__(self, model: str | None = None, env: dict[str, str] | None = None) -> None:
        import subprocess
        import sys

        from imageworks import client

        cmd = [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"]
        if model is not None:
            cmd += ["--model", model]
        self.log = Path(os.environ["XDG_STATE_HOME"]) / f"daemon-{os.getpid()}-{id(self)}.log"
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited at start: {self.log.read_text()}")
            return client.daemon_alive(timeout=0.5)

        try:
            self.boot_id = wait_for(up, timeout=30, what="the daemon to answer ping", interval=0.05).boot_id
        except AssertionError:
            raise RuntimeError(f"daemon did not start: {self.log.read_text()}") from None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except Exception:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_daemon(xdg):  # depends on xdg: the XDG dirs are set first
    started: list[DaemonProcess] = []

    def start(model: str | None = None, **env: str) -> DaemonProcess:
        d = DaemonProcess(model, env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
