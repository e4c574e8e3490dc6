"""The curl examples in README.md and docs/*.md work as written: a JSON body goes with
``Content-Type: application/json`` (FastAPI reads no body as JSON without it: 422), and an
inline body is valid JSON."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^ *```[a-z]*\n(.*?)^ *```", re.S | re.M)
DATA = {"-d", "--data", "--data-raw", "--json"}


def curl_commands(text: str) -> list[list[str]]:
    """Every curl command of the shell blocks, as its arguments."""
    commands: list[list[str]] = []
    for block in _BLOCK.findall(text):
        if "curl " not in block:
            continue
        lexer = shlex.shlex(block.replace("\\\n", " "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] | None = None
        for token in lexer:
            if token == "curl":
                current = []
                commands.append(current)
            elif set(token) <= set("|;&()"):
                current = None
            elif current is not None:
                current.append(token)
    return commands


def _headers(args: list[str]) -> list[str]:
    return [args[i + 1].lower() for i, a in enumerate(args[:-1]) if a in ("-H", "--header")]


def _posted(args: list[str]) -> list[tuple[str, str]]:
    return [(a, args[i + 1]) for i, a in enumerate(args[:-1]) if a in DATA]


def test_the_examples_are_found() -> None:
    found = [c for doc in DOCS for c in curl_commands(doc.read_text()) if _posted(c)]
    assert len(found) >= 5  # README's and docs/api.md's tasks, workspace, research, steer


def test_every_json_post_says_so_and_is_json() -> None:
    problems = []
    for doc in DOCS:
        for args in curl_commands(doc.read_text()):
            posted = _posted(args)
            if not posted or any(flag == "--json" for flag, _ in posted):
                continue
            where = f"{doc.name}: curl {' '.join(args)[:80]}"
            if "content-type: application/json" not in _headers(args):
                problems.append(f"{where}: no Content-Type: application/json")
            for _, body in posted:
                if not body.startswith("@"):
                    try:
                        json.loads(body)
                    except ValueError as exc:
                        problems.append(f"{where}: body is not JSON ({exc})")
    assert problems == []
