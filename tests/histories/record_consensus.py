"""Record consensus tasks' histories (each TaskWorkflow and its ConsensusWorkflow child) for
the replay gate (`make histories`): the default panel, whose verdict the task reuses;
adaptive selection by tests whose first proposal holds no test (no more are drawn); and a
deliberation the budget stops mid-way, which reports what it spent.

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro.config.settings import Settings  # noqa: E402
from naestro.contracts import Budget, TaskRequest, TaskStatusName  # noqa: E402
from tests.consensus.scripts import (  # noqa: E402
    TASK,
    consensus_settings,
    panel,
    panel_roles,
    text,
    verdict,
)
from tests.histories.recording import (  # noqa: E402
    PREFIX,
    Case,
    recorder_main,
    recording_env,
    run_case,
    save,
)
from tests.selection.test_selection import BUGGY, BY_TESTS, FIXED, LEAN, ROLES  # noqa: E402
from tests.support import running_workers  # noqa: E402


@dataclass(frozen=True)
class Deliberation:
    """A task whose implement phase deliberates, on workers of its own: its file is
    ``PREFIX + name + "_task"`` (also its workflow id, from which the child's derives), its
    child's ``PREFIX + name + "_child"``."""

    name: str
    request: TaskRequest
    expect: TaskStatusName
    scripts: dict[str, list[dict[str, Any]]]
    roles: dict[str, list[str]]
    consensus: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def case(self) -> Case:
        return Case(f"{self.name}_task", self.request, self.expect)

    @property
    def child_stem(self) -> str:
        return f"{PREFIX}{self.name}_child"

    def settings(self, tmp: Path) -> Settings:
        return consensus_settings(tmp, self.scripts, self.roles, self.consensus, **self.policy)


# p1's code holds no test and the task shows no examples: nothing failed, so p2 and p3 are
# not drawn; the child's judge decides and the task reuses that verdict.
NO_TESTS = {
    "planner": text(FIXED),
    "p1": text(FIXED),
    "p2": text(BUGGY),
    "p3": text(BUGGY),
    "c1": text("{}"),
    "synth": text("unused"),
    "judge": text(verdict(0.9)),
}
DELIBERATIONS = [
    Deliberation("consensus", TaskRequest(prompt=TASK), "succeeded", panel(), panel_roles()),
    Deliberation(
        "consensus_adaptive",
        TaskRequest(prompt="Write add(a, b).", kind="code"),
        "succeeded",
        NO_TESTS,
        ROLES,
        {**BY_TESTS, "adaptive": True},
        LEAN,
    ),
    # The plan fits the budget, the panel's parallel reservations do not all fit.
    Deliberation(
        "consensus_budget",
        TaskRequest(prompt=TASK, budget=Budget(max_tokens=1500)),
        "budget_exhausted",
        panel(),
        panel_roles(),
    ),
]


async def main(force: bool) -> None:
    async with recording_env() as env:
        for item in DELIBERATIONS:
            with tempfile.TemporaryDirectory() as tmp:
                settings = item.settings(Path(tmp))
                async with running_workers(env.client, settings):
                    handle = await run_case(env.client, settings, item.case)
                    child = env.client.get_workflow_handle(f"{handle.id}-consensus-implement-0")
                    save(item.case.stem, await handle.fetch_history(), force=force)
                    save(item.child_stem, await child.fetch_history(), force=force)


if __name__ == "__main__":
    stems = [s for item in DELIBERATIONS for s in (item.case.stem, item.child_stem)]
    recorder_main(__doc__ or "", stems, main)
