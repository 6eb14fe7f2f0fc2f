"""Grafana's interpolation of a PostgreSQL panel query, reproduced for tests and benchmarks.

Order, as in Grafana: template variables first (``$name``, ``${name}``, ``${name:format}``, ``[[name]]``), then
the datasource macros (grafana/pkg/tsdb/grafana-postgresql-datasource/macros.go). Variable formatting follows
Grafana's SQL datasources (``SqlDatasource.interpolateVariable``): a multi-value or include-All variable becomes
a comma list of single-quoted values; a single-value variable is inserted raw (the SQL quotes it). "All"
without a custom ``allValue`` means every option. Any reference this module cannot expand raises, so a panel
using something the tests do not understand fails loudly instead of being skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

ALL = "$__all"


@dataclass(frozen=True)
class Variable:
    """A template variable's selection: ``values`` (the selected ones, or every option when All)."""

    name: str
    values: tuple[str, ...]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    is_all: bool = False


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def format_variable(var: Variable, fmt: str | None = None) -> str:
    if var.is_all and var.all_value is not None:
        return var.all_value
    values = list(var.values)
    if fmt in ("csv", "raw"):
        return ",".join(values)
    if fmt in ("sqlstring", "singlequote"):
        return ",".join(_quote(v) for v in values)
    if fmt is not None:
        raise ValueError(f"variable format {fmt!r} is not supported here")
    if var.multi or var.include_all:
        return ",".join(_quote(v) for v in values) if values else "NULL"
    if len(values) != 1:
        raise ValueError(f"single-value variable ${var.name} has {len(values)} values")
    return values[0]


VAR_REF = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(?!__)(\w+)")


def expand_variables(sql: str, variables: dict[str, Variable]) -> str:
    def sub(match: re.Match) -> str:
        name = match[1] or match[3] or match[5]
        fmt = match[2] or match[4]
        if name.startswith("__"):
            return match[0]  # a global variable or macro: left for expand_macros
        if name not in variables:
            raise ValueError(f"panel SQL uses ${name}, which the dashboard does not define")
        return format_variable(variables[name], fmt)

    return VAR_REF.sub(sub, sql)


def _ts(value: datetime) -> str:
    return value.strftime("'%Y-%m-%dT%H:%M:%SZ'")


def _interval_seconds(text: str) -> int:
    match = re.fullmatch(r"'?(\d+)([smhdw])'?", text.strip())
    if not match:
        raise ValueError(f"unsupported interval {text!r}")
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match[2]]


def expand_macros(sql: str, start: datetime, end: datetime) -> str:
    """Expand Grafana's PostgreSQL macros for the range [start, end]; raise on anything else left over."""

    def macro(match: re.Match) -> str:
        name, args = match[1], [a.strip() for a in match[2].split(",")] if match[2].strip() else []
        if name == "timeFilter":
            return f"{args[0]} BETWEEN {_ts(start)} AND {_ts(end)}"
        if name == "timeFrom":
            return _ts(start)
        if name == "timeTo":
            return _ts(end)
        if name == "time":
            return f'{args[0]} AS "time"'
        if name in ("timeGroup", "timeGroupAlias"):
            seconds = _interval_seconds(args[1])
            expr = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
            return expr + (' AS "time"' if name == "timeGroupAlias" else "")
        raise ValueError(f"macro $__{name} is not supported by this test: add it to expand_macros")

    expanded = re.sub(r"\$__(\w+)\(([^()]*)\)", macro, sql)
    expanded = expanded.replace("$__from", str(int(start.timestamp() * 1000)))
    expanded = expanded.replace("$__to", str(int(end.timestamp() * 1000)))
    leftover = re.search(r"\$\w+|\$\{|\[\[", expanded)
    if leftover:
        raise ValueError(f"unexpanded reference {leftover[0]!r} in panel SQL")
    return expanded


def interpolate(sql: str, start: datetime, end: datetime, variables: dict[str, Variable] | None = None) -> str:
    """The SQL Grafana sends: variables, then macros."""
    return expand_macros(expand_variables(sql, variables or {}), start, end)
