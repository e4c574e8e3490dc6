"""PII and secret detection, redaction to placeholders, and restoration.

Pure and deterministic (workflow code imports it): no I/O, clocks, randomness or
environment reads. :func:`scan` finds spans, :func:`redact` swaps them for placeholders
such as ``<EMAIL_1>`` and returns the placeholder -> original mapping, :func:`restore`
puts the originals back into a model's reply.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from naestro.contracts import PiiFinding, PiiScanResult
from naestro.errors import PiiScanError
from naestro.pii.context import (
    detect_addresses,
    detect_birth_dates,
    detect_documents,
    detect_macs,
    detect_ssns,
)
from naestro.pii.detectors import (
    UUID,
    detect_credit_cards,
    detect_emails,
    detect_ibans,
    detect_ips,
)
from naestro.pii.names import detect_names
from naestro.pii.phones import detect_phones
from naestro.pii.secrets import detect_assigned_secrets, detect_known_secrets, looks_like_words

ENTITY_TYPES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "US_SSN",
    "DATE_OF_BIRTH",
    "ADDRESS",
    "PASSPORT",
    "DRIVER_LICENSE",
    "SECRET",
    "PERSON",
)

SCORE_HIGH_ENTROPY = 0.9
SCORE_CONTEXT_ENTROPY = 0.6
# entropy_high applies as such from this length on; see high_threshold().
CALIBRATION_LENGTH = 40
CONTEXT_WINDOW = 40
MIN_TOKEN = 20

_STRUCTURED: tuple[Callable[[str], list[PiiFinding]], ...] = (
    detect_known_secrets,
    detect_assigned_secrets,
    detect_emails,
    detect_credit_cards,
    detect_ibans,
    detect_ips,
    detect_phones,
    detect_ssns,
    detect_macs,
    detect_birth_dates,
    detect_documents,
    detect_addresses,
    detect_names,
)
# "=" only as trailing base64 padding, so "api_key=AbC..." does not swallow the key's name.
_TOKEN = re.compile(rf"[A-Za-z0-9+/_-]{{{MIN_TOKEN},}}={{0,2}}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_UPPER_ID = re.compile(r"[A-Z0-9]+")  # account numbers, IBAN look-alikes, product codes
_CONTEXT_WORDS = (
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "api",
    "auth",
    "authorization",
    "credential",
    "bearer",
)
# A context word counts at a word start or a camelCase hump ("accessToken"), plural
# allowed, but not inside a longer word ("tokenizer", "monkey", "author").
_CONTEXT = re.compile(
    "|".join(
        rf"(?:(?<![A-Za-z])(?:{w}|{w.capitalize()}|{w.upper()})|(?<=[a-z]){w.capitalize()})"
        rf"(?:s|S)?(?![a-z])"
        for w in _CONTEXT_WORDS
    )
)
_PLACEHOLDER = re.compile(r"<([A-Z_]+)_(\d+)>")


def shannon_entropy(token: str) -> float:
    """Bits per character of the token's own character distribution."""
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values()) if n else 0.0


def high_threshold(length: int, entropy_high: float) -> float:
    """The "random on its face" bar for a token of ``length`` characters.

    Plug-in entropy cannot exceed log2(length): a flat 4.5 bits is unreachable below 23
    characters and rejects about half of random 32-character base62 keys. So
    ``entropy_high`` is taken as the bar for a token of ``CALIBRATION_LENGTH`` (40) chars
    and a shorter token must reach the same fraction of its own ceiling::

        entropy_high * min(1, log2(length) / log2(40))

    With the default 4.5 that fraction is 0.85: random base62/base64 tokens of 20..48
    chars land at 0.85..0.93 of log2(length) (5th to 50th percentile), while camelCase
    names and paths that reach it are dropped by
    :func:`~naestro.pii.secrets.looks_like_words`. Raising ``entropy_high``
    still makes every length stricter.
    """
    return entropy_high * min(1.0, math.log2(length) / math.log2(CALIBRATION_LENGTH))


def _in_context(text: str, start: int) -> bool:
    return _CONTEXT.search(text, max(0, start - CONTEXT_WINDOW), start) is not None


def _entropy_score(text: str, start: int, token: str, high: float, low: float) -> float | None:
    if UUID.fullmatch(token):
        return None
    entropy = shannon_entropy(token)
    # Hex and digit strings (git SHAs, hashes, ids) are random by construction, and
    # upper-case codes (IBAN look-alikes, account ids) common; only context can tell a
    # secret among them.
    restricted = _HEX.fullmatch(token) is not None or _UPPER_ID.fullmatch(token) is not None
    if (
        not restricted
        and entropy >= high_threshold(len(token), high)
        and not looks_like_words(token, inner_digits=True)
    ):
        return SCORE_HIGH_ENTROPY
    if (
        entropy >= low
        and not looks_like_words(token, inner_digits=False)
        and _in_context(text, start)
    ):
        return SCORE_CONTEXT_ENTROPY
    return None


def detect_entropy_secrets(
    text: str, taken: Iterable[PiiFinding], *, entropy_high: float, entropy_low: float
) -> list[PiiFinding]:
    """High-entropy tokens that no structured detector already claimed."""
    tokens = list(_TOKEN.finditer(text))
    if not tokens:  # most short texts: skip resolving the claimed spans at all
        return []
    spans = [(f.start, f.end) for f in resolve_overlaps(taken)]
    starts = [s for s, _ in spans]
    found: list[PiiFinding] = []
    for m in tokens:
        if _overlaps(spans, starts, m.start(), m.end()):
            continue
        score = _entropy_score(text, m.start(), m.group(), entropy_high, entropy_low)
        if score is not None:
            found.append(
                PiiFinding(
                    entity_type="SECRET",
                    start=m.start(),
                    end=m.end(),
                    score=score,
                    detector="secret.entropy",
                )
            )
    return found


