"""Secrets: known vendor formats (cloud and API keys, tokens, private keys), credentials
assigned to a name in code or config, and the word-shape test the entropy detector in
:mod:`naestro.pii` uses to spare identifiers and paths. Side-effect free."""

from __future__ import annotations

import re

from naestro.contracts import PiiFinding
from naestro.pii.detectors import UUID, finding

# A checksum or a fixed vendor prefix is strong evidence; parser-only matches less so.
SCORE_KNOWN_SECRET = 0.99
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


def detect_known_secrets(text: str) -> list[PiiFinding]:
    """Credentials recognisable by their vendor's fixed prefix or framing."""
    return [
        finding("SECRET", m.start(), m.end(), SCORE_KNOWN_SECRET, f"secret.{m.lastgroup}")
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
            found.append(finding("SECRET", start, end, score, "secret.assignment"))
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
