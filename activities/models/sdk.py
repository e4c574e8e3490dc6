"""What the adapters over an official SDK share: one client per provider (built on first
use, retries off: Temporal owns them), a call that is plain or streamed, the SDK's errors
mapped to Naestro's, and the reply turned into a ModelResponse with latency and cost."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from activities.models._http import Reply, require_api_key, to_response
from activities.models.base import OnProgress
from naestro.config.settings import ProviderConfig
from naestro.contracts import ModelRequest, ModelResponse
from naestro.errors import ProviderError


class Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class SdkProvider(ABC, Generic[C]):
    sdk_error: ClassVar[type[Exception]]  # the SDK's base error, mapped by _map_error

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: C | None = None

    async def complete(
        self, request: ModelRequest, on_progress: OnProgress | None = None
    ) -> ModelResponse:
        client = self._ensure_client()
        started = time.monotonic()
        try:
            if request.stream:
                reply = await self._stream(client, request, on_progress)
            else:
                reply = await self._plain(client, request)
        except self.sdk_error as exc:
            raise self._map_error(exc) from exc
        return to_response(self.config, reply, started)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _ensure_client(self) -> C:
        key = require_api_key(self.config)
        if self._client is None:
            self._client = self._new_client(key or "not-needed")  # local servers ignore it
        return self._client

    @abstractmethod
    def _new_client(self, key: str) -> C: ...

    @abstractmethod
    async def _plain(self, client: C, request: ModelRequest) -> Reply: ...

    @abstractmethod
    async def _stream(
        self, client: C, request: ModelRequest, on_progress: OnProgress | None
    ) -> Reply: ...

    @abstractmethod
    def _map_error(self, exc: Any) -> ProviderError: ...
