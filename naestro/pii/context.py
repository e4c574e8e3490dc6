"""Detectors that need a rule check or context words: US SSN, MAC address, date of birth,
passport and driving-licence numbers, and postal addresses.

Side-effect free (workflows import it through :mod:`naestro.pii`). Scores rise with the
evidence: a context word ("born", "passport", "ship to") nearby adds to a pattern match,
so calibration (:mod:`naestro.pii.calibration`) can pick a threshold per detector.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from naestro.contracts import PiiFinding

CONTEXT_WINDOW = 40
SCORE_CONTEXT_BONUS = 0.15


def _finding(entity: str, start: int, end: int, score: float, detector: str) -> PiiFinding:
    return PiiFinding(
        entity_type=entity, start=start, end=end, score=round(min(score, 1.0), 3), detector=detector
    )


def _words(*words: str) -> re.Pattern[str]:
    # A look-ahead on the possible first letters rejects most positions at once; a bare
    # case-insensitive alternation is tried in full at every word boundary.
    firsts = "".join(sorted({c for w in words for c in (w[0].lower(), w[0].upper())}))
    return re.compile(rf"(?=[{firsts}])\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)


_LONGEST_VALUE = 40  # the longest date or document number these detectors report


def after_context(
    text: str, words: re.Pattern[str], pattern: re.Pattern[str], window: int
) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` starting within ``window`` chars after a context word.

    Context words are rare, so looking for them first and matching only just after them
    is far faster than matching every digit run and then looking back for context.
    """
    seen: set[int] = set()
    for c in words.finditer(text):
        stop = min(len(text), c.end() + window + _LONGEST_VALUE)
        for m in pattern.finditer(text, c.end(), stop):
            if m.start() - c.end() > window:
                break
            cut = m.end() == stop < len(text) and (text[stop].isalnum() or text[stop] in "-_/.")
            if not cut and m.start() not in seen:
                seen.add(m.start())
                yield m


def near(text: str, start: int, words: re.Pattern[str], window: int = CONTEXT_WINDOW) -> bool:
    """Does a context word end within ``window`` characters before ``start``?"""
    return words.search(text, max(0, start - window), start) is not None


# ------------------------------------------------------------------ US SSN

_SSN = re.compile(r"(\d{3})(?<![\w-]\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_CONTEXT = _words(r"ssn", r"ss#", r"social security(?: number| no\.?)?", r"taxpayer id")


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    a = int(area)
    return a not in (0, 666) and a < 900 and group != "00" and serial != "0000"


def detect_ssns(text: str) -> list[PiiFinding]:
    found = []
    for m in _SSN.finditer(text):
        if not ssn_valid(m[1], m[3], m[4]):
            continue
        context = near(text, m.start(), _SSN_CONTEXT)
        if not m[2] and not context:
            continue  # nine bare digits are an order number until something says otherwise
        score = (0.8 if m[2] == "-" else 0.6) + (SCORE_CONTEXT_BONUS if context else 0.0)
        found.append(_finding("US_SSN", m.start(), m.end(), score, "ssn.rules"))
    return found


# ------------------------------------------------------------------ MAC address

# Hex first, look-behind after it: the engine then skips ahead to hex digits cheaply.
_MAC = re.compile(
    r"[0-9A-Fa-f]{2}(?<![\w:.-][0-9A-Fa-f]{2})"
    r"(?:([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{2}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.\w)"
)


def detect_macs(text: str) -> list[PiiFinding]:
    found = []
    for m in _MAC.finditer(text):
        digits = re.sub(r"[:.-]", "", m.group()).lower()
        if len(set(digits)) > 1:  # 00:00:.. and ff:ff:.. (broadcast) identify nobody
            found.append(_finding("MAC_ADDRESS", m.start(), m.end(), 0.9, "mac.pattern"))
    return found


# ------------------------------------------------------------------ dates of birth

_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<um>\d{1,2})/(?P<ud>\d{1,2})/(?P<uy>\d{4})"
    r"|(?P<ed>\d{1,2})\.(?P<em>\d{1,2})\.(?P<ey>\d{4})"
    rf"|(?P<tm>{_MONTH}) (?P<td>\d{{1,2}}),? (?P<ty>\d{{4}})"
    rf"|(?P<sd>\d{{1,2}}) (?P<sm>{_MONTH}),? (?P<sy>\d{{4}})"
    r")(?![\w/-]|\.\d)"
)
_DOB_CONTEXT = _words(
    r"born(?: on)?", r"dob", r"d\.o\.b\.?", r"date of birth", r"birth ?date", r"birthday", r"b\."
)


def _month_number(name: str) -> int:
    prefix = name.lower().rstrip(".")[:3]
    return next(i + 1 for i, m in enumerate(_MONTHS) if m.startswith(prefix))


