"""The engine's input: one mapped source record (:class:`Incoming`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from talk_sync.flows import Flow, get_flow
from talk_sync.normalize import to_jsonable
from talk_sync.refs import Ref, parse_ref


@dataclass(frozen=True)
class Incoming:
    """One mapped source record, as a target hands it to the engine."""

    flow: Flow
    #: The source record, e.g. ``asana-task:77``.
    source: Ref
    #: Desired destination values in the destination's field names; references are
    #: namespaced source refs (``customer_id: "asana-team:12"``).
    desired: Mapping[str, Any]
    #: The source side's synced values (:func:`talk_sync.records.synced_values`): the
    #: source snapshot.
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
        data: dict[str, Any] = to_jsonable(
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
        return data

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
