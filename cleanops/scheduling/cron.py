"""Cron expressions as Dagster's scheduler reads them, computed with `croniter`.

Dagster's scheduler ticks in the schedule's time zone. Across a change of clocks it
skips nothing and runs nothing twice: a wall time that does not exist (spring forward)
runs right after the gap, and a wall time that happens twice (fall back) runs once, at its
second occurrence, unless the expression fires every hour. These helpers reproduce that
(checked against Dagster 1.13 for hourly, daily, weekly and monthly expressions in
Europe/Berlin, America/New_York, Asia/Kolkata and UTC), so `cleanops schedules next` and
the overdue windows agree with the ticks the daemon will create.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from croniter import croniter


def is_valid(expression: str) -> bool:
    """Five fields (minute resolution, as Dagster requires) that can all match some day."""
    if not croniter.is_valid(expression):
        return False
    fields, *_ = croniter.expand(expression)
    if len(fields) != 5:
        return False
    day, month = fields[2], fields[3]
    return not (month == [2] and len(day) == 1 and day[0] in (30, 31))


def ticks(start: float, expression: str, timezone: str) -> Iterator[dt.datetime]:
    """Tick times at or after the POSIX timestamp `start`, aware in `timezone`."""
    zone = ZoneInfo(timezone)
    every_hour = expression.split()[1] == "*"
    times = croniter(expression, dt.datetime.fromtimestamp(start - 1, zone))
    last = float("-inf")
    while True:
        tick = times.get_next(dt.datetime)
        if not every_hour:
            tick = _second_occurrence(tick, zone)
        if tick.timestamp() >= max(start, last + 1):
            last = tick.timestamp()
            yield tick


def _second_occurrence(tick: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A wall time that happens twice (clocks going back) at its later instant."""
    later = tick.replace(fold=1)
    if later.utcoffset() == tick.replace(fold=0).utcoffset():
        return tick
    return dt.datetime.fromtimestamp(later.timestamp(), zone)
