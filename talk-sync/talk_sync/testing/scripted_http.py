"""Test doubles for the targets' `requests`-based API clients: scripted answers, no network.

session = ScriptedSession(json_response(429, headers={"Retry-After": "3"}), json_response(200))
client = CustompmsClient(url, token, session=session)  # or AsanaClient
"""

from __future__ import annotations

import json
from typing import Any

import requests


def json_response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> requests.Response:
    """A `requests.Response` with a JSON body, as an API would send it."""
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body if body is not None else {}).encode()
    answer.headers.update({"Content-Type": "application/json", **(headers or {})})
    return answer


class ScriptedSession(requests.Session):
    """Answers each request with the next scripted response (or raises it)."""

    def __init__(self, *answers: requests.Response | Exception) -> None:
        super().__init__()
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append((method, url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
