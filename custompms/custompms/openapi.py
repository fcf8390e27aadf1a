"""The OpenAPI document: FastAPI's generation, adjusted to say exactly what the server does."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from custompms.problems import PROBLEM_MEDIA_TYPE
from custompms.resources import RESOURCES


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """Build the contract from the app's routes and models."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=[{"url": "/", "description": "This server"}],
    )
    schemas = document["components"]["schemas"]
    # Bulk items are validated one by one in the handler, so FastAPI never sees their models;
    # add them so the request body's $ref resolves.
    for resource in RESOURCES.values():
        schema = resource.bulk_item.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[resource.bulk_item.__name__] = schema
    for path_item in document["paths"].values():
        for operation in path_item.values():
            _problem_media_type(operation)
    return _readable_generic_names(document)


_GENERIC_NAME = re.compile(r"\b(Page|BulkResult|BulkResponse)_(\w+?)_\b")


def _readable_generic_names(document: dict[str, Any]) -> dict[str, Any]:
    # Pydantic names generic schemas Page_Customer_ and FastAPI embedded bodies
    # Body_<operation>; clients generated from the contract
    # read better with CustomerPage (the models' own model_parametrized_name).
    text = _GENERIC_NAME.sub(r"\2\1", json.dumps(document))
    for resource in RESOURCES.values():  # and names the embedded bulk body Body_bulk_upsert_x
        text = text.replace(
            f'Body_bulk_upsert_{resource.name}"', f'{resource.record.__name__}BulkRequest"'
        )
    return json.loads(text)


def _problem_media_type(operation: dict[str, Any]) -> None:
    # FastAPI files every response model under application/json; errors are problem+json.
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        if int(status) >= 400 and "application/json" in content:
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")


def render(document: dict[str, Any]) -> str:
    """The committed form: pretty, key-sorted, newline-terminated (stable diffs)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
