"""Canonical forms, and the A -> B -> A round trips of every field type the flows sync."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from talk_sync.diff import diff
from talk_sync.errors import NormalizeError
from talk_sync.normalize import (
    FieldType,
    canonical,
    date_of,
    same,
    to_jsonable,
)
from talk_sync.testing.strategies import respell, values
from talk_sync.timestamps import format_timestamp, parse_timestamp

# No deadline: the CPUs are shared with other suites, and speed is not what is tested.
PROPERTY = settings(max_examples=100, deadline=None)

T = FieldType


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        (None, "", T.OPTIONAL_TEXT),
        (None, "", T.TEXT),
        ("  two  spaces\n", "  two  spaces\n", T.TEXT),
        ("2026-01-02", date(2026, 1, 2), T.DATE),
        ("2026-01-02T23:30:00-05:00", date(2026, 1, 2), T.DATE),
        ("2026-01-02T10:00:00Z", "2026-01-02T11:00:00+01:00", T.DATETIME),
        ("2026-01-02T10:00:00.123Z", "2026-01-02T10:00:00.123456Z", T.DATETIME),
        ("2026-01-02T10:00:00", datetime(2026, 1, 2, 10, tzinfo=timezone.utc), T.DATETIME),
        ("Ann@Example.COM", "ann@example.com", T.EMAIL),
        ("", None, T.EMAIL),
        (["b.no", "A.com"], ["a.com", "B.NO"], T.DOMAIN_SET),
        (None, [], T.STRING_SET),
        (["x", "y"], ["y", "x"], T.STRING_SET),
        (42, "42", T.ID),
        ("planned", "active", T.PROJECT_STATUS),
        ("", None, T.ANY),
    ],
)
def test_same_values(a: Any, b: Any, kind: FieldType) -> None:
    assert same(a, b, kind)
    assert same(b, a, kind)


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        ("x", "x ", T.TEXT),
        ("x", "X", T.OPTIONAL_TEXT),
        ("2026-01-02", "2026-01-03", T.DATE),
        ("2026-01-02T10:00:00Z", "2026-01-02T10:00:00+01:00", T.DATETIME),
        ("2026-01-02T10:00:00.123Z", "2026-01-02T10:00:00.124Z", T.DATETIME),
        (["x", "y"], ["X", "y"], T.STRING_SET),
        ("active", "completed", T.PROJECT_STATUS),
        (False, None, T.BOOLEAN),
        ([1, 2], [2, 1], T.ANY),
    ],
)
def test_different_values(a: Any, b: Any, kind: FieldType) -> None:
    assert not same(a, b, kind)


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("tomorrow", T.DATE, "'tomorrow'"),
        ("2026-13-01", T.DATE, "'2026-13-01'"),
        ("yesterday noon", T.DATETIME, "'yesterday noon'"),
        (12, T.DATETIME, "12"),
        ("a.com", T.DOMAIN_SET, "'a.com'"),
    ],
)
def test_unreadable_values_are_named(value: Any, kind: FieldType, message: str) -> None:
    with pytest.raises(NormalizeError, match=message):
        canonical(value, kind)


def test_timestamps_and_dates() -> None:
    assert parse_timestamp("2026-11-25T23:10:00.123456Z") == datetime(
        2026, 11, 25, 23, 10, 0, 123456, tzinfo=timezone.utc
    )
    assert parse_timestamp("2026-11-25T23:10:00.1+02:00") == datetime(
        2026, 11, 25, 21, 10, 0, 100000, tzinfo=timezone.utc
    )
    assert format_timestamp("2026-01-02T10:00:00+01:00") == "2026-01-02T09:00:00.000000Z"
    assert date_of(datetime(2026, 1, 2, 23, 59)) == date(2026, 1, 2)
    assert date_of("") is None
    assert date_of("2026-03-04T05:06:07.000Z") == date(2026, 3, 4)
    assert date_of("2026-03-05") == date(2026, 3, 5)
    assert date_of(None) is None


def test_to_jsonable() -> None:
    value = {"d": date(2026, 1, 2), "s": {"b", "a"}, "t": (1, 2), "k": T.DATE}
    assert to_jsonable(value) == {"d": "2026-01-02", "s": ["a", "b"], "t": [1, 2], "k": "date"}


def test_to_jsonable_reads_enums_and_other_mappings_inside_plain_values() -> None:
    """Plain str/int/dict/list values are passed through by exact type: an enum that is a
    str or an int, a mapping that is no dict, still become JSON values."""

    class Level(IntEnum):
        HIGH = 2

    value = {1: [T.DATE, Level.HIGH, MappingProxyType({"n": Decimal("1.0")})], "f": 0.5}
    assert to_jsonable(value) == {"1": ["date", 2, {"n": 1}], "f": 0.5}
    assert type(to_jsonable([True])[0]) is bool


@PROPERTY
@given(st.sampled_from(list(FieldType)).flatmap(lambda k: st.tuples(st.just(k), values(k))))
def test_respellings_are_the_same_value(kind_value: tuple[FieldType, Any]) -> None:
    kind, value = kind_value
    # Canonical forms are idempotent: the canonical form of a value reads as that value.
    assert same(value, value, kind)
    assert canonical(canonical(value, kind), kind) == canonical(value, kind)


@PROPERTY
@given(st.data())
def test_respell_is_same(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(list(FieldType)))
    value = data.draw(values(kind))
    other = data.draw(respell(value, kind))
    assert same(value, other, kind)


# --- A -> B -> A round trips ---------------------------------------------------------------
#
# Each case: how Asana spells a stored value, the conversion the stream maps apply towards
# Custompms, how Custompms spells it back, and the conversion back towards Asana. After the
# round trip the value must be the same as Asana's (so the diff is empty and nothing is
# written back), exactly for text, whitespace included.


# The stream maps' conversions (meltano.yml), written in Python.


def _format_date(value: object) -> str | None:
    """``YYYY-MM-DD``, or ``None`` when empty."""
    day = date_of(value)
    return day.isoformat() if day else None


def _due_date(due_on: object, due_at: object = None) -> date | None:
    """An Asana task's or project's effective due date: ``due_on``, else ``due_at``'s date."""
    return date_of(due_on) or date_of(due_at)


