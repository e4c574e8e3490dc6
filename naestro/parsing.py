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
# A data fence's marker line (naestro/fencing.py) a model copied from its prompt.
_FENCE_MARKER = re.compile(r"^\s*<</?\s*untrusted\b[^\n]*>>\s*$", re.IGNORECASE)


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


def _closed(text: str) -> str:
    """A reply cut off inside a code block (the output cap) still closes it."""
    return text + "\n```" if text.count("```") % 2 else text


def _fenced(text: str) -> list[tuple[str | None, str]]:
    blocks = [f for info, body in _FENCE.findall(_closed(text)) for f in _block_files(info, body)]
    return [(name, body) for name, body in blocks if body.strip()]


def _block_files(info: str, body: str) -> list[tuple[str | None, str]]:
    """One fenced block's files: several when it holds several ``# file:`` headers (small
    models put solution and tests in one block); lines copied from a data fence's markers
    are dropped, as they are never code."""
    lines = [line for line in body.splitlines() if not _FENCE_MARKER.match(line)]
    heads = [i for i, line in enumerate(lines) if _header(line)]
    if len(heads) < 2:
        return [_split_block(info, "\n".join(lines) + "\n" if lines else "")]
    before = "\n".join(lines[: heads[0]])
    files = [(_name_from_info(info), before + "\n")] if before.strip() else []
    return files + _headed("\n".join(lines[heads[0] :]))


def _header(line: str) -> str | None:
    m = _FILE_COMMENT.match(line)
    return m.group(1) if m and _SAFE_NAME.match(m.group(1)) else None


def _headed(text: str) -> list[tuple[str | None, str]]:
    """Files written without fences: each starts at a ``# file: NAME`` line (small models
    often drop the fence but keep the header)."""
    out: list[tuple[str | None, str]] = []
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        m = _FILE_COMMENT.match(line)
        if m and _SAFE_NAME.match(m.group(1)):
            if name is not None:
                out.append((name, "\n".join(lines).strip("\n") + "\n"))
            name, lines = m.group(1), []
        elif line.strip().startswith("```"):
            # A stray fence ends the file: what follows it is prose until the next header.
            if name is not None:
                out.append((name, "\n".join(lines).strip("\n") + "\n"))
            name, lines = None, []
        elif name is not None:
            lines.append(line)
    if name is not None:
        out.append((name, "\n".join(lines).strip("\n") + "\n"))
    return [(n, body) for n, body in out if body.strip()]


def extract_files(text: str) -> list[SandboxFile]:
    """Code files from fenced blocks. A block names its file by a first line
    ``# file: NAME`` or an info string such as ```` ```python solution.py ````; unnamed
    blocks become ``test_solution.py`` when they hold tests, else ``solution.py``. A reply
    with no fenced block is read by its ``# file: NAME`` headers instead."""
    files: dict[str, str] = {}
    # A reply that opens with a header and no fence (a closing one may follow the code) is
    # read by its headers: pairing that closing fence with another would make prose a file.
    headed_first = _FILE_COMMENT.match(text.lstrip().split("\n", 1)[0]) is not None
    parsed = _headed(text) if headed_first else _fenced(text) or _headed(text)
    for name, content in parsed:
        if name is None or ".." in name.split("/"):
            is_test = "def test_" in content or "unittest.TestCase" in content
            name = "test_solution.py" if is_test else "solution.py"
        if name in files:
            files[name] = files[name].rstrip("\n") + "\n\n" + content
        else:
            files[name] = content
    return [SandboxFile(path=name, content=body) for name, body in _importing(files).items()]


def _importing(files: dict[str, str]) -> dict[str, str]:
    """Tests beside the answer's modules (``solution.py``, ``balanced.py``) that import none
    of them (small models forget) get the imports they need, so a test run checks the code
    rather than a NameError."""
    modules = [
        name.removesuffix(".py")
        for name in files
        if name.endswith(".py") and not name.startswith("test_")
        and name.removesuffix(".py").isidentifier() and name != "conftest.py"
    ]  # fmt: skip
    if not modules:
        return files
    names = "|".join(re.escape(m) for m in modules)
    imports = re.compile(rf"^\s*(?:from\s+(?:{names})\s+import|import\s+(?:{names})\b)", re.M)
    added = "".join(
        f"from {m} import *  # noqa: F403 (added: tests see the code)\n" for m in modules
    )
    fixed = dict(files)
    for name, body in files.items():
        if name.rsplit("/", 1)[-1].startswith("test_") and not imports.search(body):
            fixed[name] = added + body
    return fixed


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
