"""Which deterministic checks a task's answer gets, from its kind and its VerifySpec.
Pure (workflows import it).

``auto`` (the default): ``math`` when an expected answer is given, ``json_schema`` when a
schema is; code runs its tests in the sandbox besides (workflows/task.py). ``math`` and
``json_schema`` ask for that one check; ``tests`` for the sandbox's alone, ``judge`` for
none (the judge decides alone).
"""

from __future__ import annotations

from naestro.contracts.verify import CheckName, VerifySpec


def checks_for(spec: VerifySpec | None) -> list[CheckName]:
    if spec is None or spec.checker in ("tests", "judge"):
        return []
    wanted: list[CheckName] = []
    if spec.expected_answer is not None and spec.checker in ("auto", "math"):
        wanted.append("math")
    if spec.json_schema is not None and spec.checker in ("auto", "json_schema"):
        wanted.append("json_schema")
    return wanted
