"""`imageworks tui --serve`: the TUI served to a browser (textual-serve) on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


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
        deadline = time.monotonic() + 30
        page = ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.status == 200
                    page = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        assert "ImageWorks" in page, proc.stderr.read() if proc.poll() is not None else "no page"
    finally:
        proc.terminate()
        proc.wait(10)
