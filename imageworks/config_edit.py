"""Line edits of the config file: set a few keys of one TOML table in place, keeping every other line (the
person's keys, comments and order) as written; ``config.save_values`` falls back to a rewrite where a line edit
cannot safely express the change."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parses_to(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def edit_lines(text: str, section: str, values: dict[str, Any]) -> str | None:
    """``text`` with each ``key = value`` of ``[section]`` set to ``values`` (in place, or added at the table's
    end), or None where the table or a key is not a plain line of a ``[section]`` table."""
    import tomli_w

    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    header = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    for key, value in values.items():
        line = tomli_w.dumps({key: value})
        if "\n" in line.rstrip("\n"):
            return None  # a nested table: not a one-line edit
        if header is None:
            lines += ["\n" if lines and lines[-1].strip() else "", f"[{section}]\n", line]
            header = len(lines) - 2
            continue
        end = next((i for i in range(header + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        at = next((i for i in range(header + 1, end) if _line_key(lines[i]) == key), None)
        if at is not None:
            lines[at] = line
        else:
            while end > header + 1 and not lines[end - 1].strip():
                end -= 1  # after the table's last key, before the blank lines that part it from the next
            lines.insert(end, line)
    return "".join(lines)


def _line_key(line: str) -> str | None:
    name, sep, _ = line.partition("=")
    name = name.strip().strip('"').strip("'")
    return name if sep and name and not line.lstrip().startswith("#") else None


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
