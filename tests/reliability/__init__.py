"""The reliability suite (issue 12): faults end to end, fuzzing, bad settings, secrets.

Run by ``make test-reliability`` (not by ``make test``), which renders docs/RELIABILITY.md from the figures the
tests record with the ``record_figure`` fixture (tests/reliability/conftest.py).
"""
