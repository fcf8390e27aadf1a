"""The Singer SDK's standard tap tests, against the demo sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asana_sandbox.testing import SandboxServer, running_sandbox
from singer_sdk.testing import get_tap_test_class
from tap_asana_talk.tap import TapAsanaTalk

#: Every project of the demo seed, and "Salary review 2026", private to people the token is
#: not: every stream has records (the private one is ``unreadable``).
PROJECTS = [f"12000000000000{n}" for n in (14, 64, 87, 110, 129, 146, 165, 186, 191)]

# Built at import time, synced lazily: the module fixture fills in the sandbox's address.
SAMPLE_CONFIG: dict[str, Any] = {
    "access_token": "unset",
    "api_url": "http://127.0.0.1:9",
    "project_gids": PROJECTS,
}


@pytest.fixture(scope="module", autouse=True)
def demo_sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(seed="demo") as server:
        SAMPLE_CONFIG.update(access_token=server.token, api_url=server.api_url)
        yield server


TestTapAsanaTalk = get_tap_test_class(tap_class=TapAsanaTalk, config=SAMPLE_CONFIG)
