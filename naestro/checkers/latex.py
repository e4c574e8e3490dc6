"""A model's final answer, read out of its text and turned from LaTeX-ish maths into the
syntax SymPy's parser takes. Pure: the standard library only (no SymPy here), so the API
can refuse an expected answer it could never read before a task starts.

An answer is one ``Item`` (an expression, or an equation ``lhs = rhs``) or a ``Group`` of
them: ``{1, 2}`` and bare lists (``x = 2, x = -3``, ``2 or -3``, ``1 \\pm 2``) are
unordered, ``(1, 2)`` and ``[1, 2]`` ordered. Every expression passes a token allow-list
(names, numbers, arithmetic, brackets): no attribute access, strings, keywords or anything
else Python could do, since SymPy's parser evaluates the text it builds.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from dataclasses import dataclass

MAX_ANSWER_CHARS = 1_000  # a final answer longer than this is not read
MAX_ITEMS = 24  # items of an answer (a set of solutions, a tuple), all levels together
MAX_NUMBER_DIGITS = 60
MAX_DEPTH = 40  # brackets within brackets
_SCAN_CHARS = 50_000  # only the text's tail is searched for the final answer


class MathSyntaxError(ValueError):
    """The text is no answer this checker can read (the message says why)."""


@dataclass(frozen=True)
class Final:
    """The final answer as written, and where in the text it was found."""

    text: str
    source: str  # "boxed", "answer line", "answer is", "maths", "last line"


@dataclass(frozen=True)
class Item:
    """One answer: ``expr``, or the equation ``lhs = expr`` (both Python-ish syntax)."""

    expr: str
    lhs: str | None = None


@dataclass(frozen=True)
class Group:
    """Several answers: a set of solutions (unordered) or a tuple (ordered)."""

    items: tuple[Item | Group, ...]
    ordered: bool


Answer = Item | Group

# ------------------------------------------------------------------ finding the answer

# Linear patterns only (no nested or overlapping repeats): a reply can be long.
_ANSWER_LINE = re.compile(r"(?im)^[*_#> \t-]*(?:final[ \t]+)?answer[*_ \t]*[:：][*_]*")
_ANSWER_IS = re.compile(r"(?i)\banswer[ \t]+is\b[ \t]*:?")
_MATHS = re.compile(
    r"\$\$(.{1,2000}?)\$\$|\$(.{1,2000}?)\$|\\\((.{1,2000}?)\\\)|\\\[(.{1,2000}?)\\\]",
    re.DOTALL,
)
_MATHS_SCAN_CHARS = 5_000


def _group_end(text: str, start: int) -> int:
    """The index just past the ``}`` matching the ``{`` at ``start`` (-1 if none)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1 : i] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1 : i] != "\\":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _boxed(text: str) -> str | None:
    for command in ("\\boxed", "\\fbox"):
        at = text.rfind(command)
        if at < 0:
            continue
        start = at + len(command)
        while start < len(text) and text[start] == " ":
            start += 1
        if text[start : start + 1] != "{":
            word = text[start:].split(None, 1)  # \boxed 5
            return word[0].rstrip("$.") if word else None
        end = _group_end(text, start)
        if end > 0:
            return text[start + 1 : end - 1]
    return None


