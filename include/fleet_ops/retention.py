"""Which backups to keep: the newest ``daily`` backups plus the newest backup of each of the ``weekly`` newest
older ISO weeks (grandfather-father-son, counted in backups, not calendar days — so a week of failed backups never
makes the retention delete the last good ones). :func:`plan` is pure; :func:`apply` lists and deletes."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

log = logging.getLogger(__name__)

#: backups/{db}/{YYYY-MM-DD}.dump (+ its manifest .json); any other key under the prefix is left alone.
BACKUP_KEY = re.compile(r"^backups/(?P<db>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.(?P<ext>dump|json)$")


@dataclass(frozen=True)
class RetentionPlan:
    keep: list[date]
    delete: list[date]


def plan(days: list[date], daily: int = 14, weekly: int = 8) -> RetentionPlan:
    """Split backup dates into keep / delete: the ``daily`` newest dates, plus the newest date of each of the
    ``weekly`` newest ISO weeks that hold no daily-kept backup (so "14 daily + 8 weekly" keeps up to 22)."""
    if daily < 1 or weekly < 0:
        raise ValueError(f"retention needs daily >= 1 and weekly >= 0 (got {daily}, {weekly})")
    ordered = sorted(set(days), reverse=True)
    keep = set(ordered[:daily])
    covered = {_week(d) for d in keep}
    weeks: list[tuple[int, int]] = []
    for day in ordered[daily:]:  # newest first: the first date met in a week is that week's newest
        week = _week(day)
        if week in covered or week in weeks:
            continue
        weeks.append(week)
        if len(weeks) > weekly:
            break
        keep.add(day)
    return RetentionPlan(sorted(keep), sorted(set(ordered) - keep))


def _week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def apply(store, database: str, daily: int = 14, weekly: int = 8, dry_run: bool = False) -> dict:
    """Delete the dumps (and their manifests) of ``database`` that :func:`plan` does not keep."""
    keys: dict[date, list[str]] = {}
    for key in store.list(f"backups/{database}/"):
        m = BACKUP_KEY.match(key)
        if m and m["db"] == database:
            keys.setdefault(date.fromisoformat(m["day"]), []).append(key)
    decision = plan(list(keys), daily, weekly)
    doomed = sorted(k for day in decision.delete for k in keys[day])
    if doomed and not dry_run:
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes at most 1,000 keys
            store.hook.delete_objects(bucket=store.bucket, keys=doomed[start:start + 1000])
    log.info("%s retention (daily %s, weekly %s%s): keep %s, delete %s", database, daily, weekly,
             ", dry run" if dry_run else "", [d.isoformat() for d in decision.keep], doomed)
    return {"database": database, "kept": [d.isoformat() for d in decision.keep], "deleted": doomed,
            "dry_run": dry_run}
