"""`imageworks tui --serve`: the TUI served to a browser (textual-serve), behind a secret token. Without it the page
and the websocket are refused, for us and for another local user of the machine (who could otherwise make
textual-serve start our TUI, as us, for their websocket); with it both are served."""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port: int, target: str, *, websocket: bool = False, then_read: bool = False) -> tuple[int, bytes]:
    """A raw HTTP GET (a websocket handshake with ``websocket``): the status and what followed the headers (with
    ``then_read``, the first bytes the server sent after a 101: the served app's output)."""
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    else:
        lines.append("Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status == 101 and then_read and not rest:
            rest = s.recv(65536)  # the app's first frame (textual-serve starts the app for this websocket)
        elif status != 101:  # the body, as long as the headers say (a refused upgrade keeps the connection open)
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            wanted = int(length.group(1)) if length else None
            while (wanted is None or len(rest) < wanted) and (chunk := s.recv(65536)):
                rest += chunk
        return status, rest


@pytest.fixture
def served(xdg) -> Iterator[tuple[int, str]]:
    """`imageworks tui --serve` on a free loopback port: (port, the token it printed)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imageworks",
            "tui",
            "--serve",
            "--no-start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
        assert match, f"no URL printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        assert int(match.group(1)) == port

        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(listening, timeout=30, what="the server to listen", interval=0.1)
        yield port, match.group(2)
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_page_and_the_websocket_need_the_token_printed_at_start(served):
    port, token = served
    assert len(token) >= 32
    assert ask(port, "/")[0] == 403
    assert ask(port, "/?token=" + "x" * len(token))[0] == 403
    status, page = ask(port, f"/?token={token}")
    assert status == 200 and b"ImageWorks" in page
    # the page hands the token on to its websocket; its script appends ?width=…&height=… to that URL
    assert f"ws://127.0.0.1:{port}/ws?token={token}&".encode() in page
    assert ask(port, "/ws", websocket=True)[0] == 403
    assert ask(port, f"/ws?token={token[:-1]}&?width=80&height=24", websocket=True)[0] == 403
    status, first = ask(port, f"/ws?token={token}&?width=80&height=24", websocket=True, then_read=True)
    assert status == 101 and first  # the app runs for this websocket
    assert ask(port, "/static/js/textual.js")[0] == 200  # assets hold nothing of ours


def test_the_served_page_refuses_another_local_user_without_the_token(served):
    if os.geteuid() != 0:
        pytest.skip("another local user is made with useradd, which needs root")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    port, token = served
    name = f"iwt{os.getpid()}"
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot add a user: {made.stderr.strip()}")
    try:
        other = pwd.getpwnam(name)
        results = _as_user(other.pw_uid, other.pw_gid, port, token)
    finally:
        subprocess.run(["userdel", name], capture_output=True)
    assert results == {
        "uid": other.pw_uid,
        "page without token": 403,
        "page with a wrong token": 403,
        "websocket without token": 403,
        "page with the token": 200,
        "websocket with the token": 101,
    }


def _as_user(uid: int, gid: int, port: int, token: str) -> dict[str, int]:
    """Run the requests in a child process that drops to ``uid`` (everything it needs is imported already)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: another user from here on
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            out = {
                "uid": os.getuid(),
                "page without token": ask(port, "/")[0],
                "page with a wrong token": ask(port, "/?token=guess")[0],
                "websocket without token": ask(port, "/ws?width=80&height=24", websocket=True)[0],
                "page with the token": ask(port, f"/?token={token}")[0],
                "websocket with the token": ask(port, f"/ws?token={token}&?width=80&height=24", websocket=True)[0],
            }
            os.write(write, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    assert data, "the child (as the other user) reported nothing"
    return json.loads(data)
