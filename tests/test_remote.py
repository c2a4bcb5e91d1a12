"""Working remotely: a daemon reached through forwarded sockets at paths other than its own (socat here, as ssh -L
makes them), with a connection file that says it is remote; `imageworks --ssh HOST` through a real sshd; previews
of photos that live on the daemon's machine, as the daemon's thumbnails."""

from __future__ import annotations

import getpass
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imageworks import client, paths
from imageworks import protocol as P
from imageworks.client import Client
from imageworks.client.tunnel import forward_plan
from imageworks.errors import DaemonError
from imageworks.jobs.records import EchoRecord
from tests.test_tui_helpers import make_app, settle, wait_until
from tests.typed_records import records_of
from tests.waiting import wait_for


def test_the_forward_plan_names_local_sockets_and_marks_the_daemon_remote(tmp_path):
    info: dict[str, Any] = {
        "requests": "ipc:///run/user/1000/imageworks/requests.sock",
        "events": "tcp://*:5556",
        "key": "k",
        "pid": 4242,
    }
    local, args = forward_plan(info, tmp_path, "gpu-box")
    assert local["requests"] == f"ipc://{tmp_path}/requests.sock"
    assert args[:2] == ["-L", f"{tmp_path}/requests.sock:/run/user/1000/imageworks/requests.sock"]
    port = int(local["events"].rpartition(":")[2])
    assert local["events"] == f"tcp://127.0.0.1:{port}" and args[2:] == ["-L", f"127.0.0.1:{port}:localhost:5556"]
    assert local["remote"] == "gpu-box" and local["key"] == "k" and info["requests"].startswith("ipc:///run")
    with pytest.raises(DaemonError, match="cannot forward"):
        forward_plan({**info, "requests": "inproc://x"}, tmp_path, "gpu-box")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # a pid nothing runs under now (the remote daemon's pid means nothing here)


