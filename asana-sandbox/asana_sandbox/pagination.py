"""Asana's offset pagination: ``limit`` 1-100, opaque signed ``offset`` tokens, ``next_page``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from asana_sandbox.errors import bad_request

#: Unpaginated requests are truncated by Asana; past this it answers 400 instead.
UNPAGINATED_MAX = 1000
TOO_LARGE = (
    "The result is too large. You should use pagination (may require specifying a workspace)!"
)


@dataclass(frozen=True)
class PageRequest:
    """The pagination part of a request."""

    limit: int | None
    offset: str | None


#: Our wording: the live text of an expired offset's 400 is not recorded (README).
EXPIRED = (
    "offset: Your pagination token has expired. Offsets expire after some time, as data may "
    "have changed: start again from the first page."
)


class OffsetCodec:
    """Signs offset tokens so the sandbox only accepts offsets it handed out, like Asana.

    With ``ttl_seconds`` a token older than that is refused (400), as live offsets "expire
    after some time, as data may have changed"; ``on_expired`` is told of each one.
    """

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        ttl_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        on_expired: Callable[[], None] | None = None,
    ) -> None:
        """Use a fixed secret to keep tokens valid across restarts, else a random one."""
        self._secret = secret or secrets.token_bytes(16)
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.on_expired = on_expired

    def encode(self, position: int, gid: str) -> str:
        """Token for resuming at ``position`` where ``gid`` was when the page was cut."""
        issued = round(self.clock(), 3)
        payload = base64.urlsafe_b64encode(json.dumps([position, gid, issued]).encode())
        payload = payload.rstrip(b"=")
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        return (payload + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()

    def decode(self, token: str) -> tuple[int, str]:
        """Position and gid of a token; a forged, mangled or expired token is a 400."""
        try:
            payload, _, mac = token.encode().partition(b".")
            expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
            given = base64.urlsafe_b64decode(mac + b"=" * (-len(mac) % 4))
            if not hmac.compare_digest(expected, given):
                raise ValueError
            position, gid, issued = json.loads(
                base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
            )
            position, gid, issued = int(position), str(gid), float(issued)
        except (ValueError, TypeError):
            raise bad_request("offset: Your pagination token is invalid.") from None
        if self.ttl_seconds is not None and self.clock() - issued > self.ttl_seconds:
            if self.on_expired is not None:
                self.on_expired()
            raise bad_request(EXPIRED)
        return position, gid


def _start(order: Sequence[str], position: int, gid: str) -> int:
    """Where to resume: the token's position, or wherever its record moved to."""
    if position < len(order) and order[position] == gid:
        return position
    try:
        return order.index(gid)
    except ValueError:
        return min(position, len(order))


def paginate(
    order: Sequence[str],
    page: PageRequest,
    codec: OffsetCodec,
    accept: Callable[[str], bool] | None = None,
) -> tuple[list[str], str | None]:
    """Cut one page out of an ordered list of gids; return it and the next offset token."""
    start = 0
    if page.offset:
        start = _start(order, *codec.decode(page.offset))
    limit = page.limit if page.limit is not None else UNPAGINATED_MAX
    picked: list[str] = []
    for position in range(start, len(order)):
        gid = order[position]
        if accept is not None and not accept(gid):
            continue
        if len(picked) == limit:
            if page.limit is None:
                raise bad_request(TOO_LARGE)
            return picked, codec.encode(position, gid)
        picked.append(gid)
    return picked, None


def list_body(
    data: list[Any],
    next_offset: str | None,
    page: PageRequest,
    *,
    api_path: str,
    query: dict[str, str],
    base_url: str,
) -> dict[str, Any]:
    """``{"data": [...]}`` plus ``next_page`` when the request sent ``limit``."""
    body: dict[str, Any] = {"data": data}
    if page.limit is None:
        return body
    if next_offset is None:
        body["next_page"] = None
        return body
    path = f"{api_path}?{urlencode({**query, 'offset': next_offset}, safe=',')}"
    body["next_page"] = {"offset": next_offset, "path": path, "uri": base_url + path}
    return body
