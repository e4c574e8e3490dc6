"""What text a prompt may hold, and how model output is made safe to store and pass on.

One rule for every way a prompt arrives (``POST /v1/tasks``, chat completions, research
goals, the CLI): :func:`prompt_problem`. Postgres text columns refuse NUL, and UTF-8 (so
asyncpg and JSON encoders) refuses lone surrogates; a prompt with either would be accepted
and then fail in every activity that stores it. Other C0 controls (escape, bell, ...) are
refused too: no task needs them and terminals and logs render them badly. Text we did not
get from a caller (model output) is cleaned with :func:`clean_text` instead of refused.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# C0 controls but tab, newline and carriage return; NUL is reported on its own.
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # in a str, every surrogate is a lone one
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def prompt_problem(text: str) -> str | None:
    """Why ``text`` cannot be a prompt (one line, without the field's name), else None."""
    if not text or text.isspace():
        return "must hold some text: it is empty or only whitespace"
    if (nul := text.find("\x00")) >= 0:
        return f"must not hold a NUL character (U+0000, at index {nul})"
    if found := _SURROGATE.search(text):
        return (
            f"must be valid Unicode: a lone surrogate (U+{ord(found.group()):04X}) "
            f"at index {found.start()}"
        )
    if found := _CONTROL.search(text):
        return (
            f"must not hold control characters but tab, newline and carriage return "
            f"(U+{ord(found.group()):04X} at index {found.start()})"
        )
    return None


def given_prompt_problem(text: str) -> str | None:
    """prompt_problem for text a caller may leave empty (a steering command's question or
    goal): None for empty or blank text, which is the caller's own check."""
    return prompt_problem(text) if text.strip() else None


def _checked(text: str) -> str:
    if problem := prompt_problem(text):
        raise PydanticCustomError("prompt_text", problem)
    return text


# A str field holding a prompt (or a goal, a question): refused as prompt_problem says.
PromptText = Annotated[str, AfterValidator(_checked)]


def clean_text(text: str) -> str:
    """``text`` without NUL and lone surrogates (U+FFFD in their place): what a Postgres
    text column and a UTF-8 encoder accept. For model output and other text not ours to
    refuse."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def clean_prompt(text: str) -> str:
    """Model-made text that becomes a prompt (a subtask's, a research question's): what
    :func:`prompt_problem` would refuse, replaced (an empty result stays empty)."""
    return _CONTROL.sub(" ", clean_text(text))
