"""The ASGI application: authentication, limits, faults, latency, routing, persistence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from asana_sandbox import seeds
from asana_sandbox.admin import router as admin_router
from asana_sandbox.dispatch import ROUTES, Reply, Route, dispatch, error_reply
from asana_sandbox.errors import ApiError, bad_request
from asana_sandbox.events import EventHub
from asana_sandbox.limits import RATE_LIMITED, Concurrency, Faults, Quota
from asana_sandbox.pagination import OffsetCodec
from asana_sandbox.router import NO_ROUTE
from asana_sandbox.routes import batch as batch_routes
from asana_sandbox.sandbox import Sandbox, Settings
from asana_sandbox.spec import API_PREFIX
from asana_sandbox.store import Store

UNAUTHORIZED = "Not Authorized"
READ_ONLY = "Forbidden: this token may only read"
FAULT_MESSAGES = {
    "500": "Server Error",
    "503": "The service is temporarily unavailable. Please try again later.",
}


class JSONReply(Response):
    """Compact JSON (pretty with ``opt_pretty``)."""

    media_type = "application/json"

    def __init__(self, reply: Reply, *, pretty: bool = False) -> None:
        """Serialize a handler's reply."""
        text = json.dumps(
            reply.body, indent=2 if pretty else None, separators=None if pretty else (",", ":")
        )
        super().__init__(text, status_code=reply.status, headers=reply.headers)


class DroppedConnection(Response):
    """Starts a response, sends part of it, and stops: the server then closes the socket.

    The client sees a connection cut mid-response (httpx: RemoteProtocolError; requests:
    ChunkedEncodingError), as when a proxy or the network drops a reply.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send headers promising more bytes than will ever come."""
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data":{', "more_body": True})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized() -> Response:
    return JSONReply(error_reply(ApiError(401, UNAUTHORIZED)))


async def _read_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("Could not parse request data, invalid JSON") from None


async def handle(request: Request, target: Route | None, params: dict[str, str]) -> Response:
    """One HTTP API call: auth, quota, concurrency, faults, latency, dispatch.

    ``--fault-rate`` faults: 500/503 before the call runs, a slow answer, or a dropped
    connection after it ran. ``--fault-after-write-rate`` faults hit applied writes only.
    """
    sandbox: Sandbox = request.app.state.sandbox
    token = _bearer(request)
    if token is None or not sandbox.token_allowed(token):
        return _unauthorized()
    method = request.method.lower()
    stats = sandbox.stats
    route_name = target.op.route if target else f"{API_PREFIX}/<unknown>"
    stats.count_request(method, route_name)
    fault = None
    after_write = None
    pretty = request.query_params.get("opt_pretty", "false").lower() in {"", "true"}
    try:
        if target is None:
            raise ApiError(404, NO_ROUTE)
        body = await _read_body(request) if method in {"post", "put", "patch"} else None
        if target.is_write and not sandbox.can_write(token):
            raise ApiError(403, READ_ONLY)
        is_batch = target.path == "/batch"
        cost = batch_routes.action_count(body) if is_batch else 1
        reads, writes = _slots(target, body, cost)
        stats.quota_charged += cost  # before the check: a refused call counts too
        sandbox.quota.charge(token, cost)
        sandbox.concurrency.acquire(token, reads, writes)
        try:
            fault = sandbox.faults.draw()
            if fault in FAULT_MESSAGES:
                stats.faults[fault] += 1
                raise ApiError(int(fault), FAULT_MESSAGES[fault])
            delay = sandbox.settings.latency_ms / 1000
            if fault == "slow":
                stats.faults[fault] += 1
                delay += sandbox.settings.fault_slow_ms / 1000
            if delay:
                await asyncio.sleep(delay)
            api_path = request.url.path.removeprefix(API_PREFIX)
            base_url = str(request.base_url).rstrip("/") + API_PREFIX
            reply = dispatch(
                sandbox,
                target,
                params,
                dict(request.query_params),
                body,
                api_path=api_path,
                base_url=base_url,
            )
            if target.is_write and not is_batch and reply.status < 300:
                sandbox.mark_written()
            if writes and reply.status < 300 and fault != "drop":
                # Applied (a batch: one write action or more): the answer may still be lost.
                after_write = sandbox.faults.draw_after_write()
                if after_write in FAULT_MESSAGES:
                    stats.after_write_faults[after_write] += 1
                    raise ApiError(int(after_write), FAULT_MESSAGES[after_write])
        finally:
            sandbox.concurrency.release(token, reads, writes)
    except ApiError as error:
        if error.status == 429:
            if error.message == RATE_LIMITED:
                stats.rate_limited += 1
            else:
                stats.concurrency_limited += 1
        reply = error_reply(error)
    stats.count_status(reply.status)
    if fault == "drop":
        stats.faults[fault] += 1
        return DroppedConnection()
    if after_write == "drop":
        stats.after_write_faults[after_write] += 1
        return DroppedConnection()
    return JSONReply(reply, pretty=pretty)


