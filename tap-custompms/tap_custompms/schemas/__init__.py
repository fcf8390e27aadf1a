"""Stream schemas, read from the vendored Custompms OpenAPI contract.

`openapi.json` here is a copy of the committed contract (custompms/openapi.json); the tap's
tests fail when the two drift apart, so the schemas never disagree with the API.
"""

from __future__ import annotations

import typing as t
from importlib.resources import files

from singer_sdk import OpenAPISchema
from singer_sdk.schema.source import OpenAPISchemaNormalizer
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Sequence

Schema = dict[str, t.Any]

CONTRACT_FILE = files(__package__) / "openapi.json"
"""The vendored contract, shipped inside the package."""

_NULL = {"type": "null"}


class ContractNormalizer(OpenAPISchemaNormalizer):
    """Turn the contract's component schemas into Singer JSON Schema.

    Unlike the SDK default, it keeps each field's nullability as the contract declares it
    (a required, non-null `name` stays non-null) and folds OpenAPI 3.1's
    `anyOf: [X, {"type": "null"}]` into `X` with a `"null"` type.
    """

    @override
    def handle_object(self, schema: Schema, *, key_properties: Sequence[str] = ()) -> Schema:
        for name, prop_schema in schema.get("properties", {}).items():
            schema["properties"][name] = self.normalize_schema(prop_schema)
        return schema

    @override
    def normalize_schema(self, schema: Schema, *, key_properties: Sequence[str] = ()) -> Schema:
        options = schema.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and _NULL in options:
            (inner,) = (option for option in options if option != _NULL)
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            schema = _with_null(self.normalize_schema(inner)) | rest
        return super().normalize_schema(schema, key_properties=key_properties)


def _with_null(schema: Schema) -> Schema:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    return {**schema, "type": types if "null" in types else [*types, "null"]}


CONTRACT = OpenAPISchema(CONTRACT_FILE, preprocessor=ContractNormalizer())
"""Schema source keyed by the contract's component names (`Customer`, `Project`, `Task`)."""
