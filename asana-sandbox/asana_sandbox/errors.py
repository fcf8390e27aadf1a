"""Asana's error envelope: ``{"errors": [{"message", "help", "phrase"?}]}``."""

from __future__ import annotations

import random
from typing import Any

HELP = (
    "For more information on API status codes and how to handle them, "
    "read the docs on errors: https://developers.asana.com/docs/errors"
)

_ADJECTIVES = ("sad", "happy", "sleepy", "brave", "quiet", "eager", "fuzzy", "lucky")
_ANIMALS = ("squid", "otter", "badger", "heron", "lemur", "walrus", "gecko", "panda")
_VERBS = ("snuggle", "wander", "juggle", "whistle", "ponder", "tumble", "giggle", "dance")
_ADVERBS = ("softly", "boldly", "slowly", "gladly", "calmly", "wildly", "neatly", "oddly")


def error_phrase(rng: random.Random | None = None) -> str:
    """Return an Asana-style incident phrase such as "6 sad squid snuggle softly"."""
    pick = (rng or random).choice
    number = (rng or random).randint(2, 30)
    return f"{number} {pick(_ADJECTIVES)} {pick(_ANIMALS)} {pick(_VERBS)} {pick(_ADVERBS)}"


class ApiError(Exception):
    """An error answered with Asana's error envelope and an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Record the status, the message and optional headers or top-level body keys."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body Asana sends for this error."""
        error: dict[str, Any] = {"message": self.message}
        if self.status != 412:  # the sync-token 412 carries only a message (and a fresh token)
            error["help"] = HELP
        if self.status == 500:
            error["phrase"] = error_phrase()
        return {"errors": [error], **self.extra}


def bad_request(message: str) -> ApiError:
    """400: a missing or malformed parameter."""
    return ApiError(400, message)


def forbidden(kind: str, gid: str) -> ApiError:
    """403: the record exists but the acting user may not see it (a private project...)."""
    return ApiError(403, f"{kind}: You do not have access to this object: {gid}")


def not_found(kind: str, gid: str) -> ApiError:
    """404: Asana's message for an unknown object."""
    return ApiError(404, f"{kind}: Unknown object: {gid}")
