"""Namespaced record references: ``<side>-<type>:<key>``, e.g. ``asana-task:77``.

Both pipelines pass references between records as namespaced *source* ids (the Sesam
convention): a Custompms project mapped from Asana carries ``customer_id: "asana-team:123"``
until the link store resolves it to ``custompms-customer:42``. A namespaced id can never be
mistaken for the destination's own key, so an unresolved reference is never "guessed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache


class Side(str, Enum):
    """One of the two systems kept in sync."""

    ASANA = "asana"
    CUSTOMPMS = "custompms"

    @property
    def other(self) -> Side:
        """The opposite side."""
        return Side.CUSTOMPMS if self is Side.ASANA else Side.ASANA

    def __str__(self) -> str:
        return self.value


#: Record types each side knows, by side.
RECORD_TYPES: dict[Side, frozenset[str]] = {
    Side.ASANA: frozenset({"workspace", "team", "project", "task", "user"}),
    Side.CUSTOMPMS: frozenset({"customer", "project", "task"}),
}

# Asana gids are numeric strings today, but the API only promises "a string": accept any
# token that cannot be confused with the separator or whitespace. Custompms ids are integers.
_KEY_PATTERNS: dict[Side, re.Pattern[str]] = {
    Side.ASANA: re.compile(r"[A-Za-z0-9_.\-]+"),
    Side.CUSTOMPMS: re.compile(r"[1-9][0-9]*"),
}


class RefError(ValueError):
    """A value is not a valid namespaced reference; the message names the value."""


@dataclass(frozen=True, order=True)
class Ref:
    """A reference to one record on one side: ``Ref(Side.ASANA, "task", "77")``.

    ``str(ref)`` gives the namespaced form; :func:`parse_ref` reads it back.
    """

    side: Side
    type: str
    key: str

    def __post_init__(self) -> None:
        given: object = self.side
        if not isinstance(given, Side):  # the context is formatted only when it is needed
            given = _coerce_side(given, f"Ref({given!r}, {self.type!r}, {self.key!r})")
            object.__setattr__(self, "side", given)
        side = self.side
        if self.type not in RECORD_TYPES[side]:
            known = ", ".join(sorted(RECORD_TYPES[side]))
            raise RefError(f"unknown {side} record type {self.type!r} (known: {known})")
        key = str(self.key)
        if not _KEY_PATTERNS[side].fullmatch(key):
            expected = "a positive integer" if side is Side.CUSTOMPMS else "a gid"
            raise RefError(f"bad {side}-{self.type} key {key!r}: expected {expected}")
        object.__setattr__(self, "key", key)

    @property
    def namespace(self) -> str:
        """The part before the colon, e.g. ``asana-task``."""
        return f"{self.side.value}-{self.type}"

    @property
    def native_key(self) -> int | str:
        """The key as its system writes it: an ``int`` for Custompms, a ``str`` gid for Asana."""
        return int(self.key) if self.side is Side.CUSTOMPMS else self.key

    def __str__(self) -> str:
        return f"{self.namespace}:{self.key}"


def _coerce_side(value: object, context: str) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise RefError(f"unknown side {value!r} in {context}") from None


def parse_ref(value: object) -> Ref:
    """Parse ``"asana-task:77"`` into a :class:`Ref`; a :class:`Ref` is returned unchanged.

    Raises :class:`RefError` naming the value when it is not a namespaced reference.
    """
    if isinstance(value, Ref):
        return value
    if not isinstance(value, str):
        raise RefError(f"expected a namespaced reference like 'asana-task:77', got {value!r}")
    return _parse(value)


@lru_cache(maxsize=1 << 16)
def _parse(value: str) -> Ref:
    """:func:`parse_ref` of a string; remembered, as a batch parses each ref many times."""
    namespace, sep, key = value.partition(":")
    side, dash, record_type = namespace.partition("-")
    if not sep or not dash or not key:
        raise RefError(f"expected a namespaced reference like 'asana-task:77', got {value!r}")
    try:
        return Ref(_coerce_side(side, repr(value)), record_type, key)
    except RefError as exc:
        raise RefError(f"bad reference {value!r}: {exc}") from None


@lru_cache(maxsize=1 << 16)
def known_ref(side: Side, record_type: str, key: str) -> Ref:
    """``Ref(side, record_type, key)``, checked once per run for each record (the link
    store builds the refs of every row it reads)."""
    return Ref(side, record_type, key)


def format_ref(side: Side | str, record_type: str, key: object) -> str:
    """Format a namespaced reference, validating each part: ``format_ref("asana", "task", 77)``."""
    return str(Ref(_coerce_side(side, f"{side}-{record_type}:{key}"), record_type, str(key)))


def asana_ref_in(value: object) -> Ref | None:
    """The Asana record a value names (a Custompms ``external_id`` such as
    ``asana-task:77``), or ``None`` when it names none (empty, another convention, or a
    Custompms ref)."""
    try:
        ref = parse_ref(value) if value else None
    except RefError:
        return None
    return ref if ref is not None and ref.side is Side.ASANA else None
