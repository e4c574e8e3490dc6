"""Turn model replies into structured things: code files, judge verdicts. Pure functions.

Imported by workflows, so nothing here does I/O.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from naestro.contracts import JudgeVerdict, SandboxFile

_FENCE = re.compile(r"```([^\n`]*)\n(.*?)```", re.DOTALL)
_FILE_COMMENT = re.compile(r"^\s*(?:#|//)\s*file:\s*(\S+)\s*$", re.IGNORECASE)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")


def _name_from_info(info: str) -> str | None:
    for word in info.split()[1:] if " " in info.strip() else []:
        if "." in word and _SAFE_NAME.match(word):
            return word
    word = info.strip()
    if "." in word and _SAFE_NAME.match(word):
        return word
    return None


def _split_block(info: str, body: str) -> tuple[str | None, str]:
    lines = body.splitlines()
    if lines:
        m = _FILE_COMMENT.match(lines[0])
        if m and _SAFE_NAME.match(m.group(1)):
            return m.group(1), "\n".join(lines[1:]) + "\n"
    return _name_from_info(info), body


def extract_files(text: str) -> list[SandboxFile]:
    """Code files from fenced blocks. A block names its file by a first line
    ``# file: NAME`` or an info string such as ```` ```python solution.py ````; unnamed
    blocks become ``test_solution.py`` when they hold tests, else ``solution.py``."""
    files: dict[str, str] = {}
    for info, body in _FENCE.findall(text):
        name, content = _split_block(info, body)
        if name is None or ".." in name.split("/"):
            is_test = "def test_" in content or "unittest.TestCase" in content
            name = "test_solution.py" if is_test else "solution.py"
        if name in files:
            files[name] = files[name].rstrip("\n") + "\n\n" + content
        else:
            files[name] = content
    return [SandboxFile(path=name, content=body) for name, body in files.items()]


def render_files(files: list[SandboxFile]) -> str:
    """The inverse of :func:`extract_files`: files as fenced blocks."""
    return "\n\n".join(f"```python\n# file: {f.path}\n{f.content.rstrip()}\n```" for f in files)


def _json_objects(text: str) -> list[str]:
    """Balanced top-level ``{...}`` spans, outermost first (strings respected)."""
    spans, depth, start, in_str, escaped = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            escaped = not escaped and ch == "\\"
            if ch == '"' and not escaped:
                in_str = False
            continue
        if ch == '"' and depth:
            in_str = True
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def parse_verdict(text: str) -> JudgeVerdict | None:
    """The judge's JSON verdict, or None when the reply holds no valid one."""
    for candidate in _json_objects(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("verdict"), str):
            data["verdict"] = data["verdict"].strip().lower()
        try:
            return JudgeVerdict.model_validate(
                {k: data[k] for k in ("verdict", "score", "rationale") if k in data}
            )
        except ValidationError:
            continue
    return None


def estimate_tokens(text: str) -> int:
    """A cheap, deterministic pre-call estimate (about 4 characters a token)."""
    return len(text) // 4 + 1
