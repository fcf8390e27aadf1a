"""``/_sandbox`` routes for tests and benchmarks (same token, outside the quota)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from asana_sandbox.dispatch import dispatch, error_reply
from asana_sandbox.errors import ApiError
from asana_sandbox.limits import Stats
from asana_sandbox.router import NO_ROUTE, match, query_from_data
from asana_sandbox.sandbox import Sandbox
from asana_sandbox.spec import API_PREFIX

router = APIRouter(prefix="/_sandbox")


def _authorized(request: Request) -> Sandbox | None:
    sandbox: Sandbox = request.app.state.sandbox
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sandbox.token_allowed(token.strip()):
        return None
    return sandbox


def _denied() -> Response:
    reply = error_reply(ApiError(401, "Not Authorized"))
    return JSONResponse(reply.body, status_code=reply.status)


@router.get("/health")
async def health() -> dict[str, str]:
    """Readiness probe (no token needed; reveals nothing but the process id, by which a
    starter knows the server answering its port is the one it started)."""
    return {"status": "ok", "pid": str(os.getpid())}


@router.get("/stats")
async def stats(request: Request) -> Response:
    """Requests by method and route, 429s, faults and writes since start or last reset."""
    sandbox = _authorized(request)
    if sandbox is None:
        return _denied()
    return JSONResponse(sandbox.stats.snapshot())


@router.post("/reset-stats")
async def reset_stats(request: Request) -> Response:
    """Zero the counters (and the quota windows) so a run can be measured alone."""
    sandbox = _authorized(request)
    if sandbox is None:
        return _denied()
    sandbox.stats = Stats()
    sandbox.quota.calls.clear()
    return JSONResponse({"data": {}})


@router.post("/expire-sync-tokens")
async def expire_sync_tokens(request: Request) -> Response:
    """Make every sync token (or those of ``?resource=``) stale: the next /events is a 412."""
    sandbox = _authorized(request)
    if sandbox is None:
        return _denied()
    count = sandbox.store.events.expire(request.query_params.get("resource"))
    return JSONResponse({"data": {"expired_logs": count}})


@router.post("/act")
async def act(request: Request) -> Response:
    """Run one API call as a given user, outside quota, faults and stats.

    Body: ``{"method": "put", "relative_path": "/tasks/1", "data": {...}, "user": "<gid>"}``.
    Tests use it to play "someone edits in Asana" between sync runs.
    """
    sandbox = _authorized(request)
    if sandbox is None:
        return _denied()
    try:
        payload: dict[str, Any] = await request.json()
    except ValueError:
        return JSONResponse({"errors": [{"message": "Body must be JSON"}]}, status_code=400)
    method = str(payload.get("method", "get")).lower()
    path = str(payload.get("relative_path", ""))
    found = match(method, path)
    if found is None:
        reply = error_reply(ApiError(404, NO_ROUTE))
        return JSONResponse(reply.body, status_code=reply.status)
    target, params = found
    if method == "get":
        query, body = query_from_data(payload.get("data")), None
    else:
        query, body = {}, {"data": payload.get("data") or {}}
    actor = payload.get("user") or sandbox.me
    base_url = str(request.base_url).rstrip("/") + API_PREFIX
    reply = dispatch(
        sandbox,
        target,
        params,
        query,
        body,
        api_path=path,
        base_url=base_url,
        actor=actor,
        counted=False,
    )
    if target.is_write and reply.status < 300:
        sandbox.store.dirty = True
    return JSONResponse(reply.body, status_code=reply.status)


@router.post("/save")
async def save(request: Request) -> Response:
    """Write the data file now (it is otherwise saved shortly after each write)."""
    sandbox = _authorized(request)
    if sandbox is None:
        return _denied()
    if sandbox.settings.data_file is not None:
        sandbox.store.save(sandbox.settings.data_file)
    return JSONResponse({"data": {"saved": sandbox.settings.data_file is not None}})
