"""Reading the results of a mapped task in a downstream task."""

from __future__ import annotations

from collections.abc import Sequence


def all_results(mapped: Sequence | None) -> list:
    """Every result of a mapped task, fetched in one request.

    Airflow hands a downstream task a lazy sequence; iterating it fetches item after item until one past the
    end, and the task SDK logs that last miss as an error ("XCom not found") although nothing is wrong. A slice
    asks for all items at once. Plain lists (``dag.test`` of a single task, unit tests) slice the same way.
    """
    return [] if mapped is None else list(mapped[:])
