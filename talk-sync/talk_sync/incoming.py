"""The engine's input: one mapped source record (:class:`Incoming`), and the synced values
of an API record (:func:`synced_values`), which are a record's snapshot on its side."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from talk_sync.flows import Flow, get_flow
from talk_sync.normalize import FieldType, to_jsonable
from talk_sync.refs import Ref, Side, parse_ref


@dataclass(frozen=True)
class Incoming:
    """One mapped source record, as a target hands it to the engine."""

    flow: Flow
    #: The source record, e.g. ``asana-task:77``.
    source: Ref
    #: Desired destination values in the destination's field names; references are
    #: namespaced source refs (``customer_id: "asana-team:12"``).
    desired: Mapping[str, Any]
    #: The source side's synced values (see :func:`synced_values`): the source snapshot.
    source_values: Mapping[str, Any] = field(default_factory=dict)
    #: The source record's own modification timestamp (``None`` when it has none).
    modified_at: Any = None
    is_deleted: bool = False
    #: The record on the other side this one says it is (a Custompms record's
    #: ``external_id`` names the Asana record it was created from): it is linked to that
    #: record, never created again.
    counterpart: Ref | None = None
    #: When the source record was created (``None`` when its system does not say).
    created_at: Any = None
    #: Fields the destination cannot hold as desired, and why (set by the engine from
    #: :meth:`Destination.fit`): ``desired`` holds what the destination can hold instead,
    #: or leaves the field out (the destination keeps its value).
    held: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Identity within a run: a later copy of the same record replaces an earlier one."""
        return (self.flow.name, str(self.source))

    @property
    def fingerprint(self) -> str:
        """A hash of what the record asks of the destination: kept with a refusal, so that
        the same values are not sent again before their back-off ends, and new ones are."""
        asked = to_jsonable({"desired": dict(self.desired), "is_deleted": self.is_deleted})
        return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with a reject so the next run can replay it."""
        return to_jsonable(
            {
                "flow": self.flow.name,
                "source": str(self.source),
                "desired": dict(self.desired),
                "source_values": dict(self.source_values),
                "modified_at": self.modified_at,
                "is_deleted": self.is_deleted,
                "counterpart": str(self.counterpart) if self.counterpart else None,
                "created_at": self.created_at,
                "held": dict(self.held),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incoming:
        """Read back :meth:`to_dict`."""
        return cls(
            flow=get_flow(data["flow"]),
            source=parse_ref(data["source"]),
            desired=dict(data.get("desired") or {}),
            source_values=dict(data.get("source_values") or {}),
            modified_at=data.get("modified_at"),
            is_deleted=bool(data.get("is_deleted")),
            counterpart=parse_ref(data["counterpart"]) if data.get("counterpart") else None,
            created_at=data.get("created_at"),
            held=dict(data.get("held") or {}),
        )


# --- source values ---------------------------------------------------------------------------


def synced_values(
    flow: Flow | int | str,
    side: Side | str,
    record: Mapping[str, Any],
    *,
    keep_extra: bool = False,
) -> dict[str, Any]:
    """The synced values of ``side`` in one of its API records, in their snapshot shape.

    Compact references (``{"gid": ..., "name": ...}``) become their key, users (``EMAIL``
    fields) their email, and an Asana task's ``project`` its first membership's project
    (subtasks have none). Fields missing from ``record`` are left out. With ``keep_extra``
    the other fields are kept as they are (e.g. ``version``, ``updated_at``).
    """
    flow, side = get_flow(flow), Side(side)
    values: dict[str, Any] = dict(record) if keep_extra else {}
    for name, kind in flow.fields(side).items():
        if name in record:
            values[name] = _flat(record[name], kind)
        elif name == "project" and side is Side.ASANA and flow.asana_type == "task":
            homes = _home_projects(record)
            if homes is not None:
                values[name] = _flat(homes[0] if homes else None, kind)
    return values


def _home_projects(record: Mapping[str, Any]) -> list[Any] | None:
    """An Asana task's projects, from ``memberships`` (or ``projects``); None if neither
    was read. A membership without a project (Asana may add kinds) is passed over."""
    memberships = record.get("memberships")
    if memberships is not None:
        return [m["project"] for m in memberships if isinstance(m, Mapping) and m.get("project")]
    projects = record.get("projects")
    return None if projects is None else [p for p in projects if p]


def _flat(value: Any, kind: FieldType) -> Any:
    if not isinstance(value, Mapping):
        return value
    if kind is FieldType.EMAIL:
        return value.get("email")
    return value.get("gid", value.get("id"))
