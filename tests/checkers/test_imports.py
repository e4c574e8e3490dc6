"""Workflow code reaches the checkers' pure parts only: SymPy and jsonschema never load
where workflows run (the orchestrator worker, the replayer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_orchestrator_imports_neither_sympy_nor_jsonschema() -> None:
    probe = (
        "import sys, workers.orchestrator, workflows.task; "
        "print(sorted(m for m in ('sympy', 'jsonschema') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
