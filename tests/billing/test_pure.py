"""Billing's pure pieces, property-tested: month names, the UTC window bounding a report's local days,
ISO week names, and CSV cells that no spreadsheet evaluates."""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.billing.csvfile import FORMULA_STARTS, cell, guard, record
from api.billing.types import iso_week
from domain.billing.periods import month_label, parse_month
from domain.billing.report import utc_window
from domain.errors import Refused
from domain.timezones import is_iana_timezone

ZONES = sorted(z for z in zoneinfo.available_timezones() if is_iana_timezone(z))
EXAMPLES = settings(max_examples=200)


@EXAMPLES
@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_a_month_reads_back_from_its_name(day: date) -> None:
    month = day.replace(day=1)
    assert parse_month(month_label(month)) == month
    assert parse_month(f" {month_label(day)} ") == month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-3", "26-03", "2026/03", "March", "", "0000-01"])
def test_anything_else_is_not_a_month(text: str) -> None:
    with pytest.raises(Refused):
        parse_month(text)


@EXAMPLES
@given(
    instant=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    before=st.integers(0, 40),
    after=st.integers(0, 40),
)
def test_the_utc_window_holds_every_instant_of_the_local_days(
    instant: datetime, zone: str, before: int, after: int
) -> None:
    day = instant.astimezone(zoneinfo.ZoneInfo(zone)).date()
    low, high = utc_window(day - timedelta(days=before), day + timedelta(days=after))
    assert low <= instant < high


@EXAMPLES
@given(st.dates(min_value=date(1900, 1, 8), max_value=date(9998, 12, 20)))
def test_an_iso_week_is_named_by_its_year_and_number(day: date) -> None:
    monday = day - timedelta(days=day.weekday())
    name = iso_week(monday)
    year, week = int(name[:4]), int(name[6:])
    assert name[4:6] == "-W" and date.fromisocalendar(year, week, 1) == monday


@EXAMPLES
@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
def test_a_record_reads_back_and_never_starts_a_formula(cells: list[str]) -> None:
    line = record(cells)
    assert line.endswith("\r\n")
    (parsed,) = list(csv.reader(io.StringIO(line, newline="")))
    assert parsed == [guard(c) for c in cells]
    for original, read in zip(cells, parsed, strict=True):
        assert not read.startswith(FORMULA_STARTS)
        assert read == original or read == "'" + original


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("plain", "plain"),
        (-5, "-5"),  # numbers are numbers, never escaped
        (66.66666666666667, "66.66666666666667"),
        (True, "true"),
        (None, ""),
        (date(2026, 3, 1), "2026-03-01"),
        (datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "2026-03-01T09:30:00Z"),
    ],
)
def test_cells(value: object, written: str) -> None:
    assert cell(value) == written
