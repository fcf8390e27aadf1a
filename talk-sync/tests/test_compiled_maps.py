"""Compiled stream-map expressions: the SDK evaluator's values and errors, faster."""

from __future__ import annotations

import ast
import logging
from typing import Any

import pytest
from singer_sdk.exceptions import MapExpressionError
from singer_sdk.mapper import PluginMapper
from talk_sync.builtin_maps import stream_mapper
from talk_sync.compiled_maps import CompiledEvaluator, CompiledMapper, evaluates_alike

LOGGER = logging.getLogger("test")


def mapped(mapper_class: type[PluginMapper], expressions: dict[str, str], record: dict) -> Any:
    maps = {"things": {"__else__": "__NULL__", **expressions}}
    mapper = mapper_class(plugin_config={"stream_maps": maps}, logger=LOGGER)
    mapper.register_raw_stream_schema("things", {"properties": {"a": {}}}, None)
    (stream_map,) = mapper.stream_maps["things"]
    if mapper_class is CompiledMapper:
        assert isinstance(stream_map.expr_evaluator, CompiledEvaluator)
    return stream_map.transform(record)


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        ("'x:' + a", {"a": "1"}),
        ("[m['p'] for m in (a or []) if m.get('p') and b in config_names]", {"a": [], "b": 1}),
        ("[v for v in [a] if v == b][0] if a else None", {"a": "q", "b": "q"}),
        ("a[:2] if a else str(b)", {"a": None, "b": 7}),
        ("bool(a) and not b", {"a": 1, "b": ""}),
        ("a.b", {"a": {"b": 5}}),  # simpleeval reads a key as an attribute: so does this
        ("json.dumps(a)", {"a": {"b": 5}}),
    ],
)
def test_values_are_the_sdk_evaluator_s(expression: str, record: dict) -> None:
    expressions = {"v": expression.replace("config_names", "[1]")}
    assert mapped(CompiledMapper, expressions, record) == mapped(PluginMapper, expressions, record)


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        ("'x:' + missing", {"a": "1"}),  # a field the record lacks
        ("'x:' + a", {"a": 1}),
        ("a['gid']", {"a": None}),
    ],
)
def test_errors_are_the_sdk_evaluator_s(expression: str, record: dict) -> None:
    errors = []
    for mapper_class in (PluginMapper, CompiledMapper):
        with pytest.raises((MapExpressionError, TypeError)) as raised:
            mapped(mapper_class, {"v": expression}, record)
        errors.append((type(raised.value), str(raised.value)))
    assert errors[0] == errors[1]
    if "missing" in expression:
        assert errors[1][0] is MapExpressionError


@pytest.mark.parametrize(
    "expression",
    ["a.__class__", "'{}'.format(a)", "a ** 2", "'x' * 3", "(lambda: 1)()", "f'{a}'", "[*a]"],
)
def test_what_simpleeval_refuses_or_limits_is_left_to_it(expression: str) -> None:
    assert not evaluates_alike(ast.parse(expression, mode="eval"))


def test_stream_maps_from_the_config_run_on_the_sdk_s_mapper() -> None:
    config = {"stream_maps": {"things": {"v": "'x:' + a"}}}
    mapper = stream_mapper(config, "target_custompms", LOGGER)
    assert type(mapper) is PluginMapper
    assert isinstance(stream_mapper({}, "target_custompms", LOGGER), CompiledMapper)
