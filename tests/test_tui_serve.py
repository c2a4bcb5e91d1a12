"""`imageworks tui --serve`: the TUI served to a browser (textual-serve) on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tui_serve_answers_http():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "tui", "--serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def page() -> str:
            if proc.poll() is not None:
                raise AssertionError(f"imageworks tui --serve exited: {proc.stderr.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.status == 200
                    return resp.read().decode()
            except OSError:
                return ""  # not listening yet

        html = wait_for(page, timeout=30, what="the served page", interval=0.1)
        assert "ImageWorks" in html
    finally:
        proc.terminate()
        proc.wait(10)
