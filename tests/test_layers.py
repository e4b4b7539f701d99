"""The folders of `src/turnout` import one way: each may use the ones below it, never above.

docs/architecture.md draws the same order as the data path of a request. Every import counts,
the ones inside functions and under `TYPE_CHECKING` too: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "turnout"

#: Top to bottom. A folder (or top-level module) may import its own layer's parts and below.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"doctor"},
    {"edge"},
    {"runtime"},
    {"access"},
    {"telemetry"},
    {"routing"},
    {"ledger", "state"},
    {"providers"},
    {"config"},
    {"catalog", "wire", "hops", "periodic", "redaction"},
    {"errors"},
    {"diagnosis", "__init__"},
]
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}


def _part(module: str) -> str | None:
    """`turnout.edge.app` -> "edge"; None for what is not turnout's."""
    names = module.split(".")
    if names[0] != "turnout":
        return None
    if len(names) == 1 or not _is_part(names[1]):
        return "__init__"  # the package itself, or a name it exports (`__version__`)
    return names[1]


def _is_part(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "turnout":  # `from turnout import diagnose`
                found += [(node.lineno, f"turnout.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _owner(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def upward_imports() -> list[str]:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        owner = _owner(path)
        for line, module in _imports(path):
            target = _part(module)
            if target is None or target == owner:
                continue
            if RANK[target] < RANK[owner]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} {owner} -> {module}")
    return upward


def test_every_folder_has_a_layer() -> None:
    parts = {_owner(path) for path in PACKAGE.rglob("*.py")}
    assert parts - RANK.keys() == set(), "add the new folder to LAYERS and the architecture doc"


def test_imports_point_down() -> None:
    assert upward_imports() == []


def test_diagnosis_stands_alone() -> None:
    """`from turnout import diagnose` loads the diagnosis and nothing else of turnout."""
    for path in (PACKAGE / "diagnosis").rglob("*.py"):
        for _, imported in _imports(path):
            assert _part(imported) in (None, "diagnosis", "__init__"), f"{path} imports {imported}"
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED],
        capture_output=True, text=True, check=True, cwd=PACKAGE.parent,
    ).stdout.split()  # fmt: skip
    assert "turnout.diagnosis" in loaded
    assert {name.split(".")[1] for name in loaded if "." in name} == {"diagnosis"}


LOADED = """
import sys
from turnout import diagnose
assert diagnose(429, '{"error": {"type": "rate_limit_error"}}').category
print(*sorted(name for name in sys.modules if name.startswith("turnout")))
"""
