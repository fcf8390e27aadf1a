"""Sinks: one per flow (the mapped stream names); other streams are skipped by talk-sync."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talk_sync import Incoming, Side, synced_values
from talk_sync.target import DELETED_FIELD, SOURCE_FIELD, FlowSink
from typing_extensions import override


class CustompmsFlowSink(FlowSink):
    """Applies one flow's mapped Asana records to Custompms."""

    #: Also the Custompms ``external_id``, which keeps the source ref on the record.
    source_ref_field = "external_id"
    source_ref_example = "'asana-task:' + gid"

    @override
    def setup(self) -> None:
        if SOURCE_FIELD not in self.schema.get("properties", {}):
            self.logger.warning(
                "Stream %s has no %r field: source snapshots stay empty, so the reverse "
                "pipeline cannot recognise its own echoes (map `%s: record`)",
                self.stream_name,
                SOURCE_FIELD,
                SOURCE_FIELD,
            )

    @override
    def incoming(self, record: Mapping[str, Any]) -> Incoming:
        source = self.source_ref(record)
        raw = record.get(SOURCE_FIELD) or {}
        return Incoming(
            flow=self.flow,
            source=source,
            desired=self.flow.pick(Side.CUSTOMPMS, record),
            source_values=synced_values(self.flow, Side.ASANA, raw),
            modified_at=raw.get("modified_at"),
            is_deleted=bool(record.get(DELETED_FIELD) or raw.get(DELETED_FIELD)),
            # Tells a record made by an unfinished create of the other direction (created
            # after it began) from an older one with the same name.
            created_at=raw.get("created_at"),
        )
