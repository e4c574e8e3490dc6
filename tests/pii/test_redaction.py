"""Overlap resolution, placeholders, mapping extension and the redact/restore round trip."""

from __future__ import annotations

from naestro.contracts import PiiFinding
from naestro.pii import ENTITY_TYPES, redact, resolve_overlaps, restore, scan

AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
MIXED = (
    "Hi, I'm Jane (jane.doe@example.com, cc ops@example.org), phone (415) 555-2671.\n"
    "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, host 10.20.30.40 "
    "and 2001:db8::8a2e:370:7334.\n"
    f"export AWS_ACCESS_KEY_ID={AWS_KEY}\n"
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    "Again: jane.doe@example.com. Version 1.2.3, released 2024-01-15 at 12:30.\n"
    "Dr. Maria Lopez, born on 1984-03-05, SSN 219-09-9999, passport number X66258517,\n"
    "driver's license D1234567, NIC 3a:71:e0:fd:77:b0, lives at 42 Elm Street.\n"
)


def finding(start: int, end: int, score: float, entity: str = "SECRET") -> PiiFinding:
    return PiiFinding(entity_type=entity, start=start, end=end, score=score, detector="t")


def test_overlap_keeps_higher_score_then_longer_span() -> None:
    kept = resolve_overlaps(
        [
            finding(10, 20, 0.6),
            finding(12, 18, 0.9, "PHONE"),
            finding(30, 40, 0.8),
            finding(30, 45, 0.8, "IP_ADDRESS"),
            finding(0, 5, 0.5),
        ]
    )
    assert [(f.start, f.end, f.entity_type) for f in kept] == [
        (0, 5, "SECRET"),
        (12, 18, "PHONE"),
        (30, 45, "IP_ADDRESS"),
    ]


def test_overlap_resolution_is_order_independent() -> None:
    items = [finding(0, 10, 0.7), finding(5, 15, 0.7), finding(14, 20, 0.9)]
    assert resolve_overlaps(items) == resolve_overlaps(list(reversed(items)))


def test_email_beats_the_phone_number_inside_it() -> None:
    text = "4155552671@example.com"
    assert [f.entity_type for f in scan(text)] == ["EMAIL"]


def test_ipv4_inside_ipv6_is_one_finding() -> None:
    text = "mapped ::ffff:192.0.2.128 address"
    assert [text[f.start : f.end] for f in scan(text)] == ["::ffff:192.0.2.128"]


def test_findings_are_ordered_by_start() -> None:
    starts = [f.start for f in scan(MIXED)]
    assert starts == sorted(starts) and len(starts) == 17


def test_same_value_gets_one_placeholder() -> None:
    text = "a@example.com, b@example.com, a@example.com"
    result = redact(text, scan(text))
    assert result.redacted == "<EMAIL_1>, <EMAIL_2>, <EMAIL_1>"
    assert result.mapping == {"<EMAIL_1>": "a@example.com", "<EMAIL_2>": "b@example.com"}


def test_mapping_extension_continues_numbering() -> None:
    first = redact("a@example.com", scan("a@example.com"))
    before = dict(first.mapping)
    text = "b@example.com then a@example.com, call (415) 555-2671"
    second = redact(text, scan(text), first.mapping)
    assert second.redacted == "<EMAIL_2> then <EMAIL_1>, call <PHONE_1>"
    assert second.mapping == {
        "<EMAIL_1>": "a@example.com",
        "<EMAIL_2>": "b@example.com",
        "<PHONE_1>": "(415) 555-2671",
    }
    assert first.mapping == before  # extended, not mutated


def test_placeholder_already_in_the_text_is_not_reused() -> None:
    text = "template <EMAIL_1> for a@example.com"
    result = redact(text, scan(text))
    assert result.redacted == "template <EMAIL_1> for <EMAIL_2>"
    assert restore(result.redacted, result.mapping) == text


def test_restore_tries_longest_placeholder_first() -> None:
    mapping = {f"<EMAIL_{i}>": f"user{i}@example.com" for i in range(1, 12)}
    assert restore("<EMAIL_10>, <EMAIL_1>, <EMAIL_11>", mapping) == (
        "user10@example.com, user1@example.com, user11@example.com"
    )


def test_restore_does_not_expand_restored_values() -> None:
    mapping = {"<SECRET_1>": "<EMAIL_1>", "<EMAIL_1>": "a@example.com"}
    assert restore("<SECRET_1>", mapping) == "<EMAIL_1>"


def test_restore_without_mapping_is_identity() -> None:
    assert restore("nothing <EMAIL_1> here", {}) == "nothing <EMAIL_1> here"


def test_round_trip_of_mixed_text() -> None:
    result = redact(MIXED, scan(MIXED))
    assert restore(result.redacted, result.mapping) == MIXED
    for original in result.mapping.values():
        assert original not in result.redacted
    assert {p[1:].rsplit("_", 1)[0] for p in result.mapping} == set(ENTITY_TYPES)


def test_redacted_text_rescans_clean() -> None:
    result = redact(MIXED, scan(MIXED))
    assert scan(result.redacted) == []
    many = "".join(f"<{t}_{n}>" for t in ("EMAIL", "PHONE", "SECRET") for n in (1, 10, 999))
    assert scan(many) == []
    assert scan(" ".join(result.mapping)) == []
