"""Deterministic checkers of a task's answer: maths against an expected answer (SymPy),
structured output against a JSON schema (jsonschema).

Importing this package imports nothing: ``select`` and ``report`` are pure and light
(workflows use them); ``maths`` (SymPy) and ``schema`` (jsonschema) are heavy and run in
the ``naestro.check.answer`` activity (activities/checks/), never in workflow code.
"""
