"""Both targets' built-in maps give, compiled, what the SDK's mapper gives.

The targets run their built-in stream maps as compiled Python (talk_sync.compiled_maps)
rather than through the SDK's simpleeval evaluator. Here every map of both targets runs on
records hypothesis draws (every field the maps read, of any JSON kind, sometimes missing),
in both mappers, with and without projects boards: each map's record, or its error, is the
same.
"""

from __future__ import annotations

import ast
import logging
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from singer_sdk.mapper import CustomStreamMap, PluginMapper
from talk_sync.builtin_maps import builtin_stream_maps, mapper_config, stream_mapper
from talk_sync.compiled_maps import CompiledEvaluator, CompiledMapper

PACKAGES = ("target_custompms", "target_asana_talk")
BOARDS = {"project_boards": ["78"], "project_board_names": ["Client projects"]}
#: Names a map expression reads that are not the record's fields.
NOT_FIELDS = {"record", "config", "self", "_", "__stream_name__", "__original_stream_name__"}

scalars = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-3, 10**6),
    st.sampled_from(["78", "12", "Client projects", "done", "archived", "completed", "x@a.io"]),
    st.just("2026-03-04T05:06:07.890Z"),
    st.text(max_size=12),
)
objects = st.dictionaries(
    st.sampled_from(["gid", "name", "email", "project", "section"]),
    scalars | st.dictionaries(st.sampled_from(["gid", "name"]), scalars, max_size=2),
    max_size=3,
)
values = scalars | objects | st.lists(objects, max_size=3)

# Records as the taps send them, where the maps do not fail: each field of its own kind.
gids = st.sampled_from(["1", "12", "77", "78", "1201"])
references = st.none() | st.fixed_dictionaries(
    {"gid": gids, "email": st.sampled_from(["x@a.io", None])}, optional={"name": scalars}
)
memberships = st.none() | st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "project": st.none()
            | st.fixed_dictionaries(
                {"gid": gids, "name": st.sampled_from(["Client projects", "Website"])}
            ),
            "section": st.none(),
        },
    ),
    max_size=2,
)
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "gid": gids,
    "id": st.integers(1, 99),
    "parent": st.none() | references,  # mostly top-level: a board task has no parent
    "memberships": memberships,
    "due_at": st.none() | st.just("2026-03-04T05:06:07.890Z"),
    **dict.fromkeys(["organization", "team", "workspace", "owner", "assignee"], references),
    **dict.fromkeys(
        ["parent_id", "customer_id", "project_id", "parent_task_id"], st.none() | st.integers(1, 99)
    ),
}


def records(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Well-kinded records with every field, or records of any kinds with some missing."""
    well_kinded = st.fixed_dictionaries({name: KINDS.get(name, scalars) for name in fields})
    return well_kinded | st.fixed_dictionaries({}, optional=dict.fromkeys(fields, values))


@cache
def source_fields(package: str) -> dict[str, list[str]]:
    """Per source stream: the fields its maps read."""
    fields: dict[str, set[str]] = {}
    for name, stream_map in builtin_stream_maps(package).items():
        if not isinstance(stream_map, dict):
            continue
        read = fields.setdefault(stream_map.get("__source__", name), set())
        for key, expression in stream_map.items():
            if (key.startswith("__") and key != "__filter__") or not isinstance(expression, str):
                continue
            tree = ast.parse(expression, mode="eval")
            read.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))
    return {stream: sorted(names - NOT_FIELDS) for stream, names in fields.items()}


@cache
def mappers(package: str, boards: bool) -> tuple[PluginMapper, PluginMapper]:
    """The SDK's mapper and the one the target uses, on the package's built-in maps."""
    config = BOARDS if boards else {}
    logger = logging.getLogger(package)
    sdk = PluginMapper(plugin_config=mapper_config(config, package), logger=logger)
    target = stream_mapper(config, package, logger)
    assert isinstance(target, CompiledMapper)
    return sdk, target


def outcome(stream_map: Any, record: dict[str, Any]) -> Any:
    try:
        return stream_map.transform(dict(record))
    except Exception as error:  # the SDK's error, compared by type and words
        return (type(error), str(error), repr(error.__cause__))


STREAMS = [(package, stream) for package in PACKAGES for stream in source_fields(package)]


@pytest.mark.parametrize(("package", "stream"), STREAMS)
@pytest.mark.parametrize("boards", [False, True])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_maps_map_as_the_sdk_maps(
    package: str, stream: str, boards: bool, data: st.DataObject
) -> None:
    fields = source_fields(package)[stream]
    record = data.draw(records(fields))
    sdk, target = mappers(package, boards)
    for mapper in (sdk, target):
        if stream not in mapper.stream_maps:
            schema = {"type": "object", "properties": {name: {} for name in fields}}
            mapper.register_raw_stream_schema(stream, schema, ["gid"])
    for expected_map, stream_map in zip(
        sdk.stream_maps[stream], target.stream_maps[stream], strict=True
    ):
        assert stream_map.stream_alias == expected_map.stream_alias
        assert outcome(stream_map, record) == outcome(expected_map, record), (
            stream_map.stream_alias,
            record,
        )


@pytest.mark.parametrize("package", PACKAGES)
def test_every_built_in_expression_is_compiled(package: str) -> None:
    """None is left to simpleeval: a map edited into what Python reads otherwise shows here."""
    _, target = mappers(package, False)
    for stream, fields in source_fields(package).items():
        if stream not in target.stream_maps:
            schema = {"type": "object", "properties": {name: {} for name in fields}}
            target.register_raw_stream_schema(stream, schema, ["gid"])
        for stream_map in target.stream_maps[stream]:
            if not isinstance(stream_map, CustomStreamMap):
                continue
            evaluator = stream_map.expr_evaluator
            assert isinstance(evaluator, CompiledEvaluator)
            for key, expression in builtin_stream_maps(package)[stream_map.stream_alias].items():
                if isinstance(expression, str) and (
                    key == "__filter__" or not key.startswith("__")
                ):
                    assert evaluator.compiled(expression), (stream_map.stream_alias, key)
