"""`--since` durations: `90s`, `30m`, `24h`, `7d`, `2w`, or a sum such as `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PART = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)([smhdw])")
MAX = timedelta(days=3660)


class DurationError(ValueError):
    """Text that is not a duration of one second to ten years."""


def parse_duration(text: str) -> timedelta:
    """A duration of one second to ten years, or DurationError saying what is expected."""
    compact = str(text).strip().lower().replace(" ", "")
    if not compact or PART.sub("", compact):
        raise DurationError(f"{text!r} is not a duration: use a number and a unit s, m, h, d or w "
                            "(e.g. 30m, 24h, 7d, 1h30m)")
    seconds = sum(float(number) * UNITS[unit] for number, unit in PART.findall(compact))
    if seconds < 1:
        raise DurationError(f"{text!r} is shorter than one second")
    if seconds > MAX.total_seconds():
        raise DurationError(f"{text!r} is longer than ten years")
    return timedelta(seconds=seconds)
