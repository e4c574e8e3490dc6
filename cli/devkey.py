"""The embedded stack's payload-codec key: encryption on by default, with no setup.

Keys configured in ``NAESTRO_CODEC_KEYS`` always win (the production path). Without them,
the dev stack keeps one key in ``<dev.data_dir>/codec.key`` (mode 0600, the same
``id:base64`` format as the variable), made on its first start, and puts it into the
process environment, so its client, workers and API, and the ``naestro`` commands run
later beside it (which read the file but never make one), share it. The key is never
printed or logged; only the file's path is.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from naestro.codec import KEYS_ENV, generate_key, parse_keys
from naestro.errors import ConfigError

KEY_FILE = "codec.key"
DEV_KEY_ID = "dev"


def _create(path: Path) -> None:
    """Write a fresh key next to ``path``, then link it into place: a concurrent start
    either wins or reads the complete file the other one wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".codec-key-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(generate_key(DEV_KEY_ID) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by others (mode {mode:o}): run `chmod 600 {path}` "
            f"or set {KEYS_ENV}"
        )
    entry = path.read_text().strip()
    try:
        parse_keys(entry)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return entry


def _holds(path: Path, entry: str) -> bool:
    try:
        return path.read_text().strip() == entry
    except OSError:
        return False


def use_dev_key(
    data_dir: Path, *, create: bool, environ: MutableMapping[str, str] | None = None
) -> Path | None:
    """Put the dev key into ``NAESTRO_CODEC_KEYS`` unless keys are configured there.

    Returns the key file in use, or None when the environment holds other keys, or there
    is no file and ``create`` is false (payloads then stay plaintext).
    """
    env = os.environ if environ is None else environ
    path = data_dir / KEY_FILE
    configured = env.get(KEYS_ENV, "").strip()
    if configured:  # the file's key when an earlier call (or the user) put it there
        return path if _holds(path, configured) else None
    if not path.exists():
        if not create:
            return None
        _create(path)
    env[KEYS_ENV] = _read(path)
    return path
