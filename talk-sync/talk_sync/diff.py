"""Field-level diff: which desired values differ from the destination's last-known ones.

An empty diff means "write nothing": this is what stops echoes, because a record a pipeline
just wrote comes back through the other pipeline with values equal to its snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talk_sync.normalize import FieldType, same


def diff(
    desired: Mapping[str, Any],
    snapshot: Mapping[str, Any] | None,
    field_types: Mapping[str, FieldType] | None = None,
) -> dict[str, Any]:
    """The fields of ``desired`` whose value differs from ``snapshot``, with desired values.

    Values are compared in their canonical forms (:mod:`talk_sync.normalize`), by the type
    in ``field_types`` (``ANY`` for fields not listed). A field missing from ``snapshot``
    counts as empty; fields of ``snapshot`` not in ``desired`` are not synced and ignored.
    With no snapshot at all every desired field is returned.
    """
    if snapshot is None:
        return dict(desired)
    types = field_types or {}
    return {
        name: value
        for name, value in desired.items()
        if not same(value, snapshot.get(name), types.get(name, FieldType.ANY))
    }


def apply_changes(snapshot: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot after a successful write of ``changes``: the new last-known values."""
    return {**(snapshot or {}), **changes}
