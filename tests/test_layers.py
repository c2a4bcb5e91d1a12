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
    return {package_of(m) for m in json.loads(out.strip().splitlines()[-1])}


LAYERS = ("imageworks.daemon", "imageworks.tui")


def package_of(module: str) -> str:
    """A module's top-level package, with ImageWorks' own daemon and TUI layers named as such."""
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return module.split(".")[0]


CORE_MODULES = [
    "imageworks",
    "imageworks.config",
    "imageworks.paths",
    "imageworks.protocol",
    "imageworks.client",
    "imageworks.cli",
    "imageworks.mono.check",
]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_imports_no_ui_no_torch(module: str) -> None:
    mods = loaded_modules(f"import {module}")
    assert not mods & {"textual", "torch", "transformers", *LAYERS}, module


def test_daemon_server_imports_no_textual_no_torch() -> None:
    # the server process stays light; torch is imported in the worker subprocess only
    mods = loaded_modules(
        "import imageworks.daemon.server, imageworks.daemon.journal, imageworks.daemon.slots,"
        " imageworks.daemon.backends.registry"
    )
    assert "textual" not in mods
    assert "torch" not in mods and "transformers" not in mods


def test_tui_imports_no_torch_no_daemon() -> None:
    mods = loaded_modules("import imageworks.tui.app")
    assert not mods & {"torch", "transformers", "imageworks.daemon"}


@pytest.mark.skipif(
    shutil.which("lint-imports") is None and not (ROOT / ".venv/bin/lint-imports").exists(),
    reason="import-linter not installed",
)
def test_import_linter_contracts() -> None:
    exe = shutil.which("lint-imports") or str(ROOT / ".venv/bin/lint-imports")
    proc = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_core_contract_names_every_module_of_the_core() -> None:
    """A module added to imageworks/ but left out of the contract's list would escape it unnoticed."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"].startswith("core imports neither"))
    present = {
        f"imageworks.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "imageworks").iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()
    }
    assert set(core["source_modules"]) == present - set(LAYERS)


def test_no_import_circles() -> None:
    """No module reaches itself through imports, ``if TYPE_CHECKING:`` ones included (grimp, import-linter's graph,
    counts those: a type named across a circle is still a circle for the reader; bench/house.py draws the same)."""
    import grimp

    graph = grimp.build_graph("imageworks")
    back = [
        f"{module} -> {imported}"
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if imported.startswith("imageworks") and graph.find_shortest_chain(importer=imported, imported=module)
    ]
    assert back == []
