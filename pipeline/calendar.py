"""CTA service day types for any date: W weekday, A Saturday, U Sunday or holiday.

The holiday rules were read off the history (2001-2021): New Year's Day, Memorial Day,
Independence Day, Labor Day, Thanksgiving and Christmas run a Sunday service. A fixed-date
holiday on a Sunday moves to the Monday; Independence Day on a Saturday moves to the Friday,
while New Year's Day and Christmas on a Saturday stay on the Saturday.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Iterable

MONDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = 0, 3, 4, 5, 6


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date, saturday_to_friday: bool) -> date:
    if day.weekday() == SUNDAY:
        return day + timedelta(days=1)
    if day.weekday() == SATURDAY and saturday_to_friday:
        return day - timedelta(days=1)
    return day


@lru_cache(maxsize=None)
def holidays(year: int) -> frozenset[date]:
    return frozenset({
        _observed(date(year, 1, 1), saturday_to_friday=False),
        _last_weekday(year, 5, MONDAY),
        _observed(date(year, 7, 4), saturday_to_friday=True),
        _nth_weekday(year, 9, MONDAY, 1),
        _nth_weekday(year, 11, THURSDAY, 4),
        _observed(date(year, 12, 25), saturday_to_friday=False),
    })


def day_type(day: date) -> str:
    if day in holidays(day.year) or day.weekday() == SUNDAY:
        return "U"
    return "A" if day.weekday() == SATURDAY else "W"


def day_types(days: Iterable[date]) -> list[str]:
    return [day_type(d) for d in days]
