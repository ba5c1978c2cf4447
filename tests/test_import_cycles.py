"""No import circles among the project's modules.

Every import counts: at module level, inside a function (a deferred import hides a circle
from Python but not from a reader) and under `if TYPE_CHECKING:` (a type a module takes from
a module that imports it is a circle too). A circle is reported as the modules it runs
through, so the fix is where to look."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("xmtrade", "strategies", "risk", "data_feeds", "configs")


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the project's packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: dict[str, Path], name: str) -> set[str]:
    """The project modules `path` imports (the longest known prefix of each import)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_cycles(root: Path) -> list[list[str]]:
    """Each strongly connected set of two or more modules (Tarjan), sorted."""
    known = modules(root)
    graph = {name: imports_of(path, known, name) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                cycles.append(sorted(members))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return sorted(cycles)


def test_no_import_cycles() -> None:
    cycles = import_cycles(ROOT)
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_a_deferred_or_type_only_import_still_closes_a_circle(tmp_path: Path) -> None:
    package = tmp_path / "xmtrade"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "page.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from xmtrade.sweep import Row\n"
    )
    (package / "sweep.py").write_text("def draw():\n    from xmtrade.page import x\n")
    (package / "alone.py").write_text("import xmtrade.sweep\n")
    assert import_cycles(tmp_path) == [["xmtrade.page", "xmtrade.sweep"]]
