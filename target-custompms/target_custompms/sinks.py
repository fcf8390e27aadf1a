"""Sinks: one per flow (the mapped stream names), plus one that skips other streams."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk import BatchSink, RecordSink
from talk_sync import FLOWS, Incoming, Side, get_flow, parse_ref, synced_values
from typing_extensions import override

if TYPE_CHECKING:
    from singer_sdk import Target

    from target_custompms.target import TargetCustompms

#: The mapped record's field holding the unmapped source record (``_source: record``).
SOURCE_FIELD = "_source"
#: The mapped record's field holding the source ref; also the Custompms ``external_id``.
SOURCE_REF_FIELD = "external_id"
#: Our delete marker (the SDK strips ``_sdc_deleted_at`` unless metadata is on).
DELETED_FIELD = "is_deleted"


def to_incoming(flow_name: str, record: Mapping[str, Any]) -> Incoming:
    """The engine's input for one mapped record of the stream ``flow_name``."""
    flow = get_flow(flow_name)
    source = record.get(SOURCE_REF_FIELD)
    if not source:
        raise ValueError(
            f"stream {flow_name!r}: mapped record has no {SOURCE_REF_FIELD!r}; the stream map "
            f"must set it to the source ref, e.g. \"'asana-task:' + gid\""
        )
    raw = record.get(SOURCE_FIELD) or {}
    return Incoming(
        flow=flow,
        source=parse_ref(source),
        desired=flow.pick(Side.CUSTOMPMS, record),
        source_values=synced_values(flow, Side.ASANA, raw),
        modified_at=raw.get("modified_at"),
        is_deleted=bool(record.get(DELETED_FIELD) or raw.get(DELETED_FIELD)),
    )


class FlowSink(BatchSink):
    """Applies a batch of one flow's mapped records through the run's talk-sync engine.

    ``process_batch`` returns only after the writes and the link-store commit: the SDK
    writes STATE after draining, so STATE never runs ahead of durable writes.
    """

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.target: TargetCustompms = target  # type: ignore[assignment]

    @override
    @property
    def max_size(self) -> int:
        return int(self.config["batch_size"])

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
    def process_batch(self, context: dict) -> None:
        items = [to_incoming(self.stream_name, record) for record in context["records"]]
        self.target.engine.apply(items)


class SkippedStreamSink(RecordSink):
    """A stream that is not a flow (e.g. ``users``): its records are read and dropped."""

    @override
    def setup(self) -> None:
        self.logger.info(
            "Stream %s is not one of the flows (%s): its records are skipped",
            self.stream_name,
            ", ".join(flow.name for flow in FLOWS),
        )

    @override
    def process_record(self, record: dict, context: dict) -> None:
        return
