"""`imageworks daemon start|stop|status`."""

from __future__ import annotations

import os
import time

import click
import msgspec

from imageworks import apikey, client, config
from imageworks.cli.common import emit_json, handle_errors, json_option
from imageworks.errors import DaemonError
from imageworks.scan.filters import format_size
from imageworks.system import pid_alive


@click.group("daemon")
def daemon_group() -> None:
    """Start, stop and inspect the daemon that holds the model."""


@daemon_group.command("start")
@click.option("--foreground", is_flag=True, help="Run in this process (logs to the terminal) instead of detaching.")
@click.option("--model", "model", default=None, help="Load this model at start (a checkpoint dir, or 'demo').")
@click.option(
    "--openai",
    "openai_listen",
    default=None,
    metavar="HOST:PORT",
    help="Serve the OpenAI-compatible endpoint there (127.0.0.1:8765; key: `imageworks daemon openai-key`).",
)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS|local",
    help="Run the model workers as Ray actors on the cluster at HOST:PORT, or on a Ray started here ('local').",
)
@click.option("--workers", type=click.IntRange(1, 1024), default=None, help="Model workers (one per GPU with --ray).")
@json_option
@handle_errors
def start(
    foreground: bool,
    model: str | None,
    openai_listen: str | None,
    ray_address: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Start the daemon (detached unless --foreground). Fails if one is already running."""
    # flags win over the config file; a detached daemon reads them from its environment (IMAGEWORKS_*)
    if openai_listen is not None:
        os.environ["IMAGEWORKS_OPENAI_LISTEN"] = openai_listen
    if ray_address is not None:
        os.environ["IMAGEWORKS_CLUSTER_RAY"] = ray_address
    if workers is not None:
        os.environ["IMAGEWORKS_CLUSTER_WORKERS"] = str(workers)
    cfg = config.load()
    if foreground:
        from daemon import server  # the CLI is the composition root: the daemon is imported only here

        server.run(cfg, preload=model)
        return
    pong = client.daemon_alive()
    if pong is not None:
        raise DaemonError("a daemon is already running; `imageworks daemon status` shows it", code="already_running")
    pong = client.ensure_daemon(model=model)
    info = client.read_connection() or {}
    if as_json:
        emit_json({"started": True, "boot_id": pong.boot_id, "pid": info.get("pid")})
    else:
        click.echo(f"daemon started (pid {info.get('pid')}, boot {pong.boot_id[:8]})")


@daemon_group.command("stop")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for the daemon to exit.")
@json_option
@handle_errors
def stop(timeout: float, as_json: bool) -> None:
    """Stop the daemon; a running job becomes 'interrupted' (resume it later with `imageworks jobs resume`)."""
    info = client.read_connection()
    if info is None or client.daemon_alive() is None:
        if as_json:
            emit_json({"stopped": False, "reason": "not running"})
        else:
            click.echo("no daemon is running")
        return
    with client.Client("cli") as c:
        c.shutdown()
    pid = int(info["pid"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.02)
    if pid_alive(pid):
        raise DaemonError(f"daemon (pid {pid}) did not exit within {timeout:g} s")
    if as_json:
        emit_json({"stopped": True, "pid": pid})
    else:
        click.echo(f"daemon stopped (pid {pid})")


@daemon_group.command("status")
@json_option
@handle_errors
def status(as_json: bool) -> None:
    """Show the daemon's model, counters, queue and clients."""
    if client.read_connection() is None or client.daemon_alive() is None:
        if as_json:
            emit_json({"running": False})
        else:
            click.echo("no daemon is running (start one with `imageworks daemon start`)")
        raise SystemExit(3)
    with client.Client("cli") as c:
        st = c.status()
    data = msgspec.to_builtins(st)
    data["running"] = True
    if as_json:
        emit_json(data)
        return
    model = st.model
    label = model.name or "none"
    if model.demo:
        label += " (bundled demo model: tiny, trained on synthetic shapes)"
    click.echo(f"daemon pid {st.pid}, boot {st.boot_id[:8]}, up {st.uptime:.0f} s, version {st.version}")
    click.echo(f"model: {label} [{model.state}]" + (f" error: {model.error}" if model.error else ""))
    vlm = st.slots.get("vlm")
    if vlm is not None and len(vlm.workers) > 1:  # one local worker says nothing new; several (or Ray) do
        for w in vlm.workers:
            error = f" last error: {w.last_error}" if w.last_error else ""
            click.echo(f"  worker {w.id} [{w.state}] on {w.node}: {w.inferences} inferences{error}")
    c_ = st.counters
    click.echo(f"counters: model_loads={c_.model_loads} inferences={c_.inferences} jobs={c_.jobs} clients={c_.clients}")
    click.echo(f"queue depth: {st.queue_depth}; running job: {st.running_job or '-'}; connected: {len(st.clients)}")
    for other in st.clients:  # the names conflicts and the review's messages use
        click.echo(
            f"  {other.name} (pid {other.pid}): {other.requests} requests"
            + (" (this command)" if other.pid == os.getpid() else "")
        )
    click.echo(f"metadata backups: {format_size(st.backups_bytes)} (see `imageworks metadata backups`)")
    if st.degraded:
        click.echo(f"degraded: {st.degraded}")
    if st.openai is not None:
        click.echo(f"openai endpoint: {st.openai.url} ({st.openai.requests} requests)")


@daemon_group.command("openai-key")
@click.option("--rotate", is_flag=True, help="Replace the key with a new one (clients holding the old one get 401).")
@json_option
@handle_errors
def openai_key(rotate: bool, as_json: bool) -> None:
    """Print the OpenAI-compatible endpoint's bearer key (made on first use; kept 0600 in the state dir)."""
    key = apikey.rotate_key() if rotate else apikey.read_key()
    if as_json:
        emit_json({"key": key, "rotated": rotate})
    else:
        click.echo(key)
