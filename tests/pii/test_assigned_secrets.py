"""Secrets assigned to a credential-named key in code or config (secret.assignment): the
assignments it must catch, and the empty, stand-in, computed and word-like values it must
leave alone."""

from __future__ import annotations

import pytest

from naestro.pii import redact, scan
from naestro.pii.secrets import SCORE_ASSIGNED_SECRET, SCORE_ASSIGNED_WEAK


def secrets(text: str) -> list[tuple[str, float, str]]:
    found = [f for f in scan(text) if f.entity_type == "SECRET"]
    return [(text[f.start : f.end], f.score, f.detector) for f in found]


def kinds(text: str) -> list[str]:
    return [f.entity_type for f in scan(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password = 'hunter2xyz'", "hunter2xyz"),
        ('secret: "s3cr3tV@lue!"', "s3cr3tV@lue!"),
        ("token=abc123def456", "abc123def456"),
        ('api_key = "a8f5f167f44f4964e6c998dee827110c"', "a8f5f167f44f4964e6c998dee827110c"),
        ("passwd: Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("client_secret='Zx9-kP2qW'", "Zx9-kP2qW"),
        ("DB_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("PGPASSWORD=Tr0ub4dor3x", "Tr0ub4dor3x"),  # an upper-case name glued to its prefix
        ("MYSQL_PASS: s3cr3tpw", "s3cr3tpw"),
        ('userPassword := "P@ssw0rd!"', "P@ssw0rd!"),  # camelCase name, Go assignment
        ("'password' => 'S3cure!pw'", "S3cure!pw"),  # PHP / Ruby hash
        ('{"apiKey": "AbC123xYz789"}', "AbC123xYz789"),  # JSON: the name is quoted too
        ("x-api-key: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),  # an HTTP header
        ("--password=Tr0ub4dor&3 --user admin", "Tr0ub4dor&3"),
        ("GET /v1/items?token=q8Zr2kLm9X&page=2", "q8Zr2kLm9X"),  # stops at the next parameter
        ("https://api.example.org/v1?token=q8Zr2kLm9X", "q8Zr2kLm9X"),  # after a URL's ":"
        ("The password: Tr0ub4dor&3.", "Tr0ub4dor&3"),  # a sentence's full stop is not in it
        ("password = Summer2024Summer2024Sum", "Summer2024Summer2024Sum"),
    ],
)
def test_assigned_secrets_found(text: str, value: str) -> None:
    assert secrets(text) == [(value, SCORE_ASSIGNED_SECRET, "secret.assignment")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('password = "hunter2"', "hunter2"),  # a word with digits, quoted: a weak password
        ('"password": "Summer2024"', "Summer2024"),
        ('password: str = "hunter22"', "hunter22"),  # through a Python annotation
        ("password: hunter2", "hunter2"),  # YAML: a bare value is a literal
        ("DB_PASS=hunter22", "hunter22"),  # so is one after an environment-style name
    ],
)
def test_word_like_passwords_score_lower(text: str, value: str) -> None:
    assert secrets(text) == [(value, SCORE_ASSIGNED_WEAK, "secret.assignment")]


@pytest.mark.parametrize(
    "text",
    [
        # empty, placeholders and masks: nothing to hide
        "password = ''",
        'password = ""',
        "password = <PASSWORD>",
        'password = "<PASSWORD>"',
        "password: ***",
        'password = "********"',
        "token = 'xxxxxxxxxxxx'",
        "password=changeme",
        'password = "change_me1"',
        "password: 'your-password-here'",
        'api_key = "sk-...REPLACE1"',
        'password: "password"',
        # references and calls: the code computes the secret, it does not hold it
        'password = os.environ["X"]',
        "token = get_token()",
        "secret = secrets.token_hex(16)",
        "password=password",
        "password=self.password",
        "api_key=settings.OPENAI_API_KEY",
        "token=token_v2",  # bare after "=" in code: as likely a variable as a password
        'password = "${DB_PASSWORD}"',
        "PASSWORD=$DB_PASS",
        "password: {{ vault_db_password }}",
        'password = "%(pw)s"',
        # types and words
        "password: string;",
        "password: Optional[str] = None",
        "token_type: 'bearer'",
        "secret: true",
        "Password: please reset it",
        "password = 'Enter your password'",  # a label or a message, not a secret
        "credentials: ~/.aws/credentials",
        "secret_name: my-app-secret",
        # other names that merely contain a credential word
        "max_tokens = 4096",
        "tokenizer = 'cl100k_base'",
        "password_length = 12",
        "password_hint: 'pet name1'",
        "bypass = 'abc123def'",
        "--- PASS: TestParse2 (0.00s)",  # "pass" alone is a test verdict
        "key = 'a8f5f167f44f4964'",  # "key" alone names too many things
        # numbers, versions, dates, amounts and ids
        "token: 50256",
        "token: '123456789'",
        "token: 'v1.2.3'",
        "secret: 2024-01-15",
        "price: $1,234.56",
        "api_key: 123e4567-e89b-12d3-a456-426614174000",  # UUIDs are ids (see test_entropy)
        "token: 'ĠHello2'",  # non-ASCII: a tokenizer's piece, not a credential
    ],
)
def test_assigned_secret_near_misses(text: str) -> None:
    assert secrets(text) == []


def test_every_assignment_on_a_line_is_checked() -> None:
    text = "user=admin password=Tr0ub4dor&3 host=db token=q8Zr2kLm9Xv4"
    assert [value for value, _, _ in secrets(text)] == ["Tr0ub4dor&3", "q8Zr2kLm9Xv4"]


def test_vendor_prefix_outranks_the_assignment() -> None:
    key = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
    assert secrets(f"GITHUB_TOKEN={key}") == [(key, 0.99, "secret.github")]


def test_the_name_stays_readable_after_redaction() -> None:
    text = "db:\n  user: app\n  password: Tr0ub4dor&3\n"
    result = redact(text, scan(text))
    assert result.redacted == "db:\n  user: app\n  password: <SECRET_1>\n"


def test_assignments_do_not_hide_other_pii() -> None:
    assert kinds("contact: jane.doe@example.com, token: q8Zr2kLm9Xv4") == ["EMAIL", "SECRET"]
