"""Bearer-token authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from custompms.problems import ApiError, fault

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="The server's token: `Authorization: Bearer <token>`.",
)


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """401 unless the request carries the server's bearer token (compared in constant time)."""
    expected: str = request.app.state.token
    given = credentials.credentials if credentials else ""
    if not (given and hmac.compare_digest(given.encode(), expected.encode())):
        raise ApiError(
            401,
            "unauthorized",
            "A valid bearer token is required." if given else "A bearer token is required.",
            errors=[fault("header", "Authorization", "missing or wrong bearer token")],
            headers={"WWW-Authenticate": "Bearer"},
        )
