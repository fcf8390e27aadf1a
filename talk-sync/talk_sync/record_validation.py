"""Record validation compiled once per stream (:class:`CompiledRecordValidator`).

The SDK's default validator (``jsonschema``) walks the schema for every record: about
1.5 ms for a mapped Asana task, whose ``_source`` carries the whole tasks schema, and the
largest per-record cost of a target. ``fastjsonschema`` turns the schema into Python code
once, so a record costs tens of microseconds. What is valid is the same: the schema is
still checked by ``jsonschema`` first (the SDK's refusal of a broken schema), string
formats are checked only when the sink asks for it, as in the SDK, and defaults are never
filled in (the SDK's validator does not either). A schema that uses what the two read
differently (JSON Schema 2020-12 keywords fastjsonschema lacks, a ``$ref`` beside other
keywords or to another document, which fastjsonschema would download) or that asks for
string formats is validated by the SDK's own validator, as are schemas it cannot compile.

An invalid record's error names the stream, the record (by its key fields) and the field,
e.g. ``task_task record external_id=asana-task:77: field 'name' must be string or null
(got 12)``; the SDK's names neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator, Sink
from typing_extensions import override

#: The name fastjsonschema gives the validated record in its messages (``data.name ...``).
_ROOT = "data"
#: Longest value quoted in an error: a record's field may hold a whole object.
_MAX_VALUE_CHARS = 80
#: Keywords the SDK's validator (JSON Schema 2020-12) and fastjsonschema (up to draft 2019,
#: without these) do not read alike: a schema with one, even as a property name (the check
#: does not tell them apart), is validated by the SDK's validator.
_NOT_ALIKE = frozenset(
    {
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "additionalItems",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "maxContains",
        "minContains",
        "prefixItems",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
#: Keywords that may stand beside a ``$ref`` without changing what it validates.
_REF_NEIGHBOURS = frozenset({"$ref", "$defs", "definitions", "title", "description", "$comment"})


def compiles_alike(schema: object) -> bool:
    """Whether fastjsonschema validates ``schema`` as the SDK's validator does."""
    if isinstance(schema, list):
        return all(compiles_alike(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if _NOT_ALIKE.intersection(schema):
        return False
    if "$ref" in schema:
        ref = schema["$ref"]
        if not (isinstance(ref, str) and ref.startswith("#")) or set(schema) - _REF_NEIGHBOURS:
            return False
    return all(compiles_alike(value) for value in schema.values())


class CompiledRecordValidator(BaseJSONSchemaValidator):
    """Validates a stream's records with code compiled from its schema once.

    ``stream_name`` and ``key_fields`` (the fields naming a record, e.g. ``external_id``)
    only word the error of an invalid record.
    """

    def __init__(
        self,
        schema: dict[str, Any],
        *,
        stream_name: str,
        key_fields: Sequence[str] = (),
        validate_formats: bool = False,
    ) -> None:
        super().__init__(schema)
        self.stream_name = stream_name
        self.key_fields = tuple(key_fields)
        # The SDK's validator checks the schema (its refusal of a broken one, word for word)
        # and validates what fastjsonschema would read differently.
        self._sdk_validator = JSONSchemaValidator(schema, validate_formats=validate_formats)
        self._check: Callable[[Any], Any] | None = None
        if not validate_formats and compiles_alike(schema):
            try:
                self._check = fastjsonschema.compile(schema, use_default=False, use_formats=False)
            except fastjsonschema.JsonSchemaDefinitionException:
                self._check = None

    @override
    def validate(self, record: dict[str, Any]) -> None:
        if self._check is not None:
            try:
                self._check(record)
            except fastjsonschema.JsonSchemaValueException as error:
                raise InvalidRecord(self.describe(record, error), record) from error
            return
        try:
            self._sdk_validator.validate(record)
        except InvalidRecord as error:
            # The cause is jsonschema's ValidationError, which knows where the error is.
            path = getattr(error.__cause__, "absolute_path", ())
            field = ".".join(str(part) for part in path)
            where = f"field {field!r}: " if field else ""
            message = f"{self.record_name(record)}: {where}{error.error_message}"
            raise InvalidRecord(message, record) from error

    def record_name(self, record: Mapping[str, Any]) -> str:
        """The record in an error: its stream and key fields, e.g. ``teams record gid=5``."""
        keys = ", ".join(f"{name}={record[name]}" for name in self.key_fields if name in record)
        return f"{self.stream_name} record {keys}" if keys else f"{self.stream_name} record"

    def describe(
        self, record: Mapping[str, Any], error: fastjsonschema.JsonSchemaValueException
    ) -> str:
        """What is wrong with ``record``, naming it and the field (the record itself: none)."""
        name = error.name or _ROOT
        message = error.message or ""
        # fastjsonschema says "data.name must be ...": the field, then what it must be.
        rule = message[len(name) :].strip() if message.startswith(name) else message
        field = name[len(_ROOT) + 1 :] if name.startswith(_ROOT + ".") else ""
        subject = f"field {field!r}" if field else "the record"
        got = ""
        if field and not isinstance(error.value, (dict, list)):
            value = repr(error.value)
            if len(value) > _MAX_VALUE_CHARS:
                value = value[: _MAX_VALUE_CHARS - 3] + "..."
            got = f" (got {value})"
        return f"{self.record_name(record)}: {subject} {rule}{got}"


def record_validator(sink: Sink, key_fields: Sequence[str]) -> BaseJSONSchemaValidator | None:
    """The validator a talk-sync sink uses (``Sink.get_validator``); ``None`` when the
    ``validate_records`` setting is off, as the SDK's."""
    if not sink.validate_schema:
        return None
    return CompiledRecordValidator(
        sink.schema,
        stream_name=sink.stream_name,
        key_fields=key_fields,
        validate_formats=sink.validate_field_string_format,
    )
