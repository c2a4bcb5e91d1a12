"""Finding vision-language checkpoints on disk: local dirs, the Hugging Face cache, built tiny models.

Core (no click, no torch): used by `imageworks models list` and the TUI's model picker.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from imageworks import paths

VLM_PROCESSOR_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen3_vl": "Qwen3VLProcessor",
    "qwen3_vl_moe": "Qwen3VLProcessor",
}
"""The vision-language model types we serve (config.json ``model_type``) and each family's transformers processor
class (the daemon's backend builds it): the one list of VLM types."""
VLM_MODEL_TYPES = frozenset(VLM_PROCESSOR_CLASSES)
EMBEDDING_MODEL_TYPES = frozenset({"clip", "siglip", "siglip2"})
"""Image-embedding model types (CLIP and SigLIP families): ``model.backend = "transformers"`` serves a checkpoint of
one of these types with the embedding backend, any other with the VLM backend."""
WEIGHT_SUFFIXES = (".safetensors", ".bin")


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
    found: list[dict[str, Any]] = []
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


def local_checkpoint(name: str) -> Path | None:
    """The checkpoint dir ``name`` stands for without downloading: a directory, or an HF id's snapshot in the local
    cache (the one ``refs/main`` points at, else the newest); None when neither is on disk."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    repo = hf_hub_cache() / ("models--" + name.replace("/", "--"))
    try:
        snapshot = repo / "snapshots" / (repo / "refs" / "main").read_text().strip()
        if snapshot.is_dir():
            return snapshot
    except OSError:
        pass
    snapshots = sorted((repo / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime)
    return snapshots[-1] if snapshots else None


def checkpoint_model_type(name: str) -> str:
    """config.json's ``model_type`` of the checkpoint ``name`` stands for; empty when it is not on disk."""
    path = local_checkpoint(name)
    if path is None:
        return ""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(config.get("model_type", "")) if isinstance(config, dict) else ""


def model_revision(path: Path) -> str:
    """The commit hash for an HF-cache snapshot; for a local dir, a hash of config.json and of the weight files'
    names, sizes and mtimes (changes when the checkpoint is rewritten)."""
    if path.parent.name == "snapshots" and len(path.name) == 40:
        return path.name
    digest = hashlib.sha256()
    try:
        digest.update((path / "config.json").read_bytes())
    except OSError:
        pass
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return "local-" + digest.hexdigest()[:12]
