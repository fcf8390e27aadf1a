"""Match keys: what a record looks like to the other side before its link exists.

A create is recorded as a pending link before it is sent (:meth:`LinkStore.begin_create`),
together with the match key of the record it will make: its flow, where it lives (its
parent or container on that side) and its normalized name. Until the link is completed,
the reverse direction meets that record as one it has never seen. Asana records cannot
carry the Custompms id the way Custompms' ``external_id`` carries the Asana ref, so the
reverse direction recognises them by this key instead of copying them back.

The same normalization serves adopting existing pairs (:func:`adoption_key`): before a
record is created on the other side, a record there with the same key is linked instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from talk_sync.errors import NormalizeError
from talk_sync.flows import RECORD_TYPES, Flow, get_flow
from talk_sync.normalize import FieldType, canonical, to_jsonable
from talk_sync.refs import Side

#: The fields that place a record on each side, per record type, most specific first (a
#: subtask lives under its parent, a top-level task in its project).
CONTAINER_FIELDS: Mapping[tuple[Side, str], tuple[str, ...]] = {
    (side, name): record_type.containers
    for side, types in RECORD_TYPES.items()
    for name, record_type in types.items()
}

_SPACES = re.compile(r"\s+")


def normalize_name(value: Any) -> str:
    """A name as people mean it: case, surrounding and repeated whitespace ignored."""
    return _SPACES.sub(" ", str(value or "")).strip().casefold()


def _key_of(value: Any) -> str:
    if isinstance(value, Mapping):  # a compact record, e.g. {"gid": "12", "name": ...}
        value = value.get("gid", value.get("id"))
    return "" if value is None else str(value)


def match_key(flow: Flow | int | str, side: Side | str, values: Mapping[str, Any]) -> str | None:
    """The key of a record of ``flow`` on ``side`` with these ``values`` (that side's field
    names, references as that side's keys); ``None`` when it has no name to match on."""
    flow, side = get_flow(flow), Side(side)
    name = normalize_name(values.get("name"))
    if not name:
        return None
    container = ""
    for field in CONTAINER_FIELDS[(side, flow.record_type(side))]:
        container = _key_of(values.get(field))
        if container:
            break
    return f"{flow.name}|{side}|{container}|{name}"


# --- adoption keys: which existing record on the other side a new one already is -----------

#: The fields compared by default when adopting existing pairs (each side's own names).
DEFAULT_MATCH_FIELDS = ("name",)
#: Record types matched without their container: a customer is the same customer whether
#: Custompms files it under a parent or Asana under an organization.
_UNCONTAINED = frozenset({"workspace", "team", "customer"})


def match_fields(flow: Flow | int | str, side: Side | str, names: Sequence[str]) -> tuple[str, ...]:
    """``names`` (a ``match_keys`` entry, in either side's field names) as ``side``'s fields.

    Raises ``ValueError`` naming a field that is not synced by the flow on both sides.
    """
    flow, side = get_flow(flow), Side(side)
    fields = []
    for name in names:
        if name in flow.fields(side) and (
            name == "name" or flow.counterpart_field(side, name) is not None
        ):
            fields.append(name)
            continue
        paired = flow.counterpart_field(side.other, name)
        if paired is None:
            pairs = ", ".join(
                f"{asana}/{custompms}" for asana, custompms in flow.same_values.items()
            )
            raise ValueError(
                f"{flow.name}: {name!r} is not a field both sides hold (choose from {pairs})"
            )
        fields.append(paired)
    if not fields:
        raise ValueError(f"{flow.name}: a match key needs at least one field")
    return tuple(fields)


def adoption_key(
    flow: Flow | int | str,
    side: Side | str,
    values: Mapping[str, Any],
    fields: Sequence[str] = DEFAULT_MATCH_FIELDS,
) -> str | None:
    """What an existing record of ``flow`` on ``side`` must share with a new one to be it.

    Its container (the linked parent, project or customer; none for customers) and the
    ``fields`` in ``side``'s names, the name normalized as :func:`normalize_name` and the
    others by their field type. ``None`` when the record has no name to match on.
    """
    flow, side = get_flow(flow), Side(side)
    if not normalize_name(values.get("name")):
        return None
    record_type = flow.record_type(side)
    container = ""
    if record_type not in _UNCONTAINED:
        for field in CONTAINER_FIELDS[(side, record_type)]:
            container = _key_of(values.get(field))
            if container:
                break
    types = flow.fields(side)
    parts = [
        normalize_name(values.get(name)) if name == "name" else _part(values.get(name), types[name])
        for name in fields
    ]
    return "|".join((flow.name, str(side), container, *parts))


def _part(value: Any, kind: FieldType) -> str:
    try:
        value = canonical(value, kind)
    except NormalizeError:
        return repr(value)  # unreadable: matches only the same spelling
    if isinstance(value, frozenset):
        return json.dumps(sorted(value))
    return json.dumps(to_jsonable(value))
