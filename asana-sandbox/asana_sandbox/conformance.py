"""Check sandbox responses against Asana's official description (the committed subset).

``ValidatingClient`` is an ``httpx.Client`` that validates every response body against the
schema the description declares for that operation and status (JSON Schema, after the OAS
3.0 nullable conversion) and fails on keys the description does not declare, unless
``opt_fields`` asked for them. The sandbox's own tests use it; other packages may too.
Needs ``httpx`` (the ``testing`` extra).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx

from asana_sandbox import routes as _routes  # noqa: F401 - registers every route
from asana_sandbox.router import match
from asana_sandbox.spec import API_PREFIX, schema_defs, validator_for


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schema_defs()[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def _declared(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Properties a schema declares, merged through allOf."""
    schema = _resolve(schema)
    props: dict[str, dict[str, Any]] = {}
    for member in schema.get("allOf", []):
        props.update(_declared(member))
    props.update(schema.get("properties", {}))
    return props


def undeclared(instance: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys a response carries that the description does not declare (stricter than JSON Schema)."""
    schema = _resolve(schema)
    if instance is None:
        return []
    for branch in schema.get("anyOf", []):
        if _resolve(branch).get("type") != "null":
            return undeclared(instance, branch, where)
    if isinstance(instance, list):
        items = schema.get("items")
        if items is None:
            members = [m for m in schema.get("allOf", []) if "items" in _resolve(m)]
            items = _resolve(members[0])["items"] if members else None
        return (
            [p for i, item in enumerate(instance) for p in undeclared(item, items, f"{where}[{i}]")]
            if items
            else []
        )
    if not isinstance(instance, dict):
        return []
    props = _declared(schema)
    if not props:
        return []  # a free-form object (EmptyResponse, batch bodies...)
    problems = [f"{where}.{key}" for key in instance if key not in props]
    for key, value in instance.items():
        if key in props:
            problems += undeclared(value, props[key], f"{where}.{key}")
    return problems


#: Errors Asana answers on any operation without each declaring them: 429 (rate limits), 503
#: and 504 (components.responses ServiceUnavailable and GatewayTimeout, declared by a few
#: operations; getProjects says it "may timeout for large domains" but declares no 504).
UNDECLARED_ERRORS = {429, 503, 504}


def _field_path(problem: str) -> str:
    """``.data[0].assignee.email`` -> ``assignee.email`` (what opt_fields names)."""
    return re.sub(r"\[\d+\]", "", problem).removeprefix(".data").lstrip(".")


def _requested(path: str, requested: set[str]) -> bool:
    return any(name == path or name.startswith(path + ".") for name in requested)


class ValidatingClient(httpx.Client):
    """An httpx client that checks every sandbox response against the description."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Like httpx.Client; also counts validated responses per (method, route, status)."""
        super().__init__(*args, **kwargs)
        self.validated: Counter[tuple[str, str, int]] = Counter()

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        """Send, then validate the body against the operation's response schema."""
        response = super().request(method, url, *args, **kwargs)
        path = response.request.url.path.removeprefix(API_PREFIX)
        found = match(method.lower(), path)
        if found is None:
            return response
        target, _ = found
        op = target.op
        schema = op.response_schema(response.status_code)
        if schema is None and response.status_code in UNDECLARED_ERRORS:
            # Asana documents 429/503/504 globally (rate limits, errors pages), not per
            # operation: their bodies are the description's ErrorResponse.
            schema = {"$ref": "#/$defs/ErrorResponse"}
        assert schema is not None, (
            f"{method} {op.path}: status {response.status_code} is not declared"
        )
        body = response.json()
        errors = sorted(validator_for(schema).iter_errors(body), key=str)
        assert not errors, f"{method} {op.path} {response.status_code}: {errors[0].message}"
        requested = set(response.request.url.params.get("opt_fields", "").split(","))
        extra = [
            key for key in undeclared(body, schema) if not _requested(_field_path(key), requested)
        ]
        assert not extra, f"{method} {op.path} {response.status_code}: undeclared {extra[:5]}"
        self.validated[(method.lower(), op.path, response.status_code)] += 1
        return response
