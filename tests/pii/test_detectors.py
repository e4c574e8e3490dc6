"""Structured detectors: each with positives and the near misses it must leave alone."""

from __future__ import annotations

import pytest

from naestro.pii import scan


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in scan(text)]


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "j.doe+tag@mail.example.co.uk", "ops_team-1@sub.example.io"],
)
def test_email_found(email: str) -> None:
    assert found(f"write to {email}, thanks") == [("EMAIL", email)]


@pytest.mark.parametrize(
    "text",
    ["root@localhost", "@username on the forum", "name at example dot com", "a@b", "x@.com"],
)
def test_email_near_misses(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "phone", ["(415) 555-2671", "415.555.2671", "+44 20 7946 0958", "+1 415 555 2671"]
)
def test_phone_found(phone: str) -> None:
    assert found(f"call me on {phone} tomorrow") == [("PHONE", phone)]


@pytest.mark.parametrize(
    "text",
    [
        "released on 2024-01-15 10:30",
        "due 12/25/2024",
        "order 12345 shipped",
        "abc4155552671",  # glued to letters: an identifier, not a number to call
        "call 555-0000",
    ],
)
def test_phone_near_misses(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "phone",
    [
        "(555) 555-0123",  # no such area code, written as a NANP number
        "+1 555 555 0100",
        "1-555-555-0100",  # the "1" before a NANP number is a group of its own
        "020 7946 0123",  # Ofcom's drama range for London, national format
        "07700 900123",  # Ofcom's drama range for mobiles
        "+44 7700 900 123",  # groups finer than the format's
        "+44 (0)7700 900123",  # the trunk 0 written out
        "+447700900123",  # E.164
        "07700 900123 ext. 12",
    ],
)
def test_possible_but_unassigned_phones_found(phone: str) -> None:
    findings = scan(f"call me on {phone} tomorrow")
    assert [(f.entity_type, f.detector, f.score) for f in findings] == [
        ("PHONE", "phone.shape", 0.7)
    ]
    assert f"call me on {phone} tomorrow"[findings[0].start : findings[0].end] == phone


def test_reserved_nanp_fiction_range_is_found() -> None:
    # 555-0100..0199 is reserved for fiction; libphonenumber calls it valid in area 202.
    assert found("call +1 202-555-0143 or (202) 555-0199") == [
        ("PHONE", "+1 202-555-0143"),
        ("PHONE", "(202) 555-0199"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "ids 1234 5678 9012",  # possible in length, grouped in fours: an id
        "ref 0123 4567 8901",  # a trunk 0, but not the grouping of any GB number
        "ref 0770 0900 123",  # the digits of a drama number, grouped across its format
        "id 123-456-7890",  # no NANP area code starts with 1: no format to match
        "at 2024 01 15 10 30 00",
        "amount 1 234 567 890",
        "paid $1,234.56 and $12,345,678.90",
        "ticket 0001-2345-6789",
        "see 020 7946 0123abc",  # glued to letters
        "call 555-0100",  # seven digits: no area code
    ],
)
def test_possible_phone_near_misses(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "6011111111111117"],
)
def test_credit_card_found(card: str) -> None:
    assert found(f"card: {card}.") == [("CREDIT_CARD", card)]


@pytest.mark.parametrize(
    "text",
    [
        "card: 4111 1111 1111 1112",  # one digit off: Luhn fails
        "card: 0000 0000 0000 0000",  # passes Luhn, but a placeholder
        "id 411111111111111111111111",  # too long to be a card
        "short 411111111111",  # twelve digits
    ],
)
def test_credit_card_near_misses(text: str) -> None:
    assert [t for t, _ in found(text)] == []


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "NL91ABNA0417164300",
        "FR14 2004 1010 0505 0001 3M02 606",
    ],
)
def test_iban_found(iban: str) -> None:
    assert found(f"pay to {iban} today") == [("IBAN", iban)]


def test_iban_stops_before_a_trailing_capitalised_word() -> None:
    assert found("IBAN DE89 3704 0044 0532 0130 00 CASH") == [
        ("IBAN", "DE89 3704 0044 0532 0130 00")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "pay to DE88 3704 0044 0532 0130 00",  # check digits off by one
        "pay to GB82 WEST 1234 5698 7654 33",  # last digit changed
        "SKU AB12CDEFGHIJKLMNOP",
    ],
)
def test_iban_near_misses(text: str) -> None:
    assert [t for t, _ in found(text)] == []


@pytest.mark.parametrize(
    "ip",
    ["192.168.1.10", "8.8.4.4", "2001:db8::8a2e:370:7334", "fe80::1", "::ffff:10.0.0.1"],
)
def test_ip_found(ip: str) -> None:
    assert found(f"host {ip}, up") == [("IP_ADDRESS", ip)]


