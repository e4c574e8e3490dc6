"""High-entropy secrets: the short-token threshold, context words, and look-alikes."""

from __future__ import annotations

import math
import random
import string

import pytest

from naestro.pii import detect_entropy_secrets, high_threshold, scan, shannon_entropy


def secrets(text: str) -> list[tuple[str, float]]:
    return [(text[f.start : f.end], f.score) for f in scan(text) if f.entity_type == "SECRET"]


def entropy_secrets(text: str) -> list[tuple[str, float]]:
    """The entropy detector alone: in a scan, secret.assignment claims assigned values."""
    found = detect_entropy_secrets(text, [], entropy_high=4.5, entropy_low=2.5)
    return [(text[f.start : f.end], f.score) for f in found]


def test_shannon_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy("aabb") == pytest.approx(1.0)


def test_high_threshold_is_reachable_for_short_tokens() -> None:
    for length in (20, 22, 23):
        assert high_threshold(length, 4.5) < math.log2(length)
    assert high_threshold(64, 4.5) == 4.5
    assert high_threshold(10_000, 5.0) == 5.0


@pytest.mark.parametrize(
    "token",
    [
        "k9Qz4Lm2Xv8Rt6Wp3Yb7",  # 20 chars: log2(20) = 4.32, so a flat 4.5 would miss it
        "Xq7vR2pL9sK4mN8bT3wZ6yH1",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # AWS's documented example secret
        "c2VjcmV0LXZhbHVlLXdpdGgtcGFkZGluZw+/Zx==",
    ],
)
def test_random_tokens_are_secrets_without_context(token: str) -> None:
    assert secrets(f"value {token} here") == [(token, 0.9)]


def test_equals_sign_does_not_swallow_the_variable_name() -> None:
    assert secrets("AWS_SECRET=Xq7vR2pL9sK4mN8bT3wZ6yH1") == [("Xq7vR2pL9sK4mN8bT3wZ6yH1", 0.9)]


@pytest.mark.parametrize(
    "text",
    [
        "password = Summer2024Summer2024Sum",
        "accessToken: Summer2024Summer2024Sum",
        "Authorization: Bearer Summer2024Summer2024Sum",
        "api_key=3f786850e387550fdab836ed7e6dc881de23001b",  # hex, but in secret context
    ],
)
def test_mid_entropy_needs_a_context_word(text: str) -> None:
    token = text.split()[-1].split("=")[-1]
    assert entropy_secrets(text) == [(token, 0.6)]


@pytest.mark.parametrize(
    "text",
    [
        "greeting Summer2024Summer2024Sum",  # same token, no context word
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",  # git SHA
        "tokenizer loads 3f786850e387550fdab836ed7e6dc881de23001b",  # not the word "token"
        "token: aaaaaaaaaaaaaaaaaaaaaaaa",
        "token: password_reset_token_handler_function",
        "secret in AbstractSingletonProxyFactoryBean",
        "the api key lives in /usr/local/lib/python3/site-packages",
        "key meta-llama/Llama-2-7b-chat-hf",
        "auth model claude-3-5-sonnet-20241022",
        "request id 123e4567-e89b-12d3-a456-426614174000 with token",
        "api_key: 123e4567-e89b-12d3-a456-426614174000",
        "--------------------------------------------",
        "the_quick_brown_fox_jumps_over_the_lazy_dog",
    ],
)
def test_low_entropy_look_alikes(text: str) -> None:
    assert secrets(text) == []


def test_token_already_claimed_by_another_detector_is_left_to_it() -> None:
    findings = scan("mail Xq7vR2pL9sK4mN8bT3wZ6yH1@example.com")
    assert [(f.entity_type, f.detector) for f in findings] == [("EMAIL", "email.regex")]


def test_thresholds_follow_the_arguments() -> None:
    text = "value Xq7vR2pL9sK4mN8bT3wZ6yH1 here"
    assert scan(text, entropy_high=6.0, entropy_low=5.5) == []


@pytest.mark.parametrize(
    "name",
    [
        "_V1RootValidatorFunctionType",
        "sha256WithRSAEncryption",
        "x86_64-linux-gnu-toolchain",
        "_WORKFLOWIDREUSEPOLICY",
        "getUserProfileByEmailAddress",
        "XMLHttpRequestEventTarget",
        "gpt-4o-mini-2024-07-18",
    ],
)
def test_code_names_are_not_secrets(name: str) -> None:
    assert secrets(f"see {name} in the docs") == []


@pytest.mark.parametrize("length", [20, 24, 32, 48])
def test_recall_on_random_base62_tokens(length: int) -> None:
    rng = random.Random(length)  # seeded: the same tokens every run
    alphabet = string.ascii_letters + string.digits
    tokens = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(300)]
    hits = sum(bool(secrets(f"value {t} here")) for t in tokens)
    assert hits >= 0.95 * len(tokens)
