"""The committed subset of Asana's OpenAPI description, as runtime validators.

The subset (oas/asana_oas_subset.json) is extracted from Asana's official description by
scripts/extract_oas_subset.py. The sandbox uses it to reject query parameters and request
bodies the description does not allow; the tests use it to validate every response.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from asana_sandbox.errors import bad_request

API_PREFIX = "/api/1.0"
_REF_PREFIX = "#/components/schemas/"


@cache
def load_description() -> dict[str, Any]:
    """Return the committed OpenAPI subset as a dict."""
    text = resources.files("asana_sandbox.oas").joinpath("asana_oas_subset.json").read_text()
    return json.loads(text)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow one local $ref (parameters, responses, schemas) inside the subset."""
    while "$ref" in node:
        _, _, section, name = node["$ref"].split("/", 3)
        node = load_description()["components"][section][name]
    return node


def to_json_schema(node: Any) -> Any:
    """Convert an OAS 3.0 schema to JSON Schema (draft 2020-12).

    OAS 3.0 expresses null with ``nullable: true``, also as a sibling inside ``allOf``
    (``allOf: [{$ref: UserCompact}, {nullable: true}]``); JSON Schema needs ``null`` in the
    type or an ``anyOf``. Refs are rewritten to ``#/$defs/<name>``.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in {
            "nullable",
            "example",
            "x-insert-after",
            "x-env-variable",
            "readOnly",
            "writeOnly",
        }:
            continue
        if key == "$ref":
            out["$ref"] = "#/$defs/" + value.removeprefix(_REF_PREFIX)
        elif key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "enum":
            out[key] = list(value)
        else:
            out[key] = to_json_schema(value)
    members = node.get("allOf", [])
    nullable = node.get("nullable") or any(
        isinstance(member, dict) and member.get("nullable") for member in members
    )
    if not nullable:
        return out
    if "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"].append(None)
        return out
    return {"anyOf": [{"type": "null"}, out]}


#: Where the description's schema contradicts its own text, the text wins (documented in README):
#: setParent says "The new parent of the task, or `null` for no parent" but types it a string;
#: EventResponse says "The parent will be `null` for other event types" and system events
#: "will have `null` as the user", but neither is marked nullable.
ERRATA_NULLABLE = {
    ("TaskSetParentRequest", "parent"),
    ("EventResponse", "parent"),
    ("EventResponse", "user"),
}


@cache
def schema_defs() -> dict[str, Any]:
    """All component schemas of the subset, converted, keyed by name."""
    schemas = load_description()["components"]["schemas"]
    defs = {name: to_json_schema(schema) for name, schema in schemas.items()}
    for schema_name, prop in ERRATA_NULLABLE:
        properties = defs[schema_name]["properties"]
        properties[prop] = {"anyOf": [{"type": "null"}, properties[prop]]}
    return defs


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        raise ValueError(value)
    date.fromisoformat(value)
    return True


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if isinstance(value, str):
        parse_datetime(value)
    return True


def parse_datetime(value: str, *, assume_utc: bool = False) -> datetime:
    """Parse an ISO 8601 date-time (``Z`` or an offset).

    Asana always answers with a zone, so responses are checked strictly; in requests the
    live API takes a date-time without a zone as UTC (``assume_utc``), and clients send it.
    """
    text = value.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text):
        raise ValueError(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        if not assume_utc:
            raise ValueError(value)
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


#: Request bodies: the same formats, but a date-time without a zone is UTC (as live).
_REQUEST_FORMATS = jsonschema.FormatChecker(formats=())
_REQUEST_FORMATS.checks("date", raises=ValueError)(_is_date)


@_REQUEST_FORMATS.checks("date-time", raises=ValueError)
def _is_request_date_time(value: object) -> bool:
    if isinstance(value, str):
        parse_datetime(value, assume_utc=True)
    return True


def validator_for(
    schema: dict[str, Any], *, request: bool = False
) -> jsonschema.Draft202012Validator:
    """A validator for one converted schema, with the subset's schemas as $defs.

    Responses (``request=False``) are checked strictly; requests as the live API reads them.
    """
    return jsonschema.Draft202012Validator(
        {**schema, "$defs": schema_defs()},
        format_checker=_REQUEST_FORMATS if request else _FORMATS,
    )


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of an operation."""

    name: str
    location: str
    required: bool
    schema: dict[str, Any]


