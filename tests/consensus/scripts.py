"""Scripted providers for consensus tests: one replay script per provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from naestro.config.settings import Settings
from tests.support import make_settings, replay_provider, write_script

TASK = "What is the capital of France? Answer in one sentence."


def verdict(score: float, verdict: str = "accept") -> str:
    return json.dumps({"verdict": verdict, "score": score, "rationale": "scripted judge"})


def critique(scores: list[float], severity: str = "low") -> str:
    reviews = [
        {
            "proposal": i,
            "issues": [{"severity": severity, "description": "could be terser"}],
            "scores": {"correctness": s, "completeness": s, "clarity": s},
        }
        for i, s in enumerate(scores, 1)
    ]
    return json.dumps({"reviews": reviews})


def text(reply: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"text": reply, **extra}]


def panel() -> dict[str, list[dict[str, Any]]]:
    """3 proposers, 2 critics, a synthesizer, a judge, and the task's planner."""
    return {
        "planner": text("1. Recall it."),
        "p1": text("Paris is the capital of France."),
        "p2": text("The capital of France is Paris."),
        "p3": text("Lyon."),
        "c1": text(critique([0.9, 0.8, 0.1])),
        "c2": text(critique([0.8, 0.9, 0.2], "medium")),
        "synth": text("Paris is the capital of France."),
        "judge": text(verdict(0.9)),
    }


def panel_roles() -> dict[str, list[str]]:
    return {
        "planner": ["planner"],
        "implementer": ["planner"],
        "refiner": ["planner"],
        "judge": ["judge"],
        "proposer": ["p1", "p2", "p3"],
        "critic": ["c1", "c2"],
        "synthesizer": ["synth"],
    }


def consensus_settings(
    tmp_path: Path,
    scripts: dict[str, list[dict[str, Any]]],
    roles: dict[str, list[str]],
    consensus: dict[str, Any] | None = None,
    provider_extra: dict[str, dict[str, Any]] | None = None,
    **policy: Any,
) -> Settings:
    extra = provider_extra or {}
    providers = [
        replay_provider(write_script(tmp_path / f"{pid}.jsonl", rules), pid, **extra.get(pid, {}))
        for pid, rules in scripts.items()
    ]
    return make_settings(
        tmp_path,
        providers,
        policy={"roles": roles, "consensus": consensus or {}, **policy},
    )
