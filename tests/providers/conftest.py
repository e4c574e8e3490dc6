from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

KEY_ENV = "NAESTRO_TEST_LOOPBACK_KEY"
KEY = "sk-loopback-test"
UNSET_KEY_ENV = "NAESTRO_TEST_KEY_THAT_IS_NEVER_SET"


@pytest.fixture
def key_env() -> Iterator[str]:
    """The name of an environment variable holding a test API key, for this test only."""
    os.environ[KEY_ENV] = KEY
    try:
        yield KEY_ENV
    finally:
        del os.environ[KEY_ENV]
