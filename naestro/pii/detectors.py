"""Structured PII detectors (patterns a checksum or a parser confirms), and the word-shape
test the entropy detector in :mod:`naestro.pii` uses to spare identifiers and paths.

Side-effect free (workflows import it through :mod:`naestro.pii`): compiled patterns only,
no I/O, clocks, randomness or environment reads. Each detector takes the text and returns
``PiiFinding`` spans; overlaps between detectors are resolved by :func:`naestro.pii.scan`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import phonenumbers

from naestro.contracts import PiiFinding

# A checksum or a fixed vendor prefix is strong evidence; parser-only matches less so.
SCORE_KNOWN_SECRET = 0.99
SCORE_IBAN = 0.97
SCORE_CREDIT_CARD = 0.95
SCORE_EMAIL = 0.95
SCORE_IP = 0.85
SCORE_PHONE = 0.8
# Possible but not VALID: a reserved or fictional range (Ofcom's drama numbers, NANP 555)
# or one libphonenumber's metadata does not list yet; only its written grouping vouches.
SCORE_PHONE_SHAPE = 0.7

PHONE_REGION = "US"
# National numbers (no "+") are also read in these regions when the VALID matcher finds
# nothing. GB's trunk "0" can never start a NANP number, so the two do not compete.
NATIONAL_REGIONS = (PHONE_REGION, "GB")

_EMAIL = re.compile(
    # The look-behind pins the start to a word boundary, so a long run without "@" is
    # tried once rather than from every character (that would be quadratic).
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
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
_KNOWN_SECRET = re.compile(
    r"(?=[Agxsre-])"  # the first characters of the alternatives below: a cheap pre-check
    r"(?<![A-Za-z0-9_-])(?:"
    r"(?P<aws>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"
    r"|(?P<github>gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})"
    r"|(?P<slack>xox[abprs]-[A-Za-z0-9-]{10,255})"
    r"|(?P<anthropic>sk-ant-[A-Za-z0-9_-]{20,255})"
    r"|(?P<openai>sk-(?:proj-)?[A-Za-z0-9_-]{20,255})"
    r"|(?P<google>AIza[A-Za-z0-9_-]{35})"
    r"|(?P<stripe>[sr]k_live_[A-Za-z0-9]{16,255})"
    r"|(?P<jwt>eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)"
    # The whole PEM block when its END line is there; otherwise the header and the base64
    # lines under it, so a truncated key is still covered.
    r"|(?P<private_key>-----BEGIN (?P<label>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\s\S]{0,20000}?-----END (?P=label)-----|(?:[ \t]*\r?\n[A-Za-z0-9+/=]{40,})*))"
    r")"
)

# A credential assigned to a name in code or config. The assignment ("=", ":", ":=", "=>",
# a Python annotation "password: str =") and its value, quoted or bare, are found first:
# operators are few next to letters. Then the name before it must end in a credential
# word: "password", "DB_PASSWORD", "userPassword", "client_secret", "GITHUB_TOKEN",
# "x-api-key". Only the value is reported: the name helps the model. The value is a
# look-ahead, so that it never hides the next operator ("https://...?token=").
_ANNOTATION = r"[A-Za-z_][\w.\[\]]*(?:(?:,|[ \t]*\|)[ \t]*[\w.\[\]]+)*"
_ASSIGNMENT = re.compile(
    rf"(?P<op>:=|=>|:[ \t]*{_ANNOTATION}[ \t]+=(?!=)|=(?!=)|:(?!:))(?=[ \t]*"
    r"(?:(?i:[bru]{0,2})(?:\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)')"
    # A bare value ends at a space, quote, bracket or separator; "=" only as base64 padding,
    # "&" only where a URL's next parameter does not start ("?token=...&page=2").
    r"|(?P<bare>(?:[^\s\"'`,;(){}\[\]<>&=]|&(?![A-Za-z_]\w*=))+={0,2})))"
)
_SECRET_NAME = re.compile(
    r"(?:(?i:password|passwd|passphrase|pwd|secret|token|credentials?"
    r"|(?:api|app|auth|access|client|encryption|master|private|secret|signing)[_-]?key)"
    # "pass" only ends a longer name ("DB_PASS", "userPass"): alone it is a test verdict.
    r"|(?<=[\w.-])(?i:pass))[\"']?[ \t]*\Z"
)
_LONGEST_NAME = 24  # how far before the operator the credential word may start
# How every name _SECRET_NAME accepts ends, lower-cased: a cheap test before the pattern.
_SECRET_ENDINGS = (
    *("password", "passwd", "passphrase", "pwd", "pass"),
    *("secret", "token", "key", "credential", "credentials"),
)
# Values that only stand in for a secret: templates and references ("${DB_PASSWORD}",
# "{{ vault_pw }}", "%(password)s", "$TOKEN", "<PASSWORD>"), masks ("***", "xxxx", "..."),
# URLs, prose (any space) and the usual placeholder words ("changeme", "your-key-here").
_STAND_IN = re.compile(
    r"\s|\$\{|\{\{|%\(|\$[A-Za-z_]|^[<\[{].*[>\]}]$|://|(?i:x{4,})|\*{3,}|\.{3}|\u2026|\u2022"
    r"|(?i:change.?me|example|placeholder|redacted|your|replace|insert|dummy)"
)
_VERSION = re.compile(r"[vV]?\d+(?:\.\d+)+(?:[-+.][0-9A-Za-z.]+)?")
UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
SCORE_ASSIGNED_SECRET = 0.9  # a value that does not read as words, in a credential slot
SCORE_ASSIGNED_WEAK = 0.7  # a word with digits as a literal: "hunter2", "Summer2024"
MIN_ASSIGNED = 6

# Word shapes, for the entropy detector: identifiers and paths are not secrets.
_SEPARATORS = re.compile(r"[/_+=.-]+")
# A word ("get", "User", "HTTP") with up to four digits after it ("python3", "V1").
_HUMP = re.compile(r"(?P<letters>[A-Z]?[a-z]+|[A-Z]+(?![a-z]))(?P<digits>\d{0,4})")
_CAMEL_START = re.compile(r"[A-Z][a-z]")
_NUMBER = re.compile(r"\d{1,8}[A-Za-z]{0,2}")  # "2024", "7b", "70B"
_VOWELS = frozenset("aeiouAEIOU")
MEAN_HUMP = 3.5
LONG_HUMP = 12
MIN_VOWEL_SHARE = 0.3


def _finding(entity: str, start: int, end: int, score: float, detector: str) -> PiiFinding:
    return PiiFinding(entity_type=entity, start=start, end=end, score=score, detector=detector)


def detect_emails(text: str) -> list[PiiFinding]:
    return [
        _finding("EMAIL", m.start(), m.end(), SCORE_EMAIL, "email.regex")
        for m in _EMAIL.finditer(text)
    ]


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
        _finding("PHONE", start, end, score, detector)
        for cand in _PHONE_CANDIDATE.finditer(text)
        for start, end, score, detector in _phones_in(text, cand)
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
            found.append(_finding("CREDIT_CARD", m.start(), m.end(), score, "luhn"))
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
            found.append(_finding("IBAN", span[0], span[1], SCORE_IBAN, "iban.mod97"))
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
            found.append(_finding("IP_ADDRESS", m.start(), m.end(), SCORE_IP, "ip.v4"))
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
            found.append(_finding("IP_ADDRESS", m.start(), m.end(), SCORE_IP, "ip.v6"))
    return found


def detect_known_secrets(text: str) -> list[PiiFinding]:
    """Credentials recognisable by their vendor's fixed prefix or framing."""
    return [
        _finding("SECRET", m.start(), m.end(), SCORE_KNOWN_SECRET, f"secret.{m.lastgroup}")
        for m in _KNOWN_SECRET.finditer(text)
    ]


