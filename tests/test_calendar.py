from datetime import date

from pipeline.calendar import day_type, day_types


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