def test_ip_with_port() -> None:
    assert found("dial 10.1.2.3:8080 or [2001:db8::1]:443") == [
        ("IP_ADDRESS", "10.1.2.3"),
        ("IP_ADDRESS", "2001:db8::1"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3",
        "v1.2.3.4",
        "oid 1.2.840.113549",
        "at 12:30 and 12:30:45",
        "256.1.1.1",
        "1.2.3.4.5",
        "localhost 127.0.0.1 and ::1 and 0.0.0.0",
        "std::vector and A::B",
        "mac 00:1A:2B:3C:4D:5E",
        "date 2024.01.15",
    ],
)
def test_ip_near_misses(text: str) -> None:
    assert [kind for kind, _ in found(text) if kind == "IP_ADDRESS"] == []


@pytest.mark.parametrize(
    "text",
    [
        "We shipped release 10.4.2.1 today.",
        "Upgrade to 10.4.2.1 now.",
        "Upgrade from 10.4.2.0 to 10.4.2.1.",
        "10.4.2.1 was released yesterday",
        "Changelog for 10.4.2.1: fixed the crash",
        "Install 10.4.2.1-rc1 first",  # a pre-release tag settles it without a word
    ],
)
def test_versions_in_release_sentences_are_not_ips(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "ip"),
    [
        ("The release server at 10.0.0.5 is down.", "10.0.0.5"),  # a network word too
        ("After the upgrade, ssh to 10.4.2.1", "10.4.2.1"),
        ("Login from 10.4.2.1 was blocked after the update", "10.4.2.1"),
        ("release notes at http://10.4.2.1/notes", "10.4.2.1"),
        ("the new build listens on 10.4.2.1:8080", "10.4.2.1"),  # a port: an address
        ("Release 10.4.2.1 is live; the build server is 10.0.0.5.", "10.0.0.5"),
        ("Release notes are out.\nhost 10.4.2.1 answered", "10.4.2.1"),  # another line
    ],
)
def test_ips_near_release_words_are_still_found(text: str, ip: str) -> None:
    assert found(text) == [("IP_ADDRESS", ip)]


# Assembled from parts so that the source holds no literal credential for scanners to trip on.
KNOWN_KEYS = {
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "aws_session": "ASIA" + "Z2X3C4V5B6N7M8Q9",
    "github": "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2,
    "github_pat": "github_pat_" + "11ABCDEFG0" * 4,
    "slack": "xoxb-" + "123456789012-abcdefghijkl",
    "openai": "sk-" + "proj-" + "Ab3dEf6hIj9lMn2pQr5tUv8x",
    "anthropic": "sk-" + "ant-api03-" + "Zy1xWv2uTs3rQp4oNm5lKj6i",
    "google": "AIza" + "SyD4f6G8h0J2k4L6z8X0c2V4b6N8m0Q2w4E",
    "stripe": "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N",
}


@pytest.mark.parametrize("name", sorted(KNOWN_KEYS))
def test_known_key_prefixes(name: str) -> None:
    key = KNOWN_KEYS[name]
    findings = scan(f"config: {key} end")
    assert [(f.entity_type, f.score) for f in findings] == [("SECRET", 0.99)]
    assert findings[0].end - findings[0].start == len(key)


def test_private_key_block_is_covered_whole() -> None:
    body = "MIIEowIBAAKCAQEA" + "q8Zp3Lr7Tx1Vn5Bm9Kc2Wd6Hf0Jg4Ys" * 2
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{pem}\nafter") == [("SECRET", pem)]


def test_truncated_private_key_still_covers_its_body() -> None:
    body = "MIIEowIBAAKCAQEA" + "q8Zp3Lr7Tx1Vn5Bm9Kc2Wd6Hf0Jg4Ys" * 2
    text = f"-----BEGIN PRIVATE KEY-----\n{body}\nand then prose"
    assert found(text) == [("SECRET", f"-----BEGIN PRIVATE KEY-----\n{body}")]


@pytest.mark.parametrize(
    "text",
    [
        "the task-runner-abc handles it",
        "ask-me-anything",  # "sk-" inside a word
        "AKIA is a prefix, AKIAshort too",
        "eyJ alone",
    ],
)
def test_known_key_near_misses(text: str) -> None:
    assert found(text) == []


RELEASE_NOTE = (
    "Release notes: we shipped release 10.4.2.1 (SDK v1.2.3) on 2024-01-15 at 10:30.\n"
    "The upgrade costs $1,234.56 per seat, or $12,345.00 a year; ticket 48213, build 20240115.\n"
    'Set password = os.environ["DB_PASSWORD"] and token = get_token(); never "changeme".\n'
)


def test_release_note_with_versions_amounts_dates_and_ids_is_clean() -> None:
    assert found(RELEASE_NOTE) == []
