"""The test cache: an identical run (same files, command, limits, sandbox image) is
answered with the earlier report, marked ``cached``.

Keyed by a sha256 over the request (files sorted by path; a workspace by its archive's
sha256, dependencies and commands) and the sandbox's fingerprint (the Docker image's
content id, or bubblewrap's version, python and wheel cache content). Reports of runs that
timed out or were SIGKILLed are not kept: a wall-time kill can depend on the machine's load,
and a SIGKILL on the machine too (a container killed from outside, the host's OOM killer),
not the code; kept, a retry of the same files would get the outage's failure again.
In memory, per worker process, least recently used out first.
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections import OrderedDict

from naestro.contracts import VerificationReport, VerifyRequest

DEFAULT_ENTRIES = 1024
_SIGKILLED = {128 + signal.SIGKILL, -signal.SIGKILL}  # as a shell reports it, as Python does


def cache_key(request: VerifyRequest, backend: str, fingerprint: str) -> str:
    material: dict[str, object] = {
        "files": sorted((f.path, f.content) for f in request.files),
        "framework": request.framework,
        "command": request.command,
        "limits": request.limits.model_dump(mode="json"),
        "lint": request.lint,
        "backend": backend,
        "sandbox": fingerprint,
    }
    if request.workspace is not None:  # the archive by its sha256, and what runs over it
        material["workspace"] = request.workspace.model_dump(mode="json")
        material["user_command"] = request.user_command
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


class ReportCache:
    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries = entries
        self._reports: OrderedDict[str, VerificationReport] = OrderedDict()
        self.hits = 0

    def get(self, key: str) -> VerificationReport | None:
        report = self._reports.get(key)
        if report is None:
            return None
        self._reports.move_to_end(key)
        self.hits += 1
        return report.model_copy(update={"cached": True})

    def put(self, key: str, report: VerificationReport) -> None:
        if report.timed_out or report.exit_code in _SIGKILLED or self._entries <= 0:
            return
        self._reports[key] = report
        self._reports.move_to_end(key)
        while len(self._reports) > self._entries:
            self._reports.popitem(last=False)
