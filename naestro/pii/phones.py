"""Phone numbers: runs of digits and phone punctuation confirmed by libphonenumber, or
(for reserved and not-yet-listed ranges) by their written grouping. Side-effect free."""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from naestro.contracts import PiiFinding
from naestro.pii.detectors import finding, luhn_valid

SCORE_PHONE = 0.8
# Possible but not VALID: a reserved or fictional range (Ofcom's drama numbers, NANP 555)
# or one libphonenumber's metadata does not list yet; only its written grouping vouches.
SCORE_PHONE_SHAPE = 0.7
PHONE_REGION = "US"
# National numbers (no "+") are also read in these regions when the VALID matcher finds
# nothing. GB's trunk "0" can never start a NANP number, so the two do not compete.
NATIONAL_REGIONS = (PHONE_REGION, "GB")
# Runs of digits and phone punctuation; only these reach the (slow, pure-Python) matcher.
_PHONE_CANDIDATE = re.compile(
    # Not glued to a word: the matcher would reject "GB88...", "abc415..." anyway.
    r"(?<!\w)\+?\(?\d[\d \t().\-/]{5,}\d(?:\s?(?:x|ext\.?|extension)\s?\d{1,6}(?!\w))?"
)
# Without a "+" the default region's national format applies: NANP numbers have ten
# digits, so shorter runs (dates, versions) cannot be VALID and skip the matcher.
_MIN_NATIONAL_DIGITS = 10
_MIN_INTERNATIONAL_DIGITS = 7
# The matcher inspects neighbours: a letter before ("abc4155552671") or a ":30" after a
# date-like run (a time stamp) disqualifies a match, so it sees a little context.
_PHONE_LEFT_CONTEXT = 1
_PHONE_RIGHT_CONTEXT = 3


def _phone_matches(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    lo = max(0, start - _PHONE_LEFT_CONTEXT)
    window = text[lo : end + _PHONE_RIGHT_CONTEXT]
    matcher = phonenumbers.PhoneNumberMatcher(
        window, PHONE_REGION, leniency=phonenumbers.Leniency.VALID
    )
    for match in matcher:
        yield lo + match.start, lo + match.end


# The common North American shapes, "(415) 555-2671", "415.555.2671", "+1 415 555 2671":
# checked against the US and Canadian metadata directly, which skips the general matcher's
# search over all 25 regions sharing country code 1. Anything else takes the full path.
_NANP = re.compile(
    r"(?:\+?1[ .-]|001[ .-])?(?:\((\d{3})\) ?|(\d{3})[ .-])(\d{3})[ .-](\d{4})"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?"
)
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")  # an IPv4 address, not a phone


def _nanp_valid(raw: str) -> bool | None:
    """True/False for a NANP-shaped number valid in the US or Canada; None: not decided."""
    m = _NANP.fullmatch(raw)
    if m is None:
        return None
    number = phonenumbers.PhoneNumber(
        country_code=1, national_number=int((m[1] or m[2]) + m[3] + m[4])
    )
    if any(phonenumbers.is_valid_number_for_region(number, r) for r in ("US", "CA")):
        return True
    return None  # maybe another NANP region: let the matcher decide


def _not_a_phone(raw: str) -> bool:
    """Shapes the slow matcher would only reject: a card (13-19 digits passing Luhn), an
    IPv4 address, or a bare run of 12+ digits that no dialling prefix starts."""
    if raw[0] in "+(":
        return False
    if _DOTTED_QUAD.fullmatch(raw) or (raw.isdigit() and len(raw) > 11 and raw[0] != "0"):
        return True
    digits = re.sub(r"[ -]", "", raw)
    return digits.isdigit() and 13 <= len(digits) <= 19 and luhn_valid(digits)


def _digit_groups(written: str) -> tuple[str, set[int]]:
    """The digits of ``written`` and the digit counts after which a separator falls."""
    digits: list[str] = []
    breaks: set[int] = set()
    for ch in written:
        if ch.isdigit():
            digits.append(ch)
        elif digits:
            breaks.add(len(digits))
    breaks.discard(len(digits))
    return "".join(digits), breaks


def _grouped_as_formatted(
    written: tuple[str, set[int]], international: bool, number: phonenumbers.PhoneNumber
) -> bool:
    """Are the ``written`` digit groups the number's own ("020 7946 0123", "+1 555-555-0100")?

    Finer groups are fine ("+44 7700 900 123"); groups across the format's (a date, an id
    in fours) are not, nor a number libphonenumber has no format for.
    """
    styles = phonenumbers.PhoneNumberFormat
    style = styles.INTERNATIONAL if international else styles.NATIONAL
    want_digits, want = _digit_groups(phonenumbers.format_number(number, style))
    digits, breaks = written
    if len(want) < (2 if international else 1) or not digits.endswith(want_digits):
        return False
    if international and not breaks:  # E.164
        return digits == want_digits
    prefix = len(digits) - len(want_digits)  # a "1" before a NANP number, say
    return (prefix == 0 or prefix in breaks) and {b + prefix for b in want} <= breaks


_EXTENSION = re.compile(r"\s?(?:x|ext\.?|extension)\s?\d{1,6}$")
_TRUNK_IN_PARENS = re.compile(r"(?<=\d)\s?\(0\)")  # "+44 (0)20 ...": the trunk 0, written out


def _well_formed_phone(raw: str) -> bool:
    """A possible number (right length for its country) written the way that country
    groups it, valid or not: reserved, fictional and unassigned ranges included. Without
    a "+" the digits must come in groups: a bare run is an id as often as a number."""
    core = _TRUNK_IN_PARENS.sub(" ", _EXTENSION.sub("", raw))
    international = core.startswith("+")
    written = _digit_groups(core)
    if not (international or written[1]):
        return False
    for region in (None,) if international else NATIONAL_REGIONS:
        try:
            number = phonenumbers.parse(core, region)
        except phonenumbers.NumberParseException:
            continue
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible == phonenumbers.ValidationResult.IS_POSSIBLE and _grouped_as_formatted(
            written, international, number
        ):
            return True
    return False


def _phones_in(text: str, cand: re.Match[str]) -> list[tuple[int, int, float, str]]:
    """The numbers in one candidate run: (start, end, score, detector)."""
    raw = cand.group()
    digits = sum(ch.isdigit() for ch in raw)
    floor = _MIN_INTERNATIONAL_DIGITS if raw[0] == "+" else _MIN_NATIONAL_DIGITS
    if digits < floor or _not_a_phone(raw):
        return []
    after = text[cand.end() : cand.end() + 1]
    glued = after.isalnum() or after == "_"
    if not glued and _nanp_valid(raw):
        return [(cand.start(), cand.end(), SCORE_PHONE, "phone.libphonenumber")]
    matched = [
        (start, end, SCORE_PHONE, "phone.libphonenumber")
        for start, end in _phone_matches(text, cand.start(), cand.end())
    ]
    if matched or glued or not _well_formed_phone(raw):
        return matched
    return [(cand.start(), cand.end(), SCORE_PHONE_SHAPE, "phone.shape")]


def detect_phones(text: str) -> list[PiiFinding]:
    """Phone numbers valid for their region (libphonenumber's VALID leniency), and possible
    numbers written in their country's grouping whether or not their range is assigned.

    The matcher runs only over digit runs that could hold a number, which keeps a megabyte
    of prose fast and keeps its per-call ``max_tries`` budget from silently running out.
    """
    return [
        finding("PHONE", start, end, score, detector)
        for cand in _PHONE_CANDIDATE.finditer(text)
        for start, end, score, detector in _phones_in(text, cand)
    ]
