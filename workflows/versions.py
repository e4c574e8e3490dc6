"""Which recorded workflows today's code must still replay: the workflow code's generation.

A change to workflow code either keeps every recorded history replaying (guarded by
``workflow.patched``: the default, cheap, works for every workflow type) or is declared
incompatible by raising ``GENERATION`` and shipping as a new Worker Deployment Version
through a rollout (docs/operations.md). The generation is part of every worker's build id
(workers/versioning.py), so a new generation is always a new version.

Pinned workflow types (``VersioningBehavior.PINNED``: a task never changes code mid-run)
started before ``REPLAYS_SINCE`` finish on the workers of their own version, so the replay
gate holds those histories to the code of their generation only; auto-upgrading types
move to the newest version at their next workflow task, so every history of theirs must
replay on today's code whatever its generation (tests/test_replay.py).
"""

from __future__ import annotations

# Recorded histories carry it as their file prefix: v2_*.json (none: generation 1).
GENERATION = 2
# The oldest generation whose pinned histories today's code must still replay. Generation 2
# (the one model-call path) was patched in, so generation 1 still replays; an incompatible
# change raises GENERATION and REPLAYS_SINCE together.
REPLAYS_SINCE = 1
