"""Connecting to Temporal the SDK's way (temporalio.envconfig) with Naestro's converter.

TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE and
the TOML config file (TEMPORAL_CONFIG_FILE) work exactly as for the `temporal` CLI.
"""

from __future__ import annotations

import os
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError, RPCStatusCode

from naestro.codec import converter_from_env
from naestro.config.settings import PayloadsConfig
from naestro.errors import NaestroError
from naestro.telemetry.setup import install as install_telemetry

DEFAULT_ADDRESS = "localhost:7233"
# A query no worker answered: no poller seen lately (FAILED_PRECONDITION), or none within
# the RPC's timeout (the client's own timeout surfaces as CANCELLED "Timeout expired").
NO_WORKER_ANSWER = (
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
)


class TemporalUnreachable(NaestroError):
    """The Temporal server did not answer."""


def connect_config(address: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", "default")
    if address:
        config["target_host"] = address
    return config


def target(address: str | None = None) -> str:
    return str(connect_config(address)["target_host"])


async def connect(
    address: str | None = None, *, lazy: bool = False, payloads: PayloadsConfig | None = None
) -> Client:
    """A client using the pydantic data converter, the payload codec (NAESTRO_CODEC_KEYS)
    and external storage for large payloads (``payloads``: temporal.yaml's, else the
    defaults), with the process's telemetry (its workers inherit it). Raises
    TemporalUnreachable clearly."""
    config = connect_config(address)
    plugins = install_telemetry()
    try:
        return await Client.connect(
            **config,
            data_converter=converter_from_env(payloads=payloads),
            lazy=lazy,
            plugins=plugins,
        )
    except (RuntimeError, RPCError) as exc:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {config['target_host']} "
            f"(namespace {config['namespace']}): {exc}. Start one with `naestro dev`, or set "
            "TEMPORAL_ADDRESS."
        ) from None


def ui_base_url(ui_port: int = 8233) -> str:
    """Where the Temporal Web UI lives: NAESTRO_UI_URL, else the dev server's UI port."""
    return os.environ.get("NAESTRO_UI_URL", f"http://localhost:{ui_port}")


def workflow_url(workflow_id: str, namespace: str = "default", ui_port: int = 8233) -> str:
    return f"{ui_base_url(ui_port)}/namespaces/{namespace}/workflows/{workflow_id}"
