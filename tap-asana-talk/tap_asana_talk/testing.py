"""Test kit for tap-asana-talk: an in-process tap runner and the config for a sandbox.

For the tap's tests and the monorepo's; imports nothing the tap does not need (the sandbox
is named for type checkers only).
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_asana_talk.tap import TapAsanaTalk

if TYPE_CHECKING:
    from asana_sandbox.testing import SandboxServer


@dataclass
class TapRun:
    """The Singer messages one tap run wrote."""

    messages: list[dict[str, Any]]

    def records(self, stream: str) -> list[dict[str, Any]]:
        """RECORD payloads of one stream, in output order."""
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def by_gid(self, stream: str) -> dict[str, dict[str, Any]]:
        """RECORD payloads of one stream keyed by gid."""
        return {record["gid"]: record for record in self.records(stream)}

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE value."""
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def tap_config(server: SandboxServer, **extra: Any) -> dict[str, Any]:
    """Config pointing the tap at a sandbox."""
    return {"access_token": server.token, "api_url": server.api_url, **extra}


def run_tap(config: dict[str, Any], state: dict[str, Any] | None = None) -> TapRun:
    """Sync every stream in-process and collect what it wrote to stdout."""
    tap = TapAsanaTalk(config=config, state=state, parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    return TapRun([json.loads(line) for line in out.getvalue().splitlines() if line])
