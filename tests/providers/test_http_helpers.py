"""The shared mapping in activities.models._http, table by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from activities.models._http import error_message, retry_after_seconds, status_error
from naestro.errors import ProviderRequestRejected, to_application_error


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (None, None),
        ({}, None),
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "tomorrow-ish"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # already past
    ],
)
def test_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date_in_the_future() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = retry_after_seconds({"Retry-After": when})
    assert seconds is not None
    assert 25 <= seconds <= 30


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_rejected(status: int) -> None:
    error = status_error("p", status, "no")
    assert isinstance(error, ProviderRequestRejected)
    assert to_application_error(error).non_retryable is True


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retryable(status: int) -> None:
    error = status_error("p", status, "later", {"retry-after": "4"})
    assert not isinstance(error, ProviderRequestRejected)
    assert error.retry_after == 4.0
    assert to_application_error(error).non_retryable is False


def test_an_error_inside_a_200_stream_is_transient() -> None:
    error = status_error("p", 200, "overloaded")
    assert error.status is None
    assert to_application_error(error).non_retryable is False


def test_long_messages_are_clipped() -> None:
    assert len(str(status_error("p", 400, "x" * 5000))) < 600


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "bad key", "type": "auth"}}, "bad key"),
        ({"message": "flat"}, "flat"),
        ({"error": "just a string"}, "just a string"),
        ({"error": {"code": 7}}, "fallback"),
        ("raw text", "raw text"),
        (None, "fallback"),
    ],
)
def test_error_message(body: object, expected: str) -> None:
    assert error_message(body, "fallback") == expected
