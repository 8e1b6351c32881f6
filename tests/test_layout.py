"""The layout is the architecture: no import cycle, imports only run one way, one class per name, small files,
and a README table ("Where things live") that names what is there. Reads the source; no I/O beyond it."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ("ingest", "workers", "shared")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Every module of the application packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The application modules ``name`` imports, anywhere in it (a function's late import counts too)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join([*anchor[: len(anchor) - node.level + 1], *([base] if base else [])])
            # ``from package import module`` imports that module; ``from module import name`` the module.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        yield from (t for t in targets if t in MODULES and t != name)


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _reaches(start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(GRAPH[current])
    return False


def test_the_import_graph_has_no_cycle() -> None:
    cycles = sorted(f"{a} <-> {b}" for a, targets in GRAPH.items() for b in targets if _reaches(b, a))
    assert cycles == []


def test_imports_run_one_way() -> None:
    """``ingest`` and ``workers`` never import each other; ``shared`` imports neither, and outside the
    operator code never imports it; the receiver's hot path knows nothing of operators."""
    wrong = []
    for name, targets in GRAPH.items():
        for target in targets:
            top, other = name.split(".")[0], target.split(".")[0]
            if {top, other} == {"ingest", "workers"} or (top == "shared" and other != "shared"):
                wrong.append(f"{name} -> {target}")
            if name.startswith("shared.") and not name.startswith("shared.ops") and target.startswith("shared.ops"):
                wrong.append(f"{name} -> {target}")
            allowed = ("ingest.server", "ingest.openapi")  # mounting the admin API and the console; its document
            if name.startswith("ingest.") and target.startswith("shared.ops") and name not in allowed:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_two_classes_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(name)
    assert {cls: found for cls, found in where.items() if len(found) > 1} == {}


def test_no_file_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for folder in (*PACKAGES, "tests", "scripts")
        for path in (ROOT / folder).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _layout_table() -> list[tuple[list[str], list[str]]]:
    """The README's "Where things live" rows: the places, and the names the description mentions."""
    text = (ROOT / "README.md").read_text()
    table = text.split("Where things live", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            break
        place, what = line.strip("|").split(" | ", 1)
        rows.append((re.findall(r"`([^`]+)`", place), re.findall(r"`([^`]+)`", what)))
    return rows


def test_every_place_in_the_readme_layout_table_exists() -> None:
    missing = []
    for places, mentioned in _layout_table():
        missing += [p for p in places if not (ROOT / p).exists()]
        # A file or folder the description names: in one of the row's folders, or from the top with a slash.
        for name in mentioned:
            if re.fullmatch(r"[\w./]+", name) and (name.endswith("/") or "." in name) and not name.startswith("."):
                bases = [ROOT] if "/" in name.rstrip("/") else [ROOT / p for p in places if p.endswith("/")]
                if not any((base / name).exists() for base in bases):
                    missing.append(f"{name} (row {places})")
    assert missing == []


def test_every_package_has_a_place_in_the_readme_layout_table() -> None:
    """Each folder of the application is a place of the table, or named in its parent folder's row."""
    rows = _layout_table()
    places = {p.rstrip("/") for row_places, _ in rows for p in row_places}
    named = {
        f"{row_places[0].rstrip('/')}/{name.rstrip('/')}"
        for row_places, mentioned in rows
        if len(row_places) == 1
        for name in mentioned
        if name.endswith("/")
    }
    folders = {str(p.parent.relative_to(ROOT)) for name, p in MODULES.items() if p.name == "__init__.py"}
    homeless = sorted(f for f in folders if f not in PACKAGES and f not in places | named)
    assert homeless == []
