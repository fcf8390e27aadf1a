"""Sinks: one per flow (the mapped stream names); other streams are skipped by talk-sync.

A Custompms customer may be an Asana workspace (flow 1) or team (flow 2), a Custompms
project an Asana project (flow 3) or a board task (flow 4). The stream maps send each
customer to both ``workspace_customer`` and ``team_customer`` (each projects record to both
``project_project`` and ``board_task_project``), each with that flow's mapping; **the link
decides**: a record already linked is applied only by the sink of its link's flow, and a
record not linked yet only by the flow that creates (``Flow.creates_on``): new customers
become teams, new projects Asana projects. A record whose ``counterpart`` (its
``external_id``, mapped) names an Asana record is applied by that record's flow: it was
created from it, and is linked to it rather than created again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talk_sync import Incoming, LinkStatus, Ref, Side, flow_for, synced_values
from talk_sync.refs import asana_ref_in
from talk_sync.target import DELETED_FIELD, SOURCE_FIELD, FlowSink
from typing_extensions import override

#: The mapped field naming the Asana record a Custompms record was created from (its
#: ``external_id``); ``None`` or anything not an Asana ref means none.
COUNTERPART_FIELD = "counterpart"


def _flow_of(counterpart: Ref, custompms_type: str) -> str | None:
    try:
        return flow_for(counterpart.type, custompms_type).name
    except ValueError:  # e.g. an external_id naming an Asana user: not one of our records
        return None


class AsanaFlowSink(FlowSink):
    """Applies one flow's mapped Custompms records to Asana, if the link says it is its flow."""

    source_ref_field = "source_ref"
    source_ref_example = "'custompms-task:' + str(id)"

    @override
    def incoming(self, record: Mapping[str, Any]) -> Incoming | None:
        source = record.get(self.source_ref_field)
        store = self.target.engine.store
        link = store.find(source) if source else None
        counterpart = asana_ref_in(record.get(COUNTERPART_FIELD))
        flow: str | None
        if link is not None:
            flow = link.flow.name
        elif counterpart is not None:  # made from an Asana record: that record's flow
            known = store.find(counterpart)
            flow = known.flow.name if known else _flow_of(counterpart, self.flow.custompms_type)
        else:
            flow = None
        if not self._mine(flow):
            return None  # the other flow of the same record type applies it
        linked = link is not None and link.status is LinkStatus.LINKED
        ref = self.source_ref(record)
        raw = record.get(SOURCE_FIELD) or {}
        return Incoming(
            flow=self.flow,
            source=ref,
            desired={
                name: value
                for name, value in record.items()
                if name in self.flow.fields(Side.ASANA)
                # Where to create (e.g. a project's workspace): never diffed against Asana.
                or (name in self.flow.placement_fields(Side.ASANA) and not linked)
            },
            source_values={
                **synced_values(self.flow, Side.CUSTOMPMS, raw),
                # Kept besides the synced values (see ``RecordType.snapshot_extras``): the
                # version for If-Match, the external_id the link marker fills.
                **{
                    name: raw[name]
                    for name in self.flow.snapshot_extras(Side.CUSTOMPMS)
                    if name in raw
                },
            },
            modified_at=raw.get("updated_at"),
            # The stream maps set the marker from the tombstone (``deleted_at``).
            is_deleted=bool(record.get(DELETED_FIELD) or raw.get("deleted_at")),
            counterpart=counterpart if link is None else None,
            created_at=raw.get("created_at"),
        )

    def _mine(self, linked_flow: str | None) -> bool:
        """Whether this flow applies a record linked in ``linked_flow`` (``None``: no link)."""
        if linked_flow is not None:
            return linked_flow == self.flow.name
        return self.flow.creates(Side.ASANA)