def _name_part_starts_at(text: str, i: int) -> bool:
    """The credential word starts the name or one of its parts ("db_password",
    "userPassword", "PGPASSWORD"), not the middle of a word ("bypass", "monkey")."""
    before, word = text[i - 1 : i], text[i : i + 3]
    if not before.isalnum():
        return True
    return word[0].isupper() and (before.islower() or before.isdigit() or word.isupper())


def _assigned_score(value: str, literal: bool) -> float | None:
    """How much ``value`` looks like a credential, or None where it is not one."""
    if len(value) < MIN_ASSIGNED or len(set(value)) < 3 or not value.isascii():
        return None
    if _STAND_IN.search(value) or UUID.fullmatch(value) or _VERSION.fullmatch(value):
        return None
    # Letters alone read as a word, a name or a type; digits alone as an id, a date or a
    # PIN. Long random letters are the entropy detector's.
    if not (any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)):
        return None
    if not looks_like_words(value, inner_digits=False):
        return SCORE_ASSIGNED_SECRET
    return SCORE_ASSIGNED_WEAK if literal else None


def _secret_name(text: str, op: int) -> str | None:
    """The credential word just before the operator at ``op``, if a name ends in one."""
    lo = max(0, op - _LONGEST_NAME)
    if not text[lo:op].rstrip("\"' \t").lower().endswith(_SECRET_ENDINGS):
        return None  # most operators: a quick look before the full pattern
    name = _SECRET_NAME.search(text, lo, op)
    if name is None or not _name_part_starts_at(text, name.start()):
        return None
    return name.group().rstrip("\"' \t")


