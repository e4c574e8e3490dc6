"""The Sandbox interface: run untrusted code's tests and return a structured report."""

from __future__ import annotations

from typing import Protocol

from naestro.contracts import VerificationReport, VerifyRequest


class Sandbox(Protocol):
    name: str

    @property
    def fingerprint(self) -> str:
        """What else decides a run's outcome besides the request (the image, the tools):
        part of the test cache key."""
        ...

    async def run(
        self, request: VerifyRequest, workspace: bytes | None = None
    ) -> VerificationReport:
        """Run the request's suites over its files (and ``workspace``, the archive's bytes,
        when the request has one). Raises naestro.errors.SandboxError only when the sandbox
        itself cannot run, WorkspaceError when the workspace is unusable; failing tests
        are a report with passed=False."""
        ...

    async def aclose(self) -> None:
        """Stop what the sandbox keeps running between runs (warm containers)."""
        ...
