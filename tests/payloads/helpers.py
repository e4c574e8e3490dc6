"""Reading payload sizes out of a workflow history; a client whose converter stores large
payloads in a test database."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from naestro.codec import EncryptionCodec, data_converter
from naestro.config.settings import PayloadsConfig
from naestro.payload_store import external_storage, is_reference

HUGE = 3 * 1024 * 1024  # a 3 MB prompt: over Temporal's 2 MB payload limit


def huge_prompt(tag: str) -> str:
    line = f"Summarise this log ({tag}): worker 7 restarted after a timeout.\n"
    return (line * (HUGE // len(line) + 1))[:HUGE]


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (inputs, results, markers, failures)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if not field.is_repeated:
            yield from payloads_in(value)
            continue
        entry = field.message_type
        items = value.values() if entry and entry.GetOptions().map_entry else value
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item)


def history_payloads(history: WorkflowHistory) -> list[Payload]:
    return [p for event in history.events for p in payloads_in(event)]


def references(history: WorkflowHistory) -> list[Payload]:
    return [p for p in history_payloads(history) if is_reference(p)]


def storing_converter(codec: EncryptionCodec, database_url: str, threshold: int) -> DataConverter:
    config = PayloadsConfig(external_threshold_bytes=threshold)
    return data_converter(codec, external_storage(config, {"DATABASE_URL": database_url}))


async def storing_client(env: WorkflowEnvironment, converter: DataConverter) -> Client:
    """Another client of the session's server, converting with ``converter``."""
    return await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=converter,
    )
