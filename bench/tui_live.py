"""The TUI as a person runs it, in a pseudo-terminal against a real daemon (echo backend): idle CPU, CPU while
following a job, and mode switches after each mode's first visit. Used by bench/tui.py (``--live``).

One session per checkout: temp XDG dirs, a library of small JPEGs, ``[tui] library_root`` in the config; the checkout's
own daemon (``imageworks daemon start --foreground``, echo model with a per-request delay, ~16 images/s for a tag
job's three requests per image) and its own ``imageworks tui --no-start`` in a 120x40 pty (TERM=xterm-256color, no
COLORTERM). Then: idle for ``--idle`` seconds (CPU of the TUI process, from /proc), ctrl+s, F3, r, and CPU until the
last count of the job (N/N) is painted; then F4 (Review) and F5 (Jobs) once each, and ``--switches`` alternations
between them, each timed from the key written to the pty until the new mode's header tab (" 3 Review " as one run of
text: the active tab) has been painted, and the TUI's CPU per switch."""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
F3, F4, F5, CTRL_S = b"\x1bOR", b"\x1bOS", b"\x1b[15~", b"\x13"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class PtyApp:
    """A program in a pseudo-terminal; ``wait_for`` reads its output until a marker shows (after the last ``send``)."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, rows: int = 40, cols: int = 120) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.seen = b""

    def send(self, data: bytes) -> float:
        self.seen = b""
        os.write(self.master, data)
        return time.perf_counter()

    def wait_for(self, marker: bytes, timeout: float = 60.0) -> float:
        """The time of the read that completed ``marker``: each chunk is looked at as it arrives (reading on for a
        fixed slice before looking, as this did until stop 29, measured every switch as at least that slice)."""
        deadline = time.perf_counter() + timeout
        while marker not in self.seen:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"no {marker!r} within {timeout} s; last output {self.seen[-400:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    raise RuntimeError(f"the program ended before {marker!r} showed") from None
        return time.perf_counter()

    def drain(self, seconds: float) -> None:
        """Read what the program writes for ``seconds`` (a terminal that stops reading would block it)."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    return

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        os.close(self.master)


def make_library(root: Path, n: int) -> None:
    from PIL import Image

    root.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (48, 32), (i * 17 % 256, 90, 200 - i * 7 % 200)).save(root / f"img{i:04d}.jpg", quality=60)


def session(checkout: Path, images: int, idle_s: float, switches: int, delay: float) -> dict[str, float]:
    """One checkout's figures (see the module docstring)."""
    base = Path(tempfile.mkdtemp(prefix="iwl-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEWORKS_", "XDG_"))}
    for name in ("runtime", "cache", "state", "config"):
        (base / name).mkdir(mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(base / "runtime"),
        XDG_CACHE_HOME=str(base / "cache"),
        XDG_STATE_HOME=str(base / "state"),
        XDG_CONFIG_HOME=str(base / "config"),
        PYTHONPATH=str(checkout),
        TERM="xterm-256color",
    )
    env.pop("COLORTERM", None)
    make_library(base / "photos", images)
    (base / "config" / "imageworks").mkdir()
    (base / "config" / "imageworks" / "config.toml").write_text(f'[tui]\nlibrary_root = "{base / "photos"}"\n')
    daemon = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
        env={**env, "IMAGEWORKS_MODEL_NAME": f"echo:delay={delay}"},
        cwd=checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app = PtyApp([sys.executable, "-m", "imageworks", "tui", "--no-start"], env, checkout)
    out: dict[str, float] = {}
    try:
        app.wait_for(b"  model ", timeout=60)  # the header names the model once the daemon is up
        app.wait_for(b"Metadata")
        app.drain(1.0)  # start-up's own work done
        c0, t0 = cpu_seconds(app.proc.pid), time.perf_counter()
        app.drain(idle_s)
        out["idle CPU (% of a core)"] = 100 * (cpu_seconds(app.proc.pid) - c0) / (time.perf_counter() - t0)
        app.send(CTRL_S)
        app.wait_for(f"{images:,} of {images:,} images match".encode())
        app.send(F3)
        app.wait_for(b"to run")
        app.drain(0.5)
        c0 = cpu_seconds(app.proc.pid)
        t0 = app.send(b"r")
        t1 = app.wait_for(f" {images:,}/{images:,}".encode(), timeout=600)  # the last count painted
        out["job seconds"] = t1 - t0
        out["CPU while following (% of a core)"] = 100 * (cpu_seconds(app.proc.pid) - c0) / (t1 - t0)
        app.drain(1.0)
        for key, marker in ((F4, b" 3 Review "), (F5, b" 4 Jobs ")):  # first visits build the screens
            app.send(key)
            app.wait_for(marker)
            app.drain(1.0)
        times = []
        c0 = cpu_seconds(app.proc.pid)
        for i in range(switches):
            key, marker = (F4, b" 3 Review ") if i % 2 == 0 else (F5, b" 4 Jobs ")
            sent = app.send(key)
            times.append(app.wait_for(marker) - sent)
            app.drain(0.05)  # the rest of the frame
        out["mode switch, median (ms)"] = 1000 * statistics.median(times)
        print("switch times (ms):", " ".join(f"{1000 * t:.0f}" for t in times), file=sys.stderr)
        out["mode switch, slowest (ms)"] = 1000 * max(times)
        out["mode switch, TUI CPU each (ms)"] = 1000 * (cpu_seconds(app.proc.pid) - c0) / switches
    finally:
        app.close()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        shutil.rmtree(base, ignore_errors=True)
    return out