@dataclass
class Operation:
    """One operation of the description: its parameters, body and response schemas."""

    method: str
    path: str
    operation_id: str
    parameters: dict[str, Parameter]
    body_schema: dict[str, Any] | None
    responses: dict[str, dict[str, Any] | None]
    opt_fields: frozenset[str] = field(default_factory=frozenset)

    @property
    def route(self) -> str:
        """Path template under the API prefix, as reported in stats."""
        return API_PREFIX + self.path

    def query_parameters(self) -> dict[str, Parameter]:
        """Declared query parameters by name."""
        return {name: p for name, p in self.parameters.items() if p.location == "query"}

    def response_schema(self, status: int) -> dict[str, Any] | None:
        """Converted schema for a status (falls back to ``default``), or None if undeclared."""
        schema = self.responses.get(str(status), self.responses.get("default"))
        return None if schema is None else to_json_schema(schema)

    def validate_query(self, query: dict[str, str]) -> dict[str, Any]:
        """Check the query string against the declared parameters; return typed values."""
        declared = self.query_parameters()
        typed: dict[str, Any] = {}
        for name, raw in query.items():
            param = declared.get(name)
            if param is None:
                raise bad_request(
                    f"{name}: Unknown parameter for {self.method.upper()} {self.path}"
                )
            typed[name] = _coerce(param, raw)
        for name, param in declared.items():
            if param.required and name not in typed:
                raise bad_request(f"{name}: Missing input")
        return typed

    def unknown_opt_fields(self, paths: list[str]) -> list[str]:
        """The field paths the description does not describe for this operation.

        Live Asana ignores them (long-lived clients still ask for retired fields), so the
        caller drops them rather than refusing the request. The operation's enum lists paths
        one or two levels deep (``assignee.name``); Asana also accepts deeper paths through
        linked records (``assignee.email``), so a path not listed is known when it resolves
        through the response schema, where a compact record (``UserCompact``) also offers
        the fields of its full form (``UserResponse``).
        """
        record = self._record_schema()
        return [
            path
            for path in paths
            if path not in self.opt_fields
            and path not in _ENVELOPE_FIELDS
            and (record is None or not _resolves(record, path.split(".")))
        ]

    @property
    def paginated(self) -> bool:
        """Whether the list answers with ``next_page`` (some lists, like users, do not)."""
        schema = self.responses.get("200")
        return schema is not None and "next_page" in _resolve(schema).get("properties", {})

    def _record_schema(self) -> dict[str, Any] | None:
        for status in ("200", "201"):
            schema = self.responses.get(status)
            if schema is not None:
                return _resolve(schema).get("properties", {}).get("data")
        return None

    def validate_body(self, body: Any) -> dict[str, Any]:
        """Check a JSON body ``{"data": {...}}`` against the declared request schema."""
        if self.body_schema is None:
            return {}
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise bad_request('data: Missing input. Request bodies are {"data": {...}}')
        data = body["data"]
        data_schema = _resolve(self.body_schema["properties"]["data"])
        declared = _declared_properties(data_schema)
        for key in data:
            if key not in declared:
                raise bad_request(f"{key}: Unknown field")
        error = jsonschema.exceptions.best_match(
            validator_for(to_json_schema(self.body_schema), request=True).iter_errors(body)
        )
        if error is not None:
            where = ".".join(str(part) for part in error.absolute_path if part != "data") or "data"
            raise bad_request(f"{where}: {error.message}")
        return data


#: Enum entries that describe the list envelope (next_page), not the records.
_ENVELOPE_FIELDS = {"offset", "path", "uri"}


