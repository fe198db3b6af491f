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


# Distances to a holiday are clipped here: beyond two weeks a holiday no longer moves ridership.
HOLIDAY_REACH_DAYS = 14
COVARIATES = ("day_type", "weekday", "holiday", "days_to_holiday", "holiday_month", "other_federal_holiday",
              "day_of_year", "month", "christmas_week")
DAY_TYPE_CODES = {"W": 0, "A": 1, "U": 2}


def nearest_holidays(days: list[date]) -> list[date]:
    """The CTA holiday nearest to each day (the earlier one on a tie)."""
    import bisect

    if not days:
        return []
    listed = sorted(d for year in range(min(days).year - 1, max(days).year + 2) for d in holidays(year))
    out = []
    for day in days:
        i = bisect.bisect_left(listed, day)
        before, after = listed[i - 1], listed[i]  # before < day <= after
        out.append(before if (day - before) < (after - day) else after)
    return out


@lru_cache(maxsize=None)
def _other_federal_holidays(year: int) -> frozenset[date]:
    # Federal holidays on which CTA runs a weekday service (Martin Luther King Jr. Day, Columbus
    # Day, Veterans Day, ...): schools and offices close, so fewer riders.
    import holidays as federal

    return frozenset(federal.US(years=year)) - holidays(year)


def covariates(days: Iterable[date]) -> dict[str, list[int]]:
    """Known-future calendar covariates of each day, integer columns named by COVARIATES:

    day_type (0 weekday, 1 Saturday, 2 Sunday or holiday), weekday (0 Monday), holiday (a CTA
    holiday), days_to_holiday (signed days from the nearest CTA holiday, negative before it,
    clipped to ±HOLIDAY_REACH_DAYS), holiday_month (the month of that holiday: which one it is),
    other_federal_holiday (a US federal holiday with weekday service, from the `holidays`
    package), day_of_year (1..366), month, and christmas_week (1 on Dec 24 .. 9 on Jan 1, else 0).
    """
    days = list(days)
    nearest = nearest_holidays(days)
    return {
        "day_type": [DAY_TYPE_CODES[t] for t in day_types(days)],
        "weekday": [d.weekday() for d in days],
        "holiday": [int(d == n) for d, n in zip(days, nearest)],
        "days_to_holiday": [max(-HOLIDAY_REACH_DAYS, min(HOLIDAY_REACH_DAYS, (d - n).days))
                            for d, n in zip(days, nearest)],
        "holiday_month": [n.month for n in nearest],
        "other_federal_holiday": [int(d in _other_federal_holidays(d.year)) for d in days],
        "day_of_year": [d.timetuple().tm_yday for d in days],
        "month": [d.month for d in days],
        "christmas_week": [d.day - 23 if (d.month, d.day) >= (12, 24) else 9 if (d.month, d.day) == (1, 1)
                           else 0 for d in days],
    }


def holiday_adjacent(day: date) -> bool:
    """A holiday, the day before or after one, the day a week after one, or Dec 23-31: the days
    where ridership departs most from its weekly pattern (the replay reports them apart)."""
    near = {day - timedelta(days=k) for k in (-1, 0, 1, 7)}
    listed = holidays(day.year) | holidays(day.year - 1) | holidays(day.year + 1)
    return bool(near & listed) or (day.month == 12 and day.day >= 23)
