"""A side's API record read as a flow's synced values (the shape snapshots and diffs use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from talk_sync.flows import Field, Flow, get_flow
from talk_sync.normalize import FieldType
from talk_sync.refs import Side


def synced_values(
    flow: Flow | int | str,
    side: Side | str,
    record: Mapping[str, Any],
    *,
    keep_extra: bool = False,
) -> dict[str, Any]:
    """The synced values of ``side`` in one of its API records, in their snapshot shape.

    Compact references (``{"gid": ..., "name": ...}``) become their key, users (``EMAIL``
    fields) their email, and a field the record lacks is read where the flow says
    (:attr:`Field.read_from`: an Asana task's ``project`` is its first membership's project;
    subtasks have none). Fields found nowhere are left out. With ``keep_extra`` the other
    fields are kept as they are (e.g. ``version``, ``updated_at``).
    """
    flow, side = get_flow(flow), Side(side)
    values: dict[str, Any] = dict(record) if keep_extra else {}
    for field in flow.declared(side):
        if field.placement:
            continue
        if field.name in record:
            values[field.name] = _flat(record[field.name], field.type)
            continue
        found = _read_from(record, field)
        if found is not None:
            values[field.name] = _flat(found[0] if found else None, field.type)
    return values


def _read_from(record: Mapping[str, Any], field: Field) -> Sequence[Any] | None:
    """The values at the first of ``field.read_from``'s paths the record holds (``None``:
    none was read). A list item without the path's field (Asana may add membership kinds)
    is passed over."""
    for path in field.read_from:
        head, _, rest = path.partition(".")
        items = record.get(head)
        if items is None or not isinstance(items, list):
            continue
        if rest:
            items = [item.get(rest) for item in items if isinstance(item, Mapping)]
        return [item for item in items if item]
    return None


def _flat(value: Any, kind: FieldType) -> Any:
    if not isinstance(value, Mapping):
        return value
    if kind is FieldType.EMAIL:
        return value.get("email")
    return value.get("gid", value.get("id"))
