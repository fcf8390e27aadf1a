"""Match keys: what a record looks like to the other side before its link exists.

A create is recorded as a pending link before it is sent (:meth:`LinkStore.begin_create`),
together with the match key of the record it will make: its flow, where it lives (its
parent or container on that side) and its normalized name. Until the link is completed,
the reverse direction meets that record as one it has never seen. Asana records cannot
carry the Custompms id the way Custompms' ``external_id`` carries the Asana ref, so the
reverse direction recognises them by this key instead of copying them back.

The same normalization serves adopting existing pairs by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from talk_sync.flows import Flow, get_flow
from talk_sync.refs import Side

#: The fields that place a record on each side, per record type, most specific first (a
#: subtask lives under its parent, a top-level task in its project).
CONTAINER_FIELDS: Mapping[tuple[Side, str], tuple[str, ...]] = {
    (Side.ASANA, "workspace"): (),
    (Side.ASANA, "team"): ("organization",),
    (Side.ASANA, "project"): ("team",),
    (Side.ASANA, "task"): ("parent", "project"),
    (Side.CUSTOMPMS, "customer"): ("parent_id",),
    (Side.CUSTOMPMS, "project"): ("customer_id",),
    (Side.CUSTOMPMS, "task"): ("parent_task_id", "project_id"),
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