def _date_parts(m: re.Match[str]) -> tuple[int, int, int]:
    if m["iy"]:
        return int(m["iy"]), int(m["im"]), int(m["id"])
    if m["uy"]:
        return int(m["uy"]), int(m["um"]), int(m["ud"])
    if m["ey"]:
        return int(m["ey"]), int(m["em"]), int(m["ed"])
    if m["ty"]:
        return int(m["ty"]), _month_number(m["tm"]), int(m["td"])
    return int(m["sy"]), _month_number(m["sm"]), int(m["sd"])


def _real_date(m: re.Match[str]) -> bool:
    try:
        year, month, day = _date_parts(m)
        dt.date(year, month, day)
    except (ValueError, StopIteration):
        return False
    return 1900 <= year <= 2100


def detect_birth_dates(text: str) -> list[PiiFinding]:
    """A real calendar date with a birth word just before it; other dates are not PII."""
    return [
        _finding("DATE_OF_BIRTH", m.start(), m.end(), 0.85, "dob.context")
        for m in after_context(text, _DOB_CONTEXT, _DATE, 30)
        if _real_date(m)
    ]


# ------------------------------------------------------------------ passport, driving licence

_PASSPORT = re.compile(r"(?<![\w-])(?:[A-Z]\d{8}|\d{9}|[A-Z]{2}\d{7})(?![\w-])")
_PASSPORT_CONTEXT = _words(r"passport(?: number| no\.?| #)?")
_LICENCE = re.compile(r"(?<![\w-])(?:[A-Z]{1,2}\d{5,12}|\d{7,12}|[A-Z]\d{3}-\d{4}-\d{4})(?![\w-])")
_LICENCE_CONTEXT = _words(
    r"driver'?s? licen[cs]e", r"driving licen[cs]e", r"DL ?#?", r"licen[cs]e (?:no\.?|number|#)"
)


def detect_documents(text: str) -> list[PiiFinding]:
    """Passport and driving-licence numbers: shapes too common to report without context."""
    found = [
        _finding("PASSPORT", m.start(), m.end(), 0.8, "passport.context")
        for m in after_context(text, _PASSPORT_CONTEXT, _PASSPORT, 30)
    ]
    found += [
        _finding("DRIVER_LICENSE", m.start(), m.end(), 0.75, "licence.context")
        for m in after_context(text, _LICENCE_CONTEXT, _LICENCE, 30)
    ]
    return found


# ------------------------------------------------------------------ postal addresses

_SUFFIX = (
    r"(?:(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Way|Place|Terrace|Circle|Parkway"
    r"|Highway|Square|Trail|Crescent|Close|Plaza|Alley|Row|Loop|Path|Pike|Ridge|Run|Walk"
    r"|Crossing|Heights|Hills?|Park|Point)\b|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Cir|Pkwy"
    r"|Hwy|Sq|Trl)\b\.?)"
)
_UNIT = r"(?:,? (?:Apt|Apartment|Suite|Ste|Unit)\.? ?#?\w{1,6})?"
_WORDS = r"(?: [A-Z][A-Za-z'-]*| \d{1,3}(?:st|nd|rd|th)){1,4}"
_CITY_LINE = r"(?:,|\n|,?\n) ?[A-Z][A-Za-z .'-]{1,40}, [A-Z]{2} \d{5}(?:-\d{4})?\b"
# With "City, ST 12345" after it any street name goes ("Gary Forks"); without, the street
# must end in a known suffix.
_ADDRESS = re.compile(
    rf"\d(?<!\w\d)\d{{0,5}}(?:{_WORDS}{_UNIT}(?P<city>{_CITY_LINE})|{_WORDS} {_SUFFIX}{_UNIT})"
)
# US military mail: "PSC 3191, Box 2845\nAPO AE 79585", "USNS Ship\nFPO AP 12345".
_MILITARY = re.compile(
    r"(?=[PU])\b(?:PSC \d{4}, Box \d{4}|Unit \d{4} Box \d{4}|(?:USNS|USS|USCGC|USNV) [A-Z][a-z]+)"
    r"(?:\n|, ?)(?:APO|FPO|DPO) A[AEP] \d{5}\b"
)
_ADDRESS_CONTEXT = _words(
    r"address", r"lives? at", r"ship(?:ped)? to", r"deliver(?:ed)? to", r"resid\w+ at", r"mail to"
)


def detect_addresses(text: str) -> list[PiiFinding]:
    """US-style street lines ("42 Elm Street"), stronger with "City, ST 12345" or a context
    word; a lone "5 Main Street" reads as much like a landmark as an address."""
    found = []
    for m in _ADDRESS.finditer(text):
        score = 0.9 if m["city"] else 0.55
        if near(text, m.start(), _ADDRESS_CONTEXT):
            score += SCORE_CONTEXT_BONUS + (0.2 if not m["city"] else 0.0)
        found.append(_finding("ADDRESS", m.start(), m.end(), score, "address.pattern"))
    found += [
        _finding("ADDRESS", m.start(), m.end(), 0.95, "address.military")
        for m in _MILITARY.finditer(text)
    ]
    return found
