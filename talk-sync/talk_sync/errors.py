"""The errors talk-sync and its plugins raise on purpose, in one hierarchy.

- :class:`ApiError`: a request an API refused or that kept failing. The clients' own
  classes (``AsanaError``, ``CustompmsError``...) derive from it where they add meaning.
- :class:`TransientApiError`: still failing after every retry (connection error, 429, 5xx):
  nothing is wrong with the request, so try again on a later run. It is the one class the
  targets catch for "retry later", whichever API raised it.
- :class:`TokenRefusedError`: the API refused the token itself; every call would fail.
- :class:`NormalizeError`: a value cannot be read as its field type.

No message carries a token: the clients build them from methods, paths and the API's own
error text only.
"""

from __future__ import annotations


class TalkSyncError(Exception):
    """Base of the errors talk-sync and its plugins raise on purpose."""


class ApiError(TalkSyncError, RuntimeError):
    """A request an API refused (``status``, when it answered) or that kept failing."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientApiError(ApiError):
    """Still failing after every retry (connection error, 429 or 5xx): retry later."""


class TokenRefusedError(ApiError):
    """401: the API refused the token itself, so every further call would fail the same way."""

    def __init__(self, api: str, setting: str) -> None:
        super().__init__(
            f"{api} refused the token (401 Unauthorized): check the {setting} setting", 401
        )


class NormalizeError(TalkSyncError, ValueError):
    """A value cannot be read as its field type; the message names the value."""


class ApplyError(TalkSyncError, RuntimeError):
    """Some writes failed transiently; what was written is recorded, the run must fail."""
