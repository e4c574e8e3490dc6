"""The dev stack's key file: made once with mode 0600, reused, never over configured keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cli.devkey import DEV_KEY_ID, KEY_FILE, use_dev_key
from naestro.codec import KEYS_ENV, generate_key, parse_keys
from naestro.errors import ConfigError


def test_first_use_creates_a_private_key_and_later_uses_read_it(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    assert use_dev_key(tmp_path / "data", create=True, environ=env) == tmp_path / "data" / KEY_FILE
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (key,) = parse_keys(env[KEYS_ENV])
    assert key.key_id == DEV_KEY_ID
    assert env[KEYS_ENV] == path.read_text().strip()
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE]  # no temp file left

    again: dict[str, str] = {}
    assert use_dev_key(tmp_path / "data", create=True, environ=again) == path
    assert again == env
    assert use_dev_key(tmp_path / "data", create=True, environ=again) == path  # adopted before


def test_configured_keys_win_and_no_file_is_made(tmp_path: Path) -> None:
    env = {KEYS_ENV: generate_key("prod")}
    assert use_dev_key(tmp_path, create=True, environ=env) is None
    assert env[KEYS_ENV].startswith("prod:")
    assert not (tmp_path / KEY_FILE).exists()


def test_without_create_a_missing_file_means_no_key(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    assert use_dev_key(tmp_path, create=False, environ=env) is None
    assert env == {} and not (tmp_path / KEY_FILE).exists()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    use_dev_key(tmp_path, create=True, environ={})
    (tmp_path / KEY_FILE).chmod(0o644)
    env: dict[str, str] = {}
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        use_dev_key(tmp_path, create=False, environ=env)
    assert env == {}
    assert (tmp_path / KEY_FILE).read_text().split(":")[1].strip() not in str(caught.value)


def test_a_broken_key_file_is_named_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("dev:c2hvcnQ=\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"codec\.key.*5 bytes") as caught:
        use_dev_key(tmp_path, create=False, environ={})
    assert "c2hvcnQ" not in str(caught.value)
