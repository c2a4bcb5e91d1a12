"""`imageworks models build-tiny|list` (and, through the daemon, load / unload / switch).

Listing reads files only (config.json of local dirs, the Hugging Face cache, the built tiny models), and the TUI
imports it, so this module imports neither the daemon nor torch, not even lazily: building runs
``python -m daemon.demo_model.build`` in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from imageworks.checkpoints import find_built_tiny, find_hf_cache, find_local, hf_hub_cache
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.errors import ImageWorksError


@click.group("models")
def models_group() -> None:
    """Find, build and (through the daemon) load vision-language models."""


# -- build-tiny ----------------------------------------------------------------------------------------------------


@models_group.command("build-tiny")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--trained",
    is_flag=True,
    help="Also fit it (about a minute on one CPU core, cached) to tag synthetic shapes: the demo model.",
)
@click.option(
    "--embedding",
    is_flag=True,
    help="An image-embedding model (for the embed slot, `imageworks similar`) instead of a VLM; see --family.",
)
@click.option(
    "--family",
    type=click.Choice(["clip", "siglip"]),
    default="clip",
    show_default=True,
    help="With --embedding: a CLIP or a SigLIP checkpoint.",
)
@json_option
@handle_errors
def build_tiny(out: Path, trained: bool, embedding: bool, family: str, as_json: bool) -> None:
    """Build a tiny Qwen2.5-VL checkpoint in OUT, offline: random weights (garbage output), or --trained. With
    --embedding, a tiny CLIP or SigLIP (random weights) instead."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ImageWorksError(f"{out} exists and is not an empty directory")
    if embedding and trained:
        raise ImageWorksError("--trained is for the tiny VLM; the tiny embedding models keep random weights")
    # The builder runs in a child process: it needs torch and the daemon's code, which this module (imported by
    # the TUI for listing) must not pull in. Its progress goes to our stderr, its JSON summary to a pipe.
    if embedding:
        cmd = [sys.executable, "-m", "imageworks.daemon.demo_model.embedding", str(out), "--family", family]
    else:
        cmd = [sys.executable, "-m", "imageworks.daemon.demo_model.build", str(out)]
        cmd += ["--trained"] * trained + ["--quiet"] * as_json
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise ImageWorksError(f"building the tiny model failed (exit {proc.returncode}; its error is above)")
    summary = json.loads(proc.stdout)
    if as_json:
        emit_json(summary)
        return
    if embedding:
        click.echo(
            f"built a tiny {family.upper()} embedding model, random weights, {summary['parameters']:,} "
            f"parameters, in {out}"
        )
        click.echo(f"use it with: imageworks models load {out} --slot embed (or [similarity] embedding_model)")
        return
    kind = "trained" if trained else "untrained (random weights)"
    click.echo(f"built a tiny Qwen2.5-VL, {kind}, {summary['parameters']:,} parameters, in {out}")
    click.echo(f"use it with: imageworks daemon start --model {out}")


@models_group.command("list")
@click.argument("dirs", nargs=-1, type=click.Path(path_type=Path))
@json_option
@handle_errors
def list_models(dirs: tuple[Path, ...], as_json: bool) -> None:
    """List vision-language checkpoints: DIRS given (each a checkpoint or a folder of them), the Hugging Face
    cache, and the built tiny models. Use a NAME shown here as model.name or `daemon start --model NAME`."""
    for d in dirs:
        if not d.exists():
            raise ImageWorksError(f"{d}: no such directory")
    entries = find_local(list(dirs)) + find_hf_cache() + find_built_tiny()
    loaded = _loaded_in_daemon()
    if as_json:
        emit_json({"models": entries, "hf_cache": str(hf_hub_cache()), "loaded": loaded})
        return
    if not entries and not loaded:
        click.echo(f"no vision-language checkpoints found (looked in {hf_hub_cache()} and the dirs given)")
        return
    for e in entries:
        size = f"{e['size_bytes'] / 1e9:.1f} GB" if e["size_bytes"] >= 1e8 else f"{e['size_bytes'] / 1e6:.1f} MB"
        extra = f" {e['quantization']}" if e.get("quantization") else ""
        note = f"  ({loaded['state']} in the daemon)" if loaded and loaded["name"] == e["name"] else ""
        click.echo(f"{e['name']}  [{e['source']}, {e['model_type']}{extra}, {size}]  {e['path']}{note}")
    if loaded and loaded["name"] not in {e["name"] for e in entries}:
        what = "the bundled demo model" if loaded["demo"] else "not found on this machine's paths above"
        click.echo(f"{loaded['name']}  [{loaded['state']} in the daemon: {what}]")


