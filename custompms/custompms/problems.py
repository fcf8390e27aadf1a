"""RFC 9457 problem details: the one error shape the server answers with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal

PROBLEM_MEDIA_TYPE = "application/problem+json"

Location = Literal["field", "header", "parameter"]


def problem_type(slug: str) -> str:
    """URI of one kind of problem (a URN: stable, and nothing to dereference)."""
    return f"urn:custompms:problem:{slug}"


def fault(location: Location, name: str, message: str) -> dict[str, str]:
    """One entry of a problem's ``errors``: what is at fault and why."""
    return {location: name, "message": message}


class ApiError(Exception):
    """An error the API reports to the client as problem+json.

    Raised anywhere below the HTTP layer; the exception handler renders it.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: Iterable[Mapping[str, str]] = (),
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = [dict(error) for error in errors]
        self.headers = dict(headers or {})
        self.extensions = extensions

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document; ``instance`` is the request path when known."""
        body: dict[str, Any] = {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body["errors"] = self.errors
        body.update(self.extensions)
        return body


def validation_faults(
    errors: Sequence[Mapping[str, Any]], *, in_request: bool = True, whole: str = "body"
) -> list[dict[str, str]]:
    """Turn pydantic/FastAPI validation errors into problem ``errors`` entries.

    FastAPI locations start with where the value came from (``body``, ``query``, ``path``,
    ``header``); bare pydantic locations (``in_request=False``, bulk items) start at the field.
    An error about the whole value (empty location) names ``whole``.
    """
    faults = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid value"))
        source = loc.pop(0) if in_request and loc else "body"
        if source in {"query", "path"}:
            faults.append(fault("parameter", ".".join(loc), message))
        elif source == "header":
            faults.append(fault("header", ".".join(loc), message))
        else:
            faults.append(fault("field", ".".join(loc) or whole, message))
    return faults
