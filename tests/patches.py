"""Every ``workflow.patched(ID)`` call in the workflow code, found in the sources.

The replay gate (tests/test_replay.py) requires each patch id to appear in a history of
today's generation, so a patched path that no recorded history takes cannot ship unseen.
The calls are found with ``ast`` and their argument is resolved on the imported module (a
literal, a module-level constant, an imported constant or ``module.CONSTANT``), so a new
patch is picked up without editing any list.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_CODE = ROOT / "workflows"


@dataclass(frozen=True)
class PatchCall:
    """One ``workflow.patched(...)`` call: its id (None when it is no constant string) and
    where it is (``workflows/task.py:170``)."""

    id: str | None
    where: str
    source: str


def _is_patched_call(node: ast.Call) -> bool:
    if len(node.args) != 1:
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr == "patched" and isinstance(func.value, ast.Name)
    return isinstance(func, ast.Name) and func.id == "patched"


def _resolve(node: ast.expr, module: ModuleType) -> object:
    """The value of a literal, a module global, or an attribute chain from one."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, module)
        return None if owner is None else getattr(owner, node.attr, None)
    return None


def _module_of(path: Path) -> ModuleType:
    dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return importlib.import_module(dotted)


def patch_calls(root: Path = WORKFLOW_CODE) -> list[PatchCall]:
    """Every ``patched`` call under ``root``, in file and line order."""
    calls = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        found = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_patched_call(n)]
        if not found:
            continue
        module = _module_of(path)
        for node in sorted(found, key=lambda n: n.lineno):
            value = _resolve(node.args[0], module)
            calls.append(
                PatchCall(
                    id=value if isinstance(value, str) else None,
                    where=f"{path.relative_to(ROOT)}:{node.lineno}",
                    source=ast.get_source_segment(source, node) or "",
                )
            )
    return calls
