"""The HTTP routes of one resource: list, create, get, patch, delete and bulk upsert."""

# No `from __future__ import annotations` here: FastAPI reads these signatures at runtime and
# they name per-resource models bound in the closure of resource_router(), which string
# annotations could not resolve.

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from custompms.auth import require_token
from custompms.models import MAX_BULK_RECORDS, BulkResponse, Page, Problem, UtcDatetime
from custompms.problems import ApiError, fault
from custompms.resources import Resource
from custompms.store import Store

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$|^\s*\*\s*$')

RecordIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="Record id.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Expected version: 3, "3" or W/"3" (* matches any). Stale -> 412.',
        pattern=_IF_MATCH.pattern,
        max_length=64,
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Replaying a key returns the first response and creates nothing.",
        min_length=1,
        max_length=255,
    ),
]


UpdatedSince = Annotated[
    UtcDatetime | None,
    Query(description="Only records with updated_at at or after this moment (RFC 3339)."),
]


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header asks for; None when absent or ``*``."""
    if if_match is None:
        return None
    match = _IF_MATCH.match(if_match)
    if match is None:  # FastAPI checks the pattern first; this keeps the function total.
        raise ApiError(
            422,
            "validation-error",
            "If-Match must be a version.",
            errors=[fault("header", "If-Match", 'expected 3, "3" or W/"3"')],
        )
    return int(match.group(1)) if match.group(1) else None


def query_parameters(*known: str) -> Any:
    """Dependency: 422 for query parameters other than ``known``.

    A misspelt filter (``updatedSince``) silently ignored would turn an incremental read into
    a full one; naming it is kinder.
    """

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(known))
        if unknown:
            raise ApiError(
                422,
                "unknown-parameter",
                f"Unknown query parameter(s): {', '.join(map(repr, unknown))}.",
                errors=[fault("parameter", name, "not defined here") for name in unknown],
            )

    return Depends(check)


def _store(request: Request) -> Store:
    return request.app.state.store


def resource_router(resource: Resource) -> APIRouter:
    """All routes of one resource, behind bearer auth."""
    router = APIRouter(
        prefix=f"/api/v1/{resource.name}",
        tags=[resource.name],
        dependencies=[Depends(require_token)],
    )
    record_model = resource.record
    create_model = resource.create
    patch_model = resource.patch
    one, many = resource.singular, resource.name
    bulk_records = Annotated[
        list[Any],
        # Items are validated one by one so that a bad one fails alone; the contract still
        # documents their schema.
        WithJsonSchema(
            {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{resource.bulk_item.__name__}"},
                "maxItems": MAX_BULK_RECORDS,
            }
        ),
        Body(embed=True, max_length=MAX_BULK_RECORDS, description="Records to upsert."),
    ]

    @router.get(
        "",
        response_model=Page[record_model],
        operation_id=f"list_{many}",
        dependencies=[query_parameters("updated_since", "limit", "cursor", "include_deleted")],
        summary=f"List {many} by (updated_at, id)",
        responses=problems(401, 422),
    )
    def list_records(
        request: Request,
        updated_since: UpdatedSince = None,
        limit: Annotated[int, Query(ge=1, le=MAX_BULK_RECORDS, description="Page size.")] = 100,
        # An empty cursor is refused rather than read as "from the start": a client that lost
        # its cursor must not silently restart the walk.
        cursor: Annotated[
            str | None,
            Query(min_length=1, max_length=200, description="next_cursor of the previous page."),
        ] = None,
        include_deleted: Annotated[bool, Query(description="Include tombstones.")] = False,
    ) -> Any:
        data, next_cursor = _store(request).list(
            resource,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
            include_deleted=include_deleted,
        )
        return {"data": data, "next_cursor": next_cursor}

    @router.post(
        "",
        status_code=201,
        response_model=record_model,
        operation_id=f"create_{one}",
        dependencies=[query_parameters()],
        summary=f"Create a {one}",
        responses=problems(400, 401, 409, 422),
    )
    def create_record(
        request: Request, body: create_model, idempotency_key: IdempotencyKey = None
    ) -> Any:
        status, record, replayed = _store(request).create(
            resource, body.model_dump(), idempotency_key=idempotency_key
        )
        headers = {"Location": f"{router.prefix}/{record['id']}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(record, status_code=status, headers=headers)

    @router.post(
        "/bulk",
        response_model=BulkResponse[record_model],
        operation_id=f"bulk_upsert_{many}",
        dependencies=[query_parameters()],
        summary=f"Create or update up to {MAX_BULK_RECORDS} {many} in one transaction",
        responses=problems(400, 401, 422),
    )
    def bulk_upsert(request: Request, records: bulk_records) -> Any:
        # Rendered directly: the results are built in the contract's shape, and a problem
        # omits the members it does not use.
        return JSONResponse({"results": _store(request).bulk_upsert(resource, records)})

    @router.get(
        "/{id}",
        response_model=record_model,
        operation_id=f"get_{one}",
        dependencies=[query_parameters()],
        summary=f"Get one {one} (tombstones too)",
        responses=problems(401, 404, 422),
    )
    def get_record(request: Request, id: RecordIdPath) -> Any:
        return _store(request).get(resource, id)

    @router.patch(
        "/{id}",
        response_model=record_model,
        operation_id=f"update_{one}",
        dependencies=[query_parameters()],
        summary=f"Change some fields of a {one}",
        responses=problems(400, 401, 404, 409, 412, 422),
    )
    def update_record(
        request: Request, id: RecordIdPath, body: patch_model, if_match: IfMatch = None
    ) -> Any:
        return _store(request).patch(
            resource,
            id,
            body.model_dump(exclude_unset=True),
            expected_version=expected_version(if_match),
        )

    @router.delete(
        "/{id}",
        response_model=record_model,
        operation_id=f"delete_{one}",
        dependencies=[query_parameters()],
        summary=f"Soft-delete a {one} (tombstone)",
        responses=problems(401, 404, 412, 422),
    )
    def delete_record(request: Request, id: RecordIdPath, if_match: IfMatch = None) -> Any:
        return _store(request).delete(resource, id, expected_version=expected_version(if_match))

    return router


_DESCRIPTIONS = {
    400: "Malformed JSON body.",
    401: "Missing or wrong bearer token.",
    404: "No such record.",
    409: "external_id already in use, or the record is deleted.",
    412: "If-Match names a stale version; the body carries current_version and current.",
    422: "A field, header or parameter is invalid; errors[] names it.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses entries for problem+json errors (media type fixed in openapi.py)."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}
