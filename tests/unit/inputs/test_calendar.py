from datetime import date

from pipeline.inputs.calendar import day_type, day_types


def test_calendar_agrees_with_every_day_of_history(frame):
    predicted = day_types(frame.index.date)
    disagreements = [(d.date(), t, p) for d, t, p in zip(frame.index, frame["day_type"], predicted) if t != p]
    assert disagreements == []  # 7,639 days 2001-2021, no exceptions to the rules


def test_holiday_rules_for_future_days():
    assert day_type(date(2022, 12, 26)) == "U"  # Christmas on a Sunday moves to Monday
    assert day_type(date(2026, 7, 3)) == "U"  # Independence Day on a Saturday moves to Friday
    assert day_type(date(2022, 1, 1)) == "U"  # New Year's Day on a Saturday stays
    assert day_type(date(2026, 11, 26)) == "U"  # Thanksgiving
    assert day_type(date(2026, 11, 27)) == "W"
    assert day_type(date(2026, 11, 28)) == "A"


def test_covariates_of_christmas_week_2018():
    from datetime import timedelta

    from pipeline.inputs.calendar import covariates, holiday_adjacent

    days = [date(2018, 12, 22) + timedelta(days=k) for k in range(12)]  # Sat Dec 22 .. Wed Jan 2
    got = covariates(days)
    assert got["day_type"] == [1, 2, 0, 2, 0, 0, 0, 1, 2, 0, 2, 0]
    assert got["weekday"] == [5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2]
    assert got["holiday"] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    assert got["days_to_holiday"] == [-3, -2, -1, 0, 1, 2, 3, -3, -2, -1, 0, 1]
    assert got["holiday_month"] == [12, 12, 12, 12, 12, 12, 12, 1, 1, 1, 1, 1]
    assert got["other_federal_holiday"] == [0] * 12
    assert got["day_of_year"] == [356, 357, 358, 359, 360, 361, 362, 363, 364, 365, 1, 2]
    assert got["month"] == [12] * 10 + [1, 1]
    assert got["christmas_week"] == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert [holiday_adjacent(d) for d in days] == [False] + [True] * 11


def test_other_federal_holidays_and_clipped_distances():
    from pipeline.inputs.calendar import HOLIDAY_REACH_DAYS, covariates, holiday_adjacent

    got = covariates([date(2018, 11, 12), date(2018, 10, 8), date(2018, 8, 15), date(2018, 5, 29)])
    assert got["other_federal_holiday"] == [1, 1, 0, 0]  # Veterans Day observed, Columbus Day
    assert got["days_to_holiday"] == [-10, HOLIDAY_REACH_DAYS, -HOLIDAY_REACH_DAYS, 1]  # 35 after, 19 before
    assert got["holiday_month"] == [11, 9, 9, 5]  # Thanksgiving, Labor Day, Labor Day, Memorial Day
    assert holiday_adjacent(date(2018, 6, 4))  # a week after Memorial Day
    assert not holiday_adjacent(date(2018, 6, 5))
