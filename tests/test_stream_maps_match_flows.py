"""The targets' stream maps against the flow descriptions (talk_sync.flows).

The maps checked: each target's built-in ones (``stream_maps.yml`` in its package, what a
target uses without a ``stream_maps`` setting) and any ``stream_maps`` meltano.yml sets
instead.

Each target's mapped stream of a flow must produce exactly the fields that flow carries to
the destination side (its writable, create-only and refused fields, and placement fields),
plus the fields every mapped stream has (source ref, snapshot record, delete marker), and
read only fields the source side's record type has. A mapping that drifts from the
descriptions (a field renamed, added or dropped on one side only) fails here, before any
end-to-end run.
"""

from __future__ import annotations

import ast
import builtins
import importlib.resources
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from talk_sync.builtin_maps import RESOURCE, builtin_stream_maps
from talk_sync.flows import FLOWS, RECORD_TYPES, Flow, fields_of
from talk_sync.refs import Side
from talk_sync.target import DELETED_FIELD, SOURCE_FIELD
from target_asana_talk.sinks import COUNTERPART_FIELD, AsanaFlowSink
from target_custompms.sinks import CustompmsFlowSink

MELTANO_YML = Path(__file__).resolve().parents[1] / "meltano.yml"

#: Each target: the side it writes, and the fields its mapped streams carry besides a flow's.
TARGETS = {
    "target-custompms": (Side.CUSTOMPMS, {CustompmsFlowSink.source_ref_field}),
    "target-asana-talk": (Side.ASANA, {AsanaFlowSink.source_ref_field, COUNTERPART_FIELD}),
}
#: Each target's package, which ships its built-in maps.
PACKAGES = {"target-custompms": "target_custompms", "target-asana-talk": "target_asana_talk"}
#: Fields any mapped stream may carry: the source record (snapshot) and the delete marker.
COMMON_EXTRAS = {SOURCE_FIELD, DELETED_FIELD}
#: Names an expression may use that are not record fields.
EXPRESSION_NAMES = {"config", "record", "_", "self", "__stream_name__", "json", "datetime"}


def builtin_maps() -> dict[str, Mapping[str, Any]]:
    """Each target's built-in maps."""
    return {target: builtin_stream_maps(package) for target, package in PACKAGES.items()}


def builtin_text(target: str) -> str:
    """The text of a target's built-in maps file."""
    return importlib.resources.files(PACKAGES[target]).joinpath(RESOURCE).read_text()


def meltano_maps() -> dict[str, Mapping[str, Any]]:
    """Each target's ``stream_maps`` from meltano.yml, where it sets any."""
    project = yaml.safe_load(MELTANO_YML.read_text())
    return {
        block["name"]: block["config"]["stream_maps"]
        for block in project["plugins"]["loaders"]
        if block["name"] in TARGETS and (block.get("config") or {}).get("stream_maps")
    }


def fields_read(expression: str) -> set[str]:
    """The record fields an SDK stream-map expression reads."""
    tree = ast.parse(expression, mode="eval")
    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.comprehension)
        for target in ast.walk(node.target)
        if isinstance(target, ast.Name)
    }
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names - bound - EXPRESSION_NAMES - set(dir(builtins))


def readable(side: Side, record_type: str) -> set[str]:
    """The fields of a record type of ``side`` that a mapping may read."""
    described = RECORD_TYPES[side][record_type]
    names = {described.key, described.tombstone, *described.snapshot_extras}
    names |= {path.split(".")[0] for path in described.also_read}
    for field in fields_of(side, record_type):
        names.add(field.name)
        names |= {path.split(".")[0] for path in field.read_from}
    return names


def problems(maps: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """Every way the stream maps (per target) differ from the flow descriptions."""
    for target, block in maps.items():
        side, extras = TARGETS[target]
        for flow in FLOWS:
            mapped = block.get(flow.name)
            if not isinstance(mapped, Mapping):
                yield f"{target}: no stream map for {flow.name}"
                continue
            yield from _flow_problems(f"{target} {flow.name}", flow, side, mapped, extras)


def _flow_problems(
    where: str, flow: Flow, side: Side, mapped: Mapping[str, Any], extras: set[str]
) -> Iterator[str]:
    source = RECORD_TYPES[side.other][flow.record_type(side.other)]
    if mapped.get("__source__") != source.stream:
        yield f"{where}: __source__ {mapped.get('__source__')!r}, expected {source.stream!r}"
    outputs = {name for name in mapped if not name.startswith("__")}
    expected = set(flow.received_fields(side))
    if missing := expected - outputs:
        yield f"{where}: the flow's {side} fields {sorted(missing)} are not mapped"
    if unknown := outputs - expected - extras - COMMON_EXTRAS:
        yield f"{where}: {sorted(unknown)} are not {side} fields the flow carries"
    if not extras <= outputs:
        yield f"{where}: the mapped stream lacks {sorted(extras - outputs)}"
    known = readable(side.other, source.name)
    for name, expression in mapped.items():
        if not isinstance(expression, str) or name in ("__source__", "__else__"):
            continue
        if unread := fields_read(expression) - known:
            yield f"{where}: {name} reads {sorted(unread)}, not {side.other} fields"


def test_the_built_in_stream_maps_match_the_flow_descriptions() -> None:
    assert list(problems(builtin_maps())) == []


def test_the_stream_maps_meltano_yml_sets_match_the_flow_descriptions() -> None:
    # meltano.yml maps through the built-in maps unless it sets stream_maps (an override).
    assert list(problems(meltano_maps())) == []


@pytest.mark.parametrize(
    ("target", "before", "after", "expected"),
    [
        # A destination field renamed in the mapping only.
        ("target-custompms", "  due_date: ", "  due_day: ", "['due_day'] are not custompms"),
        # A source field the Custompms record does not have.
        ("target-asana-talk", "  notes: description\n", "  notes: summary\n", "reads ['summary']"),
        # A destination field dropped.
        ("target-asana-talk", "  assignee: assignee_email\n", "", "['assignee'] are not mapped"),
    ],
)
def test_a_drifting_mapping_fails(target: str, before: str, after: str, expected: str) -> None:
    text = builtin_text(target)
    assert before in text
    drifted = yaml.safe_load(text.replace(before, after, 1))
    found = list(problems({target: drifted}))
    assert any(expected in problem for problem in found), found
