"""Non-UTF-8 file names survive the whole path: scan, protocol, journal, JSON output, export, metadata write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image


def test_tag_folder_with_non_utf8_name(start_daemon, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    odd = os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9-\xff.jpg")
    Image.new("RGB", (32, 32), "red").save(odd, format="JPEG")
    Image.new("RGB", (32, 32), "blue").save(folder / "plain.jpg")
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "imageworks", "tag", str(folder), "--json", "--jsonl", str(out)],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode("utf-8").splitlines()  # valid UTF-8 JSON even with such names
    rows = [json.loads(line) for line in lines]
    paths = {row["item"]["path"] for row in rows if "item" in row}
    assert odd in paths and str(folder / "plain.jpg") in paths
    exported = {json.loads(line)["image"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert odd in exported
    assert os.fsencode(odd) in {os.fsencode(p) for p in exported}
    assert Path(odd).exists()
