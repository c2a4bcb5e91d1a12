"""`imageworks daemon start|stop|status`."""

from __future__ import annotations

import os
import time
from typing import Any

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
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="With --model: return once the model serves (--no-wait: as soon as the daemon answers, the model loading).",
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the model (with --wait).")
@json_option
@handle_errors
def start(
    foreground: bool,
    model: str | None,
    openai_listen: str | None,
    ray_address: str | None,
    workers: int | None,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Start the daemon (detached unless --foreground). Fails if one is already running. With --model it returns
    once that model serves, as `vllm serve` opens its port only when loaded; the daemon already answers meanwhile
    (status, /v1/models list the model as loading)."""
    # flags win over the config file; a detached daemon reads them from its environment (IMAGEWORKS_*)
    if openai_listen is not None:
        os.environ["IMAGEWORKS_OPENAI_LISTEN"] = openai_listen
    if ray_address is not None:
        os.environ["IMAGEWORKS_CLUSTER_RAY"] = ray_address
    if workers is not None:
        os.environ["IMAGEWORKS_CLUSTER_WORKERS"] = str(workers)
    remote = (client.read_connection() or {}).get("remote")
    if remote:
        raise DaemonError(f"the daemon runs on {remote}: start it there (`ssh {remote} imageworks daemon start`)")
    cfg = config.load()
    if foreground:
        from imageworks.daemon import server  # the CLI is the composition root: the daemon is imported only here

        server.run(cfg, preload=model)
        return
    pong = client.daemon_alive()
    if pong is not None:
        raise DaemonError("a daemon is already running; `imageworks daemon status` shows it", code="already_running")
    started = time.monotonic()
    pong = client.ensure_daemon(model=model)
    pid = (client.read_connection() or {}).get("pid")
    waiting = model is not None and wait
    if not as_json:
        click.echo(f"daemon started (pid {pid}, boot {pong.boot_id[:8]})" + ("; loading the model…" * waiting))
    state = _wait_for_model(pid, timeout) if waiting else None
    if as_json:
        loaded = {"model": msgspec.to_builtins(state)} if state is not None else {}
        emit_json({"started": True, "boot_id": pong.boot_id, "pid": pid, **loaded})
    elif state is not None:
        click.echo(f"model {state.name} serves ({time.monotonic() - started:.1f} s after the start)")


def _wait_for_model(pid: object, timeout: float) -> Any:
    """The state of the model the daemon just started loads, once loaded; DaemonError when the load fails or
    outlasts ``timeout`` (the daemon keeps running: the message says so)."""
    try:
        with client.Client("cli") as c:
            return c.wait_model(timeout)
    except DaemonError as exc:
        raise DaemonError(f"the daemon runs (pid {pid}) but its model does not serve: {exc}", code=exc.code) from None


@daemon_group.command("stop")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for the daemon to exit.")
@json_option
@handle_errors
def stop(timeout: float, as_json: bool) -> None:
    """Stop the daemon; a running job becomes 'interrupted' (resume it later with `imageworks jobs resume`)."""
    alive = client.daemon_alive()  # (first: a daemon that lost its runtime files writes them again when asked)
    info = client.read_connection()
    if info is None or alive is None:
        if as_json:
            emit_json({"stopped": False, "reason": "not running"})
        else:
            click.echo("no daemon is running")
        return
    with client.Client("cli") as c:
        c.shutdown()
    pid = int(info["pid"])
    # a remote daemon's pid means nothing here: it has stopped when it no longer answers
    running = (lambda: client.daemon_alive(0.2) is not None) if info.get("remote") else (lambda: pid_alive(pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        time.sleep(0.02)
    if running():
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
    if client.daemon_alive() is None:
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
    click.echo(
        f"model: {label} [{model.state}], batches of up to {model.batch_size}"
        + (f" error: {model.error}" if model.error else "")
    )
    for name, slot in st.slots.items():  # where the model's time goes: generating, or waiting for its inputs
        feed = slot.feed
        if slot.loaded and feed is not None:
            click.echo(
                f"  {name}: waited for inputs {feed.input_wait_share:.0%} of {feed.busy_s:.1f} s busy; "
                f"{feed.decodes} images decoded ({feed.prefetched} ahead of their batch), {feed.reused} reused, "
                f"{format_size(feed.kept_bytes)} kept"
            )
    vlm = st.slots.get("vlm")
    if vlm is not None and len(vlm.workers) > 1:  # one local worker says nothing new; several (or Ray) do
        for w in vlm.workers:
            error = f" last error: {w.last_error}" if w.last_error else ""
            click.echo(f"  worker {w.id} [{w.state}] on {w.node}: {w.inferences} inferences{error}")
    c_ = st.counters
    click.echo(f"counters: model_loads={c_.model_loads} inferences={c_.inferences} jobs={c_.jobs} clients={c_.clients}")
    click.echo(f"queue depth: {st.queue_depth}; running job: {running_line(st)}; connected: {len(st.clients)}")
    if st.cpu is not None:
        busy = sum(1 for w in st.cpu.workers if w.job_id)
        started = f"{len(st.cpu.workers)} started, {busy} busy" if st.cpu.workers else "not started yet"
        crashes = f"; {st.cpu.crashes} crashed" if st.cpu.crashes else ""
        running = ", ".join(st.cpu.running_jobs) or "-"
        click.echo(f"cpu pool: {st.cpu.size} processes ({started}{crashes}); cpu jobs: {running}")
    for other in st.clients:  # the names conflicts and the review's messages use
        click.echo(
            f"  {other.name} (pid {other.pid}): {other.requests} requests"
            + (" (this command)" if other.pid == os.getpid() else "")
        )
    click.echo(f"metadata backups: {format_size(st.backups_bytes)} (see `imageworks metadata backups`)")
    for w in st.watches:  # what a refresh of each library costs: a query (watched) or a walk
        detail = f": {w.reason}" if w.reason else f" ({w.directories:,} folders, {w.changes:,} changes applied)"
        click.echo(f"library {w.root}: {w.state}{detail}")
    if st.degraded:
        click.echo(f"degraded: {st.degraded}")
    if st.openai is not None:
        click.echo(f"openai endpoint: {st.openai.url} ({st.openai.requests} requests)")


def running_line(st: Any) -> str:
    """``1a2b3c4d (tag, batch 16) 340/1,200 done, 2 failed, 15.2 images/s`` (the speed: this run's, the model load
    left out; the batch: the size the job really runs with)."""
    job = st.running_job_info
    if job is None:
        return st.running_job or "-"
    kind = f"{job.kind}, batch {job.batch_size}" if job.batch_size else job.kind
    line = f"{job.job_id} ({kind}) {job.done + job.failed:,}/{job.total:,} done"
    if job.failed:
        line += f", {job.failed:,} failed"
    speed = job.speed
    if speed is not None and speed.per_second > 0:
        line += f", {speed.per_second:.1f} images/s"
    return line


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
