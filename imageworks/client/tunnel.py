"""Reaching a daemon on another machine over ssh (`imageworks --ssh HOST`, as `jupyter console --ssh` does).

One ssh connection (a control master: a password or key is asked once) reads the daemon's connection file on HOST,
then forwards the daemon's two sockets here (``-L local:remote``; unix sockets, or TCP ports for a TCP endpoint).
This process, and the processes it starts, get a private runtime dir of their own (``XDG_RUNTIME_DIR``) holding
the forwarded sockets and a copy of the connection file whose endpoints name them, marked ``remote: HOST``: the
client then never looks at the remote daemon's pid here (it means nothing on this machine) and judges it by its
answers only (the TUI's heartbeat), and a client that finds it not answering never starts a local one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imageworks import paths
from imageworks.errors import DaemonError

REMOTE_CONNECTION_FILE = (
    'd="${XDG_RUNTIME_DIR:+$XDG_RUNTIME_DIR/imageworks}"; '
    'cat "${d:-${TMPDIR:-/tmp}/imageworks-$(id -u)}/connection.json"'
)
"""The shell command run on HOST: the connection file where the daemon there writes it (paths.runtime_dir)."""
CONNECT_TIMEOUT_S = 60.0
"""How long to wait for ssh to log in (a person may be typing a password) and to set up the forwards."""


def forward_plan(info: dict[str, Any], local_dir: Path, host: str) -> tuple[dict[str, Any], list[str]]:
    """The connection info as seen here, and the ``-L`` arguments that carry ``info``'s endpoints to ``local_dir``
    (unix sockets) or to free local ports (TCP)."""
    local = {**info, "remote": host}
    args: list[str] = []
    for name in ("requests", "events"):
        endpoint = str(info.get(name, ""))
        if endpoint.startswith("ipc://"):
            path = local_dir / f"{name}.sock"
            args += ["-L", f"{path}:{endpoint.removeprefix('ipc://')}"]
            local[name] = f"ipc://{path}"
        elif endpoint.startswith("tcp://"):
            remote_host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
            if remote_host in ("*", "0.0.0.0", ""):
                remote_host = "localhost"  # listening on every address: reach it from HOST itself
            local_port = _free_port()
            args += ["-L", f"127.0.0.1:{local_port}:{remote_host}:{port}"]
            local[name] = f"tcp://127.0.0.1:{local_port}"
        else:
            raise DaemonError(f"cannot forward the daemon's {name} endpoint {endpoint!r} over ssh", code="ssh")
    return local, args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SshTunnel:
    """The daemon on ``host``, here, while open. ``ssh_command`` is how to run ssh (``daemon.ssh_command``: e.g.
    ``ssh -i ~/.ssh/gpu -J bastion``)."""

    def __init__(self, host: str, ssh_command: str = "ssh", *, timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.host = host
        self.ssh = shlex.split(ssh_command) or ["ssh"]
        self.timeout = timeout
        self.dir: Path | None = None
        self.master: subprocess.Popen[bytes] | None = None
        self._previous_runtime: str | None = None
        self._pointed = False

    def __enter__(self) -> SshTunnel:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def control(self) -> Path:
        assert self.dir is not None
        return self.dir / "ssh-control"

    def open(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="iw-ssh-"))  # 0700; short, as ipc socket paths must be
        runtime = self.dir / "imageworks"
        runtime.mkdir(mode=0o700)
        self._start_master()
        info = self._remote_connection()
        local, forwards = forward_plan(info, runtime, self.host)
        self._ssh(["-O", "forward", *forwards], what="forward the daemon's sockets")
        self._wait_for_forwards(local)
        paths.write_private(runtime / "connection.json", json.dumps(local, indent=2))
        self._previous_runtime = os.environ.get("XDG_RUNTIME_DIR")
        self._pointed = True
        os.environ["XDG_RUNTIME_DIR"] = str(self.dir)  # this process and the ones it starts talk to HOST's daemon

    def close(self) -> None:
        if self._pointed:
            self._pointed = False
            if self._previous_runtime is None:
                os.environ.pop("XDG_RUNTIME_DIR", None)
            else:
                os.environ["XDG_RUNTIME_DIR"] = self._previous_runtime
        if self.master is not None:
            if self.master.poll() is None:
                self.master.terminate()
                try:
                    self.master.wait(5)
                except subprocess.TimeoutExpired:
                    self.master.kill()
                    self.master.wait(5)
            self.master = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # ---- ssh ---------------------------------------------------------------------------------------------------

    def _start_master(self) -> None:
        """One login (asked on this terminal if ssh must ask); the later commands ride on it."""
        self.master = subprocess.Popen(
            [
                *self.ssh,
                "-M",
                "-S",
                str(self.control),
                "-N",
                "-o",
                "ControlPersist=no",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "StreamLocalBindUnlink=yes",
                self.host,
            ],
            stdin=subprocess.DEVNULL,  # ssh asks for a password or passphrase on the terminal itself, not on stdin
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + self.timeout
        while not self.control.exists():
            if self.master.poll() is not None:
                raise DaemonError(f"ssh to {self.host} failed: {self._master_error()}", code="ssh")
            if time.monotonic() > deadline:
                raise DaemonError(f"ssh to {self.host}: no connection after {self.timeout:g} s", code="ssh")
            time.sleep(0.05)  # ok-sleep: polling for ssh's control socket (no event to wait on)

    def _master_error(self) -> str:
        assert self.master is not None and self.master.stderr is not None
        lines = self.master.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self.master.returncode}"

    def _ssh(self, options: list[str], command: str = "", *, what: str) -> str:
        """Run ssh on the master's connection: ``options`` before HOST, ``command`` (to run there) after it."""
        try:
            done = subprocess.run(
                [*self.ssh, "-S", str(self.control), *options, self.host, *([command] if command else [])],
                capture_output=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise DaemonError(f"ssh to {self.host}: could not {what} within {self.timeout:g} s", code="ssh") from None
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"exit code {done.returncode}"
            raise DaemonError(f"ssh to {self.host}: could not {what}: {why}", code="ssh")
        return done.stdout.decode()

    def _remote_connection(self) -> dict[str, Any]:
        try:
            text = self._ssh([], REMOTE_CONNECTION_FILE, what="read the daemon's connection file")
        except DaemonError as exc:
            raise DaemonError(
                f"{exc}; is a daemon running there? (`ssh {self.host} imageworks daemon start`)", code="not_running"
            ) from None
        try:
            info = json.loads(text)
        except json.JSONDecodeError:
            raise DaemonError(f"the connection file on {self.host} is not JSON", code="ssh") from None
        if not isinstance(info, dict) or not {"requests", "events", "key"} <= info.keys():
            raise DaemonError(f"the connection file on {self.host} does not name the daemon's sockets", code="ssh")
        return info

    def _wait_for_forwards(self, local: dict[str, Any]) -> None:
        """ssh has answered the forward request; its listeners are there a moment later."""
        deadline = time.monotonic() + self.timeout
        for name in ("requests", "events"):
            endpoint = str(local[name])
            while not _listening(endpoint):
                if self.master is not None and self.master.poll() is not None:
                    raise DaemonError(f"ssh to {self.host} exited: {self._master_error()}", code="ssh")
                if time.monotonic() > deadline:
                    raise DaemonError(f"ssh to {self.host}: {endpoint} never came up", code="ssh")
                time.sleep(0.05)  # ok-sleep: polling for ssh's listener (no event to wait on)


def _die_with_parent() -> None:
    """In the ssh child before exec: end with this process, even killed, rather than hold the forwards open."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _listening(endpoint: str) -> bool:
    if endpoint.startswith("ipc://"):
        return Path(endpoint.removeprefix("ipc://")).exists()
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False