def _status_from_completed(completed: object) -> str:
    return "done" if completed else "open"


def _completed_from_status(status: object) -> bool:
    return status == "done"


def _project_status(*, completed: object = False, archived: object = False) -> str:
    if archived:
        return "archived"
    return "completed" if completed else "active"


def _asana_timestamp(value: Any) -> str | None:
    instant = parse_timestamp(value)
    if instant is None:
        return None
    utc = instant.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _identity(value: Any) -> Any:
    return value


def _notes(value: Any) -> Any:
    # Asana answers "" for empty notes; Custompms keeps null.
    return value or ""


def _description(value: Any) -> Any:
    return value or None


RoundTrip = tuple[FieldType, st.SearchStrategy[Any], Callable[..., Any], Callable[..., Any]]

ROUND_TRIPS: dict[str, RoundTrip] = {
    "text (name)": (T.TEXT, st.text(min_size=1), _identity, _identity),
    "optional text (notes/description)": (T.OPTIONAL_TEXT, st.text(), _description, _notes),
    "date (start_on/start_date)": (
        T.DATE,
        values(T.DATE).map(_format_date),
        _format_date,
        _format_date,
    ),
    "datetime (completed_at)": (
        T.DATETIME,
        values(T.DATETIME).map(_asana_timestamp),
        format_timestamp,
        _asana_timestamp,
    ),
    "completed <-> status": (
        T.BOOLEAN,
        st.booleans(),
        _status_from_completed,
        _completed_from_status,
    ),
    "email (assignee)": (
        T.EMAIL,
        values(T.EMAIL),
        _identity,
        lambda value: value and value.lower(),
    ),
    "email domains": (T.DOMAIN_SET, values(T.DOMAIN_SET), sorted, lambda value: value),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIPS))
@PROPERTY
@given(data=st.data())
def test_round_trip_asana_custompms_asana(case: str, data: st.DataObject) -> None:
    kind, asana_values, to_custompms, to_asana = ROUND_TRIPS[case]
    original = data.draw(asana_values)
    back = to_asana(to_custompms(original))
    assert same(back, original, kind)
    assert diff({"field": back}, {"field": original}, {"field": kind}) == {}
    if kind is T.TEXT or (kind is T.OPTIONAL_TEXT and original):
        assert back == original  # text survives exactly, whitespace included


@PROPERTY
@given(
    due_on=values(T.DATE).map(_format_date),
    due_at=values(T.DATETIME).map(_asana_timestamp),
)
def test_round_trip_due_on_due_at(due_on: str | None, due_at: str | None) -> None:
    # Asana sets one of due_on/due_at; Custompms has one due_date. A due_at comes back as the
    # same day, which the target compares with the Asana task's effective due date: no write.
    if due_on and due_at:
        due_at = None
    due_date = _format_date(_due_date(due_on, due_at))
    back_due_on = _format_date(due_date)
    assert _due_date(back_due_on) == _due_date(due_on, due_at)


@PROPERTY
@given(
    completed=st.booleans(),
    archived=st.booleans(),
    custompms_status=st.sampled_from(["planned", "active", "completed", "archived"]),
)
def test_project_status_round_trip(completed: bool, archived: bool, custompms_status: str) -> None:
    status = _project_status(completed=completed, archived=archived)
    assert (status == "archived") == archived
    back_completed, back_archived = status == "completed", status == "archived"
    assert _project_status(completed=back_completed, archived=back_archived) == status
    # A planned Custompms project is "not completed, not archived" in Asana: reading it back
    # must not look like a change, or Asana would reset it to active.
    if custompms_status in ("planned", "active"):
        echoed = _project_status(completed=False, archived=False)
        assert same(echoed, custompms_status, T.PROJECT_STATUS)


def test_whitespace_is_an_edit() -> None:
    assert diff({"name": "Plan "}, {"name": "Plan"}, {"name": T.TEXT}) == {"name": "Plan "}
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    later = start + timedelta(milliseconds=1)
    assert not same(start, later, T.DATETIME)