def _overlaps(spans: list[tuple[int, int]], starts: list[int], start: int, end: int) -> bool:
    """Does [start, end) intersect any span of ``spans`` (sorted, non-overlapping)?"""
    i = bisect_left(starts, end)
    return i > 0 and spans[i - 1][1] > start


def resolve_overlaps(findings: Iterable[PiiFinding]) -> list[PiiFinding]:
    """Keep the higher score, then the longer span, where findings overlap; sort by start."""
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start, f.entity_type))
    kept: list[tuple[int, int]] = []
    starts: list[int] = []
    chosen: list[PiiFinding] = []
    for f in ranked:
        if f.end <= f.start or _overlaps(kept, starts, f.start, f.end):
            continue
        i = bisect_left(starts, f.start)
        kept.insert(i, (f.start, f.end))
        starts.insert(i, f.start)
        chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def _check_thresholds(entropy_high: float, entropy_low: float) -> None:
    # NaN compares false with everything and would switch the entropy detector off
    # silently; refuse it (and inverted bands) so the caller fails closed.
    if not (math.isfinite(entropy_high) and math.isfinite(entropy_low)):
        raise PiiScanError("PII entropy thresholds must be finite numbers")
    if not 0.0 <= entropy_low <= entropy_high:
        raise PiiScanError(
            f"PII entropy thresholds need 0 <= low <= high (low={entropy_low}, high={entropy_high})"
        )


def scan(
    text: str,
    *,
    entropy_high: float = 4.5,
    entropy_low: float = 2.5,
    thresholds: Mapping[str, float] | None = None,
) -> list[PiiFinding]:
    """Every PII and secret span in ``text``, non-overlapping, ordered by start.

    ``thresholds`` (detector -> minimum score, from calibration) drops weaker findings of
    that detector; a detector it does not name keeps every finding.
    """
    _check_thresholds(entropy_high, entropy_low)
    return resolve_overlaps(candidates(text, entropy_high, entropy_low, thresholds or {}))


def candidates(
    text: str, entropy_high: float, entropy_low: float, thresholds: Mapping[str, float]
) -> list[PiiFinding]:
    """Every detector's findings above its threshold, overlaps not yet resolved."""
    structured = [
        f
        for detect in _STRUCTURED
        for f in detect(text)
        if f.score >= thresholds.get(f.detector, 0.0)
    ]
    entropic = detect_entropy_secrets(
        text, structured, entropy_high=entropy_high, entropy_low=entropy_low
    )
    return structured + [f for f in entropic if f.score >= thresholds.get(f.detector, 0.0)]


def _next_numbers(mapping: Mapping[str, str]) -> dict[str, int]:
    highest: dict[str, int] = {}
    for placeholder in mapping:
        m = _PLACEHOLDER.fullmatch(placeholder)
        if m:
            highest[m[1]] = max(highest.get(m[1], 0), int(m[2]))
    return {entity: n + 1 for entity, n in highest.items()}


def _allocate(
    entity: str, reserved: set[str], mapping: dict[str, str], counters: dict[str, int]
) -> str:
    n = counters.get(entity, 1)
    while (placeholder := f"<{entity}_{n}>") in mapping or placeholder in reserved:
        n += 1
    counters[entity] = n + 1
    return placeholder


def redact(
    text: str, findings: Iterable[PiiFinding], mapping: Mapping[str, str] | None = None
) -> PiiScanResult:
    """Replace each finding with a placeholder; one value keeps one placeholder per task.

    ``mapping`` (placeholder -> original) from earlier calls is extended, not mutated, and
    its numbering continues.
    """
    merged = dict(mapping or {})
    known = {(p.rsplit("_", 1)[0][1:], v): p for p, v in merged.items()}
    counters = _next_numbers(merged)
    # Never mint a placeholder the text already contains literally: restore() would turn
    # the user's own "<EMAIL_1>" into someone's address.
    reserved = {m.group() for m in _PLACEHOLDER.finditer(text)}
    kept = resolve_overlaps(findings)
    pieces: list[str] = []
    cursor = 0
    for f in kept:
        original = text[f.start : f.end]
        placeholder = known.get((f.entity_type, original))
        if placeholder is None:
            placeholder = _allocate(f.entity_type, reserved, merged, counters)
            merged[placeholder] = original
            known[(f.entity_type, original)] = placeholder
        pieces += [text[cursor : f.start], placeholder]
        cursor = f.end
    pieces.append(text[cursor:])
    return PiiScanResult(redacted="".join(pieces), findings=kept, mapping=merged)


def with_placeholders(scan: PiiScanResult, text: str, carried: Mapping[str, str]) -> PiiScanResult:
    """A scan of ``text`` numbered onto placeholders given before (a research job's earlier
    runs, a task's prompt when a tool's result joins it): a value keeps the placeholder it
    had, and new values get the next numbers."""
    if not carried:
        return scan
    merged = redact(text, scan.findings, carried)
    return scan.model_copy(update={"redacted": merged.redacted, "mapping": merged.mapping})


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Put originals back, in one pass: the longest placeholder is tried first, and a
    restored value is never itself searched for placeholders."""
    if not mapping:
        return text
    alternatives = sorted(mapping, key=lambda p: (-len(p), p))
    pattern = re.compile("|".join(re.escape(p) for p in alternatives))
    return pattern.sub(lambda m: mapping[m.group()], text)


def pseudonymize(text: str, mapping: Mapping[str, str]) -> str:
    """The inverse of :func:`restore`: originals back to their placeholders, longest first
    (for text that mentions the prompt's PII again, e.g. a plan or an answer)."""
    for placeholder, original in sorted(mapping.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(original, placeholder)
    return text
