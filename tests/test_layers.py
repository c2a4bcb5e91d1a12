"""The layers hold: core imports neither textual nor torch; the TUI never pulls torch/transformers/daemon;
the daemon never pulls textual. Checked in fresh interpreters (sys.modules) and by import-linter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    return {m.split(".")[0] for m in json.loads(out.strip().splitlines()[-1])}


CORE_MODULES = [
    "imageworks",
    "imageworks.config",
    "imageworks.paths",
    "imageworks.protocol",
    "imageworks.client",
    "imageworks.cli",
]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_imports_no_ui_no_torch(module: str) -> None:
    mods = loaded_modules(f"import {module}")
    assert not mods & {"textual", "torch", "transformers", "tui", "daemon"}, module


def test_daemon_server_imports_no_textual_no_torch() -> None:
    # the server process stays light; torch is imported in the worker subprocess only
    mods = loaded_modules("import daemon.server, daemon.journal, daemon.models, daemon.backends.registry")
    assert "textual" not in mods
    assert "torch" not in mods and "transformers" not in mods


def test_tui_imports_no_torch_no_daemon() -> None:
    mods = loaded_modules("import tui.app")
    assert not mods & {"torch", "transformers", "daemon"}


@pytest.mark.skipif(
    shutil.which("lint-imports") is None and not (ROOT / ".venv/bin/lint-imports").exists(),
    reason="import-linter not installed",
)
def test_import_linter_contracts() -> None:
    exe = shutil.which("lint-imports") or str(ROOT / ".venv/bin/lint-imports")
    proc = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
