"""The house's shape in figures: import circles between modules (from import-linter's own graph, grimp, which sees
``imageworks.daemon`` and ``imageworks.tui`` through their links) and the modules over the ~400-line guide.

    .venv/bin/python bench/house.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if not child.startswith("imageworks"):
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def long_files() -> list[tuple[int, str]]:
    out = []
    for folder in ("imageworks", "daemon", "tui"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.is_symlink() or any(p.is_symlink() for p in path.relative_to(ROOT).parents if p != Path(".")):
                continue
            lines = len(path.read_text().splitlines())
            if lines > LIMIT:
                out.append((lines, str(path.relative_to(ROOT))))
    return sorted(out, reverse=True)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("imageworks")
    found = circles(graph)
    print(f"modules: {len(graph.modules)}; import circles: {len(found)}")
    for component in found:
        print("  circle:", " -> ".join(component))
    over = long_files()
    print(f"modules over {LIMIT} lines: {len(over)}")
    for lines, name in over:
        print(f"  {name}: {lines}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
