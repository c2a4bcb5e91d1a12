"""The demo model as package data: the trained tiny Qwen2.5-VL, built by ship.py from a fixed seed and kept in
``shipped/`` beside it, so that a fresh install tags at once instead of training for minutes on first use.

    python -m imageworks.daemon.demo_model.ship [OUT]     # (re)build it: about two minutes on one core
    python -m imageworks.daemon.demo_model.ship --check   # does a fresh build give the shipped bytes?

``demo`` resolves to it while the recipe it records matches the current one (architecture, tokenizer, prompts,
training data: ``build.recipe`` less the library versions, which change nothing in the files). A change of the
tagger's prompts makes it stale: ``demo`` then trains a build into the models cache on first use, as before, until
ship.py is run again (tests/test_demo_model_shipped.py fails meanwhile and names this command).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHIPPED_DIR = Path(__file__).with_name("shipped")
SEED = 0
"""The training seed of the shipped build (``build.build_tiny``'s default)."""
REBUILD_COMMAND = "python -m imageworks.daemon.demo_model.ship"


def comparable_recipe(recipe: dict[str, Any]) -> str:
    """The parts of a recipe that decide the files, as canonical JSON: everything but the library versions."""
    return json.dumps({k: v for k, v in recipe.items() if k != "libs"}, sort_keys=True)


def recorded_recipe(model_dir: Path = SHIPPED_DIR) -> dict[str, Any] | None:
    """The recipe a build wrote into its ``imageworks_tiny.json``; None when there is no whole build there."""
    try:
        recorded = json.loads((model_dir / "imageworks_tiny.json").read_text())["recipe"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (model_dir / "config.json").exists() or not (model_dir / "model.safetensors").exists():
        return None
    return recorded


def shipped_model_path(current_recipe: dict[str, Any]) -> Path | None:
    """The shipped demo model's directory when it is there and built by ``current_recipe`` (``build.recipe()``:
    build.py asks, this module imports nothing of it), else None."""
    recorded = recorded_recipe()
    if recorded is None or comparable_recipe(recorded) != comparable_recipe(current_recipe):
        return None
    return SHIPPED_DIR
