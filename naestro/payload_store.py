"""Large payloads travel by reference: Temporal external storage over the blob store.

A payload at or above ``payloads.external_threshold_bytes`` leaves the process as a small
reference (driver name + sha256) while its bytes go to Postgres's ``blobs`` table
(naestro/blobs.py), so no history event nears Temporal's 2 MB limit. The SDK encodes first
and stores second: with the payload codec on, what Postgres holds is the encrypted payload,
and the reference itself carries no data. Reading is the reverse (fetch, then decrypt).

The database is the one ``payloads.database_url_env`` names (``DATABASE_URL``), read when a
payload is stored or fetched, so a process that learns its URL after connecting (the dev
stack starts Postgres after Temporal) still offloads. Without one, payloads stay inline and
one over Temporal's limit is refused here (``PayloadTooLarge``) rather than by the server.
Each store or fetch opens one short connection: only payloads over the threshold pay it,
and nothing is left open when a CLI's event loop ends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import asyncpg
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverSelectContext,
    StorageDriverStoreContext,
)

from naestro.blobs import BlobMissing, BlobStore
from naestro.config.settings import PayloadsConfig
from naestro.errors import ConfigError, PayloadMissing, PayloadTooLarge, to_application_error

DRIVER_NAME = "naestro-postgres"
MEDIA_TYPE = "application/x-temporal-payload"  # a serialized temporal.api.common.v1.Payload
# Temporal's default blob size limit (limit.blobSize.error): a bigger payload is refused.
TEMPORAL_PAYLOAD_LIMIT = 2 * 1024 * 1024


class PostgresPayloadDriver(StorageDriver):
    """Stores serialized payloads as blobs; the claim is the blob's sha256."""

    def __init__(self, env_var: str, environ: Mapping[str, str] | None = None) -> None:
        self._env_var = env_var
        self._environ = os.environ if environ is None else environ

    def name(self) -> str:
        return DRIVER_NAME

    def type(self) -> str:
        return "naestro.postgres-blobs"

    @property
    def url(self) -> str | None:
        return self._environ.get(self._env_var) or None

    @asynccontextmanager
    async def _blobs(self) -> AsyncIterator[BlobStore]:
        url = self.url
        if url is None:  # only a fetch gets here: a store needs a URL to be selected
            raise to_application_error(
                PayloadMissing(
                    f"a payload is kept in Postgres but ${self._env_var} is unset in this "
                    "process: set it to the database the writer used"
                )
            )
        conn = await asyncpg.connect(url)
        try:
            yield BlobStore(conn)
        except asyncpg.UndefinedTableError:
            raise ConfigError(
                f"the database in ${self._env_var} has no blobs table: run `naestro db migrate`"
            ) from None
        finally:
            await conn.close()

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        async with self._blobs() as blobs:
            refs = [await blobs.put(p.SerializeToString(), MEDIA_TYPE) for p in payloads]
        return [StorageDriverClaim({"sha256": r.sha256, "size": str(r.size)}) for r in refs]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        async with self._blobs() as blobs:
            try:
                found = [await blobs.get(c.claim_data["sha256"]) for c in claims]
            except BlobMissing as exc:
                # Non-retryable: a workflow whose input is gone fails, not retries forever.
                raise to_application_error(PayloadMissing(str(exc))) from None
        return [Payload.FromString(data) for data in found]

    def select(self, _: StorageDriverSelectContext, payload: Payload) -> StorageDriver | None:
        """This driver when the database is configured; else inline, or PayloadTooLarge
        (non-retryable) for a payload Temporal would refuse anyway."""
        if self.url is not None:
            return self
        size = payload.ByteSize()
        if size > TEMPORAL_PAYLOAD_LIMIT:
            raise PayloadTooLarge(
                f"a payload of {size} bytes is over Temporal's limit of "
                f"{TEMPORAL_PAYLOAD_LIMIT} and ${self._env_var} is unset, so it cannot travel "
                "by reference: set it to the Postgres database the workers use"
            )
        return None


def external_storage(
    config: PayloadsConfig, environ: Mapping[str, str] | None = None
) -> ExternalStorage:
    """What every client and worker converts with: payloads from the threshold up go to
    Postgres when the database is configured (read at use), and stay inline otherwise."""
    driver = PostgresPayloadDriver(config.database_url_env, environ)
    return ExternalStorage(
        drivers=[driver],
        driver_selector=driver.select,
        payload_size_threshold=config.external_threshold_bytes,
    )


def is_reference(payload: Payload) -> bool:
    """A payload that stands for one kept in external storage (what history shows)."""
    return len(payload.external_payloads) > 0
