"""The FastAPI application: routes, auth and problem+json error handling."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from custompms import __version__
from custompms.faults import FaultInjector, Faults
from custompms.models import Health
from custompms.openapi import openapi_document
from custompms.problems import PROBLEM_MEDIA_TYPE, ApiError, fault, validation_faults
from custompms.resources import RESOURCES
from custompms.routes import resource_router
from custompms.store import Store

logger = logging.getLogger(__name__)

DESCRIPTION = """\
The Custompms contract: customers, projects and tasks with incremental listing, idempotent
creates, optimistic concurrency and bulk upsert. Errors are RFC 9457 problem+json.
See custompms/README.md for the semantics of every field and header.
"""


def create_app(
    store: Store | None = None, *, token: str = "", faults: Faults | None = None
) -> FastAPI:
    """The server over ``store``; without one the app only serves its OpenAPI document.

    ``faults`` (``serve --fault-*``) makes API calls fail on purpose, for resilience tests;
    the routes, and so the contract, stay the same.
    """
    # The interactive docs at /docs (Swagger UI, its "Authorize" button takes the token),
    # with Swagger UI's files served by the server itself: it runs where no CDN is reachable.
    app = FastAPIOffline(
        title="Custompms",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.token = token

    @app.get("/api/v1/health", response_model=Health, tags=["health"], operation_id="health")
    def health() -> Health:
        """Liveness check (no authentication)."""
        return Health()

    for resource in RESOURCES.values():
        app.include_router(resource_router(resource))

    app.add_exception_handler(ApiError, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if faults is not None and faults.enabled:
        app.add_middleware(FaultInjector, faults=faults)
    return app


def _respond(request: Request, problem: ApiError) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(instance=request.url.path),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _on_problem(request: Request, exc: ApiError) -> JSONResponse:
    return _respond(request, exc)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        problem = ApiError(
            400,
            "malformed-json",
            "The request body is not valid JSON.",
            errors=[fault("field", "body", "JSON decode error")],
        )
    else:
        problem = ApiError(
            422,
            "validation-error",
            "The request is not valid.",
            errors=validation_faults(errors),
        )
    return _respond(request, problem)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Routing errors (404 unknown path, 405 wrong method) and Starlette's own HTTP errors.
    errors = []
    if exc.status_code == 400:  # FastAPI could not read the body (e.g. nested too deeply)
        errors = [fault("field", "body", str(exc.detail))]
    elif exc.status_code == 404:
        errors = [fault("parameter", "path", "no such route")]
    elif exc.status_code == 405:
        errors = [fault("parameter", "method", f"{request.method} is not allowed here")]
    problem = ApiError(
        exc.status_code,
        "http-error",
        str(exc.detail),
        errors=errors,
        headers=exc.headers,
    )
    return _respond(request, problem)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug: log it (the request line only; never headers, which carry the token).
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    problem = ApiError(500, "internal-error", "The server failed; this is a bug.")
    return _respond(request, problem)
