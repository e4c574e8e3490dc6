"""ReplayProvider: scripted replies from JSONL, no network."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from activities.models.replay import ReplayProvider
from naestro.config.settings import Price, ProviderConfig
from naestro.contracts import ChatMessage, ModelRequest
from naestro.errors import ConfigError, ProviderRequestRejected

RULES: list[dict[str, Any]] = [
    {"role": "planner", "phase": "plan", "text": "1. add them", "output_tokens": 12},
    {"contains": "def add", "text": "looks right", "input_tokens": 500},
    {"role": "critic", "text": "needs tests"},
    {"role": "planner", "text": "unreached: the first planner rule is more specific"},
    {"phase": "review", "text": "fallback review"},
]


def write_script(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "script.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def relative_to_cwd(path: Path) -> Path:
    return Path(os.path.relpath(path))


def provider(script: Path, **extra: Any) -> ReplayProvider:
    return ReplayProvider(
        ProviderConfig(
            id="replay-1", engine="replay", model="scripted", script=str(script), **extra
        )
    )


def ask(role: str, phase: str, content: str = "hello", *, stream: bool = False) -> ModelRequest:
    return ModelRequest(
        provider_id="replay-1",
        role=role,
        phase=phase,
        stream=stream,
        messages=[
            ChatMessage(role="system", content="sys"),
            ChatMessage(role="user", content=content),
        ],
    )


@pytest.fixture
def replay(tmp_path: Path) -> ReplayProvider:
    lines = [json.dumps(r) for r in RULES]
    lines.insert(2, "")  # blank lines are allowed
    return provider(write_script(tmp_path, lines), price=Price(input_per_mtok=1.0))


async def test_first_matching_rule_wins(replay: ReplayProvider) -> None:
    assert (await replay.complete(ask("planner", "plan"))).text == "1. add them"
    assert (await replay.complete(ask("critic", "plan"))).text == "needs tests"
    assert (await replay.complete(ask("judge", "plan", "def add(a, b)"))).text == "looks right"
    assert (await replay.complete(ask("judge", "review"))).text == "fallback review"
    assert (await replay.complete(ask("planner", "refine"))).text.startswith("unreached")


async def test_replies_are_scripted_and_counted(replay: ReplayProvider) -> None:
    response = await replay.complete(ask("planner", "plan", "x" * 17))
    assert response.scripted is True
    assert response.model == "scripted"
    assert response.provider_id == "replay-1"
    assert response.finish_reason == "stop"
    # "sys\n" + 17 characters = 21 characters -> ceil(21 / 4) = 6 tokens
    assert (response.usage.input_tokens, response.usage.output_tokens) == (6, 12)
    assert response.cost_usd == pytest.approx(6 / 1e6)

    given = await replay.complete(ask("judge", "implement", "def add(a, b)"))
    assert (given.usage.input_tokens, given.usage.output_tokens) == (500, 3)  # "looks right"


async def test_replies_do_not_depend_on_history(replay: ReplayProvider) -> None:
    first = await replay.complete(ask("critic", "verify"))
    again = await replay.complete(ask("critic", "verify"))
    assert first.model_copy(update={"latency_ms": 0}) == again.model_copy(update={"latency_ms": 0})


async def test_no_matching_rule_names_provider_role_and_phase(tmp_path: Path) -> None:
    replay = provider(write_script(tmp_path, [json.dumps({"role": "planner", "text": "t"})]))
    with pytest.raises(ProviderRequestRejected) as caught:
        await replay.complete(ask("judge", "review"))
    message = str(caught.value)
    assert "replay-1" in message
    assert "'judge'" in message
    assert "'review'" in message


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ('{"role": "planner", "text": "ok"', "not valid JSON"),
        ('{"role": "planner"}', "text"),
        ('{"text": "ok", "temperature": 1}', "temperature"),
        ('{"text": "ok", "output_tokens": -1}', "output_tokens"),
        ("[1, 2]", "rule"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, bad_line: str, problem: str) -> None:
    path = write_script(tmp_path, [json.dumps({"text": "fine"}), "", bad_line])
    with pytest.raises(ConfigError, match=problem) as caught:
        provider(path)
    assert f"{path}:3:" in str(caught.value)


def test_missing_or_empty_script_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        provider(tmp_path / "absent.jsonl")
    with pytest.raises(ConfigError, match="no rules"):
        provider(write_script(tmp_path, ["", "  "]))
    with pytest.raises(ConfigError, match="needs script"):
        ReplayProvider(ProviderConfig(id="r", engine="replay", model="m"))


async def test_simulated_latency_and_stream_progress(tmp_path: Path) -> None:
    text = "a scripted reply, streamed in pieces"
    replay = provider(
        write_script(tmp_path, [json.dumps({"text": text})]), simulated_latency_ms=200
    )
    progress: list[str] = []
    response = await replay.complete(ask("a", "b", stream=True), progress.append)
    assert response.latency_ms >= 200
    assert len([p for p in progress if p]) == 4  # one piece per 50 ms of latency
    assert "".join(progress) == text == response.text

    quiet: list[str] = []
    await replay.complete(ask("a", "b"), quiet.append)
    assert quiet == []  # progress reports are for streaming requests


async def test_relative_script_paths_resolve_from_the_working_directory(
    tmp_path: Path,
) -> None:
    relative = relative_to_cwd(write_script(tmp_path, [json.dumps({"text": "relative"})]))
    assert not relative.is_absolute()
    assert (await provider(relative).complete(ask("a", "b"))).text == "relative"