def _assigned_value(text: str, m: re.Match[str], word: str) -> tuple[int, int, bool] | None:
    """The value's span and whether it is a literal, or None for a call or subscript
    ("get_token()", 'os.environ["X"]'), which computes a secret rather than holding one.

    A quoted value is a literal; so is a bare one in YAML ("password: hunter2") or after
    an environment-style name ("DB_PASSWORD=hunter2"). A bare value after "=" in code
    ("password=pass2") is as likely a variable, so a word with digits does not count there.
    """
    if m["bare"] is None:
        group = "dq" if m["dq"] is not None else "sq"
        return m.start(group), m.end(group), True
    start, end = m.span("bare")
    if text[end : end + 1] in ("(", "["):
        return None
    if text[end - 1] == "." and end - start > 1:  # a sentence's full stop
        end -= 1
    return start, end, m["op"] == ":" or word.isupper()


def detect_assigned_secrets(text: str) -> list[PiiFinding]:
    """Credentials assigned to a credential-named key: ``password = 'hunter2'``,
    ``client_secret: Zx9-kP2qW``, ``DB_PASSWORD=Tr0ub4dor&3``, ``?token=...``.

    Left alone: empty values, stand-ins (templates, masks, placeholders, "changeme"),
    references and calls ("os.environ[...]", "get_token()", "self.password"), values that
    read as words ("string", "Bearer", "none"), letters or digits alone, versions, UUIDs,
    non-ASCII values and anything with a space (labels and messages; a passphrase with
    spaces is missed).
    """
    found: list[PiiFinding] = []
    for m in _ASSIGNMENT.finditer(text):
        word = _secret_name(text, m.start())
        value = None if word is None else _assigned_value(text, m, word)
        if value is None:
            continue
        start, end, literal = value
        score = _assigned_score(text[start:end], literal)
        if score is not None:
            found.append(_finding("SECRET", start, end, score, "secret.assignment"))
    return found


def _split_humps(segment: str, inner_digits: bool) -> list[re.Match[str]] | None:
    """The segment's word humps, or None when it is not made of them. Digits may end the
    segment; inside it only before a camelCase hump ("V1Root") and when ``inner_digits``."""
    humps: list[re.Match[str]] = []
    for m in _HUMP.finditer(segment):
        if m.start() != (humps[-1].end() if humps else 0):
            return None
        inner = m["digits"] and m.end() < len(segment)
        if inner and not (inner_digits and _CAMEL_START.match(segment, m.end())):
            return None
        humps.append(m)
    return humps if humps and humps[-1].end() == len(segment) else None


def _word_segment(segment: str, inner_digits: bool) -> bool:
    """A word, a camelCase run of words, or a short number: "python3", "getUser", "7b"."""
    if _NUMBER.fullmatch(segment):
        return True
    humps = _split_humps(segment, inner_digits)
    if humps is None:
        return False
    words = [m["letters"] for m in humps]
    # Words glued past a dozen letters still carry vowels; random letters mostly do not.
    if any(len(w) > LONG_HUMP and _vowel_share(w) < MIN_VOWEL_SHARE for w in words):
        return False
    if len(humps) == 1:
        return True
    # Random mixed case splits into many short humps ("Xq", "Rp"); real names into words.
    return all(len(m["letters"]) >= 2 or m["digits"] for m in humps) and sum(
        map(len, words)
    ) >= MEAN_HUMP * len(words)


def _vowel_share(word: str) -> float:
    return sum(ch in _VOWELS for ch in word) / len(word)


def looks_like_words(token: str, *, inner_digits: bool) -> bool:
    """Identifiers, paths, model names and phrases: every separated segment reads as words.

    ``inner_digits`` also accepts code names such as "V1RootValidator" and "sha256With";
    it is off where a context word makes a password ("Summer2024Summer") plausible.
    """
    segments = [s for s in _SEPARATORS.split(token) if s]
    return any(ch.isalpha() for ch in token) and all(
        _word_segment(s, inner_digits) for s in segments
    )
