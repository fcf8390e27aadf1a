"""Sinks: one per flow (the mapped stream names), plus one that skips other streams.

A Custompms customer may be an Asana workspace (flow 1) or team (flow 2), a Custompms
project an Asana project (flow 3) or a board task (flow 4). The stream maps send each
customer to both ``workspace_customer`` and ``team_customer`` (each projects record to both
``project_project`` and ``board_task_project``), each with that flow's mapping; **the link
decides**: a record already linked is applied only by the sink of its link's flow, and a
record not linked yet only by the flow that creates (:data:`CREATING_FLOWS`): new customers
become teams, new projects Asana projects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk import BatchSink, RecordSink
from talk_sync import FLOWS, Incoming, LinkStatus, Side, get_flow, parse_ref, synced_values
from typing_extensions import override

if TYPE_CHECKING:
    from singer_sdk import Target
    from talk_sync import Flow

    from target_asana_talk.target import TargetAsanaTalk

#: The mapped record's field holding the unmapped source record (``_source: record``).
SOURCE_FIELD = "_source"
#: The mapped record's field holding the source ref, e.g. ``custompms-task:8``.
SOURCE_REF_FIELD = "source_ref"
#: The tombstone marker the stream maps set (``is_deleted: bool(deleted_at)``).
DELETED_FIELD = "is_deleted"
#: Fields a mapped record may carry that only a create uses (never diffed against Asana).
CREATE_ONLY_FIELDS = ("organization",)
#: Custompms record fields kept in the link's Custompms snapshot besides the synced ones:
#: target-custompms sends ``version`` as its If-Match, so a Custompms edit made after this
#: run is detected (412) and merged, never overwritten.
SNAPSHOT_EXTRAS = ("version", "updated_at")
#: The flow that creates a Custompms record of each type when no link exists yet.
CREATING_FLOWS = {"customer": "team_customer", "project": "project_project", "task": "task_task"}


def to_incoming(flow: Flow, record: Mapping[str, Any], *, linked: bool) -> Incoming:
    """The engine's input for one mapped record of ``flow``'s stream."""
    source = record.get(SOURCE_REF_FIELD)
    if not source:
        raise ValueError(
            f"stream {flow.name!r}: mapped record has no {SOURCE_REF_FIELD!r}; the stream map "
            f"must set it to the source ref, e.g. \"'custompms-task:' + str(id)\""
        )
    raw = record.get(SOURCE_FIELD) or {}
    desired = {
        name: value
        for name, value in record.items()
        if name in flow.fields(Side.ASANA) or (name in CREATE_ONLY_FIELDS and not linked)
    }
    return Incoming(
        flow=flow,
        source=parse_ref(source),
        desired=desired,
        source_values={
            **synced_values(flow, Side.CUSTOMPMS, raw),
            **{name: raw[name] for name in SNAPSHOT_EXTRAS if name in raw},
        },
        modified_at=raw.get("updated_at"),
        is_deleted=bool(record.get(DELETED_FIELD) or raw.get("deleted_at")),
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
        self.target: TargetAsanaTalk = target  # type: ignore[assignment]
        self.flow = get_flow(stream_name)

    @override
    @property
    def max_size(self) -> int:
        return int(self.config["batch_size"])

    @override
    def process_batch(self, context: dict) -> None:
        engine = self.target.engine
        items = []
        for record in context["records"]:
            source = record.get(SOURCE_REF_FIELD)
            link = engine.store.find(source) if source else None
            if not self._mine(link.flow.name if link else None):
                continue  # the other flow of the same record type applies it
            linked = link is not None and link.status is LinkStatus.LINKED
            items.append(to_incoming(self.flow, record, linked=linked))
        engine.apply(items)

    def _mine(self, linked_flow: str | None) -> bool:
        """Whether this flow applies a record linked in ``linked_flow`` (``None``: no link)."""
        if linked_flow is not None:
            return linked_flow == self.flow.name
        return CREATING_FLOWS[self.flow.custompms_type] == self.flow.name


class SkippedStreamSink(RecordSink):
    """A stream that is not a flow: its records are read and dropped."""

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
