"""The check activity: an answer against an expected maths answer or a JSON schema
(naestro/checkers/), each check in a child process with a deadline and a memory cap."""

from __future__ import annotations

from activities.checks.activity import CheckActivities

__all__ = ["CheckActivities"]
