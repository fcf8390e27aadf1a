"""Injected faults (``serve --fault-rate``, ``--fault-after-write-rate``): an ASGI middleware.

A sync tool must survive a server that fails the way real ones do: a 500 or 503, a slow
answer, a connection cut mid-reply, and above all a write that committed although its
answer never arrived. These faults are a test switch, not part of the contract: they are off
by default, and never touch ``/api/v1/health`` (the readiness probe) or ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from custompms.problems import PROBLEM_MEDIA_TYPE, ApiError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
HEALTH_PATH = "/api/v1/health"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FAULT_KINDS = ("500", "503", "slow", "drop")
AFTER_WRITE_FAULT_KINDS = ("500", "503", "drop")
UNANSWERED = "ASGI callable returned without completing response."
"""What uvicorn logs when a reply stops short, as a dropped connection does on purpose."""

# The same bodies whether the call ran or not: a client cannot tell them apart, as live.
_PROBLEMS = {
    "500": ApiError(500, "internal-error", "The server failed to answer."),
    "503": ApiError(503, "unavailable", "The server is temporarily unavailable; retry later."),
}


@dataclass
class Faults:
    """What to inject, and the random sequences that decide when (seeded: reproducible)."""

    rate: float = 0.0
    after_write_rate: float = 0.0
    slow_seconds: float = 3.0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)
    _after_write_rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Separate sequences: switching one rate on does not move the other's faults.
        self._rng = random.Random(self.seed)
        self._after_write_rng = random.Random(
            None if self.seed is None else f"after-write:{self.seed}"
        )

    @property
    def enabled(self) -> bool:
        """Whether any fault can happen."""
        return self.rate > 0 or self.after_write_rate > 0

    def draw(self) -> str | None:
        """The fault to inject before a call runs, if any."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        return self._rng.choice(FAULT_KINDS)

    def draw_after_write(self) -> str | None:
        """The fault to answer a committed write with, if any."""
        if self.after_write_rate <= 0 or self._after_write_rng.random() >= self.after_write_rate:
            return None
        return self._after_write_rng.choice(AFTER_WRITE_FAULT_KINDS)


class FaultInjector:
    """ASGI middleware: faults before a call runs, and after a write committed.

    Both run on the event loop (the handlers run in worker threads), so the seeded draws
    follow the order the calls arrive in.
    """

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call through, failing it as the draws say."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(API_PREFIX) or path.rstrip("/") == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        kind = self.faults.draw()
        if kind is not None:
            logger.warning("injected fault %s before %s %s", kind, method, path)
        if kind == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        elif kind is not None:
            await _drain(receive)  # leave the connection in a state to answer on
            await _answer(kind, scope, receive, send)
            return
        if method not in WRITE_METHODS or self.faults.after_write_rate <= 0:
            await self.app(scope, receive, send)
            return
        lost: list[str] = []

        async def hold(message: Message) -> None:
            # Decided on the status line: only a write that succeeded (and so committed,
            # before its response was built) loses its answer.
            if message["type"] == "http.response.start" and message["status"] < 300:
                after = self.faults.draw_after_write()
                if after is not None:
                    lost.append(after)
            if not lost:
                await send(message)

        await self.app(scope, receive, hold)
        if lost:
            logger.warning("injected fault %s after %s %s", lost[0], method, path)
            await _answer(lost[0], scope, receive, send)


async def _drain(receive: Receive) -> None:
    """Read the request body the call will never use."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _answer(kind: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Send a 500/503 problem, or start a reply and stop (a dropped connection)."""
    if kind == "drop":
        await _drop(send)
        return
    problem = _PROBLEMS[kind]
    response = JSONResponse(
        problem.to_dict(instance=scope["path"]),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
    )
    await response(scope, receive, send)


async def _drop(send: Send) -> None:
    """Promise 4096 bytes, send a few, stop: the server closes the socket mid-reply.

    httpx raises RemoteProtocolError, requests/urllib3 ChunkedEncodingError/ProtocolError.
    """
    headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})


class QuietDroppedConnections(logging.Filter):
    """Drop uvicorn's error line for the replies a dropped-connection fault cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every other record."""
        return record.getMessage() != UNANSWERED