def _loaded_in_daemon() -> dict[str, Any] | None:
    """The vlm model a running daemon holds (loaded or loading), or None (no daemon: none is started for this)."""
    from imageworks import client

    if client.daemon_alive() is None:
        return None
    with client.Client("cli-models") as c:
        model = c.status().model
    if model.state not in ("loaded", "loading") or not model.name:
        return None
    return {"name": model.name, "state": model.state, "demo": model.demo}


# -- daemon calls: load / unload / switch (added by the daemon's owner; they talk to the daemon via client) -----


def _model_line(state: Any) -> str:
    label = state.name or "none"
    if state.demo:
        label += " (bundled demo model: tiny, trained on synthetic shapes)"
    line = f"model {label}: {state.state}"
    if state.error:
        line += f" ({state.error})"
    return line


def _daemon_model_call(action: str, name: str, slot: str, wait: bool, timeout: float, as_json: bool) -> None:
    import msgspec

    from imageworks import client

    if slot == "embed" and name:
        from imageworks.similarity.slot_embeddings import model_key

        name = model_key(name)  # the name `imageworks similar` looks the model up by, however it was typed
    ensure_daemon()
    before = None
    with client.Client("cli-models") as c:
        if action == "load":
            state = c.load_model(name, slot=slot, wait=wait, timeout=timeout)
        elif action == "switch":
            state = c.switch_model(name, slot=slot, wait=wait, timeout=timeout)
        else:
            before = c.status().slots.get(slot)
            state = c.unload_model(slot=slot)
    if as_json:
        emit_json(msgspec.to_builtins(state))
    elif action == "unload":
        click.echo(_unloaded_line(before, slot))
    else:
        click.echo(_model_line(state))


def _unloaded_line(before: Any, slot: str) -> str:
    """What unload did, by the model it took out (the state after it is always "none")."""
    if before is None or before.state not in ("loaded", "loading", "failed", "crashed") or not before.name:
        return f"no model was loaded in the {slot} slot: nothing to unload"
    label = "the demo model" if before.demo else before.name
    return f"unloaded {label} from the {slot} slot: its worker exited, its memory is free"


_wait_option = click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until it is loaded.")
_timeout_option = click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the load.")
_slot_option = click.option(
    "--slot",
    type=click.Choice(["vlm", "embed"]),
    default="vlm",
    show_default=True,
    help="The model slot: vlm (tagging) or embed (image embeddings for `imageworks similar`).",
)


@models_group.command("load")
@click.argument("name", required=False, default="")
@_slot_option
@_wait_option
@_timeout_option
@json_option
@handle_errors
def load_model(name: str, slot: str, wait: bool, timeout: float, as_json: bool) -> None:
    """Load NAME in the daemon (default: the configured model, or the demo model). Refused if another is loaded:
    use `switch`."""
    _daemon_model_call("load", name, slot, wait, timeout, as_json)


@models_group.command("switch")
@click.argument("name")
@_slot_option
@_wait_option
@_timeout_option
@json_option
@handle_errors
def switch_model(name: str, slot: str, wait: bool, timeout: float, as_json: bool) -> None:
    """Unload the current model (its worker process exits, freeing GPU memory) and load NAME. Refused while a job
    runs."""
    _daemon_model_call("switch", name, slot, wait, timeout, as_json)


@models_group.command("unload")
@_slot_option
@json_option
@handle_errors
def unload_model(slot: str, as_json: bool) -> None:
    """Unload the model: its worker process exits, so its memory (VRAM) is really freed. Refused while a job runs."""
    _daemon_model_call("unload", "", slot, False, 0, as_json)
