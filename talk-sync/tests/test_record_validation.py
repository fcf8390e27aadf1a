"""The targets' record validator: the SDK validator's verdicts, compiled, with clearer errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks.core import JSONSchemaValidator
from talk_sync.record_validation import CompiledRecordValidator, compiles_alike

TASK = {
    "type": "object",
    "properties": {
        "gid": {"type": "string"},
        "name": {"type": ["string", "null"], "default": "unnamed"},
        "num_likes": {"type": ["integer", "null"]},
        "ratio": {"type": ["number", "null"]},
        "due_on": {"type": ["string", "null"], "format": "date"},
        "memberships": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "properties": {"project": {"type": "object", "required": ["gid"]}},
            },
        },
    },
    "required": ["gid"],
}


def verdict(validator: Any, record: dict[str, Any]) -> bool:
    try:
        validator.validate(record)
    except InvalidRecord:
        return False
    return True


@pytest.mark.parametrize(
    "record",
    [
        {"gid": "1"},
        {"gid": 1},
        {"name": "no gid"},
        {"gid": "1", "name": None, "num_likes": 3, "ratio": Decimal("0.5")},
        {"gid": "1", "num_likes": Decimal("3.0")},
        {"gid": "1", "num_likes": True},
        {"gid": "1", "ratio": "0.5"},
        {"gid": "1", "due_on": "not a date"},  # formats are not checked, as in the SDK
        {"gid": "1", "memberships": [{"project": {"gid": "2"}}, {"project": {}}]},
        {"gid": "1", "memberships": [{"section": {}}]},
        {"gid": "1", "extra": object()},
    ],
)
def test_the_same_verdict_as_the_sdk_validator(record: dict[str, Any]) -> None:
    compiled = CompiledRecordValidator(TASK, stream_name="tasks")
    assert verdict(compiled, dict(record)) == verdict(JSONSchemaValidator(TASK), dict(record))


def test_defaults_are_not_filled_in() -> None:
    record = {"gid": "1"}
    CompiledRecordValidator(TASK, stream_name="tasks").validate(record)
    assert record == {"gid": "1"}


def test_an_error_names_the_stream_the_record_and_the_field() -> None:
    validator = CompiledRecordValidator(TASK, stream_name="tasks", key_fields=["gid"])
    with pytest.raises(InvalidRecord) as invalid:
        validator.validate(
            {"gid": "7", "memberships": [{"project": {"gid": "2"}}, {"project": {}}]}
        )
    assert invalid.value.error_message == (
        "tasks record gid=7: field 'memberships[1].project' must contain ['gid'] properties"
    )
    with pytest.raises(InvalidRecord) as invalid:
        validator.validate({"name": "x" * 200})
    assert invalid.value.error_message == "tasks record: the record must contain ['gid'] properties"
    with pytest.raises(InvalidRecord) as invalid:
        validator.validate({"gid": "8", "num_likes": "x" * 200})
    message = invalid.value.error_message
    assert message.startswith("tasks record gid=8: field 'num_likes' must be integer or null (got ")
    assert len(message) < 150  # a long value is cut


def test_a_broken_schema_is_refused_as_the_sdk_refuses_it() -> None:
    with pytest.raises(InvalidJSONSchema, match="Schema Validation Error"):
        CompiledRecordValidator(
            {"type": "object", "properties": {"a": {"type": 5}}}, stream_name="s"
        )


@pytest.mark.parametrize(
    "schema",
    [
        # fastjsonschema would download it
        {"properties": {"a": {"$ref": "https://schemas.invalid/a.json"}}},
        {"prefixItems": [{"type": "string"}]},  # 2020-12 only: fastjsonschema ignores it
        {"$ref": "#/$defs/a", "type": "array", "$defs": {"a": {"type": "array"}}},
    ],
)
def test_a_schema_read_differently_is_left_to_the_sdk_validator(schema: dict[str, Any]) -> None:
    assert not compiles_alike(schema)
    validator = CompiledRecordValidator(schema, stream_name="s")
    assert verdict(validator, ["x"]) == verdict(JSONSchemaValidator(schema), ["x"])


def test_the_sdk_validator_s_errors_name_the_record_and_the_field_too() -> None:
    schema = {"properties": {"id": {}, "a": {"prefixItems": [{"type": "string"}]}}}
    validator = CompiledRecordValidator(schema, stream_name="s", key_fields=["id"])
    with pytest.raises(InvalidRecord) as invalid:
        validator.validate({"id": 3, "a": [1]})
    assert invalid.value.error_message == "s record id=3: field 'a.0': 1 is not of type 'string'"


def test_checking_formats_is_left_to_the_sdk_validator() -> None:
    validator = CompiledRecordValidator(TASK, stream_name="tasks", validate_formats=True)
    assert verdict(validator, {"gid": "1", "due_on": "not a date"}) == verdict(
        JSONSchemaValidator(TASK, validate_formats=True), {"gid": "1", "due_on": "not a date"}
    )
