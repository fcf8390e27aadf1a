"""The Singer SDK's standard tap tests, against the demo sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asana_sandbox.testing import SandboxServer, running_sandbox
from singer_sdk.testing import get_tap_test_class
from tap_asana_talk.tap import TapAsanaTalk

# Built at import time, synced lazily: the module fixture fills in the sandbox's address.
SAMPLE_CONFIG: dict[str, Any] = {"access_token": "unset", "api_url": "http://127.0.0.1:9"}


@pytest.fixture(scope="module", autouse=True)
def demo_sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(seed="demo") as server:
        SAMPLE_CONFIG.update(access_token=server.token, api_url=server.api_url)
        yield server


TestTapAsanaTalk = get_tap_test_class(tap_class=TapAsanaTalk, config=SAMPLE_CONFIG)
