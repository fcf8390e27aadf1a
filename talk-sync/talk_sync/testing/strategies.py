"""Hypothesis strategies for synced values, for property tests here and in the targets.

Needs the ``testing`` extra (``pip install talk-sync[testing]``), i.e. hypothesis.

- :func:`values` draws values of a :class:`~talk_sync.normalize.FieldType` in the spellings
  the two systems use (dates as ``date`` or text, timestamps with ``Z`` or offsets...).
- :func:`respell` draws another spelling of the *same* value: diff and merge must not
  see a change between the two.
- :func:`records` draws a record for a mapping of field names to types.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from talk_sync.normalize import FieldType, canonical, date_of
from talk_sync.timestamps import parse_timestamp

_OFFSETS = st.integers(min_value=-14 * 4, max_value=14 * 4).map(
    lambda quarter_hours: timezone(timedelta(minutes=15 * quarter_hours))
)
_INSTANTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=_OFFSETS
)
_DOMAINS = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(com|no|io|example)", fullmatch=True)
_EMAILS = st.builds(
    lambda user, domain: f"{user}@{domain}",
    st.from_regex(r"[a-z][a-z0-9._+-]{0,12}", fullmatch=True),
    _DOMAINS,
)


def _timestamp_text(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


_BASE: dict[FieldType, st.SearchStrategy[Any]] = {
    FieldType.TEXT: st.text(min_size=1, max_size=30),
    FieldType.OPTIONAL_TEXT: st.none() | st.text(max_size=30),
    FieldType.DATE: st.none() | st.dates(min_value=date(1971, 1, 1), max_value=date(2200, 1, 1)),
    FieldType.DATETIME: st.none() | _INSTANTS,
    FieldType.EMAIL: st.none() | _EMAILS,
    FieldType.BOOLEAN: st.booleans(),
    FieldType.ENUM: st.sampled_from(["open", "done"]),
    FieldType.PROJECT_STATUS: st.sampled_from(["planned", "active", "completed", "archived"]),
    FieldType.STRING_SET: st.lists(st.text(min_size=1, max_size=8), max_size=4, unique=True),
    FieldType.DOMAIN_SET: st.lists(_DOMAINS, max_size=4, unique=True),
    FieldType.ID: st.none() | st.integers(min_value=1, max_value=10**12),
    FieldType.ANY: st.none() | st.integers() | st.text(max_size=10) | st.booleans(),
}


def values(field_type: FieldType | str) -> st.SearchStrategy[Any]:
    """Values of ``field_type``, drawn in any of the spellings :func:`respell` produces."""
    kind = FieldType(field_type)
    return _BASE[kind].flatmap(lambda value: respell(value, kind))


def respell(value: Any, field_type: FieldType | str) -> st.SearchStrategy[Any]:
    """Other spellings of ``value`` that mean the same ``field_type`` value (``value`` included)."""
    kind = FieldType(field_type)
    options: list[Any] = [value]
    if value is None or value == "":
        empty: list[Any] = {
            FieldType.STRING_SET: [None, []],
            FieldType.DOMAIN_SET: [None, []],
        }.get(kind, [None, ""])
        options = [*empty]
    elif kind is FieldType.DATE:
        day = date_of(value)
        assert day is not None
        options = [day, day.isoformat(), f"{day.isoformat()}T12:00:00Z"]
    elif kind is FieldType.DATETIME:
        instant = parse_timestamp(value)
        assert instant is not None
        utc = instant.astimezone(timezone.utc)
        # Asana keeps milliseconds, so a sub-millisecond difference is the same instant.
        as_asana = utc.replace(microsecond=utc.microsecond // 1000 * 1000)
        options = [instant, _timestamp_text(instant), _timestamp_text(utc), as_asana]
    elif kind is FieldType.EMAIL:
        options = [value, value.upper(), f" {value} "]
    elif kind in (FieldType.STRING_SET, FieldType.DOMAIN_SET):
        return st.permutations(list(value)).map(
            lambda items: (
                [item.upper() for item in items] if kind is FieldType.DOMAIN_SET else items
            )
        )
    elif kind is FieldType.ID:
        options = [value, str(value)]
    elif kind is FieldType.PROJECT_STATUS and value in ("planned", "active"):
        options = ["planned", "active"]
    return st.sampled_from(options)


def records(fields: Mapping[str, FieldType]) -> st.SearchStrategy[dict[str, Any]]:
    """Records with every field of ``fields``."""
    return st.fixed_dictionaries({name: values(kind) for name, kind in fields.items()})


def respell_record(
    record: Mapping[str, Any], fields: Mapping[str, FieldType]
) -> st.SearchStrategy[dict[str, Any]]:
    """Another spelling of ``record``: every field respelled, none changed."""
    return st.fixed_dictionaries(
        {name: respell(value, fields.get(name, FieldType.ANY)) for name, value in record.items()}
    )


def changed(value: Any, field_type: FieldType | str) -> st.SearchStrategy[Any]:
    """Values of ``field_type`` that are *not* the same as ``value``."""
    kind = FieldType(field_type)
    return values(kind).filter(lambda other: canonical(other, kind) != canonical(value, kind))
