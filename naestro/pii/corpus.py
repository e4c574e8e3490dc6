"""A labelled PII corpus built from templates and Faker, with a fixed seed.

Used by calibration (``naestro pii calibrate``) and by ``bench/pii.py``. Each sample is a
short text with the exact spans of the PII in it, plus near misses that must stay unlabelled
(cards failing Luhn, IBANs failing mod-97, git SHAs, UUIDs, versions, dates that are not
birth dates). Phone numbers are Faker's, kept only when libphonenumber calls them valid:
real numbers are valid by definition, Faker's random area codes often are not.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker

Span = tuple[str, int, int]  # entity type, start, end


@dataclass(frozen=True)
class Sample:
    text: str
    spans: list[Span] = field(default_factory=list)


# A template's {SLOT}s are filled by generators; lower-case {slots} are unlabelled filler.
TEMPLATES: tuple[str, ...] = (
    "Please email {EMAIL} about the renewal.",
    "You can reach {PERSON} at {PHONE} after 5pm.",
    "Contact: {EMAIL}, phone {PHONE}.",
    "Charge the card {CREDIT_CARD} for order {order}.",
    "Wire the refund to IBAN {IBAN} by Friday.",
    "Login from {IP_ADDRESS} was blocked at {time}.",
    "The device with MAC {MAC_ADDRESS} joined the network.",
    "Applicant SSN {US_SSN}, verified by {PERSON}.",
    "Patient {PERSON}, date of birth {DATE_OF_BIRTH}, was admitted.",
    "She was born on {DATE_OF_BIRTH} in {city}.",
    "Ship the parcel to {ADDRESS}.",
    "Her address is {ADDRESS}.",
    "Passport number {PASSPORT} expires in {year}.",
    "Driver's license {DRIVER_LICENSE} was scanned at the desk.",
    "export OPENAI_API_KEY={SECRET}",
    "The service token is {SECRET}; rotate it monthly.",
    "Dear {PERSON}, your ticket {order} is resolved.",
    "Meeting notes from Dr. {PERSON}: {filler}",
    "{filler} Send the report to {EMAIL}.",
    "Server {IP_ADDRESS} answered; commit {sha} is deployed.",
    "Release {version} ships on {date}; see build {uuid}.",
    "Test card {bad_card} was declined as invalid.",
    "The IBAN {bad_iban} failed its checksum.",
    "{filler} {filler}",
    "Reference {order} was opened on {date} by the support team.",
    "Password hint: {low_entropy}; config key name {identifier}.",
    # Hard negatives: Luhn-valid 12-digit ids and companies named after people.
    "Shipment {luhn_id} left the warehouse.",
    "We buy from {company} every month.",
)


def _valid_phone(fake: Faker) -> str:
    for _ in range(200):
        number = fake.phone_number()
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
                return str(number)
        except phonenumbers.NumberParseException:
            continue
    return "(415) 555-2671"


def _secret(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    pick = rng.randrange(5)
    body = "".join(rng.choice(alnum) for _ in range(40))
    if pick == 0:
        return "AKIA" + "".join(
            rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)
        )
    if pick == 1:
        return "ghp_" + body[:36]
    if pick == 2:
        return "sk-proj-" + body
    if pick == 3:
        return "xoxb-" + "-".join(body[i : i + 10] for i in (0, 10, 20))
    return body[: rng.randrange(24, 41)]


def _break_luhn(card: str) -> str:
    last = int(card[-1])
    return card[:-1] + str((last + 1) % 10)


def _break_iban(iban: str) -> str:
    check = int(iban[2:4])
    return iban[:2] + f"{(check % 97) + 2:02d}"[-2:] + iban[4:]


def _luhn_id(rng: random.Random) -> str:
    """A 12-digit id that passes Luhn and starts like a Maestro card: a card look-alike."""
    while True:
        digits = "6" + "".join(rng.choice(string.digits) for _ in range(11))
        total = sum(
            (d * 2 - 9 if d > 4 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            return digits


def _generators(fake: Faker, rng: random.Random) -> dict[str, Callable[[], str]]:
    birth_formats = ("%Y-%m-%d", "%m/%d/%Y", "%B %d, %Y", "%d %B %Y")
    return {
        "EMAIL": fake.email,
        "PHONE": lambda: _valid_phone(fake),
        "CREDIT_CARD": fake.credit_card_number,
        "IBAN": fake.iban,
        "IP_ADDRESS": lambda: fake.ipv4_public() if rng.random() < 0.7 else fake.ipv6(),
        "MAC_ADDRESS": fake.mac_address,
        "US_SSN": fake.ssn,
        "DATE_OF_BIRTH": lambda: fake.date_of_birth().strftime(rng.choice(birth_formats)),
        "ADDRESS": fake.address,
        "PASSPORT": fake.passport_number,
        "DRIVER_LICENSE": lambda: rng.choice(string.ascii_uppercase) + fake.numerify("#######"),
        "SECRET": lambda: _secret(rng),
        "PERSON": lambda: f"{fake.first_name()} {fake.last_name()}",
        "order": lambda: fake.numerify("#########"),
        "time": lambda: fake.time(pattern="%H:%M"),
        "city": fake.city,
        "year": lambda: str(rng.randrange(2026, 2036)),
        "filler": fake.sentence,
        "sha": lambda: fake.sha1(),
        "uuid": lambda: str(fake.uuid4()),
        "version": lambda: f"{rng.randrange(1, 9)}.{rng.randrange(20)}.{rng.randrange(20)}",
        "date": lambda: fake.date(),
        "bad_card": lambda: _break_luhn(fake.credit_card_number()),
        "bad_iban": lambda: _break_iban(fake.iban()),
        "low_entropy": lambda: rng.choice(["aaaaaaaaaaaaaaaaaaaaaaaa", "abcabcabcabcabcabcabcabc"]),
        "luhn_id": lambda: _luhn_id(rng),
        "company": lambda: (
            f"{rng.choice(['Jordan', 'Grace', 'Victoria', 'Austin'])} {fake.last_name()} Holdings"
        ),
        "identifier": lambda: rng.choice(["getUserAccountSettings", "max_connection_pool_size"]),
    }


_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, gens: dict[str, Callable[[], str]]) -> Sample:
    pieces: list[str] = []
    spans: list[Span] = []
    cursor = 0
    length = 0
    for m in _SLOT.finditer(template):
        literal = template[cursor : m.start()]
        pieces.append(literal)
        length += len(literal)
        value = gens[m[1]]()
        if m[1].isupper():
            spans.append((m[1], length, length + len(value)))
        pieces.append(value)
        length += len(value)
        cursor = m.end()
    pieces.append(template[cursor:])
    return Sample("".join(pieces), spans)


def build_corpus(size: int, seed: int = 7) -> list[Sample]:
    """``size`` samples; the same seed always gives the same corpus."""
    if size < 1:
        raise ValueError(f"corpus size must be at least 1 (got {size})")
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    gens = _generators(fake, rng)
    return [_fill(rng.choice(TEMPLATES), gens) for _ in range(size)]
