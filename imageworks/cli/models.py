"""`imageworks models build-tiny|list` (and, through the daemon, load / unload / switch).

Listing reads files only (config.json of local dirs, the Hugging Face cache, the built tiny models), and the TUI
imports it, so this module imports neither the daemon nor torch, not even lazily: building runs
``python -m daemon.backends.tiny`` in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from imageworks import paths
from imageworks.cli.common import emit_json, handle_errors, json_option
from imageworks.errors import ImageWorksError

VLM_MODEL_TYPES = {"qwen2_5_vl", "qwen2_vl", "qwen3_vl", "qwen3_vl_moe"}
WEIGHT_SUFFIXES = (".safetensors", ".bin")


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
@json_option
@handle_errors
def build_tiny(out: Path, trained: bool, as_json: bool) -> None:
    """Build a tiny Qwen2.5-VL checkpoint in OUT, offline: random weights (garbage output), or --trained."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ImageWorksError(f"{out} exists and is not an empty directory")
    # The builder runs in a child process: it needs torch and the daemon's code, which this module (imported by
    # the TUI for listing) must not pull in. Its progress goes to our stderr, its JSON summary to a pipe.
    cmd = [sys.executable, "-m", "daemon.backends.tiny", str(out)] + ["--trained"] * trained + ["--quiet"] * as_json
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise ImageWorksError(f"building the tiny model failed (exit {proc.returncode}; its error is above)")
    summary = json.loads(proc.stdout)
    if as_json:
        emit_json(summary)
        return
    kind = "trained" if trained else "untrained (random weights)"
    click.echo(f"built a tiny Qwen2.5-VL, {kind}, {summary['parameters']:,} parameters, in {out}")
    click.echo(f"use it with: imageworks daemon start --model {out}")


# -- list ----------------------------------------------------------------------------------------------------------


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, as huggingface_hub finds it (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def vlm_entry(path: Path) -> dict[str, Any] | None:
    """What `list` shows for a checkpoint dir, or None when it is not a vision-language checkpoint."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    model_type = str(config.get("model_type", ""))
    if "vision_config" not in config and model_type not in VLM_MODEL_TYPES:
        return None
    weights = [p for p in path.iterdir() if p.name.endswith(WEIGHT_SUFFIXES)]
    size = 0
    for weight in weights:
        try:
            size += weight.stat().st_size  # follows the HF cache's symlinks to blobs
        except OSError:
            pass
    quant = config.get("quantization_config") or {}
    return {
        "path": str(path),
        "model_type": model_type,
        "architectures": config.get("architectures") or [],
        "size_bytes": size,
        "has_weights": bool(weights),
        "quantization": quant.get("quant_method") if isinstance(quant, dict) else None,
    }


def find_local(dirs: list[Path]) -> list[dict[str, Any]]:
    """Checkpoints in ``dirs``: each dir itself, or its immediate subdirectories."""
    found = []
    for root in dirs:
        candidates = [root] + (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
        for candidate in candidates:
            entry = vlm_entry(candidate)
            if entry:
                found.append({"name": str(candidate), "source": "local", **entry})
    return found


def find_hf_cache(cache: Path | None = None) -> list[dict[str, Any]]:
    """Vision-language repos in the HF cache, one entry per snapshot; ``name`` is the repo id."""
    cache = cache or hf_hub_cache()
    found = []
    if not cache.is_dir():
        return found
    for repo in sorted(cache.glob("models--*")):
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        refs = {}
        for ref in (repo / "refs").glob("*"):
            try:
                refs[ref.read_text().strip()] = ref.name
            except OSError:
                pass
        for snapshot in sorted((repo / "snapshots").glob("*")):
            entry = vlm_entry(snapshot)
            if entry:
                found.append(
                    {
                        "name": repo_id,
                        "source": "hf-cache",
                        "revision": snapshot.name,
                        "ref": refs.get(snapshot.name),
                        **entry,
                    }
                )
    return found


def find_built_tiny() -> list[dict[str, Any]]:
    """Tiny models built by `build-tiny` / the demo model, in the models cache dir."""
    roots = [paths.models_cache_dir()]
    if os.environ.get("IMAGEWORKS_MODELS_CACHE"):
        roots.append(Path(os.environ["IMAGEWORKS_MODELS_CACHE"]))
    found = []
    for root in roots:
        for candidate in sorted(root.glob("tiny-*")) if root.is_dir() else []:
            entry = vlm_entry(candidate)
            if entry:
                name = "demo" if "-trained-" in candidate.name else "tiny"
                found.append({"name": name, "source": "built", **entry})
    return found


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
    if as_json:
        emit_json({"models": entries, "hf_cache": str(hf_hub_cache())})
        return
    if not entries:
        click.echo(f"no vision-language checkpoints found (looked in {hf_hub_cache()} and the dirs given)")
        return
    for e in entries:
        size = f"{e['size_bytes'] / 1e9:.1f} GB" if e["size_bytes"] >= 1e8 else f"{e['size_bytes'] / 1e6:.1f} MB"
        extra = f" {e['quantization']}" if e.get("quantization") else ""
        click.echo(f"{e['name']}  [{e['source']}, {e['model_type']}{extra}, {size}]  {e['path']}")


# -- daemon calls: load / unload / switch (added by the daemon's owner; they talk to the daemon via client) -----


def _model_line(state: Any) -> str:
    label = state.name or "none"
    if state.demo:
        label += " (bundled demo model: tiny, trained on synthetic shapes)"
    line = f"model {label}: {state.state}"
    if state.error:
        line += f" ({state.error})"
    return line


def _daemon_model_call(action: str, name: str, wait: bool, timeout: float, as_json: bool) -> None:
    import msgspec

    from imageworks import client

    client.ensure_daemon()
    with client.Client("cli-models") as c:
        if action == "load":
            state = c.load_model(name, wait=wait, timeout=timeout)
        elif action == "switch":
            state = c.switch_model(name, wait=wait, timeout=timeout)
        else:
            state = c.unload_model()
    if as_json:
        emit_json(msgspec.to_builtins(state))
    else:
        click.echo(_model_line(state))


_wait_option = click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until it is loaded.")
_timeout_option = click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the load.")


@models_group.command("load")
@click.argument("name", required=False, default="")
@_wait_option
@_timeout_option
@json_option
@handle_errors
def load_model(name: str, wait: bool, timeout: float, as_json: bool) -> None:
    """Load NAME in the daemon (default: the configured model, or the demo model). Refused if another is loaded:
    use `switch`."""
    _daemon_model_call("load", name, wait, timeout, as_json)


@models_group.command("switch")
@click.argument("name")
@_wait_option
@_timeout_option
@json_option
@handle_errors
def switch_model(name: str, wait: bool, timeout: float, as_json: bool) -> None:
    """Unload the current model (its worker process exits, freeing GPU memory) and load NAME. Refused while a job
    runs."""
    _daemon_model_call("switch", name, wait, timeout, as_json)


@models_group.command("unload")
@json_option
@handle_errors
def unload_model(as_json: bool) -> None:
    """Unload the model: its worker process exits, so its memory (VRAM) is really freed. Refused while a job runs."""
    _daemon_model_call("unload", "", False, 0, as_json)
