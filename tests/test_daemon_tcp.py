"""The optional TCP listener: CURVE-encrypted, HMAC-signed, off by default."""

from __future__ import annotations

import json
import shutil
import socket

import zmq

from imageworks import client, paths
from imageworks import protocol as P
from imageworks.client import Client
from imageworks.jobs.records import EchoRecord
from tests.typed_records import records_of


def free_port_pair() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def test_tcp_off_by_default(start_daemon):
    start_daemon()
    assert not (paths.runtime_dir() / "connection-tcp.json").exists()
    info = client.read_connection()
    assert info is not None  # the daemon is up
    assert info["requests"].startswith("ipc://")


def test_tcp_listener_is_curve_encrypted_and_serves_jobs(start_daemon, tmp_path, monkeypatch):
    port = free_port_pair()
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_TCP_ENDPOINT=f"tcp://127.0.0.1:{port}")
    tcp_file = paths.runtime_dir() / "connection-tcp.json"
    info = json.loads(tcp_file.read_text())
    assert info["requests"] == f"tcp://127.0.0.1:{port}" and info["curve_server_key"]
    assert oct(tcp_file.stat().st_mode & 0o777) == "0o600"

    # a "remote" client: only the copied connection file, in its own runtime dir
    remote_runtime = tmp_path / "remote"
    (remote_runtime / "imageworks").mkdir(parents=True, mode=0o700)
    shutil.copy(tcp_file, remote_runtime / "imageworks" / "connection.json")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(remote_runtime))
    with Client("remote") as c:
        assert c.ping().boot_id == info["boot_id"]
        job = c.submit("echo", [{"text": "over tcp"}]).job
        results = [ev for ev in c.follow(job.job_id) if isinstance(ev, P.ResultRecord)]
        outputs = [record.output for record in records_of(results, EchoRecord)]
        assert outputs == ["echo: over tcp"]

    # a plaintext peer gets nothing, even with the right HMAC key
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(info["requests"])
    signer = P.Signer(info["key"].encode())
    sock.send_multipart(P.encode(signer, P.make_header("ping", "plain"), P.Ping()))
    assert sock.poll(500) == 0
    sock.close(0)
    ctx.term()