def _properties(node: dict[str, Any], seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Properties a schema offers to ``opt_fields``: merged through refs, allOf and arrays,
    and for a compact schema those of its full form too (``seen`` stops the cycles)."""
    schemas = load_description()["components"]["schemas"]
    props: dict[str, Any] = {}
    while "$ref" in node:
        name = node["$ref"].removeprefix(_REF_PREFIX)
        if name in seen:
            return props
        seen = seen | {name}
        full = name.removesuffix("Compact") + "Response"
        if name.endswith("Compact") and full in schemas and full not in seen:
            props.update(_properties(schemas[full], seen))
        node = schemas[name]
    if node.get("type") == "array" and "items" in node:
        props.update(_properties(node["items"], seen))
    for member in node.get("allOf", []) + node.get("anyOf", []) + node.get("oneOf", []):
        props.update(_properties(member, seen))
    props.update(node.get("properties", {}))
    return props


def _resolves(node: dict[str, Any], parts: list[str]) -> bool:
    props = _properties(node)
    head = parts[0]
    if head not in props:
        return False
    return len(parts) == 1 or _resolves(props[head], parts[1:])


def _declared_properties(schema: dict[str, Any]) -> set[str]:
    """Names of the properties a (possibly allOf-composed) schema declares."""
    schema = _resolve(schema)
    names = set(schema.get("properties", {}))
    for member in schema.get("allOf", []):
        names |= _declared_properties(member)
    return names


def _coerce(param: Parameter, raw: str) -> Any:
    """Convert one query value to its declared type, or raise a 400."""
    schema = param.schema
    kind = schema.get("type")
    name = param.name
    if kind == "integer":
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"{name}: Not an integer: {raw!r}") from None
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad_request(f"{name}: Must be between {low} and {high}, got {value}")
        return value
    if kind == "boolean":
        if raw == "" and name == "opt_pretty":
            return True  # allowEmptyValue: a bare ?opt_pretty asks for pretty output
        if raw.lower() not in {"true", "false"}:
            raise bad_request(f"{name}: Not a boolean: {raw!r}")
        return raw.lower() == "true"
    if kind == "array":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if schema.get("format") == "date-time" or name in {"completed_since", "modified_since"}:
        if name == "completed_since" and raw == "now":
            return raw
        try:
            return parse_datetime(raw, assume_utc=True)
        except ValueError:
            raise bad_request(f"{name}: Not a valid date-time: {raw!r}") from None
    return raw


def _operation(method: str, path: str, item: dict[str, Any], op: dict[str, Any]) -> Operation:
    params: dict[str, Parameter] = {}
    for node in [*item.get("parameters", []), *op.get("parameters", [])]:
        resolved = _resolve(node)
        params[resolved["name"]] = Parameter(
            name=resolved["name"],
            location=resolved["in"],
            required=bool(resolved.get("required")),
            schema=resolved.get("schema", {}),
        )
    if method == "get" and "limit" not in params and ("offset" in params or path == "/events"):
        # The official client sends limit=100 on every paginated call, including /events and
        # the users lists where the description declares no limit; Asana accepts it there.
        limit = _resolve({"$ref": "#/components/parameters/limit"})
        params["limit"] = Parameter("limit", "query", False, limit["schema"])
    opt_fields = params.get("opt_fields")
    enum = opt_fields.schema.get("items", {}).get("enum", []) if opt_fields else []
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    responses: dict[str, dict[str, Any] | None] = {}
    for status, response in op.get("responses", {}).items():
        content = _resolve(response).get("content", {}).get("application/json", {})
        responses[status] = content.get("schema")
    return Operation(
        method=method,
        path=path,
        operation_id=op["operationId"],
        parameters=params,
        body_schema=body,
        responses=responses,
        opt_fields=frozenset(enum),
    )


@cache
def operations() -> dict[tuple[str, str], Operation]:
    """Every operation of the subset keyed by (method, path template)."""
    ops: dict[tuple[str, str], Operation] = {}
    for path, item in load_description()["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                ops[(method, path)] = _operation(method, path, item, op)
    return ops


def operation(method: str, path: str) -> Operation:
    """The operation for a method and a path template (raises KeyError if not in the subset)."""
    return operations()[(method.lower(), path)]
