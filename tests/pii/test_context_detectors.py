"""SSN, MAC, date of birth, passport, driving licence, address and name detectors:
positives, and the near misses each must leave alone."""

from __future__ import annotations

import pytest

from naestro.pii import scan


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in scan(text)]


def kinds(text: str) -> set[str]:
    return {kind for kind, _ in found(text)}


@pytest.mark.parametrize(
    ("text", "ssn"),
    [
        ("SSN: 219-09-9999 on file", "219-09-9999"),
        ("employee 078 05 1120 joined", "078 05 1120"),
        ("social security number 123456789.", "123456789"),
    ],
)
def test_ssn_found(text: str, ssn: str) -> None:
    assert ("US_SSN", ssn) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "SSN 000-12-3456",  # area 000 is never issued
        "SSN 666-12-3456",  # nor 666
        "SSN 912-12-3456",  # nor 900-999
        "SSN 123-00-4567",  # group 00
        "SSN 123-45-0000",  # serial 0000
        "order 123456789 shipped",  # nine bare digits without context
        "part 123-45-67890",  # too many digits
    ],
)
def test_ssn_near_misses(text: str) -> None:
    assert "US_SSN" not in kinds(text)


@pytest.mark.parametrize("mac", ["3a:71:e0:fd:77:b0", "3A-71-E0-FD-77-B0", "3a71.e0fd.77b0"])
def test_mac_found(mac: str) -> None:
    assert found(f"the NIC {mac}.") == [("MAC_ADDRESS", mac)]


@pytest.mark.parametrize(
    "text",
    ["00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "3a:71:e0:fd:77", "3a:71-e0:fd:77:b0", "12:30:45"],
)
def test_mac_near_misses(text: str) -> None:
    assert "MAC_ADDRESS" not in kinds(f"value {text} here")


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("born on 1984-03-05 in Lyon", "1984-03-05"),
        ("DOB: 03/05/1984", "03/05/1984"),
        ("date of birth 5 March 1984", "5 March 1984"),
        ("her birthday is Mar. 5, 1984", "Mar. 5, 1984"),
    ],
)
def test_birth_date_found(text: str, date: str) -> None:
    assert ("DATE_OF_BIRTH", date) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "released on 1984-03-05",  # a date, but nothing says birth
        "born on 1984-02-30",  # no such day
        "DOB: 13/45/1984",
        "born 2 hours ago, build 2024.01.15",
    ],
)
def test_birth_date_near_misses(text: str) -> None:
    assert "DATE_OF_BIRTH" not in kinds(text)


def test_documents_need_their_context() -> None:
    assert ("PASSPORT", "X66258517") in found("passport number X66258517")
    assert ("DRIVER_LICENSE", "D1234567") in found("driver's license D1234567")
    assert ("DRIVER_LICENSE", "D123-4567-8901") in found("DL# D123-4567-8901")
    assert kinds("invoice X66258517 and part D1234567") == set()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        (
            "ship to 1777 Kramer Court\nJohnsonfurt, NE 80119 today",
            "1777 Kramer Court\nJohnsonfurt, NE 80119",
        ),
        (
            "at 9996 Gary Forks, Port Jamesside, IN 53513.",
            "9996 Gary Forks, Port Jamesside, IN 53513",
        ),
        ("I live at 42 Elm Street.", "42 Elm Street"),
        ("office: 350 5th Ave Suite 3300", "350 5th Ave Suite 3300"),
    ],
)
def test_address_found(text: str, address: str) -> None:
    assert ("ADDRESS", address) in found(text)


@pytest.mark.parametrize(
    "text", ["we shipped 3 Large Boxes", "chapter 12 Main Ideas", "version 2 Release Notes"]
)
def test_address_near_misses(text: str) -> None:
    assert "ADDRESS" not in kinds(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Please ask Dr. Ada Lovelace.", "Ada Lovelace"),
        ("Dear Violet Quarrington,", "Violet Quarrington"),
        ("My name is Ngozi Okafor and", "Ngozi Okafor"),
        ("Yesterday Maria Lopez called.", "Maria Lopez"),
    ],
)
def test_name_found(text: str, name: str) -> None:
    assert ("PERSON", name) in found(text)


@pytest.mark.parametrize(
    "text",
    ["Dear Sir, thanks", "Dear Team,", "the New York Times", "Python Software Foundation"],
)
def test_name_near_misses(text: str) -> None:
    assert "PERSON" not in kinds(text)


def test_thresholds_drop_weak_findings_per_detector() -> None:
    text = "Yesterday Maria Lopez called Dr. Ada Lovelace."
    assert [k for k, _ in found(text)] == ["PERSON", "PERSON"]
    strict = scan(text, thresholds={"name.gazetteer": 0.75})
    assert [text[f.start : f.end] for f in strict] == ["Ada Lovelace"]