def _rest_of_line(text: str, match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    line = text[match.end() :].split("\n", 1)[0].strip()
    return line or None


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007  # the last one is wanted
        pass
    return found


def final_answer(text: str) -> Final | None:
    """The final answer in a model's reply: ``\\boxed{...}``, an ``Answer:`` (or ``Final
    answer:``) line, "the answer is ...", the last ``$...$``, else the last line."""
    tail = text[-_SCAN_CHARS:]
    if (boxed := _boxed(tail)) is not None:
        return Final(boxed, "boxed")
    if (line := _rest_of_line(tail, _last(_ANSWER_LINE, tail))) is not None:
        return Final(line, "answer line")
    if (said := _rest_of_line(tail, _last(_ANSWER_IS, tail))) is not None:
        return Final(said, "answer is")
    if (maths := _last(_MATHS, tail[-_MATHS_SCAN_CHARS:])) is not None:
        return Final(next(g for g in maths.groups() if g is not None), "maths")
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return Final(lines[-1], "last line") if lines else None


# ------------------------------------------------------------------ LaTeX to Python-ish

_REPLACE = {
    "−": "-",
    "–": "-",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "÷": "/",
    "π": " pi ",
    "∞": " oo ",
    "√": "\\sqrt",
    "±": "\\pm ",
    "°": "",
    "\\%": "",
    "%": "",
    "\\$": "",
    "$": "",
    "\\!": "",
    "\\,": " ",
    "\\;": " ",
    "\\:": " ",
    "\\ ": " ",
    "~": " ",
    "\\displaystyle": "",
    "\\dfrac": "\\frac",
    "\\tfrac": "\\frac",
    "^\\circ": "",
    "^{\\circ}": "",
}
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)[lr]?(?![A-Za-z])\.?")
_WORD = {
    "cdot": "*",
    "times": "*",
    "ast": "*",
    "div": "/",
    "infty": "oo",
    "pi": "pi",
    "pm": "±",
    "mp": "∓",
    "ln": "ln",
    "log": "log",
    "exp": "exp",
    **{f: f for f in ("sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh")},
    **{f"arc{f}": f"a{f}" for f in ("sin", "cos", "tan")},
}
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi omicron rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda "
    "Xi Sigma Upsilon Phi Psi Omega"
).split()
_TEXT_COMMANDS = ("text", "textrm", "mathrm", "mbox", "textbf", "mathbf", "boldsymbol")
_TEXT_COMMAND = re.compile(r"\\(" + "|".join(_TEXT_COMMANDS) + r")\s*(?=\{)")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_WORDS_APART = re.compile(r"(?i)\s+(?:or|and)\s+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPS = {"+", "-", "*", "/", "**", "(", ")", ","}


def _argument(text: str, start: int) -> tuple[str, int]:
    """A command's argument at ``start``: a ``{...}`` group or a single character."""
    while start < len(text) and text[start] == " ":
        start += 1
    if start >= len(text):
        raise MathSyntaxError("a LaTeX command lacks its argument")
    if text[start] == "{":
        end = _group_end(text, start)
        if end < 0:
            raise MathSyntaxError("unbalanced braces")
        return text[start + 1 : end - 1], end
    return text[start], start + 1


def _text_blocks(text: str) -> str:
    """``\\text{...}`` and friends: their words; a unit (``5\\text{ cm}``) goes."""
    while (match := _TEXT_COMMAND.search(text)) is not None:
        inner, end = _argument(text, match.end())
        words = inner.strip()
        keep = "" if inner.startswith(" ") and words not in ("or", "and") else f" {words} "
        text = text[: match.start()] + keep + text[end:]
    return text


def _structures(text: str) -> str:
    """``\\frac``, ``\\sqrt`` and ``\\binom`` as function calls, innermost arguments too."""
    out, i = [], 0
    while i < len(text):
        match = _COMMAND.match(text, i)
        name = match.group(1) if match else ""
        if match is None or name not in ("frac", "sqrt", "binom"):
            if match is not None:  # another command: copied whole, not split into letters
                out.append(match.group(0))
                i = match.end()
                continue
            out.append(text[i])
            i += 1
            continue
        i = match.end()
        if name == "sqrt" and text[i : i + 1] == "[":
            close = text.find("]", i)
            if close < 0:
                raise MathSyntaxError("unbalanced brackets in \\sqrt[n]")
            degree = _structures(text[i + 1 : close])
            body, i = _argument(text, close + 1)
            out.append(f"root(({_structures(body)}),({degree}))")
            continue
        first, i = _argument(text, i)
        if name == "sqrt":
            out.append(f"sqrt({_structures(first)})")
            continue
        second, i = _argument(text, i)
        a, b = _structures(first), _structures(second)
        out.append(f"(({a})/({b}))" if name == "frac" else f"binomial(({a}),({b}))")
    return "".join(out)


def _command(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _WORD:
        return f" {_WORD[name]} "
    if name in _GREEK:
        name = name.removeprefix("var")
        return " lamda" if name == "lambda" else f" {name}"  # lambda: a Python keyword
    raise MathSyntaxError(f"unsupported LaTeX command \\{name}")


def _subscripts(text: str) -> str:
    """``x_{1}`` and ``x_1`` as the name ``x_1``."""
    return re.sub(r"_\{\s*([A-Za-z0-9]+)\s*\}", r"_\1", text)


def to_python(latex: str) -> str:
    """One expression, LaTeX-ish or plain, in the syntax SymPy's parser takes."""
    text = _structures(_text_blocks(_SIZING.sub("", latex)))
    text = _COMMAND.sub(_command, text)
    if "\\" in text:
        raise MathSyntaxError("a stray backslash")
    text = _subscripts(text).replace("{", "(").replace("}", ")").replace("^", "**")
    text = text.replace("[", "(").replace("]", ")")
    check_tokens(text)
    return " ".join(text.split())


def check_tokens(text: str) -> None:
    """Refuse anything but names, numbers, arithmetic, brackets, commas and ``!``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text.strip()).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        raise MathSyntaxError("unbalanced brackets") from None
    for tok in tokens:
        kind, value = tok.type, tok.string
        if kind in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER) or not value.strip():
            continue
        if kind == tokenize.NAME and _NAME.fullmatch(value) and not keyword.iskeyword(value):
            if "__" in value:
                raise MathSyntaxError(f"unsupported name {value!r}")
            continue
        if kind == tokenize.NUMBER and _NUMBER.fullmatch(value):
            if len(value) > MAX_NUMBER_DIGITS:
                raise MathSyntaxError(f"a number of over {MAX_NUMBER_DIGITS} digits")
            continue
        if (kind == tokenize.OP and value in _OPS) or value == "!":
            continue
        raise MathSyntaxError(f"unsupported symbol {value!r}")


# ------------------------------------------------------------------ structure


def _depths(text: str) -> list[int]:
    """The bracket depth before each character."""
    depth, out = 0, []
    for ch in text:
        if ch in ")]}":
            depth -= 1
        out.append(depth)
        if ch in "([{":
            depth += 1
        if depth < 0:
            raise MathSyntaxError("unbalanced brackets")
        if depth > MAX_DEPTH:
            raise MathSyntaxError(f"brackets nested over {MAX_DEPTH} deep")
    if depth != 0:
        raise MathSyntaxError("unbalanced brackets")
    return out


def _split(text: str, separators: str) -> list[str]:
    depths = _depths(text)
    parts, start = [], 0
    for i, ch in enumerate(text):
        if ch in separators and depths[i] == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _wrapped(text: str) -> tuple[str, bool] | None:
    """(inside, ordered) when one pair of brackets wraps the whole text; sets (``\\{ \\}``,
    ``{ }``) are unordered."""
    for opening, closing, ordered in (
        ("\\{", "\\}", False),
        ("{", "}", False),
        ("(", ")", True),
        ("[", "]", True),
    ):
        if text.startswith(opening) and text.endswith(closing):
            inner = text[len(opening) : len(text) - len(closing)]
            try:
                depths = _depths(inner)
            except MathSyntaxError:
                continue
            if min(depths, default=0) >= 0:
                return inner.strip(), ordered
    return None


def _clean(text: str) -> str:
    for old, new in _REPLACE.items():
        text = text.replace(old, new)
    text = _SIZING.sub("", text).strip().rstrip(".").strip()
    text = re.sub(r"^\*+|\*+$", "", text).strip()  # markdown bold around the answer
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return _WORDS_APART.sub(", ", _text_blocks(text))


def _plus_minus(text: str) -> list[str]:
    """``a \\pm b``: the two answers ``a + b`` and ``a - b``."""
    for sign in ("±", "\\pm", "∓", "\\mp"):
        if sign in text:
            first, _, rest = text.partition(sign)
            plus, minus = ("+", "-") if sign in ("±", "\\pm") else ("-", "+")
            return [*_plus_minus(f"{first}{plus}{rest}"), *_plus_minus(f"{first}{minus}{rest}")]
    return [text]


def _item(text: str) -> Item:
    sides = re.split(r"(?<![<>!=])=(?!=)", text)
    if len(sides) > 2:
        sides = [sides[0], sides[-1]]  # x = 2 + 1 = 3: the last value
    if len(sides) == 2:
        lhs, rhs = (s.strip() for s in sides)
        if not lhs or not rhs:
            raise MathSyntaxError("an equation lacks a side")
        return Item(to_python(rhs), to_python(lhs))
    if not text:
        raise MathSyntaxError("an empty answer")
    return Item(to_python(text))


def _group(parts: list[str], ordered: bool, budget: list[int]) -> Group:
    budget[0] -= len(parts)
    if budget[0] < 0:
        raise MathSyntaxError(f"more than {MAX_ITEMS} answers")
    return Group(tuple(_read(p, budget) for p in parts if p), ordered)


def _read(text: str, budget: list[int]) -> Answer:
    wrapped = _wrapped(text)
    if wrapped is not None:
        inner, ordered = wrapped
        parts = _split(inner, ",;")
        if len(parts) > 1 or not ordered:  # a tuple, a list, a set (of one, even)
            return _group(parts, ordered, budget)
        # else parentheses round one expression: read as it is
    parts = _split(text, ",;")
    if len(parts) == 1:
        options = _plus_minus(parts[0])
        if len(options) == 1:
            return _item(options[0])
        parts = options
    return _group(parts, False, budget)


def read_answer(text: str) -> Answer:
    """One answer or a group of them, each expression in Python-ish syntax; raises
    MathSyntaxError saying why when the text is no answer this checker can read."""
    if len(text) > MAX_ANSWER_CHARS:
        raise MathSyntaxError(
            f"the answer is {len(text)} characters long; at most {MAX_ANSWER_CHARS} are read"
        )
    cleaned = _clean(text)
    if not cleaned:
        raise MathSyntaxError("an empty answer")
    return _read(cleaned, [MAX_ITEMS])


def problem(text: str) -> str | None:
    """Why ``text`` (an expected answer) cannot be read, or None."""
    try:
        read_answer(text)
    except MathSyntaxError as exc:
        return str(exc)
    return None
