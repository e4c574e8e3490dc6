"""Encrypted Temporal payloads: an AES-256-GCM ``PayloadCodec`` with key ids and rotation.

Every client and worker converts payloads with :func:`data_converter`: pydantic models to
JSON, then this codec encrypts each payload before it leaves the process, so Temporal's
history, visibility store and UI hold ciphertext only. The key id travels in the payload's
metadata (``encryption-key-id``); decoding picks the key by that id, so after a rotation
old histories still decrypt while new payloads use the newest key.

Keys come from the environment only: ``NAESTRO_CODEC_KEYS`` is a comma-separated list of
``<key id>:<base64 of 32 random bytes>``, the newest (encrypting) key first. Generate one
with ``naestro codec-keygen``.

Payloads over ``payloads.external_threshold_bytes`` travel by reference
(naestro/payload_store.py): encrypted first, then stored in Postgres.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
    PayloadCodec,
)

from naestro.config.settings import PayloadsConfig
from naestro.errors import ConfigError, NaestroError
from naestro.payload_store import external_storage

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

KEYS_ENV = "NAESTRO_CODEC_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID_META = "encryption-key-id"
CIPHER_META = "encryption-cipher"
CIPHER = b"AES-256-GCM"
NONCE_BYTES = 12
KEY_BYTES = 32
BOUND_META = "naestro-bound-to"  # inside a sealed value: where it belongs (authenticated)
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class CodecError(NaestroError):
    """A payload could not be decrypted (unknown key id, tampered or truncated data)."""


@dataclasses.dataclass(frozen=True)
class CodecKey:
    key_id: str
    secret: bytes = dataclasses.field(repr=False)  # never printed, never logged


def _parse_entry(entry: str, position: int) -> CodecKey:
    key_id, sep, encoded = entry.strip().partition(":")
    where = f"{KEYS_ENV} entry {position}"
    if not sep or not _KEY_ID.fullmatch(key_id):
        raise ConfigError(
            f"{where}: expected <key id>:<base64 key>, key id of letters, digits, '_.-'"
        )
    try:
        secret = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} (key id {key_id!r}): the key is not valid base64") from None
    if len(secret) != KEY_BYTES:
        raise ConfigError(
            f"{where} (key id {key_id!r}): the key is {len(secret)} bytes, AES-256 needs "
            f"{KEY_BYTES} (generate one with `naestro codec-keygen`)"
        )
    return CodecKey(key_id, secret)


def parse_keys(raw: str) -> list[CodecKey]:
    """``id:base64,id:base64,...`` -> keys, newest first. Errors name the entry, not the key."""
    entries = [e for e in raw.split(",") if e.strip()]
    if not entries:
        raise ConfigError(f"{KEYS_ENV} is set but holds no key")
    keys = [_parse_entry(e, i + 1) for i, e in enumerate(entries)]
    ids = [k.key_id for k in keys]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{KEYS_ENV}: duplicate key id(s) {', '.join(dupes)}")
    return keys


def generate_key(key_id: str) -> str:
    """A fresh ``id:base64`` entry for NAESTRO_CODEC_KEYS."""
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"key id {key_id!r}: use 1-64 letters, digits, '_', '.', '-'")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload; the first key encrypts, any configured key decrypts.

    The key id is bound into the ciphertext as associated data, so a payload relabelled
    with another key id fails authentication rather than decrypting under the wrong key.
    Payloads that are not encrypted (histories written before the codec was switched on)
    pass through decode unchanged.
    """

    def __init__(self, keys: Sequence[CodecKey]) -> None:
        if not keys:
            raise ConfigError("the payload codec needs at least one key")
        self._current = keys[0]
        self._ciphers = {k.key_id: AESGCM(k.secret) for k in keys}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    @property
    def current_key_id(self) -> str:
        return self._current.key_id

    def encrypt(self, payload: Payload) -> Payload:
        nonce = secrets.token_bytes(NONCE_BYTES)
        key_id = self._current.key_id.encode()
        sealed = self._ciphers[self._current.key_id].encrypt(
            nonce, payload.SerializeToString(), key_id
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_META: key_id, CIPHER_META: CIPHER},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_META, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(
                f"payload encrypted with key id {key_id!r}, which {KEYS_ENV} does not hold "
                f"(configured: {', '.join(self._ciphers)})"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise CodecError(
                f"payload under key id {key_id!r} failed authentication (tampered or truncated)"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]


def seal(codec: EncryptionCodec, value: BaseModel, bound_to: str) -> bytes:
    """A model as ciphertext for storage outside Temporal (the response cache): converted
    and encrypted exactly like a payload. ``bound_to`` (the row's key) is sealed inside it,
    so a value copied into another row does not open there."""
    payload = pydantic_data_converter.payload_converter.to_payload(value)
    payload.metadata[BOUND_META] = bound_to.encode()
    return codec.encrypt(payload).SerializeToString()


def unseal(codec: EncryptionCodec, data: bytes, bound_to: str, type_: type[M]) -> M:
    """The model :func:`seal` stored; CodecError when it is not sealed, not for
    ``bound_to``, tampered with, or under a key the codec does not hold."""
    try:
        sealed = Payload.FromString(data)
    except DecodeError:
        raise CodecError("the stored value is not a sealed payload") from None
    if sealed.metadata.get("encoding") != ENCODING:
        raise CodecError("the stored value is not sealed")
    payload = codec.decrypt(sealed)
    if payload.metadata.get(BOUND_META) != bound_to.encode():
        raise CodecError("the sealed value belongs to another key")
    value: M = pydantic_data_converter.payload_converter.from_payload(payload, type_)
    return value


def codec_from_env(environ: Mapping[str, str] | None = None) -> EncryptionCodec | None:
    """The codec NAESTRO_CODEC_KEYS describes, or None when it is unset or empty."""
    raw = (os.environ if environ is None else environ).get(KEYS_ENV, "")
    return EncryptionCodec(parse_keys(raw)) if raw.strip() else None


def data_converter(
    codec: PayloadCodec | None, storage: ExternalStorage | None = None
) -> DataConverter:
    """pydantic_data_converter plus the codec; failure messages and stacks are encoded too,
    because an error can quote the text that caused it. ``storage``: large payloads travel
    by reference (naestro/payload_store.py); the SDK encrypts before it stores, so the
    stored bytes are ciphertext whenever the codec is on."""
    converter = pydantic_data_converter
    if codec is not None:
        converter = dataclasses.replace(
            converter,
            payload_codec=codec,
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        )
    if storage is not None:
        converter = dataclasses.replace(converter, external_storage=storage)
    return converter


def converter_from_env(
    environ: Mapping[str, str] | None = None, payloads: PayloadsConfig | None = None
) -> DataConverter:
    """What every Naestro client and worker uses. Without keys, payloads are plaintext (the
    zero-setup dev default) and the log says so at INFO (`naestro -v`): a warning would
    break every one-line CLI message. Payloads from ``payloads.external_threshold_bytes``
    up go to the Postgres its ``database_url_env`` names, when that is set."""
    codec = codec_from_env(environ)
    if codec is None:
        log.info("%s is unset: Temporal payloads are NOT encrypted", KEYS_ENV)
    return data_converter(codec, external_storage(payloads or PayloadsConfig(), environ))
