"""The script that builds the demo model shipped as package data (``shipped.py`` says how it is found): trains the
tiny Qwen2.5-VL from ``shipped.SEED`` into ``shipped/``, or with --check says whether a fresh build gives the bytes
that ship (training is reproducible on one machine: bench/RESULTS.md, "First results").

    python -m imageworks.daemon.demo_model.ship [OUT] [--check]
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .build import build_tiny
from .shipped import REBUILD_COMMAND, SEED, SHIPPED_DIR


def ship(out: Path = SHIPPED_DIR, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the demo model from ``SEED`` and put it in ``out`` (replacing what is there). The build goes into a
    sibling temp dir first, so an interrupted run leaves the previous build in place."""
    out = Path(out)
    staging = out.with_name(f".{out.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        summary = build_tiny(staging, trained=True, seed=SEED, log=log)
        for path in staging.iterdir():
            path.chmod(0o644)  # package data: readable by whoever installs it
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary["path"] = str(out)
    return summary


def differing_files(built: Path, shipped: Path = SHIPPED_DIR) -> list[str]:
    """Files of ``built`` whose bytes differ from (or are missing in) ``shipped``; the record of timings is left out."""
    return sorted(
        path.name
        for path in built.iterdir()
        if path.name != "imageworks_tiny.json"
        and (not (shipped / path.name).exists() or path.read_bytes() != (shipped / path.name).read_bytes())
    )


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog=REBUILD_COMMAND, description="Train the demo model that ships built.")
    parser.add_argument("out", nargs="?", type=Path, default=SHIPPED_DIR, help=f"default: {SHIPPED_DIR}")
    parser.add_argument(
        "--check", action="store_true", help="build into a temp dir and say whether OUT holds the same bytes"
    )
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    start = time.perf_counter()
    log = lambda msg: print(f"training: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            built = Path(ship(Path(tmp) / "demo", log=log)["path"])
            differ = differing_files(built, args.out)
        if differ:
            print(f"{args.out} differs from a fresh build: {', '.join(differ)}")
            return 1
        print(f"{args.out} holds exactly what the script builds ({time.perf_counter() - start:.0f} s)")
        return 0
    summary = ship(args.out, log=log)
    size = sum(p.stat().st_size for p in Path(summary["path"]).iterdir())
    print(f"demo model built in {time.perf_counter() - start:.0f} s: {summary['path']} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
