"""Split documents into retrieval chunks that respect headings and code blocks.

Markdown and reST are cut at headings (the heading path travels with each chunk), HTML is
reduced to text with its h1..h6 as headings, source code is cut at top-level definitions;
a fenced code block is never split unless it alone exceeds the chunk size. Paragraphs are
then packed into chunks of at most ``max_chars``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from naestro.errors import NaestroError

TEXT_SUFFIXES = {".txt", ".text", ".log", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
RST_SUFFIXES = {".rst", ".rest"}
HTML_SUFFIXES = {".html", ".htm"}
CODE_SUFFIXES = {
    ".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".c", ".h", ".cc", ".cpp",
    ".hpp", ".rb", ".sh", ".sql", ".kt", ".swift", ".scala", ".cs", ".php", ".lua", ".toml",
    ".yaml", ".yml", ".json",
}  # fmt: skip
SUPPORTED = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | RST_SUFFIXES | HTML_SUFFIXES | CODE_SUFFIXES
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
_CODE_TOP = re.compile(r"^(def |class |async def |func |fn |pub fn |function |export |@)")


class UnsupportedFile(NaestroError):
    """A file type ingestion cannot read."""


@dataclass(frozen=True)
class Chunk:
    heading: str
    content: str


@dataclass
class _Section:
    heading: str
    blocks: list[str]


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs, with each fenced code block kept whole."""
    out: list[str] = []
    cur: list[str] = []
    fence: str | None = None
    for line in lines:
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            if cur:
                out.append("\n".join(cur))
            cur, fence = [line], stripped[:3]
        elif fence is not None:
            cur.append(line)
            if stripped.startswith(fence):
                out.append("\n".join(cur))
                cur, fence = [], None
        elif not stripped:
            if cur:
                out.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    if cur:
        out.append("\n".join(cur))
    return [b for b in out if b.strip()]


def _markdown_sections(text: str) -> list[_Section]:
    sections: list[_Section] = []
    path: list[str] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        sections.append(_Section(" › ".join(path), _blocks(lines)))

    for line in text.splitlines():
        if line.strip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            flush()
            lines = []
            level = len(match.group(1))
            path = [*path[: level - 1], match.group(2)]
        else:
            lines.append(line)
    flush()
    return sections


def _is_rst_heading(title: str, under: str) -> bool:
    return (
        bool(title.strip())
        and bool(_RST_UNDERLINE.match(under))
        and (len(under.strip()) >= len(title.strip()))
    )


def _rst_sections(text: str) -> list[_Section]:
    lines = text.splitlines()
    sections: list[_Section] = []
    levels: list[str] = []
    path: list[str] = []
    start = 0
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        if _is_rst_heading(title, under):
            sections.append(_Section(" › ".join(path), _blocks(lines[start:i])))
            char = under.strip()[0]
            if char not in levels:
                levels.append(char)
            level = levels.index(char)
            path = [*path[:level], title.strip()]
            start = i = i + 2
            continue
        i += 1
    sections.append(_Section(" › ".join(path), _blocks(lines[start:])))
    return sections


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in ("p", "div", "br", "li", "pre", "tr", "section", "article"):
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_markdown(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    text = "".join(parser.parts)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", text))


def _code_sections(text: str) -> list[_Section]:
    sections = [_Section("", [])]
    cur: list[str] = []
    for line in text.splitlines():
        if _CODE_TOP.match(line) and cur and not cur[-1].startswith("@"):
            sections[-1].blocks.append("\n".join(cur))
            cur = []
        cur.append(line)
    if cur:
        sections[-1].blocks.append("\n".join(cur))
    return sections


def _pack(section: _Section, max_chars: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    cur = ""
    for block in section.blocks:
        pieces = [block[i : i + max_chars] for i in range(0, len(block), max_chars)]
        for piece in pieces:
            if cur and len(cur) + len(piece) + 2 > max_chars:
                chunks.append(Chunk(section.heading, cur))
                cur = ""
            cur = f"{cur}\n\n{piece}" if cur else piece
    if cur.strip():
        chunks.append(Chunk(section.heading, cur))
    return chunks


def chunk_text(text: str, suffix: str, max_chars: int = 1500) -> list[Chunk]:
    """Chunks of a document whose type is given by its file suffix (".md", ".py", ...)."""
    suffix = suffix.lower()
    if suffix in HTML_SUFFIXES:
        sections = _markdown_sections(html_to_markdown(text))
    elif suffix in MARKDOWN_SUFFIXES:
        sections = _markdown_sections(text)
    elif suffix in RST_SUFFIXES:
        sections = _rst_sections(text)
    elif suffix in CODE_SUFFIXES:
        sections = _code_sections(text)
    elif suffix in TEXT_SUFFIXES:
        sections = [_Section("", _blocks(text.splitlines()))]
    else:
        raise UnsupportedFile(f"cannot ingest {suffix!r} files (supported: {sorted(SUPPORTED)})")
    return [c for s in sections for c in _pack(s, max_chars)]


def read_file(path: Path) -> str:
    if path.suffix.lower() not in SUPPORTED:
        raise UnsupportedFile(f"{path}: cannot ingest {path.suffix!r} files")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")
