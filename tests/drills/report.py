"""The drill table: each drill appends one JSON line (its ``Row``) to the report file, and
this module prints the file as a markdown table (``python -m tests.drills.report [FILE]``;
the drills' conftest prints it at the end of a run too).

The file is ``$NAESTRO_DRILL_REPORT`` when set, else ``drills.jsonl`` in pytest's basetemp."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPORT_ENV = "NAESTRO_DRILL_REPORT"
COLUMNS = (
    ("drill", "drill"),
    ("tasks", "tasks"),
    ("outcomes", "outcomes"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("reran_in_flight", "re-run in flight"),
    ("first_progress_s", "first progress (s)"),
    ("all_done_s", "all done (s)"),
    ("notes", "notes"),
)


@dataclass(frozen=True)
class Row:
    """One drill's measurements. ``lost``: accepted tasks not accounted for as terminal;
    ``duplicated``: side effects that happened more often than the task's history allows;
    ``reran_in_flight``: provider calls beyond the calls that completed, each within an
    attempt the history records (an attempt the fault cut, made again: at-least-once, as
    Temporal promises); times count from the moment the fault cleared."""

    drill: str
    tasks: int
    outcomes: str
    lost: int
    duplicated: int
    reran_in_flight: int
    first_progress_s: float
    all_done_s: float
    notes: str = ""


def report_path(default_dir: Path) -> Path:
    given = os.environ.get(REPORT_ENV)
    return Path(given) if given else default_dir / "drills.jsonl"


def append(path: Path, row: Row) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(row)) + "\n")


def table(path: Path) -> str:
    """The rows in ``path`` as a markdown table by drill (the last row of each wins)."""
    rows: dict[str, dict[str, object]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[str(row["drill"])] = row
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = [
        "| " + " | ".join(str(rows[d].get(k, "")) for k, _ in COLUMNS) + " |" for d in sorted(rows)
    ]
    return "\n".join([head, rule, *body])


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else report_path(Path("/tmp/pt-drills"))
    if not path.exists():
        print(f"no drill report at {path}", file=sys.stderr)
        return 1
    print(table(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
