"""Entry points: the naestro CLI, the demo, the embedded dev stack and terminal rendering.

The top layer (beside api/): it may import every package of ours; nothing imports it.
"""
