"""A research job's pure logic (ResearchWorkflow holds the state, these compute it):
``state`` (questions, findings' heads, spend, the stop decision, when to continue as new),
``steering`` (the update's validator, accepting and applying commands) and ``prompts``.

No Temporal imports and no I/O: unit-tested directly, imported by workflow code.
"""
