"""Canonical forms of synced values, so equal data never looks changed.

Diff and merge compare ``canonical(value, type)``, never raw values: the two systems spell
the same value differently (``"2026-01-02"`` vs a ``date``; ``...00.000Z`` vs
``...00.000000+00:00``; ``None`` vs ``""``), and a spurious difference is a spurious write,
which the other pipeline then echoes back.

Policies (also in the README):

- Text: ``None`` and ``""`` are equal (the empty value); everything else is compared
  exactly, whitespace included, so a round trip gives back exactly what was synced.
- Dates: compared as calendar dates. A timestamp compares by its own calendar date (as
  written, in its own offset), which is how an Asana ``due_at`` matches a Custompms
  ``due_date``.
- Timestamps: compared as instants at millisecond precision (Asana keeps milliseconds,
  Custompms microseconds). A naive timestamp is read as UTC.
- Emails: compared case-insensitively, surrounding whitespace ignored.
- Sets (e.g. ``email_domains``): order-insensitive; domains also case-insensitive.
- Project status: ``planned`` equals ``active``, because Asana cannot express the
  difference; comparing them as equal stops Asana from resetting a planned project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from talk_sync.errors import NormalizeError
from talk_sync.timestamps import format_timestamp, parse_timestamp


class FieldType(str, Enum):
    """How a synced field's values are compared and written."""

    TEXT = "text"  #: required text (name)
    OPTIONAL_TEXT = "optional_text"  #: text where empty and null mean the same
    DATE = "date"  #: calendar date, ``YYYY-MM-DD``
    DATETIME = "datetime"  #: an instant, RFC 3339
    EMAIL = "email"
    BOOLEAN = "boolean"
    ENUM = "enum"  #: one of a fixed set of strings
    PROJECT_STATUS = "project_status"  #: Custompms project status (planned == active)
    STRING_SET = "string_set"  #: list compared as a set
    DOMAIN_SET = "domain_set"  #: list of domain names, compared as a case-insensitive set
    ID = "id"  #: a record key (int or str), compared as text
    ANY = "any"  #: compared as is, except that "" equals None


def is_empty(value: object) -> bool:
    """True for ``None`` and ``""``: the one empty value of optional fields."""
    return value is None or value == ""


# --- dates and timestamps ------------------------------------------------------------------


def date_of(value: object) -> date | None:
    """The calendar date of a date, a ``YYYY-MM-DD`` string or a timestamp (its own date)."""
    if is_empty(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise NormalizeError(f"not a date: {value!r}") from None
        timestamp = parse_timestamp(text)
        return timestamp.date() if timestamp else None
    raise NormalizeError(f"not a date: {value!r}")


def _instant(value: object) -> datetime | None:
    instant = parse_timestamp(value)
    if instant is None:
        return None
    # Millisecond precision: Asana stores milliseconds, so a microsecond difference from
    # Custompms is not an edit.
    instant = instant.astimezone(timezone.utc)
    return instant - timedelta(microseconds=instant.microsecond % 1000)


# --- small domain conversions ----------------------------------------------------------------


def normalize_email(value: object) -> str | None:
    """An email address in its comparison form (case-folded, trimmed); ``None`` when empty."""
    if is_empty(value):
        return None
    return str(value).strip().casefold() or None


_PROJECT_STATUS_CANON = {"planned": "active"}


# --- canonical forms -------------------------------------------------------------------------


def _text(value: object) -> object:
    return None if is_empty(value) else value


def _string_set(value: object, fold: bool) -> frozenset[str] | None:
    if is_empty(value):
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise NormalizeError(f"not a list of strings: {value!r}")
    return frozenset(str(item).strip().casefold() if fold else str(item) for item in value)


def canonical(value: Any, field_type: FieldType | str = FieldType.ANY) -> Any:
    """The comparison form of ``value``: two values are the same iff their canonical forms are.

    Raises :class:`NormalizeError` naming the value when it cannot be read as ``field_type``.
    """
    kind = FieldType(field_type)
    if kind in (FieldType.TEXT, FieldType.OPTIONAL_TEXT, FieldType.ENUM):
        return _text(value)
    if kind is FieldType.DATE:
        return date_of(value)
    if kind is FieldType.DATETIME:
        return _instant(value)
    if kind is FieldType.EMAIL:
        return normalize_email(value)
    if kind is FieldType.BOOLEAN:
        return None if value is None else bool(value)
    if kind is FieldType.PROJECT_STATUS:
        text = _text(value)
        return _PROJECT_STATUS_CANON.get(text, text) if isinstance(text, str) else text
    if kind is FieldType.STRING_SET:
        return _string_set(value, fold=False)
    if kind is FieldType.DOMAIN_SET:
        return _string_set(value, fold=True)
    if kind is FieldType.ID:
        return None if is_empty(value) else str(value)
    return to_jsonable(_text(value))


def same(a: Any, b: Any, field_type: FieldType | str = FieldType.ANY) -> bool:
    """True when ``a`` and ``b`` are the same value of ``field_type``."""
    return bool(canonical(a, field_type) == canonical(b, field_type))


#: Types ``to_jsonable`` returns as they are: checked first, by exact type (a ``str`` enum
#: is an Enum), since most values are such leaves and the engine converts ~90 per record.
_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """``value`` with dates as ISO strings, sets as sorted lists and tuples as lists.

    Used before storing snapshots and reports as JSON.
    """
    kind = type(value)
    if kind in _JSON_LEAVES:
        return value
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if kind is list:
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
