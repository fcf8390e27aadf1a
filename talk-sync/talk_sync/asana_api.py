"""The Asana API as tap-asana-talk and target-asana-talk both speak it.

- Paging: a list answers ``{"data": [...], "next_page": {"offset": ...}}``, at most
  :data:`PAGE_SIZE` records a page; :func:`pages` follows the offsets.
- Errors: a refusal answers ``{"errors": [{"message": ...}]}``; :func:`error_text` and
  :func:`first_error_message` read it, :func:`error_field` the field a message names.
- Fields: :func:`opt_fields` asks for exactly the properties of a JSON schema.

Transport, retries and pacing stay with each plugin: the tap goes through the Singer SDK's
request loop, the target through its own client, which batches and never resends a create.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

#: Asana's largest page.
PAGE_SIZE = 100
#: Where a page names the offset of the next one (a JSONPath, for the SDK's paginator).
NEXT_PAGE_OFFSET_JSONPATH = "$.next_page.offset"
#: Fields Asana returns whether asked or not; never requested through ``opt_fields``.
ALWAYS_RETURNED = frozenset({"gid", "resource_type"})
#: An Asana error message naming its field: ``"name: Missing input"``.
_FIELD_PREFIX = re.compile(r"^([a-z_][a-z_.]*): ")


# --- paging -----------------------------------------------------------------------------------


def next_offset(page: Mapping[str, Any]) -> str | None:
    """The offset of the page after ``page``; ``None`` on the last page."""
    return (page.get("next_page") or {}).get("offset") or None


def pages(
    get_page: Callable[[dict[str, Any]], Mapping[str, Any]], params: Mapping[str, Any]
) -> Iterator[Mapping[str, Any]]:
    """Each page of a listing, first to last: ``get_page(query)`` answers one ``GET``.

    Every query asks for :data:`PAGE_SIZE` records; those after the first carry the offset
    the previous page handed out.
    """
    first = {**params, "limit": PAGE_SIZE}
    query = first
    while True:
        page = get_page(dict(query))
        yield page
        offset = next_offset(page)
        if not offset:
            return
        query = {**first, "offset": offset}


# --- errors -----------------------------------------------------------------------------------


def _errors(body: Any) -> list[Any]:
    errors = body.get("errors") if isinstance(body, Mapping) else None
    return errors if isinstance(errors, list) else []


def error_text(body: Any) -> str:
    """Every message of an Asana error body, joined by ``"; "``; ``""`` when there is none."""
    return "; ".join(
        str(error.get("message", "")) for error in _errors(body) if isinstance(error, Mapping)
    )


def first_error_message(body: Any, fallback: str) -> str:
    """The first message of an Asana error body, else ``fallback``."""
    errors = _errors(body)
    if errors and isinstance(errors[0], Mapping) and errors[0].get("message"):
        return str(errors[0]["message"])
    return fallback


def error_field(message: str) -> str | None:
    """The field an Asana error message names (``"name: Missing input"`` -> ``name``)."""
    match = _FIELD_PREFIX.match(message)
    return match.group(1) if match else None


# --- fields -----------------------------------------------------------------------------------


def opt_fields(schema: Mapping[str, Any], *, own_fields: Collection[str] = ()) -> str:
    """The ``opt_fields`` value that asks Asana for exactly the schema's properties.

    Objects are requested by their leaf paths (``assignee.email``); an object whose only
    property is its gid is requested by name, which renders it compactly. ``gid`` and
    ``resource_type`` come anyway, and ``own_fields`` are the caller's, not Asana's: neither
    is requested.
    """
    skipped = ALWAYS_RETURNED | frozenset(own_fields)
    return ",".join(_paths(schema, skipped))


def _paths(schema: Mapping[str, Any], skipped: frozenset[str], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        if name in skipped:
            continue
        node = prop.get("items", prop) if "array" in _types(prop) else prop
        children = _paths(node, skipped, f"{prefix}{name}.") if "properties" in node else []
        paths.extend(children or [f"{prefix}{name}"])
    return paths


def _types(prop: Mapping[str, Any]) -> list[str]:
    kind = prop.get("type", [])
    return [kind] if isinstance(kind, str) else kind
