"""Structured PII detectors (patterns a checksum or a parser confirms): emails, cards,
IBANs, IP addresses. Phones are in :mod:`naestro.pii.phones`, secrets and the word-shape
test the entropy detector uses in :mod:`naestro.pii.secrets`.

Side-effect free (workflows import it through :mod:`naestro.pii`): compiled patterns only,
no I/O, clocks, randomness or environment reads. Each detector takes the text and returns
``PiiFinding`` spans; overlaps between detectors are resolved by :func:`naestro.pii.scan`.
"""

from __future__ import annotations

import ipaddress
import re

from naestro.contracts import PiiFinding

SCORE_IBAN = 0.97
SCORE_CREDIT_CARD = 0.95
SCORE_EMAIL = 0.95
SCORE_IP = 0.85
_EMAIL = re.compile(
    # The look-behind pins the start to a word boundary, so a long run without "@" is
    # tried once rather than from every character (that would be quadratic).
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
# Patterns open with a plain character class where they can, so the regex engine skips
# ahead to plausible starts instead of testing look-behinds at every position.
_CREDIT_CARD = re.compile(r"\d(?<![\w-]\d)(?<!\d[ -]\d)(?:[ -]?\d){11,18}(?!\d)(?![ -]\d)")
# 12-digit cards are Maestro (50, 56-69): rarer, and one random 12-digit id in ten passes
# Luhn, so they score lower and calibration decides whether they count.
_MAESTRO_12 = re.compile(r"5[06-9]\d{10}|6\d{11}")
SCORE_SHORT_CARD = 0.6
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])"
)
_IBAN_MIN, _IBAN_MAX = 15, 34
# Exactly four dotted parts, not inside a longer dotted run (versions, OIDs) or a word; a
# sentence's full stop may follow.
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3}(?!\w|\.\d)")
# A dotted quad is a version ("release 10.4.2.1", "10.4.2.1-rc1") in a clause that talks
# about releases and not about networks; a port or prefix length after it settles it.
_RELEASE_WORDS = re.compile(
    r"(?i)\b(?:releas(?:e[ds]?|ing)|versions?|changelog|upgrad(?:e[ds]?|ing)"
    r"|updat(?:e[ds]?|ing)|build|patch(?:e[ds])?|firmware|hotfix|ship(?:s|ped)|tag(?:ged)?"
    r"|bump(?:ed)?|downgrad(?:e[ds]?|ing))\b"
)
_NETWORK_WORDS = re.compile(
    r"(?i)\b(?:ip(?:v4)?s?|hosts?|hostname|servers?|address(?:es)?|addr|ping|ssh|connect\w*"
    r"|subnet|gateway|dns|ports?|route[rs]?|proxy|firewall|interface|network|dhcp|vpn|nat"
    r"|cidr|endpoint|socket|listen\w*|bind|curl|https?|lan|wan|log(?:in|ged)|traffic"
    r"|requests?|clients?|blocked)\b"
)
_PRE_RELEASE = re.compile(r"(?i)[-+~](?:rc|alpha|beta|dev|pre|post|preview|snapshot|final|lts)")
_PORT_OR_PREFIX = re.compile(r"[:/]\d")
_CLAUSE_END = re.compile(r"[.!?;](?=\s|$)|\n")
_CLAUSE_REACH = 120  # characters looked at on each side of the quad
# At least two colons, so "12:30" never qualifies; ipaddress does the real validation.
_IPV6 = re.compile(
    r"(?=[0-9A-Fa-f:])(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![\w:]|\.\w)"
)
UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def finding(entity: str, start: int, end: int, score: float, detector: str) -> PiiFinding:
    return PiiFinding(entity_type=entity, start=start, end=end, score=score, detector=detector)


def detect_emails(text: str) -> list[PiiFinding]:
    return [
        finding("EMAIL", m.start(), m.end(), SCORE_EMAIL, "email.regex")
        for m in _EMAIL.finditer(text)
    ]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def detect_credit_cards(text: str) -> list[PiiFinding]:
    found: list[PiiFinding] = []
    for m in _CREDIT_CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        # "0000 0000 0000 0000" passes Luhn but is a placeholder, not a card.
        if len(digits) == 12 and not _MAESTRO_12.fullmatch(digits):
            continue
        if len(set(digits)) > 1 and luhn_valid(digits):
            score = SCORE_SHORT_CARD if len(digits) == 12 else SCORE_CREDIT_CARD
            found.append(finding("CREDIT_CARD", m.start(), m.end(), score, "luhn"))
    return found


def iban_valid(compact: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1.

    Country-specific lengths are not checked (that table drifts); length 15..34, check
    digits 02..98 and the checksum are.
    """
    if not _IBAN_MIN <= len(compact) <= _IBAN_MAX or not 2 <= int(compact[2:4]) <= 98:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_span(match: re.Match[str]) -> tuple[int, int] | None:
    """The longest valid prefix by whole groups: a trailing upper-case word ("... 00 CASH")
    can be swallowed as a last group by the pattern."""
    raw = match.group()
    end = len(raw)
    while end > 0:
        if iban_valid(raw[:end].replace(" ", "")):
            return match.start(), match.start() + end
        cut = raw.rfind(" ", 0, end)
        if cut <= 4:
            return None
        end = cut
    return None


def detect_ibans(text: str) -> list[PiiFinding]:
    found: list[PiiFinding] = []
    for m in _IBAN.finditer(text):
        span = _iban_span(m)
        if span is not None:
            found.append(finding("IBAN", span[0], span[1], SCORE_IBAN, "iban.mod97"))
    return found


def _reportable_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # 127.0.0.1, ::1 and 0.0.0.0 say nothing about anyone and are everywhere in code.
    return not (address.is_loopback or address.is_unspecified)


def _clause(text: str, start: int, end: int) -> str:
    """The clause around ``text[start:end]``: up to the nearest ". ", ";", "!", "?" or
    line break on each side, within ``_CLAUSE_REACH`` characters."""
    lo = max(0, start - _CLAUSE_REACH)
    for m in _CLAUSE_END.finditer(text, lo, start):
        lo = m.end()
    stop = _CLAUSE_END.search(text, end, end + _CLAUSE_REACH)
    return text[lo : stop.start() if stop else end + _CLAUSE_REACH]


def _release_version(text: str, m: re.Match[str]) -> bool:
    """Is this dotted quad a version number rather than an IPv4 address?"""
    after = text[m.end() : m.end() + 12]
    if _PORT_OR_PREFIX.match(after):
        return False
    if _PRE_RELEASE.match(after):
        return True
    clause = _clause(text, m.start(), m.end())
    return _RELEASE_WORDS.search(clause) is not None and _NETWORK_WORDS.search(clause) is None


def detect_ips(text: str) -> list[PiiFinding]:
    found: list[PiiFinding] = []
    for m in _IPV4.finditer(text):
        try:
            v4 = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if _reportable_ip(v4) and not _release_version(text, m):
            found.append(finding("IP_ADDRESS", m.start(), m.end(), SCORE_IP, "ip.v4"))
    if text.count(":") < 2:  # every IPv6 form has two colons; most texts do not
        return found
    for m in _IPV6.finditer(text):
        # No digit at all is far likelier to be "A::B" (C++, Rust, Ruby) than an address.
        if not any(ch.isdigit() for ch in m.group()):
            continue
        try:
            v6 = ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        if _reportable_ip(v6):
            found.append(finding("IP_ADDRESS", m.start(), m.end(), SCORE_IP, "ip.v6"))
    return found
