"""Timestamps in one place: reading them, writing them in each system's form, and now.

Every timestamp inside talk-sync and the plugins is an aware ``datetime`` in UTC. Text is
read by :func:`parse_timestamp` (RFC 3339, ``Z`` or an offset; naive means UTC) and written
in the form its reader expects:

- Custompms: microseconds and ``Z`` (:func:`format_custompms_timestamp`), as its server
  writes them;
- Asana: milliseconds and ``Z`` (:func:`format_asana_timestamp`), as Asana writes them;
- people: seconds and ``Z`` (:func:`format_clock`), in messages and tables.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import overload

from talk_sync.errors import NormalizeError

#: Leeway for clock differences between the two systems and this machine (a lost create
#: is looked for, and a pending create matched, from this long before it began).
CLOCK_SKEW = timedelta(minutes=5)


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """``value`` with a time zone: a naive one is read as UTC (``None`` stays ``None``).

    SQLite and Meltano's database give back naive datetimes; everything stored is UTC.
    """
    if value is None or value.tzinfo:
        return value
    return value.replace(tzinfo=timezone.utc)


def parse_timestamp(value: object) -> datetime | None:
    """Read an RFC 3339 timestamp (``Z`` or an offset) or a ``datetime`` as an aware datetime.

    Empty values (``None``, ``""``) give ``None``; a naive value is taken as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        # Python 3.10's fromisoformat rejects "Z" and fractions other than 3 or 6 digits.
        if text[-1:] in "zZ":
            text = text[:-1] + "+00:00"
        text = _pad_fraction(text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise NormalizeError(f"not an RFC 3339 timestamp: {value!r}") from None
    else:
        raise NormalizeError(f"not a timestamp: {value!r}")
    return as_utc(parsed)


def require_timestamp(value: object) -> datetime:
    """:func:`parse_timestamp` for a value that must be there: an empty one is an error."""
    parsed = parse_timestamp(value)
    if parsed is None:
        raise NormalizeError(f"not a timestamp: {value!r}")
    return parsed


def _pad_fraction(text: str) -> str:
    """Pad or cut a fractional second to 6 digits so ``fromisoformat`` accepts it."""
    head, dot, rest = text.partition(".")
    if not dot:
        return text
    digits = len(rest) - len(rest.lstrip("0123456789"))
    fraction, tail = rest[:digits], rest[digits:]
    return f"{head}.{(fraction + '000000')[:6]}{tail}"


def format_custompms_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``, as the Custompms server writes them."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_asana_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``, as Asana writes them."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_timestamp(value: object) -> str | None:
    """Anything :func:`parse_timestamp` reads, in the Custompms form; ``None`` when empty."""
    instant = parse_timestamp(value)
    return None if instant is None else format_custompms_timestamp(instant)


@overload
def format_clock(moment: datetime) -> str: ...
@overload
def format_clock(moment: datetime | None) -> str | None: ...
def format_clock(moment: datetime | None) -> str | None:
    """``2026-01-02 10:04:33Z``: a moment for people to read (messages, tables)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