def _slots(target: Route, body: Any, cost: int) -> tuple[int, int]:
    """Concurrent read and write slots a call takes (a batch: one per action)."""
    if target.path != "/batch":
        return (0, 1) if target.is_write else (1, 0)
    try:
        methods = [str(action.get("method", "")).lower() for action in body["data"]["actions"]]
    except (KeyError, TypeError, AttributeError):
        return (0, cost)
    reads = sum(1 for method in methods if method in {"get", "head"})
    return reads, len(methods) - reads


def _endpoint(target: Route) -> Callable[[Request], Awaitable[Response]]:
    """A FastAPI endpoint bound to one route."""

    async def endpoint(request: Request) -> Response:
        return await handle(request, target, dict(request.path_params))

    endpoint.__name__ = target.handler.__name__
    return endpoint


def build_sandbox(settings: Settings) -> Sandbox:
    """Load or seed the store and wire the limits from settings."""
    hub = EventHub(
        max_events=settings.sync_token_max_events,
        max_age_seconds=settings.sync_token_max_age_hours * 3600,
        delay_seconds=settings.event_delay_s,
        drop_rate=settings.event_drop_rate,
        subtask_events=settings.subtask_events,
        rng=random.Random(None if settings.fault_seed is None else f"events:{settings.fault_seed}"),
    )
    if settings.data_file is not None and settings.data_file.exists():
        store = Store.from_file(settings.data_file, events=hub)
    else:
        store = Store(events=hub)
        seeds.build(settings.seed or "empty", store)
        if settings.data_file is not None:
            store.save(settings.data_file)
    me = next(iter(store.records["user"]))
    sandbox = Sandbox(
        settings=settings,
        store=store,
        me=me,
        quota=Quota(settings.rate_limit_per_minute),
        concurrency=Concurrency(settings.max_concurrent_reads, settings.max_concurrent_writes),
        faults=Faults(
            rate=settings.fault_rate,
            slow_seconds=settings.fault_slow_ms / 1000,
            rng=random.Random(settings.fault_seed),
            after_write_rate=settings.fault_after_write_rate,
            after_write_rng=random.Random(
                None if settings.fault_seed is None else f"after-write:{settings.fault_seed}"
            ),
        ),
        offsets=OffsetCodec(ttl_seconds=settings.offset_ttl_s),
        batch_rng=random.Random(
            None if settings.fault_seed is None else f"batch-order:{settings.fault_seed}"
        )
        if settings.batch_order == "shuffled"
        else None,
    )
    hub.on_drop = sandbox.note_event_dropped
    sandbox.offsets.on_expired = sandbox.note_offset_expired
    return sandbox


async def _autosave(sandbox: Sandbox) -> None:
    """Write the data file shortly after writes (debounced), never on every request.

    Saving serializes the whole state on the event loop (a consistent snapshot without
    locks); for a big store that takes a while, so saves are spaced to keep that pause
    under a tenth of the time.
    """
    path = sandbox.settings.data_file
    assert path is not None
    pause = sandbox.settings.save_interval_seconds
    while True:
        await asyncio.sleep(pause)
        if sandbox.store.dirty:
            started = time.perf_counter()
            sandbox.store.save(path)
            pause = max(
                sandbox.settings.save_interval_seconds, 10 * (time.perf_counter() - started)
            )


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application for one sandbox."""
    sandbox = build_sandbox(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        saver = None
        if settings.data_file is not None:
            saver = asyncio.create_task(_autosave(sandbox))
        try:
            yield
        finally:
            if saver is not None:
                saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await saver
                if sandbox.store.dirty:
                    sandbox.store.save(settings.data_file)

    app = FastAPI(
        title="Asana sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    for target in ROUTES:
        app.add_api_route(
            API_PREFIX + target.path, _endpoint(target), methods=[target.method.upper()]
        )
    app.include_router(admin_router)

    async def unknown(request: Request) -> Response:
        return await handle(request, None, {})

    app.add_api_route(
        API_PREFIX + "/{rest:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
    )
    return app