@pytest.fixture
def forwarded(start_daemon, tmp_path, monkeypatch):
    """A daemon, its sockets forwarded by socat to other paths, and this process pointed at a connection file that
    names those paths and says the daemon is remote (with a pid that is dead here)."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    info = json.loads(paths.connection_file().read_text())
    runtime = Path(f"/tmp/iw-fwd-{os.getpid()}")
    (runtime / "imageworks").mkdir(parents=True, mode=0o700)
    os.chmod(runtime, 0o700)
    relays = []
    local = dict(info, remote="gpu-box", pid=_dead_pid())
    for name in ("requests", "events"):
        path = runtime / "imageworks" / f"fwd-{name}.sock"
        relays.append(
            subprocess.Popen(
                ["socat", f"UNIX-LISTEN:{path},fork", f"UNIX-CONNECT:{info[name].removeprefix('ipc://')}"],
                stderr=subprocess.DEVNULL,
            )
        )
        local[name] = f"ipc://{path}"
        wait_for(path.exists, what=f"socat listening on {path}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    paths.write_private(paths.connection_file(), json.dumps(local))
    yield daemon, local
    for relay in relays:
        relay.terminate()
        relay.wait(5)
    shutil.rmtree(runtime, ignore_errors=True)


def _photo(path: Path, size: tuple[int, int] = (1600, 1200)) -> Path:
    Image.new("RGB", size, (200, 40, 40)).save(path, "JPEG")
    return path


def test_a_remote_daemon_through_forwarded_sockets(forwarded, tmp_path):
    daemon, local = forwarded
    assert local["requests"] != f"ipc://{paths.runtime_dir()}/requests.sock"
    photo = _photo(tmp_path / "photo.jpg")
    with Client("laptop", timeout=5) as c:
        # its pid is dead here and that means nothing: it answers, so it lives
        assert c.ping().boot_id == daemon.boot_id and c.remote == "gpu-box"
        events = c.events(idle_timeout=30)
        c.load_model(wait=True)
        assert any(isinstance(e, P.ModelEvent) and e.model.state == "loaded" for e in events)
        events.close()
        job = c.submit("echo", [{"text": "over the tunnel"}]).job
        results = [u for u in c.follow(job.job_id) if isinstance(u, P.ResultRecord)]
        outputs = [record.output for record in records_of(results, EchoRecord)]
        assert outputs == ["echo: over the tunnel"]

        thumb = c.thumbnail(str(photo), max_px=256)
        with Image.open(io.BytesIO(thumb.jpeg)) as img:
            assert img.format == "JPEG" and img.size == (thumb.width, thumb.height) == (256, 192)
        assert not thumb.cached and c.thumbnail(str(photo), max_px=256).cached  # kept by the daemon
        assert c.status().counters.thumbnails == 2
        with pytest.raises(DaemonError) as bad:
            c.thumbnail(str(tmp_path / "missing.jpg"))
        assert bad.value.code == "bad_image" and "missing.jpg" in str(bad.value)

        os.kill(daemon.pid, signal.SIGSTOP)  # not answering: the heartbeat's view of it, never its pid
        try:
            t0 = time.monotonic()
            with Client("laptop", timeout=1, retries=1) as slow, pytest.raises(DaemonError) as silent:
                slow.ping()
            assert silent.value.code == "timeout" and time.monotonic() - t0 >= 2
            with pytest.raises(DaemonError, match="does not answer through the ssh tunnel"):
                client.ensure_daemon()  # never starts a local daemon in its place
            assert not (paths.runtime_dir() / "daemon.lock").exists()  # no daemon was spawned here
        finally:
            os.kill(daemon.pid, signal.SIGCONT)


def test_the_same_connection_file_without_remote_is_taken_as_local(forwarded):
    # what the remote flag changes: a local daemon whose pid is dead is gone at once
    daemon, local = forwarded
    paths.write_private(paths.connection_file(), json.dumps({**local, "remote": ""}))
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        with Client("laptop", timeout=30) as c, pytest.raises(DaemonError) as gone:
            c.ping()
        assert gone.value.code == "daemon_gone"
    finally:
        os.kill(daemon.pid, signal.SIGCONT)


async def test_the_tui_shows_previews_of_a_remote_daemons_photos_from_the_daemon(forwarded, tmp_path):
    from textual.widgets import Static

    from imageworks.tui.widgets import preview

    photo = _photo(tmp_path / "far.jpg")
    preview.prepare("halfcell")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.daemon.up and app.services.daemon.remote == "gpu-box"
        shown = preview.ImagePreview(id="probe")
        await app.screen.mount(shown)
        shown.show(str(photo))

        def drawn() -> bool:
            return isinstance(shown.query_one("#preview-body", Static).content, preview.HalfBlocks)

        await wait_until(pilot, drawn, what="the preview")
    with Client("check", register=False) as probe:
        assert probe.status().counters.thumbnails == 1  # it came from the daemon, not from the file here


# ---- `imageworks --ssh HOST` through a real sshd --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sshd(tmp_path):
    """An sshd on a free loopback port that lets this user in with a key made here; skipped when impossible."""
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd_bin) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("openssh (ssh, sshd, ssh-keygen) is not installed")
    if os.geteuid() != 0:
        pytest.skip("sshd with privilege separation needs root to start here (the test runs as another user)")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir (made at boot normally)
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    for key in ("host_key", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "id.pub", d / "authorized_keys")
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nAcceptEnv XDG_RUNTIME_DIR\nAllowStreamLocalForwarding yes\nAllowTcpForwarding yes\n"
        "PidFile none\nLogLevel ERROR\n"
    )
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)

    def listening() -> bool:
        if proc.poll() is not None:
            assert proc.stderr is not None  # stderr=PIPE
            pytest.skip(f"sshd did not start: {proc.stderr.read().decode(errors='replace').strip()[-300:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_for(listening, timeout=20, what="sshd to listen")
    (d / "config").write_text(
        f"Host testhost\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n  IdentityFile {d / 'id'}\n"
        "  IdentitiesOnly yes\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  BatchMode yes\n"
        f"  LogLevel ERROR\n  SetEnv XDG_RUNTIME_DIR={os.environ['XDG_RUNTIME_DIR']}\n"
    )
    yield f"ssh -F {d / 'config'}"
    proc.terminate()
    proc.wait(10)


def test_imageworks_ssh_host_uses_the_daemon_there(start_daemon, sshd, tmp_path):
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    # this command's own runtime dir is empty: whatever it reaches, it reaches through ssh
    elsewhere = tmp_path / "laptop-runtime"
    elsewhere.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(elsewhere), "IMAGEWORKS_DAEMON_SSH_COMMAND": sshd}

    def imageworks(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "imageworks", "--ssh", "testhost", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    status = imageworks("daemon", "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["running"] and data["boot_id"] == daemon.boot_id
    assert "cli" in [c["name"] for c in data["clients"]]

    with Client("here") as c:
        job_id = c.submit("echo", [{"text": "far away"}]).job.job_id
    listed = imageworks("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout
    started = imageworks("daemon", "start")
    assert started.returncode == 1 and "the daemon runs on testhost" in started.stderr
    assert list(elsewhere.iterdir()) == []  # nothing was started or left here

    broken = subprocess.run(
        [sys.executable, "-m", "imageworks", "--ssh", "nohost.invalid", "jobs"],
        env={**env, "IMAGEWORKS_DAEMON_SSH_COMMAND": f"{sshd} -o ConnectTimeout=5"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert broken.returncode == 1 and broken.stderr.startswith("error: ssh to nohost.invalid failed")
    assert len(broken.stderr.strip().splitlines()) == 1
